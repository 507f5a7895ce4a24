"""Every page at the window's minimum size, a laptop's and a 4K-class size: no label or button is
narrower than its text (Qt's own font metrics against each widget's width), no header widget
overlaps another, and the wardrobe's detail pane takes room only while something is selected."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QWidget

SIZES = [(960, 620), (1280, 800), (2560, 1440)]
PAGES = ("wardrobe", "suggestions", "favourites", "mystyle")


def shown(widget: QWidget) -> bool:
    return widget.isVisible() and widget.width() > 0 and widget.height() > 0


def clipped_text(root: QWidget) -> list[str]:
    """Labels and buttons whose text does not fit the width (or, wrapped, the height) given."""
    problems = []
    for text_label in root.findChildren(QLabel):
        text = text_label.text()
        if not shown(text_label) or not text or text_label.pixmap() and not text:
            continue
        if text_label.textFormat() != 0 and "<" in text:  # rich text is laid out by Qt itself
            continue
        room = text_label.contentsRect()
        if text_label.wordWrap():
            need = text_label.heightForWidth(text_label.width())
            if need > text_label.height() + 1:
                problems.append(f"label {text!r}: needs {need}px high, has {text_label.height()}")
        else:
            need = max(
                text_label.fontMetrics().horizontalAdvance(line) for line in text.splitlines()
            )
            if need > room.width() + 1:
                problems.append(f"label {text!r}: needs {need}px, has {room.width()}")
    for button in root.findChildren(QAbstractButton):
        if not shown(button) or not button.text():
            continue
        need = button.sizeHint().width()
        if need > button.width() + 1:
            problems.append(f"button {button.text()!r}: needs {need}px, has {button.width()}")
    return problems


def overlapping(widgets: list[QWidget]) -> list[str]:
    seen = [w for w in widgets if shown(w)]
    found = []
    for i, a in enumerate(seen):
        ra = QRect(a.mapTo(a.window(), a.rect().topLeft()), a.size())
        for b in seen[i + 1 :]:
            rb = QRect(b.mapTo(b.window(), b.rect().topLeft()), b.size())
            if ra.intersects(rb):
                found.append(f"{a.__class__.__name__} {ra} overlaps {b.__class__.__name__} {rb}")
    return found


def settle(qtbot, window) -> None:
    QApplication.processEvents()
    qtbot.wait(50)
    QApplication.processEvents()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_no_page_clips_its_text(qtbot, window, size):
    window.resize(*size)
    qtbot.waitUntil(lambda: window.width() == size[0])
    for n, name in enumerate(PAGES):
        window.show_page(n)
        if name == "wardrobe":
            page = window.wardrobe
            page.select_item(page.model.item_at(0).id)
            qtbot.waitUntil(page.detail.isVisible)
        if name == "suggestions":
            qtbot.waitUntil(lambda: len(window.suggestions.cards) > 0, timeout=60000)
        settle(qtbot, window)
        page = window.stack.currentWidget()
        assert clipped_text(page) == [], (name, size)
    wardrobe = window.wardrobe
    header = [wardrobe.title, wardrobe.count, wardrobe.search, wardrobe.import_button]
    assert overlapping(header) == []
    for widget in header:
        right = widget.mapTo(wardrobe.main, widget.rect().topRight()).x()
        assert right <= wardrobe.main.width(), widget
    chips = [c for c in wardrobe.category_chips.values() if c.isVisible()]
    assert overlapping(chips) == []


def test_the_search_moves_below_the_title_when_narrow(qtbot, window):
    page = window.wardrobe
    window.resize(2560, 1440)
    settle(qtbot, window)
    assert page.search_in_header()
    window.resize(960, 620)
    page.select_item(page.model.item_at(0).id)
    qtbot.waitUntil(page.detail.isVisible)
    settle(qtbot, window)
    assert not page.search_in_header()
    assert page.search.width() >= page.WIDE_SEARCH


def test_the_detail_pane_collapses_when_nothing_is_selected(qtbot, window):
    page = window.wardrobe
    window.resize(1280, 800)
    page.view.clearSelection()
    settle(qtbot, window)
    assert not page.detail.isVisible()
    wide = page.view.width()
    page.select_item(page.model.item_at(0).id)
    qtbot.waitUntil(page.detail.isVisible)
    settle(qtbot, window)
    assert page.view.width() < wide  # the grid had the pane's room while nothing was selected
    page.view.clearSelection()
    settle(qtbot, window)
    assert not page.detail.isVisible()


def test_a_long_name_wraps_in_the_detail_pane(qtbot, window):
    page = window.wardrobe
    window.resize(960, 620)
    item = page.model.item_at(0)
    window.session.rename(item.id, "My very favourite oversized charcoal wool winter coat " * 1)
    page.select_item(item.id)
    qtbot.waitUntil(page.detail.isVisible)
    settle(qtbot, window)
    detail = page.detail
    assert detail.horizontalScrollBar().maximum() == 0  # no sideways scrolling
    assert clipped_text(detail) == []
    assert detail.category.isVisible()
    assert detail.category.width() <= detail.viewport().width()


def test_the_empty_suggestions_page_explains_in_full_and_offers_an_import(
    qtbot, empty_window, monkeypatch
):
    window = empty_window
    asked = []
    monkeypatch.setattr(window, "import_files", lambda: asked.append(True))
    window.suggestions.importRequested.disconnect()
    window.suggestions.importRequested.connect(window.import_files)
    window.resize(960, 620)
    window.show_page(1)
    settle(qtbot, window)
    page = window.suggestions
    assert page.stack.currentWidget() is page.message
    assert "Not enough" in page.message.title.text()
    assert clipped_text(page) == []
    assert page.import_button.isVisible()
    qtbot.mouseClick(page.import_button, Qt.MouseButton.LeftButton)
    assert asked == [True]


def test_settings_shows_every_label_in_full(qtbot, window):
    window.open_settings()
    dialog = window.settings_dialog
    qtbot.waitUntil(dialog.isVisible)
    dialog.resize(dialog.minimumSizeHint())
    settle(qtbot, window)
    assert clipped_text(dialog) == []
    # the device check answers later, with a longer text: the dialog makes room for it
    qtbot.waitUntil(lambda: dialog.device_text.text() != "Checking …", timeout=60000)
    settle(qtbot, window)
    assert clipped_text(dialog) == []
    dialog.reject()


def test_grids_fill_the_width(qtbot, window):
    from stylist.domain import Outfit

    library = window.session.library
    tops, bottoms, shoes = (library.items(c) for c in ("top", "bottom", "shoes"))
    for n in range(3):
        window.session.add_favourite(Outfit(tops[n].id, bottoms[n].id, shoes[n].id))
    window.resize(1280, 800)
    for n, view in ((0, window.wardrobe.view), (2, window.favourites.view)):
        window.show_page(n)
        view.clearSelection()
        settle(qtbot, window)
        qtbot.waitUntil(lambda view=view: view.visualRect(view.model().index(0)).width() > 0)
        card = view.visualRect(view.model().index(0)).width()
        assert card >= view.gridSize().width() - 2, (n, card, view.gridSize())


def test_a_dialog_makes_room_for_a_label_that_grows_while_shown(qtbot):
    from PySide6.QtWidgets import QVBoxLayout

    from stylist.gui.widgets import FittedDialog

    dialog = FittedDialog()
    qtbot.addWidget(dialog)
    label = QLabel("Checking …")
    label.setWordWrap(True)
    layout = QVBoxLayout(dialog)
    layout.addWidget(label)
    dialog.resize(240, 10)
    dialog.show()
    qtbot.waitUntil(lambda: label.minimumHeight() > 0)  # fitted to the short text
    settle(qtbot, dialog)
    label.setText("CPU (ONNX Runtime, 2 threads) — no GPU: no NVIDIA GPU driver was found " * 3)
    settle(qtbot, dialog)
    assert clipped_text(dialog) != []  # the height fitted to the old text cuts the new one off
    dialog.refit()
    settle(qtbot, dialog)
    assert clipped_text(dialog) == []
    assert dialog.width() >= 240  # it grew in height, it did not shrink
