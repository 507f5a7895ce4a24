"""Files written whole or not at all, and read back checked.

One atomic write (a temporary name in the same folder, renamed into place, so a crash leaves the
old file or the new one, never half of either), one reader of ``.npz`` archives (numbers only:
``allow_pickle=False``, so reading never runs code) and one reader of JSON objects. A reader
raises an error naming the file and what is wrong with it; caches that would rather recompute
catch it and go on.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from stylist.errors import StylistError

Writer = Callable[[IO[bytes]], None]


class FileFormatError(StylistError):
    """A file is missing, cannot be read, or is not what it should be."""


def file_mode() -> int:
    """0o666 less the process umask, read without changing it (os.umask is not thread-safe)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    return 0o644


def write_temporary(path: str | os.PathLike[str], data: bytes | str | Writer) -> Path:
    """``data`` (bytes, text in UTF-8, or a function writing to a binary file) complete under a
    fresh temporary name beside ``path``, with the mode a plain ``open()`` would give; the caller
    renames it into place (or removes it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            if callable(data):
                data(fh)
            else:
                fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, file_mode())  # mkstemp makes it private; these are ordinary files
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def atomic_write(path: str | os.PathLike[str], data: bytes | str | Writer) -> Path:
    """Write ``path`` all at once: a reader sees the old file or the new one, never a part."""
    path = Path(path)
    tmp = write_temporary(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | os.PathLike[str], data: Any, indent: int = 2) -> Path:
    """``data`` as indented JSON, written atomically."""
    return atomic_write(path, json.dumps(data, indent=indent) + "\n")


def read_npz(
    path: str | os.PathLike[str],
    *,
    stamp: Mapping[str, str] | None = None,
    keys: Iterable[str] | None = None,
    error: type[StylistError] = FileFormatError,
) -> dict[str, Any]:
    """The arrays of an ``.npz`` archive (all, or ``keys``), never unpickling anything.

    ``stamp`` names text entries the archive must hold with these values (a cache's format and
    what it was computed for); ``error`` is raised, naming the file, when it is missing,
    unreadable, stamped otherwise or lacks a key."""
    import zipfile

    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise error(f"{path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            for name, value in (stamp or {}).items():
                if name not in archive.files or str(archive[name]) != value:
                    raise error(f"{path} was not written for {name} {value!r}")
            wanted = archive.files if keys is None else list(keys)
            missing = [k for k in wanted if k not in archive.files]
            if missing:
                raise error(f"{path}: array {missing[0]!r} is missing")
            return {k: archive[k] for k in wanted}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise error(f"{path} is not a readable .npz archive ({exc})") from None


def read_json(
    path: str | os.PathLike[str],
    *,
    fmt: str | None = None,
    error: type[StylistError] = FileFormatError,
) -> dict[str, Any]:
    """A JSON object from ``path``; with ``fmt``, one whose ``"format"`` is that. ``error``,
    naming the file, when it is missing, unreadable, not an object or of another format."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path} is not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise error(f"{path} is not a JSON object")
    if fmt is not None and data.get("format") != fmt:
        raise error(f"{path}: unsupported format {data.get('format')!r} (expected {fmt!r})")
    return data
