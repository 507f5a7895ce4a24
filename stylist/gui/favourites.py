"""The favourites page: a grid of favourite outfits, exported as a PNG collage, a PDF lookbook or
JSON with the photos (selected ones, or all) through a save dialog.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QRect,
    QRectF,
    QSize,
    QStandardPaths,
    Qt,
    QUrl,
)
from PySide6.QtGui import (
    QAction,
    QColor,
    QDesktopServices,
    QKeySequence,
    QPainter,
    QPainterPath,
    QPen,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QListView,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QVBoxLayout,
    QWidget,
)

from stylist.gui import theme
from stylist.gui.items import display_name
from stylist.gui.session import Session
from stylist.gui.thumbnails import Spec, ThumbnailCache
from stylist.gui.widgets import EmptyState, JustifiedGrid, button, label
from stylist.library.store import FavouriteRow

SIDE = 104
GAP = 8
FAV_W, FAV_H = 3 * SIDE + 2 * GAP + 2 * 14 + 8, SIDE + 2 * 14 + 34 + 8
FORMATS = {
    "png": "PNG collage (*.png)",
    "pdf": "PDF lookbook (*.pdf)",
    "json": "JSON with photos (*.json)",
}


class FavouritesModel(QAbstractListModel):
    RowRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, thumbs: ThumbnailCache, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[FavouriteRow] = []
        thumbs.ready.connect(self._ready)

    def set_rows(self, rows: list[FavouriteRow]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent=None) -> int:  # noqa: N802 - Qt override
        return 0 if parent is not None and parent.isValid() else len(self.rows)

    def data(self, index, role=0) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role == self.RowRole:
            return row
        if role == Qt.ItemDataRole.DisplayRole:
            return f"Favourite {row.id}"
        return None

    def _ready(self, item_id: int) -> None:
        for r, row in enumerate(self.rows):
            if item_id in row.outfit.ids():
                index = self.index(r)
                self.dataChanged.emit(index, index)


class FavouriteDelegate(QStyledItemDelegate):
    def __init__(self, session: Session, thumbs: ThumbnailCache, view: QListView) -> None:
        super().__init__(view)
        self.session, self.thumbs, self.view = session, thumbs, view

    def sizeHint(self, option, index) -> QSize:  # noqa: N802 - Qt override
        return QSize(self.view.card_width(FAV_W), FAV_H)

    def paint(self, painter: QPainter, option, index) -> None:
        row = index.data(FavouritesModel.RowRole)
        if row is None:
            return
        t = theme.active()
        cell = option.rect.adjusted(4, 4, -4, -4)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        path = QPainterPath()
        path.addRoundedRect(QRectF(cell), 14, 14)
        painter.fillPath(path, QColor(t.card))
        painter.setPen(QPen(QColor(t.accent if selected else t.border), 2 if selected else 1))
        painter.drawPath(path)
        spec = Spec(SIDE, self.view.devicePixelRatioF() or 1.0, radius=10)
        ids = row.outfit.ids()  # three photos, or two for a one-piece and shoes: centred
        x = cell.left() + (cell.width() - len(ids) * SIDE - (len(ids) - 1) * GAP) // 2
        y = cell.top() + 14
        names = []
        for item_id in ids:
            item = self.session.item(item_id)
            rect = QRect(x, y, SIDE, SIDE)
            pix = None
            if item is not None:
                names.append(display_name(item))
                pix = self.thumbs.get(item.id, self.session.picture_file(item), spec)
            if pix is not None:
                painter.drawPixmap(rect, pix)
            else:
                ph = QPainterPath()
                ph.addRoundedRect(QRectF(rect), 10, 10)
                painter.fillPath(ph, QColor(t.placeholder))
            x += SIDE + GAP
        painter.setPen(QColor(t.muted))
        text_rect = QRect(cell.left() + 14, y + SIDE + 8, cell.width() - 28, 22)
        text = " · ".join(names)
        text = painter.fontMetrics().elidedText(
            text, Qt.TextElideMode.ElideRight, text_rect.width()
        )
        painter.drawText(
            text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text
        )
        painter.restore()


def export_target(path: Path, chosen: str = "") -> tuple[Path, str]:
    """The file and format of an export: the name's extension decides when it names a format
    ("favourites.png" is a PNG whatever filter was chosen); otherwise the chosen filter's
    format (or PDF) decides and its extension is added."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return path, suffix
    fmt = chosen if chosen in FORMATS else "pdf"
    return path.with_name(path.name + f".{fmt}"), fmt


