"""Suggestions, verdicts and favourites on the real demo wardrobe with real features and the
real ranker: cards appear, keyboard and buttons judge them, undo puts them back, "more with this
item" keeps the item, a composed outfit is scored and rated, favourites export to valid files."""

from __future__ import annotations

import pytest
from PIL import Image
from PySide6.QtCore import Qt

from stylist.domain import Verdict
from tests.gui.conftest import wait_idle


@pytest.fixture
def suggestions(qtbot, window):
    window.show_page(1)
    page = window.suggestions
    qtbot.waitUntil(lambda: len(page.cards) > 3, timeout=60000)
    window.activateWindow()
    page.cards[0].setFocus()
    return page


def verdicts(window):
    return [(r.outfit.ids(), r.verdict, r.source) for r in window.session.library.verdicts()]


def test_cards_show_scores_and_the_weakest_pair(suggestions):
    card = next(c for c in suggestions.cards if c.data.one_piece is None)
    assert card.data.score is not None and 0 <= card.data.score <= 1
    assert set(card.data.pair_scores) == {"top_bottom", "top_shoes", "bottom_shoes"}
    assert card.data.weakest == min(card.data.pair_scores, key=card.data.pair_scores.get)
    assert card.score_label.text().endswith("% match")
    assert suggestions.cards[0].property("current") is True
    items = [suggestions.session.item(i) for i in card.data.ids()]
    assert [i.category.value for i in items] == ["top", "bottom", "shoes"]


def test_like_by_keyboard_moves_on_and_undo_brings_the_card_back(qtbot, window, suggestions):
    page = suggestions
    first, second = page.cards[0].data.ids(), page.cards[1].data.ids()
    n = len(page.cards)
    qtbot.keyClick(page.cards[0], Qt.Key.Key_L)
    assert verdicts(window) == [(first, Verdict.LIKE, "suggestion")]
    assert len(page.cards) == n - 1
    assert page.current_card().data.ids() == second  # the next card is current
    window.undo_action.trigger()
    assert verdicts(window) == []
    assert len(page.cards) == n
    assert page.current_card().data.ids() == first


def test_dislike_and_wore_by_button(qtbot, window, suggestions):
    page = suggestions
    a, b = page.cards[0], page.cards[1]
    qtbot.mouseClick(a.dislike_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(b.wore_button, Qt.MouseButton.LeftButton)
    assert verdicts(window) == [
        (a.data.ids(), Verdict.DISLIKE, "suggestion"),
        (b.data.ids(), Verdict.LIKE, "wore"),
    ]
    window.show_page(3)
    assert window.mystyle.dislikes.text() == "1"
    assert window.mystyle.worn.text() == "1"


def test_more_with_this_item_keeps_the_item(qtbot, suggestions):
    page = suggestions
    shoes = page.cards[0].data.shoes
    page.cards[0].moreWith.emit(shoes)
    qtbot.waitUntil(
        lambda: page.cards and all(c.data.shoes == shoes for c in page.cards), timeout=30000
    )
    assert page.with_chip.isVisible()
    page.with_chip.click()
    qtbot.waitUntil(lambda: len({c.data.shoes for c in page.cards}) > 1, timeout=30000)


def test_compose_scores_and_rates_an_outfit(qtbot, window, suggestions):
    suggestions.compose()
    dialog = suggestions._compose_dialog
    top = window.session.library.items(category=None)
    from stylist.domain import Category

    t = next(i for i in top if i.category == Category.TOP)
    b = next(i for i in top if i.category == Category.BOTTOM)
    s = next(i for i in top if i.category == Category.SHOES)
    dialog.pick(t.id, b.id, s.id)
    qtbot.waitUntil(lambda: "% match" in dialog.score.text(), timeout=30000)
    dialog.like_button.click()
    assert verdicts(window) == [((t.id, b.id, s.id), Verdict.LIKE, "composed")]
    dialog.close()


def test_favourite_then_export_png_and_pdf(qtbot, window, suggestions, tmp_path):
    page = suggestions
    ids = page.cards[0].data.ids()
    qtbot.keyClick(page.cards[0], Qt.Key.Key_F)
    assert [f.outfit.ids() for f in window.session.favourites()] == [ids]
    window.show_page(2)
    favourites = window.favourites
    assert favourites.model.rowCount() == 1
    favourites.export_to(tmp_path / "looks.png", "png")
    qtbot.waitUntil(lambda: favourites.last_export is not None, timeout=30000)
    with Image.open(favourites.last_export) as image:
        image.verify()
        assert image.format == "PNG"
    favourites.last_export = None
    favourites.export_to(tmp_path / "lookbook.pdf", "pdf")
    qtbot.waitUntil(lambda: favourites.last_export is not None, timeout=30000)
    data = favourites.last_export.read_bytes()
    assert data.startswith(b"%PDF") and b"%%EOF" in data[-64:]
    favourites.view.selectAll()
    favourites.remove_selected()
    assert favourites.model.rowCount() == 0
    wait_idle(qtbot, window)


def test_detail_pane_shows_outfits_with_the_item(qtbot, window, suggestions):
    window.show_page(0)
    page = window.wardrobe
    shoes = suggestions.cards[0].data.shoes
    page.select_item(shoes)
    layout = page.detail.outfits_layout
    from stylist.gui.outfits import MiniOutfit

    def strips():
        return [
            layout.itemAt(i).widget()
            for i in range(layout.count())
            if isinstance(layout.itemAt(i).widget(), MiniOutfit)
        ]

    qtbot.waitUntil(lambda: len(strips()) > 0, timeout=30000)
    assert all(s.data.shoes == shoes for s in strips())


def test_exploration_outfits_are_marked(suggestions):
    from PySide6.QtWidgets import QLabel

    # Without the diversity cap the demo wardrobe leaves room for exploration outfits.
    service = suggestions.session.service
    suggestions.set_results(service.suggest(k=20, exploration=0.1, max_per_item=None))
    exploring = [c for c in suggestions.cards if c.data.exploration]
    assert exploring  # a share of the page teaches the model most
    for card in exploring:
        assert any(w.text() == "Exploring" for w in card.findChildren(QLabel))
    steady = [c for c in suggestions.cards if not c.data.exploration]
    assert not any(w.text() == "Exploring" for w in steady[0].findChildren(QLabel))
