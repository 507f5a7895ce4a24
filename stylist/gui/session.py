"""The window's side of one Stylist home: the service, the items on show, and what runs on them.

Pages never call the service for long work themselves: they ask the session, which runs it in a
worker (:mod:`stylist.gui.workers`) and announces the outcome with signals, so every page that
shows the same data updates together. Quick writes (a category, a verdict) run on the GUI thread:
each is one small SQLite transaction behind the library's lock. The session calls its
:class:`~stylist.service.Stylist` directly, as the command line does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from stylist.domain import Category, Item, Outfit, Verdict
from stylist.gui.workers import Task, TaskManager
from stylist.library import Library
from stylist.library.importer import ImportReport
from stylist.library.store import FavouriteRow, ModelVersion, VerdictRow
from stylist.paths import Paths
from stylist.service import Stylist, TrainReport
from stylist.settings import Settings
from stylist.vision.features import FeatureReport

# An automatic category the person's corrections would change: (item, proposed, confidence).
Proposal = tuple[Item, Category, float | None]
AUTO_TRAIN_DELAY_MS = 1500  # wait for a pause in the thumbs before training starts
UNDO_MS = 6000  # how long a deletion can be undone before the files really go


class Session(QObject):
    itemsChanged = Signal()  # the set of items or their order changed (added, removed, hidden)
    itemChanged = Signal(int)  # one item's category, tags, notes or colours changed
    verdictsChanged = Signal()
    modelChanged = Signal()  # a new personal model (or an older version) is in use
    favouritesChanged = Signal()
    serviceReplaced = Signal()  # switched to or from the demo wardrobe
    importFinished = Signal(object)  # ImportReport
    analysisFinished = Signal(object)  # FeatureReport
    trainingFinished = Signal(object)  # TrainReport
    categoryReview = Signal(object)  # [(item, proposed category, confidence)]: never applied
    # until the person accepts
    status = Signal(str)  # a short line for the status bar
    problem = Signal(str, str, str)  # title, message, details: shown as a dialog
    undoChanged = Signal(str)  # what Undo would undo now ("" = nothing)
    pictureChanged = Signal(int)  # an item's picture changed (its cut-out): -1 for every item

    def __init__(self, service: Stylist, base_paths: Paths, tasks: TaskManager, demo: bool = False):
        super().__init__()
        self.service = service
        self.base_paths = base_paths  # the person's own home (the demo lives inside it)
        self.tasks = tasks
        self.demo = demo
        self.items: dict[int, Item] = {}
        self.loaded = False
        self.hidden: set[int] = set()  # deleted, still undoable
        self._pending_deletes: list[list[int]] = []
        self._delete_timer = QTimer(self)
        self._delete_timer.setSingleShot(True)
        self._delete_timer.timeout.connect(self.commit_deletions)
        self._undo: tuple[str, Callable[[], None]] | None = None
        self._reload_generation = 0
        self._train_again = False
        self._analyse_again = False
        self.category_proposals: list[Proposal] = []
        self._train_timer = QTimer(self)
        self._train_timer.setSingleShot(True)
        self._train_timer.setInterval(AUTO_TRAIN_DELAY_MS)
        self._train_timer.timeout.connect(lambda: self.train(auto=True))
        self.auto_train = True
        self._retired: list[Stylist] = []  # libraries switched away from, closed when idle
        tasks.changed.connect(self._close_retired)
        tasks.failed.connect(lambda label, msg, details: self.problem.emit(label, msg, details))

    # ----------------------------------------------------------------- basics
    @property
    def paths(self) -> Paths:
        return self.service.paths

    @property
    def library(self) -> Library:
        return self.service.library

    def file_path(self, relative: str) -> Path:
        return self.library.file_path(relative)

    def visible_items(self) -> list[Item]:
        return [item for item in self.items.values() if item.id not in self.hidden]

    def item(self, item_id: int) -> Item | None:
        return self.items.get(item_id)

    # ----------------------------------------------------------------- items
    def reload_items(self, on_done: Callable[[], None] | None = None) -> Task:
        """Read every item in a worker, then announce ``itemsChanged``."""
        self._reload_generation += 1
        generation = self._reload_generation
        service = self.service

        def loaded(items: list[Item]) -> None:
            if generation != self._reload_generation or service is not self.service:
                return  # a newer read is on its way, or the library was switched
            self.items = {item.id: item for item in items}
            self.loaded = True
            self.itemsChanged.emit()
            if on_done:
                on_done()

        return self.tasks.start(
            lambda progress, cancel: service.items(),
            "Reading the wardrobe",
            kind="read",
            on_done=loaded,
            quiet=True,
        )

    def load_items_now(self) -> None:
        """Read every item on the calling thread (start-up of small libraries, tests)."""
        self.items = {item.id: item for item in self.service.items()}
        self.loaded = True
        self.itemsChanged.emit()

    def _refresh_item(self, item_id: int) -> None:
        try:
            self.items[item_id] = self.library.item(item_id)
        except Exception:
            self.items.pop(item_id, None)
        self.itemChanged.emit(item_id)

    def set_category(self, item_ids: Iterable[int], category: Category) -> None:
        for item_id in item_ids:
            self.service.set_category(item_id, Category(category))
            self._refresh_item(item_id)
        self.itemsChanged.emit()  # the grid's order and category filters depend on it
        self.check_categories()  # a correction may show other guesses wrong: offer, not move

    def check_categories(self) -> Task | None:
        """Find the automatic categories the person's corrections would change, and offer them
        (``categoryReview``); nothing moves until ``accept_category_review``."""
        service = self.service

        def found(proposals: list[Proposal]) -> None:
            if service is not self.service:
                return
            self.category_proposals = list(proposals)
            self.categoryReview.emit(self.category_proposals)

        return self.tasks.start(
            lambda progress, cancel: service.category_review(),
            "Checking categories",
            kind="category-review",
            on_done=found,
            on_failed=lambda message, details: None,  # an offer, never worth a dialog
            quiet=True,
        )

    def accept_category_review(self) -> int:
        proposals, self.category_proposals = self.category_proposals, []
        moved = self.service.accept_category_review(proposals) if proposals else 0
        for item, _, _ in proposals:
            self._refresh_item(item.id)
        self.categoryReview.emit([])
        if moved:
            self.itemsChanged.emit()
            self.status.emit(
                f"Moved {moved} item{'s' if moved != 1 else ''} to the guessed category"
            )
        return moved

    def dismiss_category_review(self) -> None:
        self.category_proposals = []
        self.categoryReview.emit([])

    def set_tags(self, item_id: int, tags: Iterable[str]) -> None:
        self.service.set_tags(item_id, list(tags))
        self._refresh_item(item_id)

    def set_notes(self, item_id: int, notes: str) -> None:
        self.service.set_notes(item_id, notes)
        self._refresh_item(item_id)

    def picture_file(self, item: Item) -> Path:
        """The picture the grid and cards show: the garment cut out when the view asks for it
        and the item's cut-out is in use, else the thumbnail."""
        if item.uses_cutout and getattr(self.service.settings, "show_cutouts", False):
            from stylist.library.cutouts import analysis_relative

            return self.file_path(analysis_relative(item))
        return self.file_path(item.thumbnail_file)

    def set_show_cutouts(self, on: bool) -> None:
        settings = self.service.settings
        if settings.show_cutouts == on:
            return
        settings.show_cutouts = on
        settings.save(self.paths)
        self.pictureChanged.emit(-1)
        self.itemsChanged.emit()  # every view asks for its pictures again

    def set_mask(self, item_id: int, mask: np.ndarray) -> Item | None:
        """The person's own cut-out for an item; its features and colours follow."""
        self.service.set_mask(item_id, mask)
        self.pictureChanged.emit(item_id)
        self._refresh_item(item_id)
        self.analyse()
        return self.items.get(item_id)

    def set_cutout_off(self, item_id: int, off: bool) -> Item | None:
        """Read an item's photo as it is (``off``) or its cut-out; features follow."""
        self.service.set_cutout_off(item_id, off)
        self.pictureChanged.emit(item_id)
        self._refresh_item(item_id)
        self.analyse()
        return self.items.get(item_id)

    def rename(self, item_id: int, name: str) -> None:
        item = self.service.rename(item_id, name)
        self._refresh_item(item_id)
        self.status.emit(f"Renamed to “{item.name}”.")

    def import_paths(self, sources: Iterable[str | Path], on_done=None) -> Task | None:
        sources = [str(s) for s in sources]
        if not sources:
            return None
        running = self.tasks.running("import")
        if running is not None:
            self.status.emit("An import is already running; drop the photos again when it ends.")
            return None
        service = self.service

        def finished(report: ImportReport) -> None:
            self.importFinished.emit(report)
            if on_done:
                on_done(report)
            self.reload_items(on_done=self.analyse)
            added = len(report.added)
            self.status.emit(
                f"Imported {added} photo{'s' if added != 1 else ''}"
                + (f"; {len(report.failed)} could not be imported" if report.failed else "")
                + (" (cancelled)" if report.cancelled else "")
            )

        return self.tasks.start(
            lambda progress, cancel: service.import_photos(
                sources, progress=progress, cancel=cancel
            ),
            "Importing photos",
            kind="import",
            on_done=finished,
        )

    def analyse(self) -> Task | None:
        """Categories, colours and features for new items."""
        if self.tasks.running("features") is not None:
            self._analyse_again = True
            return None
        self._analyse_again = False
        service = self.service

        def finished(report: FeatureReport) -> None:
            self.analysisFinished.emit(report)
            self.reload_items()
            self.check_categories()
            computed = report.computed
            if report.failed:
                self.status.emit(f"{len(report.failed)} photo(s) could not be analysed")
            elif computed:
                self.status.emit(f"Analysed {computed} photo{'s' if computed != 1 else ''}")
            if self._analyse_again:
                QTimer.singleShot(0, self.analyse)

        return self.tasks.start(
            lambda progress, cancel: service.extract_features(progress=progress, cancel=cancel),
            "Analysing photos",
            kind="features",
            on_done=finished,
        )

    # ----------------------------------------------------------------- delete with undo
    def delete_items(self, item_ids: Iterable[int]) -> int:
        """Hide items now; they are really removed when the undo time runs out (or on quit)."""
        batch = [i for i in item_ids if i in self.items and i not in self.hidden]
        if not batch:
            return 0
        self.hidden.update(batch)
        self._pending_deletes.append(batch)
        self._delete_timer.start(UNDO_MS)
        n = len(batch)
        self._set_undo(f"Deleted {n} item{'s' if n != 1 else ''}", self._undo_delete)
        self.itemsChanged.emit()
        return n

    def _undo_delete(self) -> None:
        if not self._pending_deletes:
            return
        batch = self._pending_deletes.pop()
        self.hidden.difference_update(batch)
        if not self._pending_deletes:
            self._delete_timer.stop()
        self.itemsChanged.emit()

    def commit_deletions(self) -> None:
        batches, self._pending_deletes = self._pending_deletes, []
        self._delete_timer.stop()
        for batch in batches:
            existing = [i for i in batch if i in self.items]
            if existing:
                self.service.remove(existing)
            for item_id in batch:
                self.items.pop(item_id, None)
            self.hidden.difference_update(batch)
        if self._undo and self._undo[1] == self._undo_delete:
            self._set_undo("", None)
        if batches:
            self.favouritesChanged.emit()
            self.verdictsChanged.emit()

    # ----------------------------------------------------------------- undo
    def _set_undo(self, label: str, action: Callable[[], None] | None) -> None:
        self._undo = (label, action) if action else None
        self.undoChanged.emit(label if action else "")

    def undo_label(self) -> str:
        return self._undo[0] if self._undo else ""

    def undo(self) -> bool:
        if not self._undo:
            return False
        _, action = self._undo
        self._set_undo("", None)
        action()
        return True

    # ----------------------------------------------------------------- feedback
    def rate(
        self,
        outfit: Outfit,
        verdict: Verdict | str,
        source: str = "suggestion",
        on_undo: Callable[[], None] | None = None,
    ) -> int | None:
        """Record a like, dislike or "wore it" (``verdict="wore"``); undoable."""
        if verdict == "wore":
            verdict_id = self.service.wore(outfit)
            label = "Marked as worn"
        else:
            verdict = Verdict(verdict)
            verdict_id = self.service.rate(outfit, verdict, source=source)
            label = "Liked" if verdict == Verdict.LIKE else "Disliked"

        def undo() -> None:
            self.service.undo_verdict(verdict_id)
            self.verdictsChanged.emit()
            if on_undo:
                on_undo()

        self._set_undo(label, undo)
        self.verdictsChanged.emit()
        if self.auto_train and self.training_due():
            self._train_timer.start()
        return verdict_id

    def training_due(self) -> bool:
        """Enough new verdicts for the model to learn from (``service.TRAIN_EVERY``)."""
        return self.service.training_due()

    def verdict_rows(self) -> list[VerdictRow]:
        return self.library.verdicts()

    # ----------------------------------------------------------------- the personal model
    def train(self, auto: bool = False) -> Task | None:
        if self.tasks.running("train") is not None:
            self._train_again = True
            return None
        service = self.service
        # One trainer per library, this window's worker or a command-line trainer alike: when
        # one runs already, the library is marked dirty and it trains once more when it ends.
        lock = service.trainer_lock()
        if lock.request() == "pending":
            self.status.emit(
                "Your style model is training in another Stylist process; it learns from your "
                "latest verdicts when that ends."
            )
            return None
        self._train_again = False

        def finished(reports: list[TrainReport]) -> None:
            if not reports:
                return
            report = reports[-1]
            self.trainingFinished.emit(report)
            self.status.emit(f"Your style model: {report.message or 'training finished'}")
            if any(r.accepted for r in reports):
                self.modelChanged.emit()
            self.verdictsChanged.emit()  # "since last training" counts start again

        def failed(message: str, details: str) -> None:
            if auto and not details:
                # Learning on its own: an expected refusal goes to the status line, not a dialog.
                self.status.emit(f"Your style model was not retrained: {message}")
            else:
                self.problem.emit("Learning your style", message, details)

        def ended() -> None:
            if self._train_again and self.training_due():
                self._train_timer.start()

        try:
            return self.tasks.start(
                lambda progress, cancel: service.train_while_dirty(
                    progress=progress, cancel=cancel
                ),
                "Learning your style",
                kind="train",
                on_done=finished,
                on_failed=failed,
                on_finished=ended,
            )
        except BaseException:
            lock.release()
            raise

    def use_general_model(self) -> None:
        """Rank with the general model again (the person's versions stay)."""
        self.service.use_general_model()
        self.modelChanged.emit()

    def model_versions(self) -> list[ModelVersion]:
        return list(self.service.model_versions())

    def use_model_version(self, version_id: int) -> None:
        self.service.use_model_version(version_id)
        self.modelChanged.emit()

    # ----------------------------------------------------------------- favourites
    def favourites(self) -> list[FavouriteRow]:
        return list(self.service.favourites())

    def add_favourite(self, outfit: Outfit) -> int:
        fav_id = self.service.add_favourite(outfit)
        self.favouritesChanged.emit()
        return fav_id

    def remove_favourites(self, favourite_ids: Iterable[int]) -> None:
        for fav_id in favourite_ids:
            self.service.remove_favourite(fav_id)
        self.favouritesChanged.emit()

    def export_favourites(self, path: Path, fmt: str, ids: list[int] | None, on_done=None) -> Task:
        from stylist.gui.lookbook import write_lookbook  # loaded when the first export runs

        service = self.service

        def done(result: Path) -> None:
            self.status.emit(f"Exported to {result}")
            if on_done:
                on_done(result)

        return self.tasks.start(
            lambda progress, cancel: service.export_favourites(
                path, fmt, ids=ids, pdf_writer=write_lookbook
            ),
            "Exporting favourites",
            kind="export",
            on_done=done,
        )

    # ----------------------------------------------------------------- settings
    def apply_settings(self, settings: Settings) -> None:
        old = self.service.settings
        carry_to = None
        if old.backbone != settings.backbone and self._needs_carry_over(settings.backbone):
            # The backbone in use keeps ranking until the model carried over is ready.
            carry_to, settings = settings.backbone, replace(settings, backbone=old.backbone)
        self.service.settings = settings
        settings.save(self.service.paths)
        if (old.backbone, old.device) != (settings.backbone, settings.device):
            self.status.emit("Settings saved; analysing photos with the new settings.")
            self.analyse()
        else:
            self.status.emit("Settings saved.")
        if old.backbone != settings.backbone:
            self.modelChanged.emit()
        if carry_to is not None:
            self.carry_over(carry_to)

    def _needs_carry_over(self, backbone: str) -> bool:
        """Whether ``backbone`` has no general model yet (so choosing it carries one over)."""
        has = getattr(self.service, "has_general_model", None)
        if not callable(has) or not callable(getattr(self.service, "choose_backbone", None)):
            return False
        try:
            return not has(backbone)
        except Exception:  # not installed or damaged: the analysis says so, as before
            return False

    def carry_over(self, backbone: str) -> Task | None:
        """Carry the model in use over to ``backbone`` in the background (progress, cancel),
        then rank with it; a wardrobe too small for it keeps the backbone in use."""
        if self.tasks.running("carry-over") is not None:
            return None
        service = self.service

        def done(message: str) -> None:
            self.status.emit(message[:1].upper() + message[1:])
            if service is self.service and service.settings.backbone == backbone:
                self.modelChanged.emit()
                self.analyse()

        def failed(message: str, details: str) -> None:
            if "cancelled" in message:
                self.status.emit(message[:1].upper() + message[1:])
            else:
                self.problem.emit("Changing the backbone", message, details)

        return self.tasks.start(
            lambda progress, cancel: service.choose_backbone(
                backbone, progress=progress, cancel=cancel
            ),
            f"Carrying the style model over to {backbone}",
            kind="carry-over",
            on_done=done,
            on_failed=failed,
        )

    # ----------------------------------------------------------------- demo wardrobe
    def switch_service(self, service: Stylist, demo: bool) -> None:
        self.commit_deletions()
        for task in self.tasks.active(include_quiet=True):
            task.cancel.set()  # work on the other library stops at its next step
        old, self.service = self.service, service
        self.demo = demo
        self.items, self.loaded, self.hidden = {}, False, set()
        self._set_undo("", None)
        if old is not service:
            # Closed once the work still running on it has stopped.
            self._retired.append(old)
            self._close_retired()
        self.serviceReplaced.emit()
        self.reload_items(on_done=self.analyse)

    def _close_retired(self) -> None:
        if self._retired and not self.tasks.active(include_quiet=True):
            retired, self._retired = self._retired, []
            for service in retired:
                service.close()

    def busy(self) -> bool:
        return bool(self.tasks.active())

    def open_demo(self) -> Task | None:
        if self.demo:
            return None
        base = self.base_paths

        def opened(result: tuple[Stylist, ImportReport | None]) -> None:
            demo, report = result
            self.switch_service(demo, True)
            if report is not None:
                self.importFinished.emit(report)
            self.status.emit("This is the demo wardrobe: 38 real photos to try Stylist with.")

        return self.tasks.start(
            lambda progress, cancel: Stylist.open_demo(base),
            "Loading the demo wardrobe",
            kind="demo",
            on_done=opened,
        )

    def leave_demo(self) -> None:
        if not self.demo:
            return
        self.switch_service(Stylist(self.base_paths), False)

    # ----------------------------------------------------------------- quitting
    def shutdown(self, wait_ms: int = 30000) -> None:
        self._train_timer.stop()
        self.commit_deletions()
        self.tasks.close()
        # Work stops at its next item or batch. Should some not stop in time, the library stays
        # open for it: every write is a transaction, so ending the process mid-way is safe.
        if self.tasks.wait(wait_ms):
            self.service.close()
            self._close_retired()
