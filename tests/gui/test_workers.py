"""Workers: progress reaches the GUI thread, cancel stops the work, failures are reported."""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication

from stylist.errors import StylistError
from stylist.gui.workers import TaskManager


def test_progress_results_and_cancel(qtbot):
    manager = TaskManager()
    seen: list[tuple[int, int, str]] = []
    threads: list[bool] = []
    started = threading.Event()

    def count(progress, cancel):
        started.set()
        done = 0
        for done in range(1, 1001):
            if cancel.is_set():
                break
            progress(done, 1000, f"step {done}")
            time.sleep(0.002)
        return done

    def on_progress(d, t, label):
        seen.append((d, t, label))
        threads.append(QThread.currentThread() == QApplication.instance().thread())

    results = []
    task = manager.start(count, "Counting", on_progress=on_progress, on_done=results.append)
    assert manager.active() == [task]
    qtbot.waitUntil(lambda: len(seen) >= 2, timeout=5000)
    task.cancel.set()
    qtbot.waitUntil(lambda: bool(results), timeout=5000)
    assert 1 < results[0] < 1000  # stopped early, kept what was done
    assert all(threads)  # progress handlers ran on the GUI thread
    assert seen[-1][1] == 1000 and seen[-1][2].startswith("step ")
    qtbot.waitUntil(lambda: not manager.active(), timeout=5000)


def test_expected_and_unexpected_failures(qtbot):
    manager = TaskManager()
    failures: list[tuple[str, str]] = []

    def expected(progress, cancel):
        raise StylistError("photo.jpg: not a photo")

    def unexpected(progress, cancel):
        raise KeyError("boom")

    manager.start(expected, "Import", on_failed=lambda m, d: failures.append((m, d)))
    qtbot.waitUntil(lambda: len(failures) == 1, timeout=5000)
    assert failures[0] == ("photo.jpg: not a photo", "")
    with qtbot.waitSignal(manager.failed, timeout=5000) as blocker:
        manager.start(unexpected, "Training")
    label, message, details = blocker.args
    assert label == "Training"
    assert "unexpected error" in message and "boom" in message
    assert "Traceback" in details and "KeyError" in details
    manager.wait(5000)
