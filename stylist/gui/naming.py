"""An item's name, read as a heading and edited where it stands (double-click or F2).

Enter keeps the new name, Escape or leaving an unchanged field keeps the old one; an emptied
name hands the naming back to Stylist ("Navy top").
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QLineEdit, QStackedWidget, QWidget

from stylist.naming import MAX_NAME_LENGTH


class _NameLabel(QLabel):
    doubleClicked = Signal()

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self.doubleClicked.emit()
        event.accept()


class InlineName(QStackedWidget):
    """A wrapping heading that turns into a line edit; ``renamed`` carries the typed name."""

    renamed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.heading = _NameLabel()
        self.heading.setProperty("role", "h2")
        self.heading.setWordWrap(True)
        self.heading.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        self.heading.setToolTip("Double-click or press F2 to rename")
        self.heading.doubleClicked.connect(self.start_editing)
        self.editor = QLineEdit()
        self.editor.setMaxLength(MAX_NAME_LENGTH)
        self.editor.setPlaceholderText("A name (empty: Stylist names it)")
        self.editor.setAccessibleName("Item name")
        self.editor.returnPressed.connect(self._commit)
        self.editor.editingFinished.connect(self._finish)
        self.addWidget(self.heading)
        self.addWidget(self.editor)
        self.editable = True
        self._editing = False

    # The stack is as tall as the page shown, not the tallest page: a wrapped long name grows
    # the heading, the one-line editor does not.
    def sizeHint(self):  # noqa: N802 (Qt override)
        return self.currentWidget().sizeHint()

    def minimumSizeHint(self):  # noqa: N802 (Qt override)
        return self.currentWidget().minimumSizeHint()

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt override)
        return self.currentWidget().hasHeightForWidth()

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt override)
        return self.currentWidget().heightForWidth(width)

    def text(self) -> str:
        return self.heading.text()

    def setText(self, text: str) -> None:  # noqa: N802 (mirrors QLabel)
        self.heading.setText(text)
        if self._editing:
            self.cancel_editing()

    def is_editing(self) -> bool:
        return self._editing

    def start_editing(self) -> None:
        if not self.editable:
            return
        self._editing = True
        self.editor.setText(self.heading.text())
        self.setCurrentWidget(self.editor)
        self.updateGeometry()
        self.editor.setFocus(Qt.FocusReason.OtherFocusReason)
        self.editor.selectAll()

    def cancel_editing(self) -> None:
        self._editing = False
        self.setCurrentWidget(self.heading)
        self.updateGeometry()

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if event.key() == Qt.Key.Key_Escape and self._editing:
            self.cancel_editing()
            event.accept()
            return
        super().keyPressEvent(event)

    def _commit(self) -> None:
        if not self._editing:
            return
        text = self.editor.text()
        self.cancel_editing()
        if text.strip() != self.heading.text():
            self.renamed.emit(text)

    def _finish(self) -> None:
        # Leaving the field keeps what was typed, as Finder and Photos do.
        if self._editing:
            self._commit()
