"""Small building blocks shared by the pages: labels, chips, a flow layout, empty states, the undo
toast, the activity bar with its cancel button, the status-bar spinner and readable error dialogs.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from stylist.gui import icons, theme


def label(text: str = "", role: str = "", wrap: bool = False) -> QLabel:
    widget = QLabel(text)
    if role:
        widget.setProperty("role", role)
    widget.setWordWrap(wrap)
    widget.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
    return widget


def button(
    text: str,
    icon_name: str = "",
    kind: str = "",
    tooltip: str = "",
    on_click: Callable[[], None] | None = None,
) -> QPushButton:
    widget = QPushButton(text)
    if icon_name:
        widget.setIcon(icons.icon(icon_name))
        widget.setProperty("icon_name", icon_name)
    if kind:
        widget.setProperty("kind", kind)
    if tooltip:
        widget.setToolTip(tooltip)
    if on_click:
        widget.clicked.connect(lambda *_: on_click())
    widget.setCursor(Qt.CursorShape.PointingHandCursor)
    return widget


class Chip(QPushButton):
    """A checkable filter chip, as wide as its label needs in bold: the style sheet bolds a
    checked chip, and a width measured for the regular weight would clip it."""

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        hint = super().sizeHint()
        regular, bold = QFont(self.font()), QFont(self.font())
        regular.setBold(False)
        bold.setWeight(QFont.Weight.Bold)
        extra = QFontMetrics(bold).horizontalAdvance(self.text()) - QFontMetrics(
            regular
        ).horizontalAdvance(self.text())
        return QSize(hint.width() + max(0, extra) + 2, hint.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return self.sizeHint()


def chip(text: str, tooltip: str = "") -> QPushButton:
    widget = Chip(text)
    widget.setProperty("kind", "chip")
    if tooltip:
        widget.setToolTip(tooltip)
    widget.setCheckable(True)
    return widget


def refresh_icons(root: QWidget) -> None:
    """Redraw icons in the current theme's colours (after a light/dark switch)."""
    for widget in root.findChildren(QPushButton):
        name = widget.property("icon_name")
        if name:
            colour = widget.property("icon_colour")
            widget.setIcon(icons.icon(name, colour or None))


def fit_wrapped_labels(root: QWidget) -> None:
    """Give every word-wrapped label the height its text needs at its current width.

    Top-level layouts size wrapped labels for an assumed width; once the window is laid out,
    this makes sure no line is cut off.
    """
    for text in root.findChildren(QLabel):
        if text.wordWrap() and text.isVisible() and text.width() > 0:
            text.setMinimumHeight(text.heightForWidth(text.width()))


class FittedDialog(QDialog):
    """A dialog whose wrapped labels get their full height when it is shown."""

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        QTimer.singleShot(0, self._fit)

    def _fit(self) -> None:
        fit_wrapped_labels(self)
        self.adjustSize()

    def refit(self) -> None:
        """Fit again after a wrapped label's text changed while shown: the label gets the
        height its new text needs, and the dialog grows if it must (it never shrinks under the
        person's hands)."""
        for text in self.findChildren(QLabel):
            if text.wordWrap():
                text.setMinimumHeight(0)
        fit_wrapped_labels(self)
        hint = self.sizeHint()
        self.resize(max(self.width(), hint.width()), max(self.height(), hint.height()))


def repolish(widget: QWidget) -> None:
    """Apply style-sheet rules that depend on a dynamic property that just changed."""
    widget.style().unpolish(widget)
    widget.style().polish(widget)
    widget.update()


