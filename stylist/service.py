"""The front door: every capability of Stylist as plain method calls.

The command line and the window both use this object, so that everything works headless first.
Heavy libraries (torch, onnxruntime) are imported only inside the methods that need them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from stylist import paths as paths_mod
from stylist.domain import Category, CategorySource, Item
from stylist.library import CheckReport, Library
from stylist.library.importer import ImportReport, Progress, import_photos
from stylist.paths import Paths
from stylist.settings import Settings

DEMO_WARDROBE = paths_mod.resources_dir() / "demo-wardrobe"


@dataclass
class LibraryInfo:
    data_dir: Path
    config_dir: Path
    database: Path
    database_bytes: int
    photos_bytes: int
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class Stylist:
    """One person's Stylist home: the library, the settings and what runs on them."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.library = Library.open(paths)
        self.settings = Settings.load(paths)

    @classmethod
    def open(cls, home: str | os.PathLike[str] | None = None) -> Stylist:
        return cls(paths_mod.resolve(home))

    @classmethod
    def open_demo(cls, base: Paths, reset: bool = False) -> tuple[Stylist, ImportReport | None]:
        """The demo wardrobe in a home of its own, loaded on first use (or again on reset)."""
        demo_paths = paths_mod.for_home(base.demo_home)
        if reset and demo_paths.data_dir.exists():
            import shutil

            shutil.rmtree(demo_paths.data_dir)
        demo = cls(demo_paths)
        report = None
        if sum(demo.library.counts().values()) == 0:
            report = demo.import_photos([DEMO_WARDROBE])
        return demo, report

    def close(self) -> None:
        self.library.close()

    def __enter__(self) -> Stylist:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- the wardrobe
    def import_photos(
        self,
        sources: Iterable[str | os.PathLike[str]],
        category: Category | None = None,
        progress: Progress | None = None,
        cancel=None,
    ) -> ImportReport:
        return import_photos(self.library, sources, category, progress=progress, cancel=cancel)

    def items(self, category: Category | None = None) -> list[Item]:
        return self.library.items(category)

    def set_category(self, item_id: int, category: Category) -> Item:
        self.library.set_category(item_id, category, CategorySource.USER)
        return self.library.item(item_id)

    def remove(self, item_ids: Iterable[int]) -> list[int]:
        ids = list(item_ids)
        for item_id in ids:
            self.library.item(item_id)  # every id must exist before anything is removed
        return self.library.remove_items(ids)

    def info(self) -> LibraryInfo:
        db_bytes = sum(
            p.stat().st_size
            for p in self.paths.data_dir.glob(self.paths.database.name + "*")
            if p.is_file()
        )
        photos_bytes = sum(
            p.stat().st_size for d in self.paths.stored_dirs() for p in d.rglob("*") if p.is_file()
        )
        return LibraryInfo(
            data_dir=self.paths.data_dir,
            config_dir=self.paths.config_dir,
            database=self.paths.database,
            database_bytes=db_bytes,
            photos_bytes=photos_bytes,
            counts=self.library.counts(),
        )

    def check(self, repair: bool = False) -> CheckReport:
        return self.library.check(repair=repair)
