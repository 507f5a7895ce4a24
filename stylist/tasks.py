"""The vocabulary of long work, shared by every job of the core and by its callers.

A long function takes ``progress`` (called as ``progress(done, total, label)``) and ``cancel``
(anything with ``is_set()``, usually a ``threading.Event``), both optional. When it is cancelled:

* a loop whose finished steps stay useful (an import, feature extraction, category guesses) stops
  before its next step and returns its report, which says it was cancelled; run again to go on;
* work that is all or nothing (moving the library, installing a backbone, building the ranker,
  a training run's features) raises :class:`Cancelled` and leaves nothing changed.

The command line and the window use the same functions (napari's ``cancelable_progress`` serves
both its viewer and scripts the same way). Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from stylist.errors import StylistError

Progress = Callable[[int, int, str], None]


class Cancel(Protocol):
    """A cancel flag, such as ``threading.Event``."""

    def is_set(self) -> bool: ...


class Cancelled(StylistError):
    """All-or-nothing work was cancelled before it finished; nothing was changed."""


def is_cancelled(cancel: Cancel | None) -> bool:
    """Whether the caller asked the work to stop (no flag: never)."""
    return cancel is not None and cancel.is_set()


def check_cancel(cancel: Cancel | None, what: str) -> None:
    """Raise :class:`Cancelled` (``"<what> was cancelled"``) once the flag is set."""
    if is_cancelled(cancel):
        raise Cancelled(f"{what} was cancelled")
