"""Which build of Stylist is running: the source tree, an installed wheel, or a bundle.

A bundle (PyInstaller, see ``packaging/``) is a frozen program: ``sys.frozen`` is set, and the
build wrote ``_build.json`` (date, commit) beside this package. ``stylist --version`` and the
About box say which one runs, so a report of a problem names the exact build.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from stylist import __version__

BUILD_FILE = "_build.json"  # written into a bundle by packaging/build.py


def kind() -> str:
    """``bundle`` (frozen), ``installed`` (a wheel) or ``source`` (a clone)."""
    if getattr(sys, "frozen", False):
        return "bundle"
    if (Path(__file__).resolve().parent / "_shipped").is_dir():
        return "installed"
    return "source"


def stamp() -> dict[str, str]:
    """What the bundle build recorded (``built``, ``commit``); {} outside a bundle."""
    try:
        data = json.loads((Path(__file__).resolve().parent / BUILD_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def describe() -> str:
    """One line: ``0.1.0 (bundle, built 2026-01-02 from abc1234)`` or ``0.1.0 (source)``."""
    details = [kind()]
    info = stamp()
    if info.get("built"):
        commit = f" from {info['commit']}" if info.get("commit") else ""
        details.append(f"built {info['built']}{commit}")
    return f"{__version__} ({', '.join(details)})"


def self_command() -> list[str]:
    """The command line that runs this very Stylist again (a bundle is its own executable)."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "stylist"]


def require_torch(purpose: str) -> None:
    """StylistError unless torch can be imported: the everyday bundle leaves it out, and only
    the VGG-16 install, the research evaluation and exports need it."""
    import importlib.util

    from stylist.errors import StylistError

    if importlib.util.find_spec("torch") is None:
        raise StylistError(
            f"{purpose} needs PyTorch, which this build of Stylist ({kind()}) does not include: "
            "run Stylist from its source with `make run`, which installs it (see the README)"
        )
