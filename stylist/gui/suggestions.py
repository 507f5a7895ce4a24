"""The suggestions page: ranked outfit cards to judge, filters, "more with this item", and a
dialog to compose an outfit of one's own and rate it.

Suggestions are computed by the service in a worker. A verdict is one small write on the GUI
thread; the card then leaves and the next one becomes current, and Undo puts it back. Keyboard:
L or ↑ like, D or ↓ dislike, W wore it, F favourite, ← → move between cards, F5 refresh.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QFrame,
    QHBoxLayout,
    QLineEdit,
    QListView,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from stylist.domain import Category, Outfit, Verdict
from stylist.gui import icons
from stylist.gui.items import (
    CELL_H,
    CELL_W,
    ItemDelegate,
    ItemFilter,
    ItemListModel,
    display_name,
    filter_items,
)
from stylist.gui.outfits import PAIR_LABELS, OutfitCard, match_text, shown
from stylist.gui.session import Session
from stylist.gui.thumbnails import ThumbnailCache
from stylist.gui.widgets import EmptyState, FlowBox, button, chip, label
from stylist.rank.query import RankedOutfit

PAGE_SIZE = 20
PICK_HINT = "Pick a top, a bottom and shoes, or a one-piece and shoes."
SUBTITLE = "The best outfits of your whole wardrobe, each explained."
KEYS_HINT = (
    "L or ↑ like  ·  D or ↓ dislike  ·  W wore it  ·  F favourite  ·  ← → move  ·  Ctrl+Z undo"
)
NOT_WORN_CHOICES = (
    ("Any time", None),
    ("Not worn this week", 7),
    ("Not worn this month", 30),
    ("Not worn in 3 months", 90),
)


class SuggestionsPage(QWidget):
    """Outfit cards from the service, judged by button or keyboard."""

    itemRequested = Signal(int)  # show this item in the wardrobe
    importRequested = Signal()  # the wardrobe lacks what an outfit needs: import photos

    def __init__(self, session: Session, thumbs: ThumbnailCache, parent=None) -> None:
        super().__init__(parent)
        self.session, self.thumbs = session, thumbs
        self.with_items: list[int] = []
        self.cards: list[OutfitCard] = []
        self.current = -1
        self.results: list[RankedOutfit] = []
        self._generation = 0
        self._stale = True
        self.favourite_outfits: set[tuple[int, ...]] = set()  # item ids of each favourite

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 12)
        layout.setSpacing(12)
        head = QHBoxLayout()
        head.addWidget(label("Suggestions", "title"))
        head.addStretch(1)
        self.compose_button = button(
            "Compose",
            "plus",
            "",
            "Pick a top, bottom and shoes (or a one-piece and shoes) yourself and rate the outfit",
        )
        self.compose_button.clicked.connect(self.compose)
        self.refresh_button = button("Refresh", "refresh", "", "Find suggestions again (F5)")
        self.refresh_button.clicked.connect(self.refresh)
        head.addWidget(self.compose_button)
        head.addWidget(self.refresh_button)
        layout.addLayout(head)
        self.subtitle = label(SUBTITLE, "muted", wrap=True)
        layout.addWidget(self.subtitle)

        filters = QHBoxLayout()
        filters.setSpacing(8)
        self.with_chip = chip("")
        self.with_chip.setChecked(True)
        self.with_chip.setIcon(icons.icon("close"))
        self.with_chip.setToolTip("Stop building outfits around this item")
        self.with_chip.clicked.connect(lambda: self.set_with_items([]))
        self.with_chip.hide()
        filters.addWidget(self.with_chip)
        self.tags = QLineEdit()
        self.tags.setPlaceholderText("Only items tagged …")
        self.tags.setToolTip("Only outfits of items with these tags (comma-separated)")
        self.tags.setClearButtonEnabled(True)
        self.tags.setMinimumWidth(250)
        self.tags.setMaximumWidth(320)
        self.tags.editingFinished.connect(self._filters_changed)
        filters.addWidget(self.tags)
        self.not_worn = QComboBox()
        for text, days in NOT_WORN_CHOICES:
            self.not_worn.addItem(text, days)
        self.not_worn.setToolTip("Leave out items worn recently")
        self.not_worn.currentIndexChanged.connect(self._filters_changed)
        filters.addWidget(self.not_worn)
        self.explore = QCheckBox("Include exploration outfits")
        self.explore.setChecked(True)
        self.explore.setToolTip(
            "A few outfits the model is unsure about: judging them teaches it the most"
        )
        self.explore.toggled.connect(self._filters_changed)
        filters.addWidget(self.explore)
        filters.addStretch(1)
        layout.addLayout(filters)

        self.banner = QFrame()
        self.banner.setObjectName("banner")
        b = QHBoxLayout(self.banner)
        b.setContentsMargins(14, 8, 8, 8)
        self.banner_text = label("Your style model has learned from your verdicts.")
        b.addWidget(self.banner_text, 1)
        banner_refresh = button("Show new suggestions", "refresh", "primary")
        banner_refresh.clicked.connect(self.refresh)
        b.addWidget(banner_refresh)
        self.banner.hide()
        layout.addWidget(self.banner)

        self.stack = QStackedWidget()
        self.message = EmptyState("suggestions", "", "")
        self.retry = self.message.add_button(button("Try again", "refresh", on_click=self.refresh))
        self.import_button = self.message.add_button(
            button("Import photos…", "import", "primary", on_click=self.importRequested.emit)
        )
        self.stack.addWidget(self.message)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.flow = FlowBox(spacing=16, centred=True)
        self.flow.setObjectName("scrollContent")
        self.scroll.setWidget(self.flow)
        self.stack.addWidget(self.scroll)
        layout.addWidget(self.stack, 1)
        hint = label(KEYS_HINT, "small")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(hint)

        self._add_key("Like", ["L", "Up"], lambda: self.judge_current("like"))
        self._add_key("Dislike", ["D", "Down"], lambda: self.judge_current("dislike"))
        self._add_key("Wore it", ["W"], lambda: self.judge_current("wore"))
        self._add_key("Favourite", ["F"], self.favourite_current)
        self._add_key("Next", ["Right", "J"], lambda: self.move(1))
        self._add_key("Previous", ["Left", "K"], lambda: self.move(-1))

        session.modelChanged.connect(self._model_changed)
        session.analysisFinished.connect(lambda *_: self._data_changed())
        session.serviceReplaced.connect(self._data_changed)
        session.itemsChanged.connect(self._items_changed)
        session.favouritesChanged.connect(self._load_favourites)
        self._show_message("Suggestions", "Open this page to see outfits from your wardrobe.")

    def _add_key(self, text: str, keys: list[str], slot) -> QAction:
        action = QAction(text, self)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    # ------------------------------------------------------------ state
    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def _data_changed(self) -> None:
        self._stale = True
        if self.isVisible():
            self.refresh()

    def _items_changed(self) -> None:
        # Cards showing a deleted item go; new items only matter on the next refresh.
        visible = {item.id for item in self.session.visible_items()}
        for card in list(self.cards):
            if not set(card.data.ids()) <= visible:
                self._remove_card(card)
        self._stale = True

    def _model_changed(self) -> None:
        self._stale = True
        if self.cards:
            self.banner.show()
        elif self.isVisible():
            self.refresh()

    def _filters_changed(self, *_args: object) -> None:
        self.refresh()

    def _show_message(
        self, title: str, text: str, retry: bool = False, offer_import: bool = False
    ) -> None:
        self.message.set_text(title, text)
        self.retry.setVisible(retry)
        self.import_button.setVisible(offer_import)
        self.stack.setCurrentWidget(self.message)

    def query(self) -> dict[str, Any]:
        tags = [t.strip() for t in self.tags.text().split(",") if t.strip()]
        return {
            "k": PAGE_SIZE,
            "with_items": tuple(self.with_items),
            "tags": tags or None,
            "not_worn_days": self.not_worn.currentData(),
            "exploration": 0.1 if self.explore.isChecked() else 0.0,
            "explain": True,
        }

    def set_with_items(self, item_ids: list[int]) -> None:
        self.with_items = list(item_ids)
        if self.with_items:
            item = self.session.item(self.with_items[0])
            name = display_name(item) if item else f"item {self.with_items[0]}"
            self.with_chip.setText(f"With {name}")
            self.with_chip.show()
        else:
            self.with_chip.hide()
        self.refresh()

    # ------------------------------------------------------------ fetching
    def refresh(self) -> None:
        self._stale = False
        self.banner.hide()
        self._generation += 1
        generation = self._generation
        slots = {c: 0 for c in (Category.TOP, Category.BOTTOM, Category.SHOES, Category.ONE_PIECE)}
        for item in self.session.visible_items():
            if item.category in slots:
                slots[item.category] += 1
        three = all(slots[c] for c in (Category.TOP, Category.BOTTOM, Category.SHOES))
        one = slots[Category.ONE_PIECE] and slots[Category.SHOES]
        if self.session.loaded and not (three or one):
            missing = [c.value for c, n in slots.items() if n == 0 and c != Category.ONE_PIECE]
            self._show_message(
                "Not enough to make an outfit yet",
                "An outfit needs a top, a bottom and a pair of shoes, or a one-piece and shoes. "
                "Your wardrobe has no "
                + " and no ".join(missing)
                + " yet: import some, or confirm the categories of unsorted items.",
                offer_import=True,
            )
            return
        if self.session.tasks.running("features") is not None:
            self._show_message(
                "Analysing your photos …",
                "Suggestions appear as soon as every photo has been analysed.",
            )
            self._stale = True
            return
        self._show_message("Finding the best outfits …", "Every combination is considered.")
        self._load_favourites()
        service, query = self.session.service, self.query()

        def done(results: list[RankedOutfit]) -> None:
            if generation == self._generation:
                self.set_results(results)
                self._show_origin(getattr(service, "ranker_origin", ""))

        def failed(message: str, details: str) -> None:
            if generation == self._generation:
                self._show_message("No suggestions right now", message, retry=True)
                if details:
                    self.session.problem.emit("Suggestions", message, details)

        self.session.tasks.start(
            lambda progress, cancel: service.suggest(**query, progress=progress, cancel=cancel),
            "Finding outfits",
            kind="suggest",
            on_done=done,
            on_failed=failed,
            quiet=True,
        )

    def _show_origin(self, origin: str) -> None:
        text = SUBTITLE
        if origin:
            text = f"Ranked by {origin}. " + text
        self.subtitle.setText(text)

    def set_results(self, results: list[RankedOutfit]) -> None:
        self.results = list(results)
        self.flow.clear()
        self.cards = []
        for value in self.results:
            self._insert_card(value, len(self.cards))
        if not self.cards:
            self._show_message(
                "No outfits match",
                "Nothing in your wardrobe fits these filters. Clear a filter and try again.",
                retry=True,
            )
            return
        self.stack.setCurrentWidget(self.scroll)
        self.set_current(0)

    def _insert_card(self, value: RankedOutfit, position: int) -> OutfitCard:
        card = OutfitCard(self.session, self.thumbs, value)
        card.verdict.connect(self.judge)
        card.favourite.connect(self.favourite)
        card.moreWith.connect(lambda item_id: self.set_with_items([item_id]))
        card.tryOutfit.connect(self.try_outfit)
        card.focused.connect(lambda c: self.set_current(self.cards.index(c)))
        card.set_favourite(card.data.ids() in self.favourite_outfits)
        self.cards.insert(position, card)
        self.flow.insert(position, card)
        return card

    def focus_content(self) -> None:
        """Take the keyboard (after a page switch): the cards' keys then work at once."""
        self.stack.currentWidget().setFocus(Qt.FocusReason.OtherFocusReason)

    def _remove_card(self, card: OutfitCard) -> None:
        if card not in self.cards:
            return
        if card.isAncestorOf(self.focusWidget()) or card.hasFocus():
            # A card leaving with the focus would pass it to the next widget in the tab chain,
            # maybe outside this page, and the next L would go astray.
            self.focus_content()
        index = self.cards.index(card)
        self.cards.remove(card)
        self.flow.remove(card)
        if not self.cards:
            self.current = -1
            self._show_message(
                "You've judged every suggestion",
                "Refresh for more: each verdict teaches your style model.",
                retry=True,
            )
            self.retry.setText("More suggestions")
            return
        self.set_current(min(index, len(self.cards) - 1))

    def set_current(self, index: int) -> None:
        if not self.cards:
            self.current = -1
            return
        index = max(0, min(index, len(self.cards) - 1))
        for i, card in enumerate(self.cards):
            card.set_current(i == index)
        self.current = index
        self.scroll.ensureWidgetVisible(self.cards[index], 20, 20)

    def move(self, step: int) -> None:
        if self.cards:
            self.set_current(self.current + step)

    def current_card(self) -> OutfitCard | None:
        return self.cards[self.current] if 0 <= self.current < len(self.cards) else None

    # ------------------------------------------------------------ verdicts
    def judge_current(self, kind: str) -> None:
        card = self.current_card()
        if card is not None:
            self.judge(card, kind)

    def judge(self, card: OutfitCard, kind: str) -> None:
        if card not in self.cards:
            return
        position = self.cards.index(card)
        value = card.value
        verdict: Verdict | str = kind if kind == "wore" else Verdict(kind)

        def undo() -> None:
            if self.stack.currentWidget() is not self.scroll:
                self.stack.setCurrentWidget(self.scroll)
            self._insert_card(value, min(position, len(self.cards)))
            self.set_current(position)

        verdict_id = self.session.rate(card.data.outfit(), verdict, "suggestion", on_undo=undo)
        if verdict_id is not None:
            self._remove_card(card)

    def favourite_current(self) -> None:
        card = self.current_card()
        if card is not None:
            self.favourite(card)

    def favourite(self, card: OutfitCard) -> None:
        self.session.add_favourite(card.data.outfit())
        self.favourite_outfits.add(card.data.ids())
        card.set_favourite(True)
        self.session.status.emit("Added to favourites")

    def _load_favourites(self) -> None:
        try:
            self.favourite_outfits = {f.outfit.ids() for f in self.session.favourites()}
        except Exception:
            self.favourite_outfits = set()
        for card in self.cards:
            card.set_favourite(card.data.ids() in self.favourite_outfits)

    # ------------------------------------------------------------ composing
    def compose(self) -> None:
        dialog = ComposeDialog(self.session, self.thumbs, self)
        dialog.open()
        self._compose_dialog = dialog

    def try_outfit(self, outfit: Outfit) -> None:
        """Show an outfit (a card's best swap) scored and ready to judge."""
        self.compose()
        self._compose_dialog.pick(
            outfit.top, outfit.bottom, outfit.shoes, one_piece=outfit.one_piece
        )


