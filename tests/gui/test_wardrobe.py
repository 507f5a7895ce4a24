"""The wardrobe page on the real demo wardrobe: the grid, filters, editing, delete with undo,
import with its report, and laziness with thousands of items."""

from __future__ import annotations

import dataclasses
import shutil

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QStyleOptionViewItem

from stylist.domain import Category, CategorySource
from tests.gui.conftest import DEMO, wait_idle


def test_grid_shows_every_item_with_its_thumbnail(qtbot, window):
    page = window.wardrobe
    assert page.model.rowCount() == 38
    assert page.category_chips[Category.TOP].text() == "Tops  16"
    assert page.category_chips[Category.SHOES].text() == "Shoes  8"
    first = page.model.item_at(0)
    spec = page.model.spec
    qtbot.waitUntil(lambda: page.thumbs.peek(first.id, spec) is not None, timeout=10000)
    pixmap = page.thumbs.peek(first.id, spec)
    assert pixmap.width() == round(spec.side * spec.ratio)


def test_filters_by_category_and_search(qtbot, window):
    page = window.wardrobe
    page.category_chips[Category.SHOES].click()
    assert page.model.rowCount() == 8
    assert all(i.category == Category.SHOES for i in page.model.items())
    page.category_chips[None].click()
    qtbot.keyClicks(page.search, "skirt")
    assert page.model.rowCount() == 4
    page.search.clear()
    assert page.model.rowCount() == 38


def test_category_change_persists(qtbot, window):
    page = window.wardrobe
    page.select_item(page.model.item_at(0).id)
    item_id = page.detail.item_ids[0]
    combo = page.detail.category
    combo.setCurrentIndex(combo.findData(Category.OTHER))
    combo.activated.emit(combo.currentIndex())
    stored = window.session.library.item(item_id)
    assert stored.category == Category.OTHER
    assert stored.category_source == CategorySource.USER
    # A fresh service on the same home reads the same.
    from stylist.service import Stylist

    with Stylist(window.session.paths) as again:
        assert again.library.item(item_id).category == Category.OTHER


