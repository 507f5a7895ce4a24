"""Long work off the GUI thread: core functions wrapped in QRunnables with plain-data signals.

A core function reports progress through a ``progress(done, total, label)`` callback and stops
when its ``cancel`` flag (a ``threading.Event``) is set. :class:`Task` runs one such function in a
pool thread; its signals carry plain Python data (or QImage) back to the GUI thread, where the
widgets are updated. Workers never touch widgets and never make QPixmaps.

:class:`TaskManager` owns the pool, keeps every running task alive until it ends, and tells the
status bar what is running.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from stylist.errors import StylistError
from stylist.tasks import Progress

# A core call taking (progress, cancel); the GUI wraps service methods in such lambdas.
Work = Callable[[Progress, threading.Event], Any]

PROGRESS_INTERVAL_S = 0.04  # at most ~25 progress updates a second reach the GUI thread
WORKER_NICENESS = 5  # background threads yield the CPU to the GUI thread when cores are scarce


def lower_thread_priority(niceness: int = WORKER_NICENESS) -> None:
    """Make the calling thread (and the threads it starts) nicer than the GUI thread.

    On Linux the nice value belongs to each thread and is inherited by threads it creates, so the
    import's decode pool and ONNX Runtime's threads started from a worker are nice as well.
    Elsewhere (or where it is not allowed) this does nothing.
    """
    if not hasattr(os, "setpriority") or not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        if current < niceness:
            os.setpriority(os.PRIO_PROCESS, tid, niceness)
    except OSError:
        pass


class TaskSignals(QObject):
    progress = Signal(int, int, str)  # done, total, current label
    done = Signal(object)  # the function's result
    failed = Signal(str, str)  # a message fit for a person, details (a traceback, or "")
    finished = Signal()  # after done or failed


class Task(QRunnable):
    """One call of a core function in a pool thread."""

    def __init__(self, work: Work, label: str, kind: str = "", quiet: bool = False) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the manager holds it until ``finished``
        self.work = work
        self.label = label
        self.kind = kind
        self.quiet = quiet  # not shown in the status bar (quick reads)
        self.cancel = threading.Event()
        self.signals = TaskSignals()
        self.done_count = 0
        self.total = 0
        self.current = ""
        self.running = False
        self._last_emit = 0.0

    def _progress(self, done: int, total: int, current: str) -> None:
        now = time.monotonic()
        if done < total and now - self._last_emit < PROGRESS_INTERVAL_S:
            return
        self._last_emit = now
        self.signals.progress.emit(int(done), int(total), str(current))

    def run(self) -> None:  # noqa: D401 - Qt override
        self.running = True
        lower_thread_priority()
        try:
            result = self.work(self._progress, self.cancel)
        except StylistError as exc:
            self.signals.failed.emit(str(exc), "")
        except MemoryError:
            self.signals.failed.emit("There was not enough memory to finish this.", "")
        except Exception as exc:  # an unexpected failure: readable message, details apart
            message = f"{self.label} stopped because of an unexpected error: {exc}"
            self.signals.failed.emit(message, traceback.format_exc())
        else:
            self.signals.done.emit(result)
        finally:
            self.running = False
            self.signals.finished.emit()


class TaskManager(QObject):
    """Runs tasks in its own pool and keeps a list of what is running."""

    changed = Signal()  # a task started, progressed or ended
    failed = Signal(str, str, str)  # task label, message, details (for tasks without on_failed)

    def __init__(self, parent: QObject | None = None, max_threads: int = 4) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._tasks: list[Task] = []
        self._closed = False

    def start(
        self,
        work: Work,
        label: str,
        *,
        kind: str = "",
        on_done: Callable[[Any], None] | None = None,
        on_failed: Callable[[str, str], None] | None = None,
        on_progress: Progress | None = None,
        on_finished: Callable[[], None] | None = None,
        quiet: bool = False,
    ) -> Task:
        task = Task(work, label, kind, quiet)
        self._tasks.append(task)

        # Results that arrive after the window closed go nowhere: the widgets are gone.
        def progressed(done: int, total: int, current: str) -> None:
            if self._closed:
                return
            task.done_count, task.total, task.current = done, total, current
            if on_progress:
                on_progress(done, total, current)
            if not task.quiet:
                self.changed.emit()

        def succeeded(result: Any) -> None:
            if not self._closed and on_done:
                on_done(result)

        def failed(message: str, details: str) -> None:
            if self._closed:
                return
            if on_failed:
                on_failed(message, details)
            else:
                self.failed.emit(task.label, message, details)

        def finished() -> None:
            if task in self._tasks:
                self._tasks.remove(task)
            if self._closed:
                return
            if on_finished:
                on_finished()
            self.changed.emit()

        task.signals.progress.connect(progressed)
        task.signals.done.connect(succeeded)
        task.signals.failed.connect(failed)
        task.signals.finished.connect(finished)
        self.pool.start(task)
        if not quiet:
            self.changed.emit()
        return task

    def active(self, include_quiet: bool = False) -> list[Task]:
        return [t for t in self._tasks if include_quiet or not t.quiet]

    def running(self, kind: str) -> Task | None:
        for task in self._tasks:
            if task.kind == kind:
                return task
        return None

    def close(self) -> None:
        """Cancel everything and deliver no more results (the window is going away)."""
        self._closed = True
        self.cancel_all()

    def cancel_all(self) -> None:
        for task in self._tasks:
            task.cancel.set()

    def wait(self, msecs: int = -1) -> bool:
        """Block until every task has ended (used on quit and in tests)."""
        return self.pool.waitForDone(msecs)