class FlowBox(QWidget):
    """Children laid out left to right, wrapping to new lines, in the order given.

    A widget rather than a QLayout subclass: a Python ``QLayout.itemAt`` has to return None past
    the last item, and PySide6 mishandles that None's reference count.
    """

    def __init__(
        self, parent: QWidget | None = None, spacing: int = 8, centred: bool = False
    ) -> None:
        super().__init__(parent)
        self._children: list[QWidget] = []
        self._spacing = spacing
        self._centred = centred
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    # ------------------------------------------------------------ children
    def add(self, widget: QWidget) -> QWidget:
        return self.insert(len(self._children), widget)

    def insert(self, index: int, widget: QWidget) -> QWidget:
        widget.setParent(self)
        self._children.insert(index, widget)
        widget.show()
        self._changed()
        return widget

    def remove(self, widget: QWidget) -> None:
        if widget in self._children:
            self._children.remove(widget)
            widget.hide()
            widget.deleteLater()
            self._changed()

    def clear(self) -> None:
        for widget in self._children:
            widget.hide()
            widget.deleteLater()
        self._children = []
        self._changed()

    def widgets(self) -> list[QWidget]:
        return list(self._children)

    def count(self) -> int:
        return len(self._children)

    # ------------------------------------------------------------ geometry
    def relayout(self) -> None:
        """Arrange again after children were shown or hidden."""
        self._changed()

    def _changed(self) -> None:
        self._arrange(self.width(), apply=True)
        self.updateGeometry()

    def _arrange(self, width: int, apply: bool) -> int:
        rows: list[list[tuple[QWidget, QSize]]] = [[]]
        x = 0
        for widget in self._children:
            if widget.isHidden():  # hidden on purpose (a chip with nothing to show)
                continue
            hint = widget.sizeHint().expandedTo(widget.minimumSize())
            if x + hint.width() > width and rows[-1]:
                rows.append([])
                x = 0
            rows[-1].append((widget, hint))
            x += hint.width() + self._spacing
        y = 0
        for row in rows:
            if not row:
                continue
            used = sum(h.width() for _, h in row) + self._spacing * (len(row) - 1)
            x = max(0, (width - used) // 2) if self._centred else 0
            height = max(h.height() for _, h in row)
            if apply:
                for widget, hint in row:
                    widget.setGeometry(QRect(QPoint(x, y), hint))
                    x += hint.width() + self._spacing
            y += height + self._spacing
        return max(0, y - self._spacing)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt override
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt override
        return self._arrange(width, apply=False)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        width = self.width() if self.width() > 0 else 400
        return QSize(width, self._arrange(width, apply=False))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        widest = max((w.sizeHint().width() for w in self._children if not w.isHidden()), default=0)
        return QSize(widest, self._arrange(max(self.width(), widest), apply=False))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._arrange(self.width(), apply=True)
        super().resizeEvent(event)


class JustifiedGrid(QListView):
    """An icon-mode list whose columns spread over the whole width (no ragged right margin)."""

    def __init__(self, cell: QSize, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cell = cell
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setGridSize(cell)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        # A scroll bar that comes and goes would change the width the columns are spread over.
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        width = event.size().width() - self.verticalScrollBar().sizeHint().width() - 2
        columns = max(1, width // self.cell.width())
        cell_width = max(self.cell.width(), (width - 1) // columns)
        if self.gridSize().width() != cell_width:
            self.setGridSize(QSize(cell_width, self.cell.height()))
            # The cards widen with their cells (see card_width): lay the items out again.
            self.scheduleDelayedItemsLayout()
        super().resizeEvent(event)

    def card_width(self, base: int) -> int:
        """How wide a delegate draws a card of natural width ``base``: as wide as its cell, so
        the grid fills the width without gaps, but never more than 40 % wider than ``base``."""
        return max(base, min(self.gridSize().width(), int(base * 1.4)))


class EmptyState(QFrame):
    """A calm centred message: an icon, a title, a sentence and optional buttons."""

    def __init__(self, icon_name: str, title: str, text: str = "", parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("notice")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(36, 36, 36, 36)
        layout.setSpacing(10)
        layout.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.icon = QLabel()
        self.icon_name = icon_name
        self.icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = label(title, "h2")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text = label(text, "muted", wrap=True)
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text.setMaximumWidth(460)
        self.buttons = QHBoxLayout()
        self.buttons.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.icon)
        layout.addWidget(self.title)
        layout.addWidget(self.text, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addLayout(self.buttons)
        self.refresh_icon()

    def refresh_icon(self) -> None:
        ratio = self.devicePixelRatioF() or 1.0
        self.icon.setPixmap(icons.pixmap(self.icon_name, 40, theme.active().muted, ratio))

    def set_text(self, title: str, text: str = "") -> None:
        self.title.setText(title)
        self.text.setText(text)
        self.text.setVisible(bool(text))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        # A centred, wrapped label is laid out at its size hint's width, which Qt guesses; fix
        # the width to what there is (at most 460 px), so its height is measured for the same
        # width it is shown at and no line is cut off.
        margins = self.layout().contentsMargins()
        room = event.size().width() - margins.left() - margins.right()
        self.text.setFixedWidth(max(120, min(460, room)))
        super().resizeEvent(event)

    def add_button(self, widget: QPushButton) -> QPushButton:
        self.buttons.addWidget(widget)
        return widget


class Toast(QFrame):
    """A message at the bottom of the window with an Undo button; hides itself after a while."""

    undoClicked = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("toast")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(16, 8, 8, 8)
        layout.setSpacing(12)
        self.text = QLabel()
        self.undo_button = QPushButton("Undo")
        self.undo_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.undo_button.setToolTip("Undo (Ctrl+Z)")
        self.undo_button.clicked.connect(self.undoClicked)
        layout.addWidget(self.text)
        layout.addWidget(self.undo_button)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        self.hide()

    def show_message(self, text: str, undo: bool = True, msecs: int = 6000) -> None:
        self.text.setText(text)
        self.undo_button.setVisible(undo)
        self.adjustSize()
        self.place()
        self.show()
        self.raise_()
        self._timer.start(msecs)

    def place(self) -> None:
        parent = self.parentWidget()
        if parent is None:
            return
        self.adjustSize()
        x = (parent.width() - self.width()) // 2
        y = parent.height() - self.height() - 48
        self.move(max(8, x), max(8, y))


class ActivityBar(QFrame):
    """Progress of one long operation with a Cancel button (import, analysis, training)."""

    cancelClicked = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("activity")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        layout.setSpacing(12)
        self.text = QLabel()
        self.text.setMinimumWidth(220)
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setMinimumWidth(160)
        self.cancel_button = button("Cancel", tooltip="Stop; what is done so far is kept")
        self.cancel_button.clicked.connect(self.cancelClicked)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.bar, 2)
        layout.addWidget(self.cancel_button)
        self.hide()

    def set_progress(self, text: str, done: int, total: int) -> None:
        self.text.setText(text)
        if total > 0:
            self.bar.setRange(0, total)
            self.bar.setValue(min(done, total))
        else:
            self.bar.setRange(0, 0)  # busy, amount unknown
        self.show()


class Spinner(QWidget):
    """A small turning arc for the status bar while work runs in the background."""

    def __init__(self, parent=None, size: int = 14) -> None:
        super().__init__(parent)
        self._angle = 0
        self.setFixedSize(size, size)
        self._timer = QTimer(self)
        self._timer.setInterval(60)
        self._timer.timeout.connect(self._turn)

    def start(self) -> None:
        if not self._timer.isActive():
            self._timer.start()
        self.show()

    def stop(self) -> None:
        self._timer.stop()
        self.hide()

    def _turn(self) -> None:
        self._angle = (self._angle + 30) % 360
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(QColor(theme.active().accent), 2)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(pen)
        r = QRectF(2, 2, self.width() - 4, self.height() - 4)
        painter.drawArc(r, -self._angle * 16, 270 * 16)


class ErrorReporter:
    """Shows problems as readable, non-blocking dialogs; the details (if any) stay folded away."""

    def __init__(self, parent: QWidget) -> None:
        self.parent = parent
        self.last: tuple[str, str] | None = None  # (title, message), for tests and logs
        self.count = 0

    def show(self, title: str, message: str, details: str = "") -> QMessageBox:
        self.last = (title, message)
        self.count += 1
        box = QMessageBox(self.parent)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(title or "Stylist")
        box.setText(message)
        if details:
            box.setInformativeText(
                "This should not have happened. The details below help whoever fixes it."
            )
            box.setDetailedText(details)
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()  # window-modal but not blocking: background work goes on
        return box


def hline() -> QFrame:
    line = QFrame()
    line.setFrameShape(QFrame.Shape.HLine)
    line.setStyleSheet(f"color: {theme.active().border};")
    return line


def expanding() -> QWidget:
    spacer = QWidget()
    spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    return spacer