COMPOSE_ROWS = (
    (Category.TOP, "Top"),
    (Category.BOTTOM, "Bottom"),
    (Category.ONE_PIECE, "Or a one-piece (instead of a top and a bottom)"),
    (Category.SHOES, "Shoes"),
)


class ComposeDialog(QDialog):
    """Pick a top, a bottom and shoes, or a one-piece and shoes; see the score; like, dislike or
    keep it as a favourite. Picking a one-piece clears the top and bottom, and the other way."""

    def __init__(self, session: Session, thumbs: ThumbnailCache, parent=None) -> None:
        super().__init__(parent)
        self.session, self.thumbs = session, thumbs
        self.setWindowTitle("Compose an outfit")
        self.resize(900, 860)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 16)
        layout.setSpacing(10)
        layout.addWidget(label("Compose an outfit", "title"))
        layout.addWidget(
            label("Pick one of each; the model scores your outfit, and you can rate it.", "muted")
        )
        self.views: dict[Category, QListView] = {}
        self.models: dict[Category, ItemListModel] = {}
        visible = session.visible_items()
        for cat, title in COMPOSE_ROWS:
            layout.addWidget(label(title, "h2"))
            model = ItemListModel(thumbs, session.file_path, self)
            model.set_items(filter_items(visible, ItemFilter(category=cat)))
            view = QListView()
            view.setViewMode(QListView.ViewMode.IconMode)
            view.setFlow(QListView.Flow.LeftToRight)
            view.setWrapping(False)
            view.setUniformItemSizes(True)
            view.setMovement(QListView.Movement.Static)
            view.setGridSize(QSize(CELL_W, CELL_H))
            view.setFixedHeight(CELL_H + 22)
            view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
            view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
            view.setModel(model)
            view.setItemDelegate(ItemDelegate(view))
            view.selectionModel().selectionChanged.connect(lambda *_, c=cat: self._picked_in(c))
            self.views[cat], self.models[cat] = view, model
            layout.addWidget(view)
        bottom = QHBoxLayout()
        self.score = label(PICK_HINT, "h2")
        bottom.addWidget(self.score, 1)
        self.like_button = button("Like", "thumb-up", "like")
        self.dislike_button = button("Dislike", "thumb-down", "dislike")
        self.fav_button = button("Favourite", "heart")
        close = button("Close", on_click=self.accept)
        self.like_button.clicked.connect(lambda: self._rate(Verdict.LIKE))
        self.dislike_button.clicked.connect(lambda: self._rate(Verdict.DISLIKE))
        self.fav_button.clicked.connect(self._favourite)
        for widget in (self.like_button, self.dislike_button, self.fav_button, close):
            bottom.addWidget(widget)
        layout.addLayout(bottom)
        self._generation = 0
        self._picked()

    def _chosen(self, cat: Category) -> int | None:
        rows = self.views[cat].selectionModel().selectedIndexes()
        return self.models[cat].item_at(rows[0].row()).id if rows else None

    def outfit(self) -> Outfit | None:
        top, bottom, shoes, one_piece = (
            self._chosen(c)
            for c in (Category.TOP, Category.BOTTOM, Category.SHOES, Category.ONE_PIECE)
        )
        if shoes is None:
            return None
        if one_piece is not None:
            return Outfit(None, None, shoes, one_piece)
        if top is not None and bottom is not None:
            return Outfit(top, bottom, shoes)
        return None

    def pick(self, top: int | None, bottom: int | None, shoes: int, one_piece=None) -> None:
        """Select these items (a top, a bottom and shoes, or a one-piece and shoes)."""
        for cat, item_id in (
            (Category.TOP, top),
            (Category.BOTTOM, bottom),
            (Category.ONE_PIECE, one_piece),
            (Category.SHOES, shoes),
        ):
            row = self.models[cat].row_of(item_id) if item_id is not None else None
            if row is not None:
                self.views[cat].setCurrentIndex(self.models[cat].index(row))

    def _picked_in(self, cat: Category) -> None:
        # A one-piece stands for a top and a bottom: picking one family clears the other.
        if self._chosen(cat) is not None:
            if cat == Category.ONE_PIECE:
                clear = (Category.TOP, Category.BOTTOM)
            elif cat in (Category.TOP, Category.BOTTOM):
                clear = (Category.ONE_PIECE,)
            else:
                clear = ()
            for other in clear:
                self.views[other].selectionModel().clearSelection()
        self._picked()

    def _picked(self, *_args: object) -> None:
        outfit = self.outfit()
        for widget in (self.like_button, self.dislike_button, self.fav_button):
            widget.setEnabled(outfit is not None)
        if outfit is None:
            self.score.setText(PICK_HINT)
            return
        self.score.setText("Scoring …")
        self._generation += 1
        generation = self._generation
        service = self.session.service

        def done(result: RankedOutfit) -> None:
            if generation != self._generation:
                return
            data = shown(result)
            several = data.pair_scores is not None and len(data.pair_scores) > 1
            weakest = PAIR_LABELS.get(data.weakest, "") if several else ""
            self.score.setText(
                match_text(data.match())
                + (f"  ·  weakest pair: {weakest.lower()}" if weakest else "")
            )

        def failed(message: str, details: str) -> None:
            if generation == self._generation:
                self.score.setText(message)

        self.session.tasks.start(
            lambda progress, cancel: service.score_outfit(outfit, explain=True),
            "Scoring the outfit",
            kind="compose",
            on_done=done,
            on_failed=failed,
            quiet=True,
        )

    def _rate(self, verdict: Verdict) -> None:
        outfit = self.outfit()
        if outfit is not None and self.session.rate(outfit, verdict, "composed") is not None:
            self.session.status.emit(
                "Liked your outfit" if verdict == Verdict.LIKE else "Disliked your outfit"
            )

    def _favourite(self) -> None:
        outfit = self.outfit()
        if outfit is not None:
            self.session.add_favourite(outfit)
            self.session.status.emit("Added your outfit to favourites")
