"""The wardrobe page: the thumbnail grid with its filters, the detail pane, import and delete.

The grid is one QListView over :class:`~stylist.gui.items.ItemListModel` (uniform cells, no
widget per item), so scrolling through thousands of items stays smooth; pictures arrive from the
thumbnail cache as they are loaded. Unsorted items come first, each with its guessed category one
click from confirmed.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QItemSelectionModel, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QButtonGroup,
    QComboBox,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QPlainTextEdit,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from stylist.domain import Category, CategorySource, Item
from stylist.gui import icons, theme
from stylist.gui.cutout import CutoutPanel
from stylist.gui.items import (
    CATEGORY_LABELS,
    CATEGORY_PLURALS,
    CELL_H,
    CELL_W,
    ItemDelegate,
    ItemFilter,
    ItemListModel,
    colour_family,
    display_name,
    filter_items,
    item_colour_families,
    pending_guess,
)
from stylist.gui.naming import InlineName
from stylist.gui.outfits import MiniOutfit
from stylist.gui.session import Session
from stylist.gui.thumbnails import Spec, ThumbnailCache
from stylist.gui.viewer import PhotoViewer
from stylist.gui.widgets import (
    ActivityBar,
    EmptyState,
    FittedDialog,
    FlowBox,
    JustifiedGrid,
    button,
    chip,
    label,
)
from stylist.library.importer import ImportReport
from stylist.rank.query import RankedOutfit

PHOTO_FILTER = "Photos (*.jpg *.jpeg *.png *.heic *.heif *.webp *.tif *.tiff *.bmp *.gif)"
CATEGORY_ORDER = (
    None,
    Category.UNSORTED,
    Category.TOP,
    Category.BOTTOM,
    Category.SHOES,
    Category.ONE_PIECE,
    Category.OTHER,
)
SETTABLE = (Category.TOP, Category.BOTTOM, Category.SHOES, Category.ONE_PIECE, Category.OTHER)


def swatch_icon(colour: str, size: int = 12) -> QIcon:
    pix = QPixmap(size * 2, size * 2)
    pix.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pix)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QColor(theme.active().border))
    painter.setBrush(QColor(colour))
    painter.drawEllipse(1, 1, size * 2 - 2, size * 2 - 2)
    painter.end()
    pix.setDevicePixelRatio(2.0)
    return QIcon(pix)


# Representative colours for the colour-name chips.
FAMILY_SWATCH = {
    "black": "#1a1a1a",
    "white": "#f7f7f5",
    "grey": "#8d8d8d",
    "beige": "#d9c7a7",
    "brown": "#7a4f2a",
    "red": "#c93a32",
    "burgundy": "#7a1f2e",
    "pink": "#ec9fb8",
    "orange": "#e8843a",
    "yellow": "#ecc94b",
    "olive": "#6b6b30",
    "green": "#2e8b57",
    "teal": "#1f8a8a",
    "light blue": "#93c4e8",
    "blue": "#3565c9",
    "navy": "#1b2a4a",
    "purple": "#7a4aa8",
}


class ImportReportDialog(FittedDialog):
    """What an import did, and every file that could not be imported with its reason."""

    def __init__(self, report: ImportReport, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import finished")
        self.setMinimumSize(620, 380)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 16)
        layout.setSpacing(12)
        added, dupes, failed = len(report.added), len(report.duplicates), len(report.failed)
        title = f"Imported {added} photo{'s' if added != 1 else ''}" if added else "No new photos"
        if report.cancelled:
            title += " before you cancelled"
        layout.addWidget(label(title, "h2"))
        parts = []
        if dupes:
            parts.append(f"{dupes} {'was' if dupes == 1 else 'were'} already in your wardrobe")
        if failed:
            parts.append(f"{failed} could not be imported (below, with the reason)")
        if parts:
            layout.addWidget(label("; ".join(parts) + ".", "muted", wrap=True))
        self.table = QTableWidget(len(report.failed), 2)
        self.table.setHorizontalHeaderLabels(["File", "Why it could not be imported"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for row, (path, reason) in enumerate(report.failed):
            name = QTableWidgetItem(Path(path).name)
            name.setToolTip(str(path))
            why = QTableWidgetItem(str(reason))
            why.setToolTip(str(reason))
            self.table.setItem(row, 0, name)
            self.table.setItem(row, 1, why)
        self.table.resizeColumnToContents(0)
        self.table.setVisible(bool(report.failed))
        layout.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout.addWidget(buttons)

    def reasons(self) -> list[tuple[str, str]]:
        return [
            (self.table.item(r, 0).text(), self.table.item(r, 1).text())
            for r in range(self.table.rowCount())
        ]


class DetailPane(QScrollArea):
    """The selected item: its photo, category, colours, tags, notes and outfits with it."""

    showOutfitsWith = Signal(int)
    deleteRequested = Signal(list)

    def __init__(self, session: Session, thumbs: ThumbnailCache, parent=None) -> None:
        super().__init__(parent)
        self.session, self.thumbs = session, thumbs
        self.item_ids: list[int] = []
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setMinimumWidth(292)  # the content's 280 and the scroll bar
        self.setMaximumWidth(380)
        # Long names and guesses wrap; nothing in the pane needs a sideways scroll.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QFrame()
        body.setObjectName("detail")
        self.setWidget(body)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(20, 20, 20, 20)
        layout.setSpacing(10)

        self.empty = EmptyState(
            "wardrobe",
            "Nothing selected",
            "Select an item to see its photo, colours and the outfits it makes. "
            "Unsorted items come first: one click confirms the guessed category.",
        )
        self.empty.setObjectName("")
        layout.addWidget(self.empty)

        self.content = QWidget()
        c = QVBoxLayout(self.content)
        c.setContentsMargins(0, 0, 0, 0)
        c.setSpacing(10)
        self.photo = QLabel()
        self.photo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.photo.setMinimumHeight(280)
        # The photo is fitted into a square with clear margins; a narrow pane trims only those
        # margins instead of widening the pane past its width.
        self.photo.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        c.addWidget(self.photo)
        self.cutout = CutoutPanel(session)
        c.addWidget(self.cutout)
        self.name = InlineName()
        self.name.renamed.connect(self._rename)
        c.addWidget(self.name)
        self.meta = label("", "small", wrap=True)
        c.addWidget(self.meta)

        c.addWidget(label("Category", "small"))
        self.category = QComboBox()
        for cat in (Category.UNSORTED, *SETTABLE):
            self.category.addItem(CATEGORY_LABELS[cat], cat)
        self.category.setToolTip("What this item is; yours always wins over a guess")
        self.category.activated.connect(self._category_chosen)
        c.addWidget(self.category)
        self.guess_row = QWidget()
        g = QHBoxLayout(self.guess_row)
        g.setContentsMargins(0, 0, 0, 0)
        self.guess_text = label("", "muted", wrap=True)
        self.confirm = button("Confirm", "check", "primary", "Accept the guessed category")
        self.confirm.clicked.connect(self._confirm_guess)
        g.addWidget(self.guess_text, 1)
        g.addWidget(self.confirm)
        c.addWidget(self.guess_row)

        c.addWidget(label("Colours", "small"))
        self.colours = FlowBox(spacing=6)
        c.addWidget(self.colours)

        c.addWidget(label("Tags", "small"))
        self.tags = QLineEdit()
        self.tags.setPlaceholderText("work, summer, favourite …")
        self.tags.setToolTip("Comma-separated tags; search and suggestion filters use them")
        self.tags.editingFinished.connect(self._save_tags)
        c.addWidget(self.tags)

        c.addWidget(label("Notes", "small"))
        self.notes = QPlainTextEdit()
        self.notes.setPlaceholderText("Where it's from, how it fits …")
        self.notes.setFixedHeight(72)
        self.notes.setTabChangesFocus(True)
        self._notes_timer = QTimer(self)
        self._notes_timer.setSingleShot(True)
        self._notes_timer.setInterval(700)
        self._notes_timer.timeout.connect(self._save_notes)
        self.notes.textChanged.connect(self._notes_timer.start)
        c.addWidget(self.notes)

        c.addWidget(label("Outfits with this item", "small"))
        self.outfits = QWidget()
        self.outfits_layout = QVBoxLayout(self.outfits)
        self.outfits_layout.setContentsMargins(0, 0, 0, 0)
        self.outfits_layout.setSpacing(6)
        c.addWidget(self.outfits)
        self.more = button(
            "All outfits with this item", "layers", "", "Show suggestions built around this item"
        )
        self.more.clicked.connect(
            lambda: self.item_ids and self.showOutfitsWith.emit(self.item_ids[0])
        )
        c.addWidget(self.more)

        self.delete = button("Delete", "trash", "", "Delete (Del); you can undo for a few seconds")
        self.delete.clicked.connect(lambda: self.deleteRequested.emit(list(self.item_ids)))
        c.addSpacing(6)
        c.addWidget(self.delete)
        c.addStretch(1)
        layout.addWidget(self.content)
        layout.addStretch(1)
        self._outfit_generation = 0
        thumbs.ready.connect(self._picture_ready)
        self.show_items([])

    # ------------------------------------------------------------ showing
    def _photo_spec(self) -> Spec:
        return Spec(280, self.devicePixelRatioF() or 1.0, radius=14, fit=True)

    def show_items(self, item_ids: list[int]) -> None:
        self._save_notes()
        self.item_ids = [i for i in item_ids if self.session.item(i) is not None]
        if not self.item_ids:
            self.cutout.show_item(None)
            self.empty.show()
            self.content.hide()
            return
        self.empty.hide()
        self.content.show()
        single = len(self.item_ids) == 1
        item = self.session.item(self.item_ids[0])
        for widget in (self.photo, self.meta, self.tags, self.notes, self.outfits, self.more):
            widget.setVisible(single)
        self.colours.setVisible(single)
        if not single:
            self.cutout.show_item(None)
            self.name.setText(f"{len(self.item_ids)} items selected")
            self.name.editable = False
            cats = {self.session.item(i).category for i in self.item_ids}
            self._set_combo(cats.pop() if len(cats) == 1 else None)
            self.guess_row.hide()
            self.delete.setText(f"Delete {len(self.item_ids)} items")
            return
        self.delete.setText("Delete")
        self.name.setText(display_name(item))
        self.name.editable = True
        self.meta.setText(
            f"{item.width} × {item.height} px · added {item.added_at[:10]} · {item.original_name}"
        )
        self._set_combo(item.category)
        self._show_guess(item)
        # the cut-out with its brush when there is one, else the photo as it is
        self.photo.setVisible(not self.cutout.show_item(item))
        self._show_photo(item)
        self._show_colours(item)
        self.tags.setText(", ".join(item.tags))
        self.notes.blockSignals(True)
        self.notes.setPlainText(item.notes)
        self.notes.blockSignals(False)
        self._load_outfits(item)

    def _set_combo(self, category: Category | None) -> None:
        index = self.category.findData(category) if category is not None else -1
        self.category.setCurrentIndex(index)

    def _show_guess(self, item: Item) -> None:
        if item.category_source == CategorySource.AUTO and item.category != Category.UNSORTED:
            conf = f" ({item.category_confidence:.0%} sure)" if item.category_confidence else ""
            self.guess_text.setText(f"Guessed by Stylist{conf}. Right?")
            self.confirm.setText(f"Yes, {CATEGORY_LABELS[item.category].lower()}")
            self.guess_row.show()
        elif item.category == Category.UNSORTED and item.guess and item.guess != Category.UNSORTED:
            conf = f" ({item.guess_confidence:.0%} sure)" if item.guess_confidence else ""
            self.guess_text.setText(f"Looks like: {CATEGORY_LABELS[item.guess].lower()}{conf}")
            self.confirm.setText(f"It's {CATEGORY_LABELS[item.guess].lower()}")
            self.guess_row.show()
        else:
            self.guess_row.hide()

    def _show_photo(self, item: Item) -> None:
        pix = self.thumbs.get(
            item.id, self.session.file_path(item.working_file), self._photo_spec()
        )
        if pix is not None:
            self.photo.setPixmap(pix)
        else:
            self.photo.clear()

    def _picture_ready(self, item_id: int) -> None:
        if len(self.item_ids) == 1 and item_id == self.item_ids[0]:
            pix = self.thumbs.peek(item_id, self._photo_spec())
            if pix is not None:
                self.photo.setPixmap(pix)

    def _show_colours(self, item: Item) -> None:
        self.colours.clear()
        if not item.colours:
            note = label("Not analysed yet", "muted")
            self.colours.add(note)
            return
        names = item_colour_families(item, dominant=len(item.colours))
        for value in item.colours:
            swatch = QLabel()
            swatch.setFixedSize(26, 26)
            swatch.setStyleSheet(
                f"background: {value}; border-radius: 13px; "
                f"border: 1px solid {theme.active().border};"
            )
            swatch.setToolTip(f"{colour_family(value)} ({value})")
            self.colours.add(swatch)
        if names:
            self.colours.add(label(", ".join(names), "muted"))

    def _load_outfits(self, item: Item) -> None:
        while self.outfits_layout.count():
            widget = self.outfits_layout.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self._outfit_generation += 1
        generation = self._outfit_generation
        if item.category not in (
            Category.TOP,
            Category.BOTTOM,
            Category.SHOES,
            Category.ONE_PIECE,
        ):
            self.outfits_layout.addWidget(
                label(
                    "Only tops, bottoms, shoes and one-pieces are part of outfits.",
                    "muted",
                    wrap=True,
                )
            )
            self.more.setEnabled(False)
            return
        self.more.setEnabled(True)
        waiting = label("Finding outfits …", "muted")
        self.outfits_layout.addWidget(waiting)
        service = self.session.service

        def done(outfits: list[RankedOutfit]) -> None:
            if generation != self._outfit_generation:
                return
            waiting.deleteLater()
            if not outfits:
                self.outfits_layout.addWidget(label("No outfits yet.", "muted"))
            for value in outfits[:3]:
                strip = MiniOutfit(self.session, self.thumbs, value)
                strip.clicked.connect(lambda *_: self.showOutfitsWith.emit(item.id))
                self.outfits_layout.addWidget(strip)

        def failed(message: str, details: str) -> None:
            if generation == self._outfit_generation:
                waiting.setText(message)
                waiting.setWordWrap(True)

        self.session.tasks.start(
            lambda progress, cancel: service.suggest(
                k=3, with_items=[item.id], exploration=0.0, explain=False
            ),
            "Finding outfits",
            kind="detail-outfits",
            on_done=done,
            on_failed=failed,
            quiet=True,
        )

    # ------------------------------------------------------------ editing
    def _category_chosen(self, index: int) -> None:
        category = self.category.itemData(index)
        if category is not None and self.item_ids:
            self.session.set_category(self.item_ids, category)

    def _confirm_guess(self) -> None:
        item = self.session.item(self.item_ids[0]) if self.item_ids else None
        if item is None:
            return
        if item.category_source == CategorySource.AUTO and item.category != Category.UNSORTED:
            self.session.set_category([item.id], item.category)  # now the person's own
        elif item.guess:
            self.session.set_category([item.id], item.guess)

    def _rename(self, name: str) -> None:
        if len(self.item_ids) == 1:
            self.session.rename(self.item_ids[0], name)

    def _save_tags(self) -> None:
        if len(self.item_ids) != 1:
            return
        item = self.session.item(self.item_ids[0])
        tags = [t.strip() for t in self.tags.text().split(",") if t.strip()]
        if item is not None and sorted(set(tags)) != sorted(item.tags):
            self.session.set_tags(item.id, tags)

    def _save_notes(self) -> None:
        self._notes_timer.stop()
        if len(self.item_ids) != 1:
            return
        item = self.session.item(self.item_ids[0])
        text = self.notes.toPlainText()
        if item is not None and text != item.notes:
            self.session.set_notes(item.id, text)

    def refresh(self) -> None:
        self.show_items(self.item_ids)


class WardrobePage(QWidget):
    """The grid of every item with its filters, the activity bar and the detail pane."""

    showOutfitsWith = Signal(int)
    importFilesRequested = Signal()
    importFolderRequested = Signal()

    def __init__(self, session: Session, thumbs: ThumbnailCache, parent=None) -> None:
        super().__init__(parent)
        self.session, self.thumbs = session, thumbs
        self.filter = ItemFilter()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        outer.addWidget(splitter)

        main = QWidget()
        layout = QVBoxLayout(main)
        layout.setContentsMargins(24, 20, 16, 12)
        layout.setSpacing(12)
        head = QHBoxLayout()
        self.title = label("Wardrobe", "title")
        self.count = label("", "muted")
        head.addWidget(self.title)
        head.addSpacing(8)
        head.addWidget(self.count, 0, Qt.AlignmentFlag.AlignBottom)
        head.addStretch(1)
        self.search = QLineEdit()
        self.search.setObjectName("search")
        self.search.setPlaceholderText("Search  (Ctrl+F)")
        self.search.setToolTip("Search names, file names, tags and notes")
        self.search.setClearButtonEnabled(True)
        self.search.addAction(
            icons.icon("search", theme.active().muted), QLineEdit.ActionPosition.LeadingPosition
        )
        # The search gives way first when the window is narrow; the title never does.
        self.search.setMinimumWidth(150)
        self.search.setMaximumWidth(360)
        self.search.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.title.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Preferred)
        self.search.textChanged.connect(self._search_changed)
        head.addWidget(self.search, 1)
        self.head = head
        self.import_button = button("Import", "import", "primary", "Import photos or a folder")
        menu = QMenu(self.import_button)
        menu.addAction(icons.icon("photos"), "Photos…", self.importFilesRequested.emit)
        menu.addAction(icons.icon("folder"), "A folder…", self.importFolderRequested.emit)
        self.import_button.setMenu(menu)
        head.addWidget(self.import_button)
        layout.addLayout(head)
        # Where the search goes when the header is too narrow for it: a line of its own.
        self.search_row = QHBoxLayout()
        layout.addLayout(self.search_row)
        self.main = main
        main.installEventFilter(self)

        self.activity = ActivityBar()
        self.activity.cancelClicked.connect(self._cancel_activity)
        layout.addWidget(self.activity)

        # Chips wrap to a second line rather than squeeze into fragments.
        self.chip_row = FlowBox(spacing=6)
        self.category_group = QButtonGroup(self)
        self.category_group.setExclusive(True)
        self.category_chips: dict[Category | None, Any] = {}
        for cat in CATEGORY_ORDER:
            c = chip("All" if cat is None else CATEGORY_PLURALS[cat])
            c.clicked.connect(lambda _=False, cat=cat: self.set_category_filter(cat))
            self.category_group.addButton(c)
            self.category_chips[cat] = c
            self.chip_row.add(c)
            if cat is None:
                self.review_chip = chip(
                    "To review", "Guesses you have not confirmed, least sure first"
                )
                self.review_chip.clicked.connect(lambda _=False: self.set_review_filter())
                self.category_group.addButton(self.review_chip)
                self.chip_row.add(self.review_chip)
        self.category_chips[None].setChecked(True)
        layout.addWidget(self.chip_row)

        self.colour_row = FlowBox(spacing=6)
        self.colour_chips: dict[str, Any] = {}
        layout.addWidget(self.colour_row)

        self.model = ItemListModel(thumbs, session.file_path, self)
        self.model.picture_of = session.picture_file
        self.view = JustifiedGrid(QSize(CELL_W, CELL_H))
        self.view.setLayoutMode(QListView.LayoutMode.Batched)
        self.view.setBatchSize(400)
        self.view.setMouseTracking(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.setModel(self.model)
        self.delegate = ItemDelegate(self.view)
        self.delegate.confirmRequested.connect(self.confirm_guess)
        # After a confirmation the grid keeps its order a moment (or until the next key), so a
        # quick second click lands on the card that was under the pointer, not its neighbour.
        self._frozen: list[int] | None = None
        self.settle_timer = QTimer(self)
        self.settle_timer.setSingleShot(True)
        self.settle_timer.setInterval(1200)
        self.settle_timer.timeout.connect(self._unfreeze)
        self.view.setItemDelegate(self.delegate)
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.view.setAccessibleName("Wardrobe items")
        self.view.installEventFilter(self)
        layout.addWidget(self.view, 1)

        self.no_match = EmptyState("search", "Nothing matches", "Try another filter or search.")
        self.no_match.hide()
        layout.addWidget(self.no_match, 1)

        splitter.addWidget(main)
        self.detail = DetailPane(session, thumbs)
        self.detail.showOutfitsWith.connect(self.showOutfitsWith)
        self.detail.deleteRequested.connect(self.delete_items)
        splitter.addWidget(self.detail)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setSizes([900, 340])
        self.splitter = splitter
        self._detail_timer = QTimer(self)
        self._detail_timer.setSingleShot(True)
        self._detail_timer.setInterval(QApplication.doubleClickInterval())
        self._detail_timer.timeout.connect(self._reveal_detail)
        self.detail.hide()

        self.delete_action = QAction("Delete", self)
        self.delete_action.setShortcut(QKeySequence.StandardKey.Delete)
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.delete_action.triggered.connect(lambda: self.delete_items(self.selected_ids()))
        self.view.addAction(self.delete_action)
        self.view_action = QAction("View photo", self)
        self.view_action.setShortcut(QKeySequence(Qt.Key.Key_Space))
        self.view_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.view_action.triggered.connect(lambda: self.open_viewer())
        self.view.addAction(self.view_action)
        self.view.doubleClicked.connect(lambda index: self.open_viewer(index.row()))
        self.viewer: PhotoViewer | None = None
        self.rename_action = QAction("Rename", self)
        self.rename_action.setShortcut(QKeySequence(Qt.Key.Key_F2))
        self.rename_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.rename_action.triggered.connect(self.rename_selected)
        self.addAction(self.rename_action)

        session.itemsChanged.connect(self.refresh)
        session.itemChanged.connect(self._item_changed)
        session.tasks.changed.connect(self._tasks_changed)

    # ------------------------------------------------------------ layout
    WIDE_SEARCH = 220  # the narrowest search worth keeping beside the title

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        # Filters are installed while the page is being built: look attributes up with care.
        if watched is getattr(self, "main", None) and event.type() == QEvent.Type.Resize:
            self._place_search(event.size().width())
        elif (
            watched is getattr(self, "view", None)
            and event.type() == QEvent.Type.KeyPress
            and getattr(self, "_frozen", None)
        ):
            self._unfreeze()  # the next key: the grid moves on now
        return super().eventFilter(watched, event)

    def _place_search(self, width: int) -> None:
        margins = self.main.layout().contentsMargins()
        needed = (
            margins.left()
            + margins.right()
            + self.title.sizeHint().width()
            + 8
            + self.count.sizeHint().width()
            + self.WIDE_SEARCH
            + self.import_button.sizeHint().width()
            + 3 * self.head.spacing()
        )
        narrow = width < needed
        in_header = self.head.indexOf(self.search) >= 0
        if narrow and in_header:
            self.head.removeWidget(self.search)
            self.search.setMaximumWidth(16777215)
            self.search_row.addWidget(self.search)
        elif not narrow and not in_header:
            self.search_row.removeWidget(self.search)
            self.search.setMaximumWidth(360)
            self.head.insertWidget(self.head.indexOf(self.import_button), self.search, 1)

    def search_in_header(self) -> bool:
        return self.head.indexOf(self.search) >= 0

    # ------------------------------------------------------------ data
    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.model.set_ratio(self.view.devicePixelRatioF() or 1.0)
        super().showEvent(event)

    def refresh(self) -> None:
        selected = self.selected_ids()
        items = self.session.visible_items()
        if self._frozen is not None:
            by_id = {item.id: item for item in items}
            shown = [by_id[i] for i in self._frozen if i in by_id]
        else:
            shown = filter_items(items, self.filter)
        self.model.set_items(shown)
        self._update_counts(items)
        self._update_colour_chips(items)
        self.count.setText(
            f"{len(shown)} of {len(items)}" if len(shown) != len(items) else f"{len(items)} items"
        )
        empty = not shown
        self.view.setVisible(not empty)
        self.no_match.setVisible(empty and bool(items))
        self._select_ids(selected)
        self.detail.show_items(self.selected_ids())
        self._show_detail()

    def _update_counts(self, items: list[Item]) -> None:
        counts = Counter(item.category for item in items)
        to_review = sum(1 for item in items if pending_guess(item) is not None)
        self.review_chip.setText(f"To review  {to_review}")
        self.review_chip.setVisible(to_review > 0 or self.review_chip.isChecked())
        for cat, c in self.category_chips.items():
            if cat is None:
                c.setText(f"All  {len(items)}")
                continue
            n = counts.get(cat, 0)
            c.setText(f"{CATEGORY_PLURALS[cat]}  {n}")
            # Unsorted, one-piece and other chips only when they hold something.
            c.setVisible(
                n > 0 or cat in (Category.TOP, Category.BOTTOM, Category.SHOES) or c.isChecked()
            )
        self.chip_row.relayout()

    def _update_colour_chips(self, items: list[Item]) -> None:
        families = Counter(name for item in items for name in item_colour_families(item))
        wanted = [name for name, _ in families.most_common(12)]
        if self.filter.colour and self.filter.colour not in wanted:
            wanted.append(self.filter.colour)
        if list(self.colour_chips) == wanted:
            for name, c in self.colour_chips.items():
                c.setChecked(name == self.filter.colour)
            return
        self.colour_row.clear()
        self.colour_chips = {}
        for name in wanted:
            c = chip(name, f"Only {name} items")
            c.setIcon(swatch_icon(FAMILY_SWATCH.get(name, "#888888")))
            c.setChecked(name == self.filter.colour)
            c.clicked.connect(
                lambda checked, name=name: self.set_colour_filter(name if checked else "")
            )
            self.colour_chips[name] = c
            self.colour_row.add(c)
        self.colour_row.setVisible(bool(wanted))
        self.colour_row.updateGeometry()

    def _item_changed(self, item_id: int) -> None:
        item = self.session.item(item_id)
        if item is not None:
            self.model.update_item(item)
        if item_id in self.detail.item_ids and len(self.detail.item_ids) == 1:
            self.detail.refresh()

    # ------------------------------------------------------------ filters
    def set_category_filter(self, category: Category | None) -> None:
        self.filter = ItemFilter(category, self.filter.colour, self.filter.text)
        self.category_chips[category].setChecked(True)
        self._unfreeze(refresh=False)
        self.refresh()

    def set_review_filter(self) -> None:
        """Only unconfirmed guesses, the least sure first."""
        self.filter = ItemFilter(None, self.filter.colour, self.filter.text, review=True)
        self.review_chip.setChecked(True)
        self._unfreeze(refresh=False)
        self.refresh()

    def confirm_guess(self, item_id: int, category: Category) -> None:
        """Confirm a guessed category from the grid, keeping the grid still a moment."""
        self._frozen = [self.model.item_at(r).id for r in range(self.model.rowCount())]
        self.settle_timer.start()
        self.session.set_category([item_id], category)

    def _unfreeze(self, refresh: bool = True) -> None:
        self.settle_timer.stop()
        if self._frozen is not None:
            self._frozen = None
            if refresh:
                self.refresh()

    def set_colour_filter(self, colour: str) -> None:
        self.filter = dataclasses.replace(self.filter, colour=colour)
        self.refresh()

    def _search_changed(self, text: str) -> None:
        self.filter = dataclasses.replace(self.filter, text=text)
        self.refresh()

    def focus_content(self) -> None:
        """Take the keyboard (after a page switch): the grid, or the search when it is empty."""
        target = self.view if self.view.isVisible() or self.model.rowCount() else self.search
        target.setFocus(Qt.FocusReason.OtherFocusReason)

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    # ------------------------------------------------------------ selection
    def selected_ids(self) -> list[int]:
        rows = sorted(index.row() for index in self.view.selectionModel().selectedIndexes())
        return [self.model.item_at(r).id for r in rows if r < self.model.rowCount()]

    def _select_ids(self, ids: list[int]) -> None:
        selection = self.view.selectionModel()
        selection.blockSignals(True)
        selection.clearSelection()
        for item_id in ids:
            row = self.model.row_of(item_id)
            if row is not None:
                selection.select(self.model.index(row), QItemSelectionModel.SelectionFlag.Select)
        selection.blockSignals(False)
        self.view.viewport().update()

    def select_item(self, item_id: int) -> None:
        row = self.model.row_of(item_id)
        if row is None:
            self.set_category_filter(None)
            self.search.clear()
            row = self.model.row_of(item_id)
        if row is not None:
            index = self.model.index(row)
            self.view.setCurrentIndex(index)
            self._show_detail(now=True)  # chosen elsewhere: no double-click to wait for
            self.view.scrollTo(index)

    def _selection_changed(self, *_args: object) -> None:
        self.detail.show_items(self.selected_ids())
        self._show_detail()

    def _show_detail(self, now: bool = False) -> None:
        # The detail pane takes room only while something is selected; the grid gets it back.
        # It comes in only after a double-click's interval: the grid narrows as it does, and a
        # double-click's second press must land on the card the first one chose.
        wanted = bool(self.detail.item_ids)
        if not wanted:
            self._detail_timer.stop()
            self.detail.hide()
        elif self.detail.isHidden():
            if now:
                self._reveal_detail()
            elif not self._detail_timer.isActive():
                self._detail_timer.start()

    def _reveal_detail(self) -> None:
        self._detail_timer.stop()
        if self.detail.item_ids and self.detail.isHidden():
            self.detail.show()
            current = self.view.currentIndex()
            if current.isValid():
                self.view.scrollTo(current)

    def detail_shown(self) -> bool:
        """Whether the detail pane is in (or on its way in) for the selection."""
        return self.detail.isVisible() or self._detail_timer.isActive()

    # ------------------------------------------------------------ actions
    def open_viewer(self, row: int | None = None) -> PhotoViewer | None:
        """The full-size photo of the current item (or ``row``), ← → through the grid."""
        if row is None:
            current = self.view.currentIndex()
            row = current.row() if current.isValid() else None
        if row is None or not 0 <= row < self.model.rowCount():
            return None
        ids = [self.model.item_at(r).id for r in range(self.model.rowCount())]
        self.viewer = PhotoViewer(ids, row, self.session.item, self.session.file_path, self)
        self.viewer.finished.connect(self._viewer_closed)
        self.viewer.open()
        return self.viewer

    def _viewer_closed(self) -> None:
        # Back in the grid on the item last looked at.
        if self.viewer is not None:
            self.select_item(self.viewer.current_id())

    def rename_selected(self) -> None:
        """Edit the selected item's name in the detail pane (F2)."""
        if len(self.selected_ids()) == 1:
            self._show_detail(now=True)
            self.detail.name.start_editing()

    def delete_items(self, ids: list[int]) -> None:
        if ids:
            self.session.delete_items(ids)

    def _context_menu(self, pos) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        if not self.view.selectionModel().isSelected(index):
            self.view.setCurrentIndex(index)
        ids = self.selected_ids()
        menu = QMenu(self)
        item = self.session.item(ids[0]) if ids else None
        if item and len(ids) == 1 and item.category == Category.UNSORTED and item.guess:
            menu.addAction(
                icons.icon("check"),
                f"It's {CATEGORY_LABELS[item.guess].lower()}",
                lambda: self.session.set_category(ids, item.guess),
            )
        sub = menu.addMenu("Set category")
        for cat in SETTABLE:
            sub.addAction(CATEGORY_LABELS[cat], lambda cat=cat: self.session.set_category(ids, cat))
        if len(ids) == 1:
            rename = menu.addAction("Rename", self.rename_selected)
            rename.setShortcut(QKeySequence(Qt.Key.Key_F2))
            menu.addAction(
                icons.icon("layers"),
                "Outfits with this item",
                lambda: self.showOutfitsWith.emit(ids[0]),
            )
        menu.addSeparator()
        menu.addAction(icons.icon("trash"), "Delete", lambda: self.delete_items(ids))
        menu.popup(self.view.viewport().mapToGlobal(pos))

    # ------------------------------------------------------------ background work
    def _tasks_changed(self) -> None:
        task = self.session.tasks.running("import") or self.session.tasks.running("features")
        if task is None:
            task = self.session.tasks.running("demo")
        if task is None:
            self.activity.hide()
            self._activity_task = None
            return
        self._activity_task = task
        text = task.label
        if task.total:
            text += f"  {task.done_count} of {task.total}"
        self.activity.set_progress(text, task.done_count, task.total)
        self.activity.cancel_button.setEnabled(task.kind != "demo")

    def _cancel_activity(self) -> None:
        task = getattr(self, "_activity_task", None)
        if task is not None:
            task.cancel.set()
            self.activity.text.setText("Stopping …")