def show_in_folder(path: Path) -> bool:
    """Open the folder holding ``path`` in the system's file manager."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(path).parent)))


class FavouritesPage(QWidget):
    def __init__(self, session: Session, thumbs: ThumbnailCache, parent=None) -> None:
        super().__init__(parent)
        self.session, self.thumbs = session, thumbs
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 12)
        layout.setSpacing(12)
        head = QHBoxLayout()
        head.addWidget(label("Favourites", "title"))
        self.count = label("", "muted")
        head.addSpacing(8)
        head.addWidget(self.count, 0, Qt.AlignmentFlag.AlignBottom)
        head.addStretch(1)
        self.remove_button = button("Remove", "trash", "", "Remove the selected favourites (Del)")
        self.remove_button.clicked.connect(self.remove_selected)
        self.export_button = button(
            "Export all…",
            "export",
            "primary",
            "Save as a PNG collage, a PDF lookbook or JSON (Ctrl+E)",
        )
        self.export_button.clicked.connect(self.export)
        head.addWidget(self.remove_button)
        head.addWidget(self.export_button)
        layout.addLayout(head)
        layout.addWidget(label("Outfits you keep. Select some to export only those.", "muted"))
        # After an export: where it went, one click from the folder.
        self.exported = QFrame()
        self.exported.setObjectName("banner")
        e = QHBoxLayout(self.exported)
        e.setContentsMargins(14, 6, 6, 6)
        self.exported_text = label("", wrap=True)
        e.addWidget(self.exported_text, 1)
        self.show_folder_button = button("Show in folder", "folder", "", "Open the export's folder")
        self.show_folder_button.clicked.connect(
            lambda: self.last_export is not None and show_in_folder(self.last_export)
        )
        e.addWidget(self.show_folder_button)
        close = button("", "close", "ghost", "Hide")
        close.clicked.connect(self.exported.hide)
        e.addWidget(close)
        self.exported.hide()
        layout.addWidget(self.exported)
        self.stack = QStackedWidget()
        self.empty = EmptyState(
            "heart",
            "No favourites yet",
            "Press F or the heart on a suggestion to keep an outfit here.",
        )
        self.stack.addWidget(self.empty)
        self.model = FavouritesModel(thumbs, self)
        self.view = JustifiedGrid(QSize(FAV_W, FAV_H))
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setModel(self.model)
        self.view.setItemDelegate(FavouriteDelegate(session, thumbs, self.view))
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        remove = QAction("Remove", self.view)
        remove.setShortcut(QKeySequence.StandardKey.Delete)
        remove.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        remove.triggered.connect(self.remove_selected)
        self.view.addAction(remove)
        self.stack.addWidget(self.view)
        layout.addWidget(self.stack, 1)
        session.favouritesChanged.connect(self.refresh)
        session.serviceReplaced.connect(self.refresh)
        session.itemsChanged.connect(self.view.viewport().update)
        self.last_export: Path | None = None
        self.refresh()

    def focus_content(self) -> None:
        """Take the keyboard (after a page switch): the grid of favourites."""
        self.view.setFocus(Qt.FocusReason.OtherFocusReason)

    def refresh(self) -> None:
        rows = self.session.favourites()
        self.model.set_rows(rows)
        self.count.setText(f"{len(rows)} outfit{'s' if len(rows) != 1 else ''}" if rows else "")
        self.stack.setCurrentWidget(self.view if rows else self.empty)
        self._selection_changed()

    def selected_ids(self) -> list[int]:
        rows = sorted(i.row() for i in self.view.selectionModel().selectedIndexes())
        return [self.model.rows[r].id for r in rows]

    def _selection_changed(self, *_args: object) -> None:
        n = len(self.selected_ids())
        self.export_button.setText(f"Export {n} selected…" if n else "Export all…")
        self.export_button.setEnabled(bool(self.model.rows))
        self.remove_button.setEnabled(n > 0)

    def remove_selected(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.session.remove_favourites(ids)

    def export(self) -> None:
        if not self.model.rows:
            return
        folder = QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.DocumentsLocation
        ) or str(Path.home())
        path, chosen = QFileDialog.getSaveFileName(
            self,
            "Export favourites",
            str(Path(folder) / "stylist-favourites.pdf"),
            ";;".join(FORMATS.values()),
            FORMATS["pdf"],
        )
        if not path:
            return
        fmt = next((k for k, v in FORMATS.items() if v == chosen), "")
        self.export_to(Path(path), fmt)

    def export_to(self, path: Path, fmt: str = "") -> None:
        """Export the selected favourites (or all) to ``path`` in the background: in the format
        its extension names, else in ``fmt`` (see :func:`export_target`)."""
        path, fmt = export_target(Path(path), fmt)
        ids = self.selected_ids() or None

        def done(result: Path) -> None:
            self.last_export = Path(result)
            self.exported_text.setText(f"Exported to {Path(result).name}")
            self.exported_text.setToolTip(str(result))
            self.exported.show()

        self.session.export_favourites(path, fmt, ids, on_done=done)
