"""Where Stylist keeps things: one place decides every path the program writes to.

By default the library lives in the platform's user data directory for "Stylist" (appdirs) and
settings in its user config directory. ``STYLIST_HOME`` (or ``--home DIR`` on the command line)
moves all of it under one folder, which is what the tests always do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from stylist import APP_NAME
from stylist.files import atomic_write

HOME_ENV = "STYLIST_HOME"
LOCATION_FILE = "library-location.txt"


DATABASE_NAME = "library.sqlite3"  # a folder holding it is a Stylist home


@dataclass(frozen=True)
class Paths:
    """Every location of one Stylist home."""

    data_dir: Path
    config_dir: Path

    @property
    def database(self) -> Path:
        return self.data_dir / DATABASE_NAME

    @property
    def originals(self) -> Path:
        """The photos as imported, byte for byte, named by content hash."""
        return self.data_dir / "photos"

    @property
    def working(self) -> Path:
        """Working copies for the models: long side at most 640 px, sRGB, no metadata."""
        return self.data_dir / "working"

    @property
    def thumbnails(self) -> Path:
        return self.data_dir / "thumbnails"

    @property
    def cutouts(self) -> Path:
        """Garment masks and the garments over a light ground, one pair per item and version
        (remade from the working copy at any time, so not a stored folder)."""
        return self.data_dir / "cutouts"

    @property
    def incoming(self) -> Path:
        """Files on their way in or out of the library (see ``library.store``)."""
        return self.data_dir / "incoming"

    @property
    def features(self) -> Path:
        """Cached backbone features (one file per item set and backbone)."""
        return self.data_dir / "features"

    @property
    def cache(self) -> Path:
        """What can be recomputed at any time (the ranking's pair matrices)."""
        return self.data_dir / "cache"

    @property
    def models(self) -> Path:
        """Downloaded backbones and the person's own matching networks."""
        return self.data_dir / "models"

    @property
    def lost_found(self) -> Path:
        """Files a check found without a place in the library: kept here, never deleted."""
        return self.data_dir / "lost+found"

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.json"

    @property
    def demo_home(self) -> Path:
        """The demo wardrobe lives in a home of its own, apart from the person's library."""
        return self.data_dir / "demo"

    def stored_dirs(self) -> tuple[Path, ...]:
        """Folders that hold only files belonging to library rows."""
        return (self.originals, self.working, self.thumbnails)

    def holds(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` (links resolved) lies in this home's data or settings folder, where
        only Stylist writes: an export or a report written there could replace the database."""
        p = Path(path).expanduser().resolve()
        folders = {self.data_dir.resolve(), self.config_dir.resolve()}
        return any(p == d or d in p.parents for d in folders)

    def ensure(self) -> Paths:
        for folder in (self.data_dir, self.config_dir, *self.stored_dirs(), self.incoming):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def for_home(home: str | os.PathLike[str]) -> Paths:
    """All data and settings under one folder."""
    root = Path(home).expanduser().resolve()
    return Paths(data_dir=root, config_dir=root / "config")


def resolve(
    home: str | os.PathLike[str] | None = None, config: str | os.PathLike[str] | None = None
) -> Paths:
    """The home to use: an explicit folder, else ``STYLIST_HOME``, else the platform's folders;
    ``config`` names the settings folder apart (the background trainer is given both)."""
    found = _resolve_home(home)
    if config:
        found = Paths(data_dir=found.data_dir, config_dir=Path(config).expanduser().resolve())
    return found


def _resolve_home(home: str | os.PathLike[str] | None) -> Paths:
    if home:
        return for_home(home)
    env = os.environ.get(HOME_ENV)
    if env:
        return for_home(env)
    import appdirs

    config_dir = Path(appdirs.user_config_dir(APP_NAME, appauthor=False))
    data_dir = saved_location(config_dir) or Path(appdirs.user_data_dir(APP_NAME, appauthor=False))
    return Paths(data_dir=data_dir, config_dir=config_dir)


def saved_location(config_dir: Path) -> Path | None:
    """Where the person moved their library to (see ``Stylist.move_library``), if they did."""
    try:
        text = (config_dir / LOCATION_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return Path(text) if text else None


def save_location(config_dir: Path, data_dir: Path) -> None:
    atomic_write(config_dir / LOCATION_FILE, str(data_dir))


def printable(name: str | os.PathLike[str]) -> str:
    """A file name as text that can be stored and printed: bytes that are not valid in the
    file system's encoding (kept by Python as surrogates) show as U+FFFD."""
    raw = os.fsencode(name)
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def repo_root() -> Path:
    """The source tree (holds ``models/`` and ``resources/``)."""
    return Path(__file__).resolve().parent.parent


def _shipped(name: str) -> Path:
    """``name`` inside an installed wheel (``stylist/_shipped/``, see setup.py), else in the
    source tree."""
    installed = Path(__file__).resolve().parent / "_shipped" / name
    return installed if installed.is_dir() else repo_root() / name


def models_dir() -> Path:
    """Shipped models: ONNX backbones, manifests, matching networks, category heads."""
    return _shipped("models")


def resources_dir() -> Path:
    """The demo wardrobe, icons and style sheets."""
    return _shipped("resources")
