"""The wardrobe grid's model, filter and painter: thousands of items without a widget per item.

:func:`filter_items` decides what the grid shows (unsorted first, then newest first);
:class:`ItemListModel` is a flat Qt list model over that result whose pictures come lazily from
the :class:`~stylist.gui.thumbnails.ThumbnailCache`; :class:`ItemDelegate` paints each cell as a
rounded card with the photo, the name and the category, or, for an unsorted item with a guess,
a "✓ top?" button that confirms the guess in one click.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from stylist.domain import Category, CategorySource, Item
from stylist.gui import theme
from stylist.gui.thumbnails import Spec, ThumbnailCache

CELL_W, CELL_H = 172, 226
THUMB = 152  # logical px, square
PAD = 10

CATEGORY_LABELS = {
    Category.TOP: "Top",
    Category.BOTTOM: "Bottom",
    Category.SHOES: "Shoes",
    Category.ONE_PIECE: "One-piece",
    Category.OTHER: "Other",
    Category.UNSORTED: "Unsorted",
}
CATEGORY_PLURALS = {
    Category.TOP: "Tops",
    Category.BOTTOM: "Bottoms",
    Category.SHOES: "Shoes",
    Category.ONE_PIECE: "One-pieces",
    Category.OTHER: "Other",
    Category.UNSORTED: "Unsorted",
}


def display_name(item: Item) -> str:
    """What a person calls the item: the name they gave it or the one Stylist made."""
    return item.name or f"Item {item.id}"


@lru_cache(maxsize=4096)
def colour_family(hex_colour: str) -> str:
    """A plain colour name ("navy", "beige") for a "#rrggbb" colour."""
    from stylist.vision.colours import colour_name  # numpy only; loaded when colours appear

    try:
        return colour_name(hex_colour)
    except ValueError:
        return ""


def item_colour_families(item: Item, dominant: int = 2) -> list[str]:
    """The names of an item's most dominant colours, most dominant first, without repeats."""
    names: list[str] = []
    for value in item.colours[:dominant]:
        name = colour_family(value)
        if name and name not in names:
            names.append(name)
    return names


@dataclass(frozen=True)
class ItemFilter:
    """What the grid shows: a category (None = all), a colour name, and search text."""

    category: Category | None = None
    colour: str = ""
    text: str = ""
    review: bool = False  # only the guesses the person has not confirmed

    def matches(self, item: Item) -> bool:
        if self.review and pending_guess(item) is None:
            return False
        if self.category is not None and item.category != self.category:
            return False
        if self.colour and self.colour not in item_colour_families(item):
            return False
        if self.text:
            needle = self.text.strip().lower()
            haystack = " ".join(
                [item.name, item.original_name, item.category.value, item.notes, *item.tags]
            ).lower()
            if not all(word in haystack for word in needle.split()):
                return False
        return True


def sort_key(item: Item) -> tuple:
    # Unsorted items first so they get confirmed, then the newest first.
    return (item.category != Category.UNSORTED, -item.id)


def pending_guess(item: Item) -> tuple[Category, float | None] | None:
    """The category Stylist guessed for an item and how sure it was, while the person has not
    confirmed it: a guess beside an unsorted item, or a category set automatically."""
    if item.category == Category.UNSORTED:
        if item.guess and item.guess != Category.UNSORTED:
            return item.guess, item.guess_confidence
        return None
    if item.category_source == CategorySource.AUTO:
        return item.category, item.category_confidence
    return None


def doubt_key(item: Item) -> tuple:
    # The least sure guess first; a guess without a confidence counts as the least sure.
    guess = pending_guess(item)
    confidence = guess[1] if guess and guess[1] is not None else 0.0
    return (confidence, -item.id)


def filter_items(items: list[Item], flt: ItemFilter) -> list[Item]:
    key = doubt_key if flt.review else sort_key
    return sorted((i for i in items if flt.matches(i)), key=key)


