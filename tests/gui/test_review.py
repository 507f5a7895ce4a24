"""Reviewing guesses: the "To review" chip lists every unconfirmed guess, least sure first; a
confirmation from the grid keeps the grid still until the settle timer fires or a key is
pressed, so a quick second click cannot land on the neighbour."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QStyleOptionViewItem

from stylist.domain import Category, CategorySource
from stylist.gui.items import pending_guess


def make_guesses(window) -> list[int]:
    """Four items whose categories Stylist guessed (three set, one beside an unsorted item)."""
    library = window.session.library
    tops = library.items(Category.TOP)[:3]
    for item, confidence in zip(tops, (0.91, 0.42, 0.63), strict=True):
        library.set_category(item.id, Category.UNSORTED, CategorySource.USER)
        assert library.set_category(item.id, Category.TOP, CategorySource.AUTO, confidence)
    shoes = library.items(Category.SHOES)[0]
    library.set_category(shoes.id, Category.UNSORTED, CategorySource.USER)
    library.set_guess(shoes.id, Category.SHOES, 0.55)
    window.session.load_items_now()
    return [tops[1].id, shoes.id, tops[2].id, tops[0].id]  # least sure first


def click_confirm(page, row: int) -> None:
    index = page.model.index(row)
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


def shown_ids(page) -> list[int]:
    return [page.model.item_at(r).id for r in range(page.model.rowCount())]


def test_to_review_lists_unconfirmed_guesses_least_sure_first(qtbot, window):
    page = window.wardrobe
    expected = make_guesses(window)
    others = [i.id for i in window.session.items.values() if pending_guess(i) is not None]
    assert set(expected) <= set(others)
    assert page.review_chip.isVisible()
    assert page.review_chip.text() == f"To review  {len(others)}"
    qtbot.mouseClick(page.review_chip, Qt.MouseButton.LeftButton)
    ids = shown_ids(page)
    assert set(ids) == set(others)
    order = [i for i in ids if i in expected]
    assert order == expected


def test_a_confirmation_keeps_the_grid_still_until_it_settles(qtbot, window):
    page = window.wardrobe
    expected = make_guesses(window)
    page.set_review_filter()
    before = shown_ids(page)
    first = before[0]
    click_confirm(page, 0)
    stored = window.session.library.item(first)
    assert stored.category_source == CategorySource.USER  # confirmed at once
    assert shown_ids(page) == before  # but the grid has not moved
    with qtbot.waitSignal(page.settle_timer.timeout, timeout=10000):
        pass
    assert shown_ids(page) == before[1:]
    # The next key moves the grid on at once.
    second = shown_ids(page)[0]
    click_confirm(page, 0)
    assert shown_ids(page)[0] == second
    qtbot.keyClick(page.view, Qt.Key.Key_Right)
    assert second not in shown_ids(page)
    assert not page.settle_timer.isActive()
    assert set(expected) - {first, second} <= set(shown_ids(page))
