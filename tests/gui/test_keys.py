"""Every advertised key works right after a click in the sidebar: the keys go to whatever has
the focus then, as a person's would, and each key's effect is checked."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from stylist.domain import Verdict


def click_sidebar(qtbot, window, row: int) -> None:
    nav = window.nav
    rect = nav.visualItemRect(nav.item(row))
    qtbot.mouseClick(nav.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.stack.currentIndex() == row


def press(qtbot, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    target = QApplication.focusWidget()
    assert target is not None
    qtbot.keyClick(target, key, modifier)


def verdicts(window):
    return [(r.outfit.ids(), r.verdict) for r in window.session.library.verdicts()]


@pytest.fixture
def active(qtbot, window):
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    return window


def suggestions_after_click(qtbot, window):
    click_sidebar(qtbot, window, 0)
    click_sidebar(qtbot, window, 1)
    page = window.suggestions
    qtbot.waitUntil(lambda: len(page.cards) > 4, timeout=60000)
    assert window.nav.hasFocus() is False
    assert page.isAncestorOf(QApplication.focusWidget())
    return page


@pytest.mark.parametrize(
    "key, verdict",
    [
        (Qt.Key.Key_L, Verdict.LIKE),
        (Qt.Key.Key_Up, Verdict.LIKE),
        (Qt.Key.Key_D, Verdict.DISLIKE),
        (Qt.Key.Key_Down, Verdict.DISLIKE),
    ],
)
def test_verdict_keys_after_a_sidebar_click(qtbot, active, key, verdict):
    page = suggestions_after_click(qtbot, active)
    ids = page.current_card().data.ids()
    press(qtbot, key)
    assert verdicts(active) == [(ids, verdict)]
    assert active.current_page() == "suggestions"
    # the next card is current and the keys keep working on it
    following = page.current_card().data.ids()
    press(qtbot, key)
    assert verdicts(active)[-1] == (following, verdict)


def test_wore_and_favourite_keys_act_on_the_current_card(qtbot, active):
    page = suggestions_after_click(qtbot, active)
    press(qtbot, Qt.Key.Key_Right)
    assert page.current == 1
    ids = page.current_card().data.ids()
    press(qtbot, Qt.Key.Key_F)
    assert active.current_page() == "suggestions"  # not the Favourites page
    assert [f.outfit.ids() for f in active.session.favourites()] == [ids]
    press(qtbot, Qt.Key.Key_W)
    assert active.current_page() == "suggestions"  # not the Wardrobe page
    assert [w.outfit.ids() for w in active.session.library.wears()] == [ids]


def test_move_keys_after_a_sidebar_click(qtbot, active):
    page = suggestions_after_click(qtbot, active)
    for key, expected in (
        (Qt.Key.Key_Right, 1),
        (Qt.Key.Key_J, 2),
        (Qt.Key.Key_K, 1),
        (Qt.Key.Key_Left, 0),
    ):
        press(qtbot, key)
        assert page.current == expected, key


def test_page_keys_then_a_letter_reach_the_page(qtbot, active):
    click_sidebar(qtbot, active, 0)
    press(qtbot, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert active.current_page() == "suggestions"
    page = active.suggestions
    qtbot.waitUntil(lambda: len(page.cards) > 2, timeout=60000)
    ids = page.current_card().data.ids()
    press(qtbot, Qt.Key.Key_L)
    assert verdicts(active) == [(ids, Verdict.LIKE)]
    for n, name in enumerate(("wardrobe", "suggestions", "favourites", "mystyle"), start=1):
        press(qtbot, getattr(Qt.Key, f"Key_{n}"), Qt.KeyboardModifier.ControlModifier)
        assert active.current_page() == name
        assert active.nav.currentRow() == n - 1


def test_wardrobe_keys_after_a_sidebar_click(qtbot, active):
    click_sidebar(qtbot, active, 1)
    click_sidebar(qtbot, active, 0)
    page = active.wardrobe
    assert QApplication.focusWidget() is page.view
    press(qtbot, Qt.Key.Key_Home)  # the grid's own keys: the first card is current
    item = page.model.item_at(0)
    page.select_item(item.id)
    press(qtbot, Qt.Key.Key_F2)
    assert page.detail.name.is_editing()
    assert QApplication.focusWidget() is page.detail.name.editor
    press(qtbot, Qt.Key.Key_Escape)
    page.view.setFocus()
    press(qtbot, Qt.Key.Key_Delete)
    assert active.session.item(item.id) is None or item.id not in page.model._rows
    press(qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: page.model.row_of(item.id) is not None)
    press(qtbot, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is page.search


def test_letters_in_the_sidebar_do_not_switch_pages(qtbot, active):
    click_sidebar(qtbot, active, 1)
    active.nav.setFocus()  # even when the person tabs back into the sidebar
    for key in (Qt.Key.Key_F, Qt.Key.Key_W, Qt.Key.Key_M):
        qtbot.keyClick(active.nav, key)
        assert active.current_page() == "suggestions"