class ItemListModel(QAbstractListModel):
    """A flat list of items; the picture of each is fetched when a view first paints it."""

    ItemRole = Qt.ItemDataRole.UserRole + 1
    IdRole = Qt.ItemDataRole.UserRole + 2

    def __init__(self, thumbs: ThumbnailCache, path_of, parent=None) -> None:
        super().__init__(parent)
        self._items: list[Item] = []
        self._rows: dict[int, int] = {}
        self.thumbs = thumbs
        self.path_of = path_of  # relative file name -> Path
        self.picture_of = None  # item -> Path of its picture, where not the thumbnail
        self.spec = Spec(THUMB, 1.0, radius=10)
        thumbs.ready.connect(self._picture_ready)

    def set_ratio(self, ratio: float) -> None:
        self.spec = Spec(THUMB, ratio, radius=10)

    def set_items(self, items: list[Item]) -> None:
        self.beginResetModel()
        self._items = list(items)
        self._rows = {item.id: row for row, item in enumerate(self._items)}
        self.endResetModel()

    def update_item(self, item: Item) -> None:
        row = self._rows.get(item.id)
        if row is not None:
            self._items[row] = item
            index = self.index(row)
            self.dataChanged.emit(index, index)

    def items(self) -> list[Item]:
        return list(self._items)

    def item_at(self, row: int) -> Item:
        return self._items[row]

    def row_of(self, item_id: int) -> int | None:
        return self._rows.get(item_id)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self._items)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid() or index.row() >= len(self._items):
            return None
        item = self._items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return display_name(item)
        if role == Qt.ItemDataRole.DecorationRole:
            if self.picture_of is not None:
                return self.thumbs.get(item.id, self.picture_of(item), self.spec)
            return self.thumbs.get(item.id, self.path_of(item.thumbnail_file), self.spec)
        if role == self.ItemRole:
            return item
        if role == self.IdRole:
            return item.id
        if role == Qt.ItemDataRole.ToolTipRole:
            parts = [display_name(item), CATEGORY_LABELS[item.category]]
            if item.category == Category.UNSORTED and item.guess:
                conf = f" ({item.guess_confidence:.0%} sure)" if item.guess_confidence else ""
                parts.append(f"Looks like: {CATEGORY_LABELS[item.guess].lower()}{conf}")
            if item.tags:
                parts.append("Tags: " + ", ".join(item.tags))
            return "\n".join(parts)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{display_name(item)}, {CATEGORY_LABELS[item.category]}"
        return None

    def _picture_ready(self, item_id: int) -> None:
        row = self._rows.get(item_id)
        if row is not None:
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])


class ItemDelegate(QStyledItemDelegate):
    """Paints one wardrobe cell; a click on "✓ guess" asks to confirm the guessed category."""

    confirmRequested = Signal(int, object)  # item id, Category

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        view = self.parent()
        width = view.card_width(CELL_W) if hasattr(view, "card_width") else CELL_W
        return QSize(width, CELL_H)

    @staticmethod
    def _confirm_rect(cell: QRect) -> QRect:
        return QRect(cell.left() + PAD, cell.bottom() - 34, cell.width() - 2 * PAD, 26)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        item: Item | None = index.data(ItemListModel.ItemRole)
        if item is None:
            return
        t = theme.active()
        cell = option.rect.adjusted(4, 4, -4, -4)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        card = QPainterPath()
        card.addRoundedRect(QRectF(cell), 14, 14)
        painter.fillPath(card, QColor(t.hover if hovered and not selected else t.card))
        pen = QPen(QColor(t.accent if selected else t.border), 2 if selected else 1)
        painter.setPen(pen)
        painter.drawPath(card)

        thumb_rect = QRect(cell.left() + (cell.width() - THUMB) // 2, cell.top() + 6, THUMB, THUMB)
        pix = index.data(Qt.ItemDataRole.DecorationRole)
        if pix is not None:
            painter.drawPixmap(thumb_rect, pix)
        else:
            placeholder = QPainterPath()
            placeholder.addRoundedRect(QRectF(thumb_rect), 10, 10)
            painter.fillPath(placeholder, QColor(t.placeholder))

        font = QFont(option.font)
        font.setWeight(QFont.Weight.DemiBold)
        painter.setFont(font)
        painter.setPen(QColor(t.text))
        name_rect = QRect(cell.left() + PAD, thumb_rect.bottom() + 6, cell.width() - 2 * PAD, 20)
        name = QFontMetrics(font).elidedText(
            display_name(item), Qt.TextElideMode.ElideRight, name_rect.width()
        )
        painter.drawText(
            name_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, name
        )

        small = QFont(option.font)
        small.setPointSizeF(max(7.0, option.font.pointSizeF() * 0.9))
        painter.setFont(small)
        guess = pending_guess(item)
        if guess is not None:
            rect = self._confirm_rect(cell)
            pill = QPainterPath()
            pill.addRoundedRect(QRectF(rect), 13, 13)
            painter.fillPath(pill, QColor(t.accent_soft))
            painter.setPen(QColor(t.accent_strong))
            text = f"✓  {CATEGORY_LABELS[guess[0]]}?"
            if guess[1]:
                text += f"  {guess[1]:.0%}"
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        else:
            line = QRect(cell.left() + PAD, name_rect.bottom() + 2, cell.width() - 2 * PAD, 18)
            unsorted = item.category == Category.UNSORTED
            painter.setPen(QColor(t.warn if unsorted else t.muted))
            text = CATEGORY_LABELS[item.category]
            painter.drawText(line, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
            # The dominant colours as small dots at the right.
            x = line.right() - 10
            for value in reversed(item.colours[:3]):
                painter.setPen(QPen(QColor(t.border), 1))
                painter.setBrush(QColor(value))
                painter.drawEllipse(QRectF(x, line.center().y() - 5, 10, 10))
                x -= 13
        painter.restore()

    def editorEvent(self, event: QEvent, model, option: QStyleOptionViewItem, index) -> bool:
        if event.type() == QEvent.Type.MouseButtonRelease:
            item: Item | None = index.data(ItemListModel.ItemRole)
            guess = pending_guess(item) if item else None
            if guess is not None:
                cell = option.rect.adjusted(4, 4, -4, -4)
                if self._confirm_rect(cell).contains(event.position().toPoint()):
                    self.confirmRequested.emit(item.id, guess[0])
                    return True
        return super().editorEvent(event, model, option, index)
