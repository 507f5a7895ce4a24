"""A full-size look at an item's photo: Space or a double-click opens it, ← → move through the
items of the grid, Space or Escape closes it.

The stored original is shown where Qt can read it (the working copy, 640 px, otherwise), scaled
to fit the window and never enlarged past its own pixels.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImageReader, QPixmap
from PySide6.QtWidgets import QDialog, QLabel, QSizePolicy, QVBoxLayout

from stylist.domain import Item
from stylist.gui.items import CATEGORY_LABELS, display_name
from stylist.gui.widgets import label


class PhotoViewer(QDialog):
    """Shows ``ids[index]``; ``item_of(id)`` and ``path_of(relative)`` read the library."""

    def __init__(
        self,
        ids: list[int],
        index: int,
        item_of: Callable[[int], Item | None],
        path_of: Callable[[str], object],
        parent=None,
    ) -> None:
        super().__init__(parent)
        self.ids, self.index = list(ids), index
        self.item_of, self.path_of = item_of, path_of
        self.setModal(True)
        self.resize(QSize(900, 760))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        self.caption = label("", "h2")
        layout.addWidget(self.caption)
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.picture.setMinimumSize(200, 200)
        layout.addWidget(self.picture, 1)
        hint = label("← → move  ·  Space or Esc closes", "small")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(hint)
        self._pixmap = QPixmap()
        # The viewer takes the keyboard: left with the grid, Space would open a second viewer.
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.show_index(index)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.activateWindow()
        self.setFocus(Qt.FocusReason.PopupFocusReason)

    def current_id(self) -> int:
        return self.ids[self.index]

    def show_index(self, index: int) -> None:
        if not self.ids:
            return
        self.index = max(0, min(index, len(self.ids) - 1))
        item = self.item_of(self.current_id())
        if item is None:
            return
        self.caption.setText(
            f"{display_name(item)}  ·  {CATEGORY_LABELS[item.category]}"
            f"  ·  {self.index + 1} of {len(self.ids)}"
        )
        self.setWindowTitle(display_name(item))
        self._pixmap = QPixmap()
        for relative in (item.stored_file, item.working_file):
            reader = QImageReader(str(self.path_of(relative)))
            reader.setAutoTransform(True)  # phone photos stand the right way up
            image = reader.read()
            if not image.isNull():
                self._pixmap = QPixmap.fromImage(image)
                break
        self._fit()

    def _fit(self) -> None:
        if self._pixmap.isNull():
            self.picture.setText("This photo cannot be shown.")
            return
        ratio = self.devicePixelRatioF() or 1.0
        room = self.picture.size() * ratio
        scaled = self._pixmap
        if self._pixmap.width() > room.width() or self._pixmap.height() > room.height():
            scaled = self._pixmap.scaled(
                room, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        scaled.setDevicePixelRatio(ratio)
        self.picture.setPixmap(scaled)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit()

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt override
        key = event.key()
        if key in (Qt.Key.Key_Right, Qt.Key.Key_Down):
            self.show_index(self.index + 1)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Up):
            self.show_index(self.index - 1)
        elif key in (Qt.Key.Key_Space, Qt.Key.Key_Escape):
            self.accept()
        else:
            super().keyPressEvent(event)
