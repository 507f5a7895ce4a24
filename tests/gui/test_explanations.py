"""Explanations with pictures: a card's best swap shows the swapped item's photo and name, and
"Try it" shows the swapped outfit scored; "More" names each item."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.gui.conftest import wait_idle


def test_best_swap_shows_the_item_and_try_it_shows_the_outfit(qtbot, window):
    window.show_page(1)
    page = window.suggestions
    qtbot.waitUntil(lambda: len(page.cards) > 3, timeout=60000)
    card = next((c for c in page.cards if c.swap_row is not None), None)
    assert card is not None, "no card with a best swap among the suggestions"
    swap = card.data.swap
    item = window.session.item(swap.new)
    assert card.swap_picture.item_id == swap.new
    texts = [w.text() for w in card.swap_row.findChildren(type(card.score_label))]
    assert any(item.name in t for t in texts), texts
    assert not any(str(swap.new) in t.split() for t in texts)  # a name, not an id
    qtbot.mouseClick(card.try_button, Qt.MouseButton.LeftButton)
    dialog = page._compose_dialog
    outfit = dialog.outfit()
    assert outfit is not None
    assert getattr(outfit, swap.slot) == swap.new
    kept = [s for s in card.data.outfit().slots() if s != swap.slot]
    assert all(getattr(outfit, s) == getattr(card.data.outfit(), s) for s in kept)
    qtbot.waitUntil(
        lambda: dialog.score.text().endswith("match") or "weakest" in dialog.score.text(),
        timeout=30000,
    )
    dialog.reject()
    wait_idle(qtbot, window)
