"""One personal trainer per library: the lock, the dirty mark, stale locks, the CLI's storm."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stylist.domain import Category, Outfit, Verdict
from stylist.service import TRAIN_EVERY, Stylist
from stylist.trainer import TrainerLock, pid_alive

REPO = Path(__file__).resolve().parents[1]
SETTLE_S = 600  # a guard against a hung trainer, never a figure a test asserts on


def _idle_process() -> subprocess.Popen:
    """A live process that does nothing until its stdin closes."""
    return subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_request_claims_the_lock_or_marks_the_library_dirty(tmp_path):
    lock = TrainerLock(tmp_path)
    assert lock.holder() is None and not lock.is_dirty()
    assert lock.request() == "claimed"
    assert lock.holder() == os.getpid()
    # While this process trains, more requests only mark the library dirty, once.
    assert lock.request() == "pending" and lock.request() == "pending"
    assert lock.is_dirty()
    assert lock.finish_or_continue(lambda: True)  # train once more
    assert not lock.is_dirty() and lock.holder() == os.getpid()
    assert not lock.finish_or_continue(lambda: True)  # nothing new: released
    assert lock.holder() is None
    assert [line.split()[-1] for line in lock.log_file.read_text().splitlines()] == ["finished"]


def test_a_lock_held_by_another_live_process_is_respected(tmp_path):
    other = _idle_process()
    try:
        lock = TrainerLock(tmp_path)
        lock.lock_file.write_text(f"{other.pid}\n")
        assert lock.holder() == other.pid
        assert not lock.acquire()
        assert lock.request() == "pending" and lock.is_dirty()
        lock.release()  # not ours: nothing happens
        assert lock.holder() == other.pid
    finally:
        other.stdin.close()
        other.wait()
    # The holder is gone: its lock is stale and the next request clears it.
    assert lock.request() == "claimed"
    assert lock.cleared_stale == other.pid and lock.holder() == os.getpid()
    assert not lock.is_dirty()  # the claim trains on everything: no extra round


@pytest.mark.parametrize("content", ["", "not a pid", None])
def test_stale_or_garbled_locks_are_cleared(tmp_path, content):
    lock = TrainerLock(tmp_path)
    lock.lock_file.write_text(f"{_dead_pid()}\n" if content is None else content)
    assert lock.holder() is None and not lock.lock_file.exists()
    assert lock.acquire()


def test_the_dirty_mark_is_dropped_when_no_retraining_is_due(tmp_path):
    lock = TrainerLock(tmp_path)
    assert lock.acquire()
    assert lock.mark_dirty()
    assert not lock.finish_or_continue(lambda: False)
    assert lock.holder() is None and not lock.is_dirty()
    assert not lock.mark_dirty()  # no trainer runs: nothing to mark


# --------------------------------------------------------------------------- real processes


def _env(stylist: Stylist) -> dict[str, str]:
    env = {**os.environ, "STYLIST_HOME": str(stylist.paths.data_dir)}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


def _cli(stylist: Stylist, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stylist", *args],
        env=_env(stylist),
        capture_output=True,
        text=True,
        check=True,
    )


def _trainers(home: Path) -> list[int]:
    """Live `stylist train` processes on this home (Linux: read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv]
        if "train" in args and str(home) in args and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _wait_until_idle(lock: TrainerLock) -> None:
    """Until no trainer holds the lock and the last one has exited."""
    home = lock.lock_file.parent
    deadline = time.monotonic() + SETTLE_S
    while lock.holder() is not None or _trainers(home):
        assert time.monotonic() < deadline, "the trainer never finished"
        time.sleep(0.2)


def _one_taste(stylist: Stylist, n: int, seed: int = 3) -> list[tuple[Outfit, Verdict]]:
    """n distinct outfits: skirts liked, trousers disliked."""
    tops = [i.id for i in stylist.items(Category.TOP)]
    shoes = [i.id for i in stylist.items(Category.SHOES)]
    bottoms = stylist.items(Category.BOTTOM)
    skirts = sorted(i.id for i in bottoms if i.original_name.startswith("skirt"))
    pants = sorted(i.id for i in bottoms if i.original_name.startswith("pants"))
    rng = random.Random(seed)
    chosen: dict[Outfit, Verdict] = {}
    while len(chosen) < n:
        like = len(chosen) % 2 == 0
        outfit = Outfit(rng.choice(tops), rng.choice(skirts if like else pants), rng.choice(shoes))
        chosen.setdefault(outfit, Verdict.LIKE if like else Verdict.DISLIKE)
    return list(chosen.items())


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="counts processes in /proc")
def test_twenty_cli_verdicts_start_one_trainer_at_a_time(demo):
    lock = demo.trainer_lock()
    seen: list[list[int]] = []
    for outfit, verdict in _one_taste(demo, 20):
        _cli(demo, verdict.value, *map(str, outfit.ids()))
        seen.append(_trainers(demo.paths.data_dir))
    # A trainer that has released the lock may still be closing its library as the next one
    # starts; never more than that.
    assert max(len(s) for s in seen) <= 2, seen
    _wait_until_idle(lock)
    assert not lock.is_dirty()
    print("trainer processes seen after each verdict:", [len(s) for s in seen])

    # The log: one trainer at a time, each start followed by its own finish.
    events = [line.split(maxsplit=2) for line in lock.log_file.read_text().splitlines()]
    holder = None
    starts = 0
    for _, pid, event in events:
        if event == "started":
            assert holder is None, events
            holder, starts = pid, starts + 1
        elif event == "finished":
            assert holder == pid, events
            holder = None
        else:
            assert holder == pid, events
    assert holder is None and 1 <= starts <= 20 // TRAIN_EVERY

    # The versions table: one version in use at most, every file there, each version trained
    # on later verdicts than the one before, and no verdict left uncounted.
    versions = demo.model_versions()
    assert versions and sum(v.active for v in versions) <= 1
    assert all(demo.library.file_path(v.file).is_file() for v in versions)
    through = [v.metrics["through_verdict"] for v in versions]
    assert through == sorted(set(through))
    assert not demo.training_due()
    assert demo.verdicts_since_training() < TRAIN_EVERY


def test_a_killed_trainer_leaves_a_lock_the_next_verdict_clears(demo):
    verdicts = _one_taste(demo, 2 * TRAIN_EVERY)
    for outfit, verdict in verdicts[:-1]:
        demo.rate(outfit, verdict)
    assert demo.training_due()
    in_use = [v.id for v in demo.model_versions() if v.active]
    proc = subprocess.Popen(
        [sys.executable, "-m", "stylist", "train", "--wait"],
        env=_env(demo),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()  # the trainer says when it holds the lock and starts
    assert line.startswith("Training started"), line
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    lock = demo.trainer_lock()
    assert lock.lock_file.read_text().strip() == str(proc.pid)  # left behind
    assert [v.id for v in demo.model_versions() if v.active] == in_use
    assert demo.check().consistent

    outfit, verdict = verdicts[-1]
    out = _cli(demo, verdict.value, *map(str, outfit.ids())).stdout
    assert f"Cleared the lock of a training that had stopped (process {proc.pid})" in out
    assert "retraining in the background" in out
    _wait_until_idle(lock)
    assert demo.model_versions(), "the new trainer made a version"
    assert not demo.training_due()
