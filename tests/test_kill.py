"""A kill at any moment leaves a consistent library: every row has its files, no file is without
its row, and every photo the import had reported done is kept.

The kills land at points the import itself reports (its progress lines), never after a sleep, so
the test does the same on a quiet machine and on a busy one."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

from stylist.library import Library


def start_import(photos: list[str], env: dict, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "stylist", "import", "--progress", "lines", *extra, *photos],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_progress(proc: subprocess.Popen, label: str, count: int) -> int:
    """Read the progress lines until ``count`` steps are reported done; returns that count
    (less when the command ended first)."""
    done = 0
    for line in proc.stderr:
        words = line.split()
        if len(words) >= 2 and words[0] == label and "/" in words[1]:
            done = int(words[1].split("/")[0])
            if done >= count:
                break
    return done


def sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_killing_an_import_at_reported_points_keeps_every_photo_it_reported(
    paths, wardrobe_items, shared_data
):
    photos = [str(shared_data / "wardrobe-photos" / x["file"]) for x in wardrobe_items[:240]]
    env = {**os.environ, "STYLIST_HOME": str(paths.data_dir)}
    rng = random.Random(20261126)
    # rising points, so that every round has photos of its own to be cut off in
    points = sorted(rng.sample(range(2, len(photos) - 1), 6))
    for point in points:
        proc = start_import(photos, env, "--no-features")
        reached = wait_for_progress(proc, "importing", point)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        assert reached == point  # it was cut off mid-import, where it said it was
        with Library.open(paths) as lib:
            report = lib.check()
            assert report.consistent, (report.missing_files, report.orphans, report.damaged)
            assert list(paths.incoming.iterdir()) == []
            known = lib.known_hashes()
        assert {sha256(p) for p in photos[:point]} <= known  # every photo reported done
        assert len(known) < len(photos)


def test_an_import_cut_off_during_its_analysis_resumes_it(paths, some_photos):
    env = {**os.environ, "STYLIST_HOME": str(paths.data_dir)}
    photos = [str(p) for p in some_photos]
    proc = start_import(photos, env)
    wait_for_progress(proc, "analysing", 1)  # the photos are stored; the analysis has begun
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    with Library.open(paths) as lib:
        assert len(lib.items()) == len(photos)
    again = subprocess.run(
        [sys.executable, "-m", "stylist", "import", *photos],
        env=env,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr
    assert f"{len(photos)} already in the library" in again.stdout
    assert "Analysed:" in again.stdout
    from stylist.service import Stylist

    with Stylist(paths) as stylist:
        assert not stylist.analysis_unfinished()
