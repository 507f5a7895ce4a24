"""Work-arounds for known faults in the Qt bindings, applied once when the GUI package loads.

PySide6 6.12.0 returns ``None`` (and ``True``/``False`` from some calls) without taking a
reference to it. From Python 3.12 those objects are immortal (PEP 683) and nothing happens, but on
Python 3.10 and 3.11 every call of a void method (``QPainter.drawRect``, a ``paintEvent``
override, …) leaves ``None`` one reference short, and after a few thousand paints the interpreter
aborts with "deallocating None". Until the bindings are fixed we do what Python 3.12 does: give
these three objects so many references that they can never reach zero.
"""

from __future__ import annotations

import ctypes
import sys

import PySide6

# Far more references than any run can drop, far below the counter's limit.
_EXTRA_REFERENCES = 1 << 40


def needs_immortal_singletons(version: tuple[int, ...], python: tuple[int, ...]) -> bool:
    return python < (3, 12) and tuple(version[:2]) == (6, 12)


def make_singletons_immortal() -> None:
    for obj in (None, True, False):
        # ob_refcnt is the first field of every CPython object (Py_ssize_t).
        ctypes.c_ssize_t.from_address(id(obj)).value += _EXTRA_REFERENCES


_applied = False


def apply() -> bool:
    """Apply the work-arounds this interpreter and binding need; True when one was applied."""
    global _applied
    if _applied:
        return True
    if sys.implementation.name == "cpython" and needs_immortal_singletons(
        tuple(PySide6.__version_info__), sys.version_info
    ):
        make_singletons_immortal()
        _applied = True
    return _applied
