"""The garment cut-out in the detail pane: shown over a checkerboard, corrected with a brush.

``MaskCanvas`` paints the working copy where the mask keeps the garment and a checkerboard where
it does not; dragging the mouse keeps (adds) or erases garment with a round brush, and each
stroke can be undone. ``CutoutPanel`` wraps it with the brush choice, Undo and "Use original
photo": a finished stroke (or an undo) is saved as the person's own mask after a short pause,
and the session analyses the item again, so its features and colours follow the new cut-out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QKeySequence, QPainter, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QHBoxLayout,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from stylist.domain import Item
from stylist.gui import theme
from stylist.gui.widgets import button, label

SAVE_DELAY_MS = 600  # a pause after the last stroke before the mask is saved and analysed
UNDO_DEPTH = 30
CHECKER = 10  # logical px per checkerboard square


def _rgba_image(rgb: np.ndarray, mask: np.ndarray | None) -> QImage:
    """(H, W, 3) photo and (H, W) mask -> a QImage whose alpha is the mask (a deep copy)."""
    height, width = rgb.shape[:2]
    alpha = np.full((height, width), 255, np.uint8) if mask is None else mask
    rgba = np.ascontiguousarray(np.dstack([rgb, alpha]))  # (H, W, 4)
    image = QImage(rgba.data, width, height, width * 4, QImage.Format.Format_RGBA8888)
    return image.copy()


class MaskCanvas(QWidget):
    """The photo with its mask applied, over a checkerboard; a round brush edits the mask."""

    strokeFinished = Signal()  # the mask changed by one stroke (``mask`` holds it)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMinimumSize(QSize(240, 260))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.rgb: np.ndarray | None = None
        self.mask: np.ndarray | None = None
        self.keep = False  # the brush adds garment (True) or erases it (False)
        self.radius = 14  # brush radius in the photo's pixels
        self.show_original = False
        self.editable = True
        self._image: QImage | None = None
        self._original: QImage | None = None
        self._before_stroke: np.ndarray | None = None
        self._last: tuple[int, int] | None = None
        self._undo: list[np.ndarray] = []

    # ------------------------------------------------------------------ state
    def set_photo(self, rgb: np.ndarray, mask: np.ndarray) -> None:
        """Show a new photo and mask; the undo history starts afresh."""
        self.rgb, self.mask = rgb, mask.copy()
        self._original = _rgba_image(rgb, None)
        self._undo.clear()
        self._refresh()

    def clear(self) -> None:
        self.rgb = self.mask = self._image = self._original = None
        self._undo.clear()
        self.update()

    def can_undo(self) -> bool:
        return bool(self._undo)

    def undo(self) -> bool:
        """Go back to the mask before the last stroke; False when there is none."""
        if not self._undo:
            return False
        self.mask = self._undo.pop()
        self._refresh()
        return True

    def _refresh(self) -> None:
        if self.rgb is not None and self.mask is not None:
            self._image = _rgba_image(self.rgb, self.mask)
        self.update()

    # ------------------------------------------------------------------ geometry
    def _photo_rect(self) -> QRectF:
        if self.rgb is None:
            return QRectF()
        height, width = self.rgb.shape[:2]
        scale = min(self.width() / width, self.height() / height)
        w, h = width * scale, height * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def to_photo(self, pos: QPointF) -> tuple[int, int] | None:
        """A point of the widget -> (x, y) in the photo's pixels, None outside the photo."""
        rect = self._photo_rect()
        if self.rgb is None or not rect.contains(pos):
            return None
        height, width = self.rgb.shape[:2]
        x = int((pos.x() - rect.x()) / rect.width() * width)
        y = int((pos.y() - rect.y()) / rect.height() * height)
        return min(max(x, 0), width - 1), min(max(y, 0), height - 1)

    def from_photo(self, x: float, y: float) -> QPointF:
        """(x, y) in the photo's pixels -> the point of the widget that shows it."""
        rect = self._photo_rect()
        height, width = self.rgb.shape[:2]
        return QPointF(
            rect.x() + (x + 0.5) * rect.width() / width,
            rect.y() + (y + 0.5) * rect.height() / height,
        )

    # ------------------------------------------------------------------ painting
    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        rect = self._photo_rect()
        if rect.isEmpty():
            painter.end()
            return
        light, dark = QColor("#ffffff"), QColor("#d9d9d9")
        if theme.active().dark:
            light, dark = QColor("#4a4a4a"), QColor("#3a3a3a")
        painter.save()
        painter.setClipRect(rect)
        y = rect.top()
        row = 0
        while y < rect.bottom():
            x = rect.left() + (CHECKER if row % 2 else 0)
            painter.fillRect(QRectF(rect.left(), y, rect.width(), CHECKER), light)
            while x < rect.right():
                painter.fillRect(QRectF(x, y, CHECKER, CHECKER), dark)
                x += 2 * CHECKER
            y += CHECKER
            row += 1
        painter.restore()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        shown = self._original if self.show_original else self._image
        if shown is not None:
            painter.drawImage(rect, shown)
        painter.end()

    # ------------------------------------------------------------------ the brush
    def _paint_at(self, point: tuple[int, int]) -> None:
        import cv2

        value = 255 if self.keep else 0
        start = self._last or point
        cv2.line(self.mask, start, point, value, thickness=2 * self.radius, lineType=cv2.LINE_8)
        cv2.circle(self.mask, point, self.radius, value, thickness=-1)
        self._last = point
        self._refresh()

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt override
        if not self.editable or self.show_original or event.button() != Qt.MouseButton.LeftButton:
            return
        point = self.to_photo(event.position())
        if point is None or self.mask is None:
            return
        self._before_stroke = self.mask.copy()
        self._last = None
        self._paint_at(point)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self._before_stroke is None:
            return
        point = self.to_photo(event.position())
        if point is not None:
            self._paint_at(point)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt override
        before, self._before_stroke = self._before_stroke, None
        self._last = None
        if before is None or self.mask is None or np.array_equal(before, self.mask):
            return
        self._undo.append(before)
        del self._undo[:-UNDO_DEPTH]
        self.strokeFinished.emit()


