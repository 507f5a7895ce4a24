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
from stylist.domain import OUTFIT_SLOTS, Category, CategorySource, Item, Outfit, Verdict
from stylist.errors import StylistError, UsageError
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

    # ----------------------------------------------------------------- models
    def backbone(self):
        """The backbone in use (the setting), its manifest verified."""
        from stylist.vision.backbones import get_backbone

        return get_backbone(self.settings.backbone, self.paths)

    def extractor(self):
        """One ONNX Runtime session for the backbone and device in use, kept while it is used."""
        from stylist.vision.extractor import Extractor

        key = (self.settings.backbone, self.settings.device)
        if getattr(self, "_extractor_key", None) != key:
            self._extractor = Extractor(
                self.backbone(), device=self.settings.device, paths=self.paths
            )
            self._extractor_key = key
        return self._extractor

    def matching_net(self, net: str = "C"):
        """The matching network to rank with, and where it came from: the person's active
        version, else the shipped general model for this backbone, else an untrained net."""
        from stylist.rank.matching import MatchingNet

        spec = self.backbone()
        for version in reversed(self.library.model_versions(spec.id)):
            if version.active and version.net == net:
                return MatchingNet.load(self.library.file_path(version.file)), (
                    f"your model, version {version.id}"
                )
        shipped = paths_mod.models_dir() / f"fashionnet-{net.lower()}-{spec.id}.npz"
        if shipped.is_file():
            loaded = MatchingNet.load(shipped)
            if loaded.config.get("backbone_sha256") in (None, spec.sha256):
                return loaded, "the general model"
        return MatchingNet.untrained(spec.feature_dim, net=net), (
            "an untrained model: no general model exists for this backbone yet"
        )

    def _slot_features(self) -> list[dict[int, object]]:
        spec = self.backbone()
        vectors = self.library.features(spec.id, spec.sha256)
        by_slot: list[dict[int, object]] = [{}, {}, {}]
        for item in self.library.items():
            if item.id in vectors and item.category in OUTFIT_SLOTS:
                by_slot[OUTFIT_SLOTS.index(item.category)][item.id] = vectors[item.id]
        return by_slot

    def ranker(self, progress=None, cancel=None):
        """The ranker over every outfit of the wardrobe, rebuilt when the items, their
        categories or the model change (the pair matrices are the expensive part)."""
        from stylist.rank.query import Ranker

        net, origin = self.matching_net("C")
        slots = self._slot_features()
        if not all(slots):
            missing = [c.value for c, s in zip(OUTFIT_SLOTS, slots, strict=True) if not s]
            raise StylistError(
                "no outfits can be made yet: the wardrobe has no "
                + " and no ".join(missing)
                + " with features (import photos, set their categories, run `stylist features`)"
            )
        key = (str(net.source), origin, tuple(tuple(sorted(s)) for s in slots))
        if getattr(self, "_ranker_key", None) != key:
            ranker = Ranker.from_features(net, *slots, progress=progress, cancel=cancel)
            if ranker is None:
                return None
            self._ranker, self._ranker_key, self.ranker_origin = ranker, key, origin
        return self._ranker

    # ----------------------------------------------------------------- suggestions and verdicts
    def suggest(
        self,
        k: int = 20,
        *,
        with_items=(),
        without_items=(),
        tags=None,
        not_worn_days: int | None = None,
        max_per_item: int | None = 2,
        exploration: float = 0.1,
        explain: bool = True,
    ):
        """The k best outfits of the whole wardrobe under these filters (see rank.query)."""
        from stylist.rank.query import Query

        ranker = self.ranker()
        allowed = None
        if tags:
            tagged = {i.id for tag in tags for i in self.library.items(tag=tag)}
            allowed = {slot.value: tagged for slot in OUTFIT_SLOTS}
        worn = self.recently_worn(not_worn_days) if not_worn_days else set()
        query = Query(
            k=k,
            include=tuple(with_items),
            exclude=tuple(without_items),
            recently_worn=tuple(worn),
            allowed=allowed,
            max_per_item=max_per_item,
            exploration=exploration,
            explain=explain,
        )
        return ranker.suggest(query)

    def score_outfit(self, outfit: Outfit, explain: bool = True):
        """Score and explain any outfit, for example one the person composed."""
        return self.ranker().rate(*outfit.ids(), explain=explain)

    def recently_worn(self, days: int) -> set[int]:
        from datetime import datetime, timedelta, timezone

        since = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat(timespec="seconds")
        worn = set()
        for row in self.library.verdicts():
            if row.source == "wore" and row.created_at >= since:
                worn.update(row.outfit.ids())
        return worn

    def rate(self, outfit: Outfit, verdict: Verdict, source: str = "suggestion") -> int:
        """Record a thumbs up or down; returns its id (for undo)."""
        for slot, item_id in zip(OUTFIT_SLOTS, outfit.ids(), strict=True):
            item = self.library.item(item_id)
            if item.category != slot:
                raise UsageError(
                    f"item {item_id} is {item.category.value}, not {slot.value}: an outfit is "
                    "a top, a bottom and a pair of shoes, in that order"
                )
        return self.library.add_verdict(outfit, Verdict(verdict), source)

    def wore(self, outfit: Outfit) -> int:
        """Record that the outfit was worn today; it counts as a like."""
        return self.rate(outfit, Verdict.LIKE, "wore")

    def undo_verdict(self, verdict_id: int) -> None:
        self.library.remove_verdict(verdict_id)

    # ----------------------------------------------------------------- favourites
    def add_favourite(self, outfit: Outfit) -> int:
        return self.library.add_favourite(outfit)

    def remove_favourite(self, favourite_id: int) -> None:
        self.library.remove_favourite(favourite_id)

    def favourites(self):
        return self.library.favourites()

    def export_favourites(self, target, fmt: str | None = None, ids=None) -> Path:
        """Export favourites (all, or those ids) as PNG, PDF or JSON."""
        from stylist.export import ExportOutfit, export_outfits

        rows = [f for f in self.favourites() if ids is None or f.id in set(ids)]
        try:
            ranker = self.ranker()
        except StylistError:
            ranker = None  # scores are a bonus in an export, never a reason to fail it
        chosen = []
        for row in rows:
            items = tuple(self.library.item(i) for i in row.outfit.ids())
            score = pairs = None
            if ranker is not None:
                try:
                    rated = ranker.rate(*row.outfit.ids(), explain=False)
                    score, pairs = rated.score, rated.pair_scores
                except (StylistError, KeyError):
                    pass
            chosen.append(ExportOutfit(row.outfit, items, score, pairs))
        return export_outfits(chosen, self.library.file_path, Path(target), fmt)
