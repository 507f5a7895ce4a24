"""The first-run page: an empty wardrobe invites an import (files or a folder) or the demo."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from stylist.gui import icons, theme
from stylist.gui.widgets import label


class WelcomePage(QWidget):
    importFilesRequested = Signal()
    importFolderRequested = Signal()
    demoRequested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(40, 40, 40, 40)
        outer.addStretch(2)
        column = QVBoxLayout()
        column.setSpacing(14)
        self.logo = QLabel()
        self.logo.setPixmap(icons.app_icon().pixmap(72, 72))
        self.logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        column.addWidget(self.logo)
        title = label("Welcome to Stylist", "hero")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        column.addWidget(title)
        text = label(
            "Outfits from the clothes you already own. Add photos of your tops, bottoms and "
            "shoes — one garment per photo — and Stylist suggests what goes together, learning "
            "your taste from every thumb. Everything stays on this computer.",
            "muted",
            wrap=True,
        )
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text.setFixedWidth(560)
        self.text = text
        column.addWidget(text, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addSpacing(12)

        choices = QHBoxLayout()
        choices.setSpacing(14)
        self.files_button = self._choice(
            "photos", "Import photos", "Pick photos of your clothes", self.importFilesRequested
        )
        self.folder_button = self._choice(
            "folder",
            "Import a folder",
            "Folders named tops, bottoms, shoes … set the categories",
            self.importFolderRequested,
        )
        self.demo_button = self._choice(
            "sparkle",
            "Try the demo wardrobe",
            "38 real photos, free to use (CC0)",
            self.demoRequested,
        )
        for widget in (self.files_button, self.folder_button, self.demo_button):
            choices.addWidget(widget)
        wrap = QHBoxLayout()
        wrap.addStretch(1)
        wrap.addLayout(choices)
        wrap.addStretch(1)
        column.addLayout(wrap)
        hint = label("…or drop photos and folders anywhere in this window.", "small")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        column.addSpacing(6)
        column.addWidget(hint)
        outer.addLayout(column)
        outer.addStretch(3)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        # A wrapped label's height is only known once its font and width are final.
        self.text.setMinimumHeight(self.text.heightForWidth(self.text.width()))
        super().showEvent(event)

    def _choice(self, icon_name: str, title: str, text: str, signal) -> QPushButton:
        """A large button with an icon, a title and a line of explanation."""
        widget = QPushButton()
        widget.setProperty("kind", "big")
        widget.setCursor(Qt.CursorShape.PointingHandCursor)
        widget.setFixedSize(QSize(250, 132))
        widget.setToolTip(text)
        widget.setAccessibleName(title)
        inner = QVBoxLayout(widget)
        inner.setContentsMargins(18, 16, 18, 14)
        inner.setSpacing(6)
        picture = QLabel()
        picture.setPixmap(
            icons.pixmap(icon_name, 26, theme.active().accent, self.devicePixelRatioF())
        )
        heading = label(title, "h2")
        body = label(text, "small", wrap=True)
        for part in (picture, heading, body):
            part.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            inner.addWidget(part)
        inner.addStretch(1)
        widget.clicked.connect(signal.emit)
        return widget
