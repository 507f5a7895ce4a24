"""A kill at any moment leaves a consistent library: every row has its files, and no file
is without its row."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from stylist.library import Library


def test_killing_an_import_at_random_points_leaves_the_library_consistent(
    paths, wardrobe_items, shared_data
):
    photos = [str(shared_data / "wardrobe-photos" / x["file"]) for x in wardrobe_items[:400]]
    env = {**os.environ, "STYLIST_HOME": str(paths.data_dir)}
    rng = random.Random(20261126)
    interrupted = 0
    for _ in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-m", "stylist", "import", *photos],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.4, 2.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            interrupted += 1
        proc.wait()
        check = subprocess.run(
            [sys.executable, "-m", "stylist", "check"], env=env, capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert "The library is consistent." in check.stdout
        with Library.open(paths) as lib:
            report = lib.check()
            assert report.consistent, (report.missing_files, report.orphans)
            assert list(paths.incoming.iterdir()) == []
            stored = len(lib.items())
        assert stored <= len(photos)
    assert interrupted >= 3  # most rounds really were cut off mid-import
    assert stored > 0
