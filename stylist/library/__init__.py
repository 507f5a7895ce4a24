"""The wardrobe library: SQLite storage, migrations, photo import, thumbnails."""

from stylist.library.store import CheckReport, Library

__all__ = ["CheckReport", "Library"]
