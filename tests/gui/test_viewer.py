"""The full-size photo viewer: Space or a double-click opens the current item's photo at more
pixels than the detail pane shows, arrow keys move through the grid, Space closes it and the
grid selects the item last seen."""

from __future__ import annotations

from PySide6.QtCore import Qt


def test_space_opens_arrows_move_space_closes(qtbot, window):
    window.show_page(0)
    page = window.wardrobe
    first, second = page.model.item_at(0), page.model.item_at(1)
    page.select_item(first.id)
    page.view.setFocus()
    qtbot.keyClick(page.view, Qt.Key.Key_Space)
    viewer = page.viewer
    assert viewer is not None and viewer.isVisible()
    assert viewer.current_id() == first.id and first.name in viewer.caption.text()
    from PySide6.QtWidgets import QApplication

    qtbot.waitUntil(
        lambda: QApplication.focusWidget() is viewer
    )  # keys go to the viewer, not the grid behind
    shown = viewer.picture.pixmap()
    assert not shown.isNull()
    assert max(shown.width(), shown.height()) > 280  # more than the detail pane's photo
    qtbot.keyClick(viewer, Qt.Key.Key_Right)
    assert viewer.current_id() == second.id and second.name in viewer.caption.text()
    qtbot.keyClick(viewer, Qt.Key.Key_Left)
    qtbot.keyClick(viewer, Qt.Key.Key_Left)  # stays on the first
    assert viewer.current_id() == first.id
    qtbot.keyClick(viewer, Qt.Key.Key_Right)
    qtbot.keyClick(viewer, Qt.Key.Key_Space)
    assert not viewer.isVisible()
    assert page.selected_ids() == [second.id]


def test_double_click_opens_the_viewer_on_that_card(qtbot, window):
    page = window.wardrobe
    index = page.model.index(2)
    rect = page.view.visualRect(index)
    # A person's double-click: a click, then the second press arriving as a double-click.
    qtbot.mouseClick(page.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(page.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert page.viewer is not None and page.viewer.isVisible()
    assert page.viewer.current_id() == page.model.item_at(2).id
    page.viewer.reject()