class CutoutPanel(QWidget):
    """The cut-out of the selected item with its brush, Undo and "Use original photo"."""

    maskSaved = Signal(int)  # item id: a new mask was saved (pictures of it are stale)

    def __init__(self, session: Any, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.item_id: int | None = None
        self._version = -1
        self._saving = False
        self._pending = False  # a stroke or an undo not saved yet
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.canvas = MaskCanvas()
        self.canvas.strokeFinished.connect(self._changed)
        layout.addWidget(self.canvas)

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        self.keep = button("Keep", "plus", "", "Brush: paint what belongs to the garment")
        self.erase = button("Erase", "close", "", "Brush: paint away what is not the garment")
        self.brushes = QButtonGroup(self)
        for b in (self.keep, self.erase):
            b.setCheckable(True)
            self.brushes.addButton(b)
            row.addWidget(b)
        self.erase.setChecked(True)
        self.keep.toggled.connect(lambda on: setattr(self.canvas, "keep", on))
        self.undo_button = button("Undo", "undo", "", "Undo the last brush stroke")
        self.undo_button.clicked.connect(self.undo)
        row.addWidget(self.undo_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.original = QCheckBox("Use original photo")
        self.original.setToolTip(
            "Stylist reads the photo as it is, background and all, instead of the cut-out"
        )
        self.original.toggled.connect(self._original_toggled)
        layout.addWidget(self.original)
        self.note = label("", "muted", wrap=True)
        layout.addWidget(self.note)
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self.save)
        shortcut = QShortcut(QKeySequence.StandardKey.Undo, self)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(self.undo)
        self._update_controls(None)

    # ------------------------------------------------------------------ showing
    def show_item(self, item: Item | None) -> bool:
        """Show an item's cut-out; False (and hidden) when it has none yet."""
        if item is None or item.cutout is None:
            self.save()
            self.item_id, self._version = None, -1
            self.canvas.clear()
            self.hide()
            return False
        if item.id == self.item_id and self._saving:
            self._version = item.cutout_version  # our own save: the canvas shows it already
        if item.id != self.item_id or item.cutout_version != self._version:
            self.save()  # a pending stroke on the previous item is kept, not lost
            from stylist.library.cutouts import working_rgb

            mask = self.session.service.mask(item.id)
            try:
                rgb = working_rgb(self.session.library, item)
            except Exception:
                mask = None
            if mask is None or mask.shape != rgb.shape[:2]:
                self.item_id, self._version = None, -1
                self.canvas.clear()
                self.hide()
                return False
            self.item_id, self._version = item.id, item.cutout_version
            self.canvas.set_photo(rgb, mask)
        self._update_controls(item)
        self.show()
        return True

    def _update_controls(self, item: Item | None) -> None:
        original = item is None or not item.uses_cutout
        self.original.blockSignals(True)
        self.original.setChecked(original)
        self.original.blockSignals(False)
        self.canvas.show_original = original
        self.canvas.update()
        for widget in (self.keep, self.erase):
            widget.setEnabled(not original)
        self.undo_button.setEnabled(not original and self.canvas.can_undo())
        if item is not None and item.cutout == "rejected" and original:
            self.note.setText(
                "The automatic cut-out looked wrong, so Stylist reads the photo as it is. "
                "Untick to use the cut-out anyway and correct it with the brush."
            )
        elif item is not None and item.cutout == "edited":
            self.note.setText("Your own cut-out.")
        else:
            self.note.setText("")
        self.note.setVisible(bool(self.note.text()))

    # ------------------------------------------------------------------ editing
    def _changed(self) -> None:
        self.undo_button.setEnabled(self.canvas.can_undo())
        self._pending = True
        self._save_timer.start()

    def undo(self) -> None:
        if self.canvas.undo():
            self._changed()

    def save(self) -> None:
        """Save the mask now if a stroke or an undo is waiting (then analysed again)."""
        self._save_timer.stop()
        if not self._pending or self.item_id is None:
            return
        self._pending = False
        item_id = self.item_id
        self._saving = True
        try:
            item = self.session.set_mask(item_id, self.canvas.mask.copy())
        finally:
            self._saving = False
        if item is not None and item.id == self.item_id:
            self._version = item.cutout_version
            self._update_controls(item)
        self.maskSaved.emit(item_id)

    def _original_toggled(self, checked: bool) -> None:
        if self.item_id is None:
            return
        self.save()
        item = self.session.set_cutout_off(self.item_id, checked)
        self.maskSaved.emit(self.item_id)
        if item is not None:
            self._update_controls(item)
