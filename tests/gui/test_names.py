"""Names in the window: every card reads a made name, never the file's; F2 and a double-click on
the detail pane's heading rename in place; the file name stays in the detail pane."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from stylist.gui.items import display_name


def _select_first(qtbot, page):
    item = page.model.item_at(0)
    page.select_item(item.id)
    qtbot.waitUntil(lambda: page.detail.item_ids == [item.id])
    return item


def test_cards_show_made_names_not_file_names(qtbot, window):
    page = window.wardrobe
    names = [
        page.model.data(page.model.index(r), Qt.ItemDataRole.DisplayRole)
        for r in range(page.model.rowCount())
    ]
    stems = {Path(i.original_name).stem for i in page.model.items()}
    assert not stems & set(names)
    assert len(set(names)) == len(names)  # every name points at one item
    nouns = ("top", "bottom", "shoes", "one-piece", "piece", "item")
    assert all(n.split(" ")[-1].lower() in nouns or n.split(" ")[-1].isdigit() for n in names)


def test_f2_renames_the_selected_item_in_place(qtbot, window):
    page = window.wardrobe
    page.view.setFocus()
    item = _select_first(qtbot, page)
    assert item.original_name in page.detail.meta.text()
    qtbot.keyClick(page.view, Qt.Key.Key_F2)
    editor = page.detail.name.editor
    assert page.detail.name.is_editing() and editor.isVisible()
    assert editor.text() == item.name
    editor.selectAll()
    qtbot.keyClicks(editor, "Grandma's cardigan")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    stored = window.session.library.item(item.id)
    assert stored.name == "Grandma's cardigan" and stored.named_by_person
    row = page.model.row_of(item.id)
    assert page.model.data(page.model.index(row)) == "Grandma's cardigan"
    assert page.detail.name.text() == "Grandma's cardigan"
    assert not page.detail.name.is_editing()
    assert item.original_name in page.detail.meta.text()  # the file name stays in view


def test_double_click_on_the_name_edits_and_escape_keeps_it(qtbot, window):
    page = window.wardrobe
    item = _select_first(qtbot, page)
    heading = page.detail.name.heading
    qtbot.mouseDClick(heading, Qt.MouseButton.LeftButton)
    editor = page.detail.name.editor
    assert page.detail.name.is_editing()
    editor.setText("Not this")
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert not page.detail.name.is_editing()
    assert window.session.library.item(item.id).name == item.name
    assert display_name(window.session.item(item.id)) == item.name
