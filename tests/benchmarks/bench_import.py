"""Import throughput: 1,000 of the shared photos into a fresh library, without features.

Prints photos/s as the median of several runs, with the single-threaded import measured in the
same process as the baseline.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from stylist import paths as paths_mod
from stylist.library import Library
from stylist.library.importer import import_photos

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "wardrobe-photos"


def _one_run(photos: list[Path], workers: int | None) -> float:
    with tempfile.TemporaryDirectory() as home, Library.open(paths_mod.for_home(home)) as lib:
        start = time.perf_counter()
        report = import_photos(lib, photos, workers=workers)
        elapsed = time.perf_counter() - start
        assert len(report.added) == len(photos), report.failed[:3]
    return len(photos) / elapsed


def main() -> None:
    quick = os.environ.get("BENCH_QUICK") == "1"
    items = json.loads((SHARED / "items.json").read_text())
    photos = [SHARED / x["file"] for x in items[: 200 if quick else 1000]]
    runs = 1 if quick else 3
    for path in photos:  # the first read from disk is not what we measure
        path.read_bytes()
    baseline = [_one_run(photos, workers=1) for _ in range(runs)]
    pooled = [_one_run(photos, workers=None) for _ in range(runs)]
    b, p = statistics.median(baseline), statistics.median(pooled)
    print(f"import of {len(photos)} shared photos (no features), {os.cpu_count()} CPU cores")
    print(f"  one worker thread : {b:7.1f} photos/s (median of {runs})")
    print(f"  thread pool       : {p:7.1f} photos/s (median of {runs}), {p / b:.2f}x")
    print("  target            :    40.0 photos/s")


if __name__ == "__main__":
    main()
