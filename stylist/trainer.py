"""One personal trainer per library, however many verdicts ask for one.

A trainer (the command line's background ``stylist train --wait`` or the window's worker) holds
``trainer.lock`` in the library's data folder; the file holds its process id. A verdict that
arrives while a trainer runs only marks the library dirty (``trainer.dirty``); the trainer sees
the mark when it finishes and trains once more on everything. So at most one trainer runs and at
most one training waits, however many verdicts arrive (house rule 14).

A trainer that died without releasing (a crash, SIGKILL, a power cut) leaves a lock whose process
is gone: the next request finds it stale, clears it and starts afresh.

Every look at the two files happens under a short exclusive guard (``trainer.guard``, an OS file
lock released by the OS when its holder dies), so two processes never both clear a stale lock or
both start a trainer.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from stylist.files import atomic_write

LOG_NAME = "trainer.log"
LOCK_NAME = "trainer.lock"
DIRTY_NAME = "trainer.dirty"
GUARD_NAME = "trainer.guard"

# A process that was handed the lock waits this long for the hand-over to be written.
HANDOVER_WAIT_S = 30.0


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (on this machine)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import ctypes

        process = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # query limited info
        if not process:
            return False
        code = ctypes.c_ulong()
        ctypes.windll.kernel32.GetExitCodeProcess(process, ctypes.byref(code))
        ctypes.windll.kernel32.CloseHandle(process)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A killed child not yet reaped by its parent still answers kill(0); it trains no more."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


class TrainerLock:
    """The trainer lock and dirty mark of one library's data folder."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        folder = Path(data_dir)
        self.lock_file = folder / LOCK_NAME
        self.dirty_file = folder / DIRTY_NAME
        self.guard_file = folder / GUARD_NAME
        self.log_file = folder / LOG_NAME
        self.cleared_stale: int | None = None  # the dead holder's pid, once cleared

    # ----------------------------------------------------------------- the guard
    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        self.guard_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.guard_file, "a+b") as handle:
            if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
                import msvcrt

                handle.seek(0)
                while True:
                    try:
                        msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                        break
                    except OSError:
                        continue
                try:
                    yield
                finally:
                    handle.seek(0)
                    msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    # ----------------------------------------------------------------- reading (under the guard)
    def _read_pid(self) -> int | None:
        try:
            text = self.lock_file.read_text().strip()
        except FileNotFoundError:
            return None
        except OSError:
            return -1
        try:
            return int(text.split()[0])
        except (ValueError, IndexError):
            return -1  # a lock cut short by a crash while it was written: stale

    def _live_holder(self) -> int | None:
        pid = self._read_pid()
        if pid is None:
            return None
        if pid_alive(pid):
            return pid
        self.lock_file.unlink(missing_ok=True)
        self.cleared_stale = pid
        return None

    def _write(self, pid: int) -> None:
        # Written under a temporary name and renamed, so a reader never sees half a pid.
        atomic_write(self.lock_file, f"{pid}\n")

    # ----------------------------------------------------------------- public
    def holder(self) -> int | None:
        """The pid of the running trainer, or None (a stale lock is cleared on the way)."""
        with self._guard():
            return self._live_holder()

    def is_dirty(self) -> bool:
        return self.dirty_file.exists()

    def request(self) -> str:
        """A verdict asks for a training. Returns ``"pending"`` when a trainer runs (the
        library is marked dirty and it will train once more), or ``"claimed"``: no trainer ran,
        and this process holds the lock now, to train itself or to hand over to a child."""
        with self._guard():
            if self._live_holder() is not None:
                self.dirty_file.touch()
                return "pending"
            self.dirty_file.unlink(missing_ok=True)
            self._write(os.getpid())
            return "claimed"

    def mark_dirty(self) -> bool:
        """Mark the library dirty if a trainer runs; returns whether one does."""
        with self._guard():
            if self._live_holder() is None:
                return False
            self.dirty_file.touch()
            return True

    def hand_over(self, pid: int) -> None:
        """Pass a claimed lock to another process (the background trainer just started)."""
        with self._guard():
            if self._read_pid() == os.getpid():
                self._write(pid)

    def take_over(self, wait_s: float = HANDOVER_WAIT_S) -> bool:
        """In a started trainer: wait until the starter has handed the lock over; claim it
        when it is free or stale. False when another live trainer holds it (this one then
        marks the library dirty, so its verdicts are learned from, and stops)."""
        me = os.getpid()
        parent = os.getppid()
        deadline = time.monotonic() + wait_s
        while True:
            with self._guard():
                holder = self._live_holder()
                if holder == me:
                    return True
                if holder is None:
                    self._write(me)
                    return True
                # The starter claimed the lock and is about to write this process's id in it.
                if holder != parent or time.monotonic() > deadline:
                    self.dirty_file.touch()
                    return False
            time.sleep(0.05)

    def acquire(self) -> bool:
        """Claim the lock for this process; False when another live trainer holds it."""
        with self._guard():
            holder = self._live_holder()
            if holder is not None and holder != os.getpid():
                return False
            self._write(os.getpid())
            return True

    def finish_or_continue(self, again: Callable[[], bool] = lambda: True) -> bool:
        """At the end of a training: True (the lock kept) when the library was marked dirty
        meanwhile and ``again()`` agrees, so the caller trains once more; else the lock is
        released and False."""
        with self._guard():
            if self.dirty_file.exists():
                self.dirty_file.unlink(missing_ok=True)
                if again():
                    return True
            self._release()
            return False

    def log(self, event: str) -> None:
        """One line in the trainer's log: when, which process, what (kept short: the last
        few hundred lines). "started" and "finished" are written while the lock is held."""
        with self._guard():
            self._log(event)

    def _log(self, event: str) -> None:
        from datetime import datetime, timezone

        stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        try:
            lines = self.log_file.read_text().splitlines()[-499:]
        except FileNotFoundError:
            lines = []
        lines.append(f"{stamp} {os.getpid()} {event}")
        atomic_write(self.log_file, "\n".join(lines) + "\n")

    def release(self) -> None:
        """Give the lock up (after a failure or a cancel); the dirty mark stays for later."""
        with self._guard():
            self._release()

    def _release(self) -> None:
        if self._read_pid() == os.getpid():
            self._log("finished")
            self.lock_file.unlink(missing_ok=True)