def test_a_guess_is_one_click_from_confirmed(qtbot, window):
    session = window.session
    page = window.wardrobe
    item = session.library.items(Category.SHOES)[0]
    session.library.set_category(item.id, Category.UNSORTED, CategorySource.USER)
    session.library.set_guess(item.id, Category.SHOES, 0.93)
    session.load_items_now()
    assert page.model.item_at(0).id == item.id  # unsorted items come first
    index = page.model.index(0)
    rect = page.view.visualRect(index)
    option = QStyleOptionViewItem()
    option.rect = rect
    target = page.delegate._confirm_rect(rect.adjusted(4, 4, -4, -4)).center()
    release = QMouseEvent(
        QEvent.Type.MouseButtonRelease,
        QPointF(target),
        QPointF(page.view.viewport().mapToGlobal(target)),
        Qt.MouseButton.LeftButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    assert page.delegate.editorEvent(release, page.model, option, index)
    assert session.library.item(item.id).category == Category.SHOES
    assert session.library.item(item.id).category_source == CategorySource.USER


def test_tags_and_notes_are_saved(qtbot, window):
    page = window.wardrobe
    item_id = page.model.item_at(3).id
    page.select_item(item_id)
    page.detail.tags.setText("work, summer")
    page.detail.tags.editingFinished.emit()
    page.detail.notes.setPlainText("a little short in the sleeves")
    page.detail._save_notes()
    stored = window.session.library.item(item_id)
    assert stored.tags == ["summer", "work"]
    assert stored.notes == "a little short in the sleeves"
    qtbot.keyClicks(page.search, "summer")
    assert [i.id for i in page.model.items()] == [item_id]


def test_delete_hides_first_and_undo_brings_items_back(qtbot, window, monkeypatch):
    session, page = window.session, window.wardrobe
    ids = [page.model.item_at(r).id for r in (0, 1)]
    files = [session.file_path(session.item(i).stored_file) for i in ids]
    page.view.setFocus()
    page.select_item(ids[0])
    page.delete_items(ids)
    assert page.model.rowCount() == 36
    assert window.toast.isVisible() and "Deleted 2 items" in window.toast.text.text()
    assert all(f.exists() for f in files)  # nothing is gone while undo is possible
    window.undo_action.trigger()
    assert page.model.rowCount() == 38
    assert set(ids) <= {i.id for i in session.library.items()}

    monkeypatch.setattr("stylist.gui.session.UNDO_MS", 50)
    page.delete_items(ids)
    qtbot.waitUntil(lambda: not any(f.exists() for f in files), timeout=5000)
    assert len(session.library.items()) == 36
    assert page.model.rowCount() == 36
    assert not window.undo_action.isEnabled()


def test_pending_deletions_are_done_when_the_window_closes(qtbot, window):
    session, page = window.session, window.wardrobe
    item_id = page.model.item_at(0).id
    page.delete_items([item_id])
    paths = session.paths
    window.close()
    from stylist.service import Stylist

    with Stylist(paths) as again:
        assert item_id not in {i.id for i in again.items()}
        assert len(again.items()) == 37


def test_import_report_lists_bad_files_with_reasons(qtbot, empty_window, tmp_path):
    window = empty_window
    folder = tmp_path / "to-import"
    folder.mkdir()
    for name in ("skirt-01.jpg", "tshirt-01.jpg"):
        sub = "bottoms" if name.startswith("skirt") else "tops"
        shutil.copyfile(DEMO / sub / name, folder / name)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a photo")
    (folder / "notes.png").write_text("this is text")
    window.import_paths([folder])
    qtbot.waitUntil(lambda: getattr(window, "report_dialog", None) is not None, timeout=30000)
    reasons = dict(window.report_dialog.reasons())
    assert set(reasons) == {"broken.jpg", "notes.png"}
    assert all(len(r) > 10 for r in reasons.values())
    qtbot.waitUntil(lambda: window.wardrobe.model.rowCount() == 2, timeout=10000)
    assert window.wardrobe_stack.currentWidget() is window.wardrobe
    window.report_dialog.close()
    wait_idle(qtbot, window)


def test_import_can_be_cancelled_and_keeps_what_was_done(qtbot, empty_window, shared_data):
    window = empty_window
    photos = sorted((shared_data / "wardrobe-photos").rglob("*.jpg"))[:150]
    window.import_paths(photos)
    task = window.session.tasks.running("import")
    assert task is not None
    qtbot.waitUntil(lambda: window.wardrobe.activity.isVisible(), timeout=5000)
    window.wardrobe.activity.cancel_button.click()
    qtbot.waitUntil(lambda: window.session.tasks.running("import") is None, timeout=30000)
    stored = len(window.session.library.items())
    assert stored < 150
    qtbot.waitUntil(lambda: window.wardrobe.model.rowCount() == stored, timeout=10000)
    wait_idle(qtbot, window)


def test_five_thousand_items_load_pictures_lazily(qtbot, window):
    page = window.wardrobe
    base = window.session.items[page.model.item_at(0).id]
    many = [
        dataclasses.replace(base, id=100000 + i, original_name=f"x{i}.jpg") for i in range(5000)
    ]
    page.model.set_items(many)
    qtbot.wait(300)
    thumbs = page.thumbs
    qtbot.waitUntil(lambda: thumbs.peek(100000, page.model.spec) is not None, timeout=10000)
    asked = len(thumbs._pixmaps) + len(thumbs._queue)
    assert asked < 300  # only what is on screen was read, not 5,000 files
    page.view.scrollToBottom()
    qtbot.waitUntil(lambda: thumbs.peek(104999, page.model.spec) is not None, timeout=10000)
    assert len(thumbs._pixmaps) <= thumbs.capacity


def test_dropping_a_folder_on_the_window_imports_it(qtbot, empty_window):
    from PySide6.QtCore import QMimeData, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    window = empty_window
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(DEMO / "shoes"))])
    enter = QDragEnterEvent(
        QPointF(200, 200),
        Qt.DropAction.CopyAction,
        data,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        QPointF(200, 200),
        Qt.DropAction.CopyAction,
        data,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(drop)
    qtbot.waitUntil(lambda: window.wardrobe.model.rowCount() == 8, timeout=30000)
    assert {i.category for i in window.session.library.items()} == {Category.SHOES}
    wait_idle(qtbot, window)


def test_a_category_guessed_by_stylist_is_confirmed_in_the_detail_pane(qtbot, window):
    session, page = window.session, window.wardrobe
    item = session.library.items(Category.BOTTOM)[0]
    session.library.set_category(item.id, Category.UNSORTED, CategorySource.USER)
    assert session.library.set_category(item.id, Category.BOTTOM, CategorySource.AUTO, 0.81)
    session.load_items_now()
    page.select_item(item.id)
    detail = page.detail
    assert detail.guess_row.isVisible()
    assert "81%" in detail.guess_text.text()
    detail.confirm.click()
    stored = session.library.item(item.id)
    assert (stored.category, stored.category_source) == (Category.BOTTOM, CategorySource.USER)
    assert not detail.guess_row.isVisible()
