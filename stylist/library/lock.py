"""A lock per library shared between processes: the CLI, the window and the background trainer.

An operating-system lock on ``<data>/library.lock``: shared while a process reads the stored files
(``check``, exports), exclusive while it writes them, migrates the database or settles what a
crash left in ``incoming/``. The lock is held for one operation at a time, never for the life of
a process, so a window left open never blocks a command. Within one process the lock is
re-entrant: an exclusive hold also covers the shared requests made inside it.

POSIX systems use ``fcntl.flock``; Windows has only exclusive byte-range locks, so there every
hold is exclusive.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

LOCK_NAME = "library.lock"


class LibraryLock:
    """Shared and exclusive holds on one library's lock file (see the module doc)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._mutex = threading.RLock()
        self._mode: str | None = None  # "shared" | "exclusive" while held
        self._depth = 0

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        return self._fd

    def _os_lock(self, exclusive: bool, wait: bool) -> bool:
        fd = self._open()
        if fcntl is not None:
            flags = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
            try:
                fcntl.flock(fd, flags if wait else flags | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True
        while True:  # pragma: no cover - Windows
            try:
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                return True
            except OSError:
                if not wait:
                    return False
                time.sleep(0.05)

    def _os_unlock(self) -> None:
        if self._fd is None:
            return
        if fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        else:  # pragma: no cover - Windows
            os.lseek(self._fd, 0, os.SEEK_SET)
            msvcrt.locking(self._fd, msvcrt.LK_UNLCK, 1)

    @contextmanager
    def hold(self, exclusive: bool) -> Iterator[None]:
        """Hold the lock (blocking until it is free) for the duration of the block."""
        if not self.acquire(exclusive, wait=True):  # pragma: no cover - a blocking wait
            raise RuntimeError("lock not acquired")
        try:
            yield
        finally:
            self.release()

    def shared(self):
        return self.hold(exclusive=False)

    def exclusive(self):
        return self.hold(exclusive=True)

    def acquire(self, exclusive: bool, wait: bool = True) -> bool:
        """Take the lock; without ``wait``, only when no other process holds it in a way that
        conflicts. Every successful acquire is matched by one ``release``."""
        self._mutex.acquire()
        try:
            if self._depth and (self._mode == "exclusive" or not exclusive):
                self._depth += 1  # already held strongly enough by this process
                return True
            previous = self._mode
            if not self._os_lock(exclusive, wait):
                if previous is not None:
                    self._os_lock(previous == "exclusive", True)
                self._mutex.release()
                return False
            if previous is None:
                self._mode = "exclusive" if exclusive else "shared"
                self._depth = 1
            else:  # shared upgraded to exclusive inside a shared hold
                self._stack = getattr(self, "_stack", [])
                self._stack.append((self._mode, self._depth))
                self._mode, self._depth = "exclusive", 1
            return True
        except BaseException:
            self._mutex.release()
            raise

    def release(self) -> None:
        try:
            self._depth -= 1
            if self._depth == 0:
                stack = getattr(self, "_stack", [])
                if stack:
                    mode, depth = stack.pop()
                    self._os_lock(mode == "exclusive", True)  # back down to shared
                    self._mode, self._depth = mode, depth
                else:
                    self._os_unlock()
                    self._mode = None
        finally:
            self._mutex.release()

    def close(self) -> None:
        with self._mutex:
            if self._fd is not None:
                if self._mode is not None:
                    self._os_unlock()
                os.close(self._fd)
                self._fd = None
                self._mode, self._depth = None, 0
