"""One-piece outfits in the window: suggestion cards with two photos and the one-piece pair bar,
verdicts and favourites on them, composing a dress and shoes, and "more with this dress"."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PySide6.QtCore import Qt

from stylist.domain import Category, Outfit, Verdict
from tests.gui.conftest import open_window, wait_idle
from tests.one_piece import add_dresses, four_pair_net, use_net


@pytest.fixture
def dress_window(qtbot, demo_template, stylist_home, shared_data, tmp_path):
    """The demo wardrobe with four more dresses, ranked by a small four-pair net."""
    from stylist import paths
    from stylist.service import Stylist

    shutil.copytree(demo_template, stylist_home, dirs_exist_ok=True)
    with Stylist(paths.for_home(stylist_home)) as service:
        add_dresses(service, shared_data, tmp_path / "dresses", 4)
        spec = service.backbone()
        feats = service.library.features(spec.id, spec.sha256)
        like = np.stack([np.asarray(v, np.float32) for v in feats.values()])
        use_net(service, four_pair_net(spec.feature_dim, seed=2, one_piece_bias=-2.0, like=like))
    window = open_window(qtbot, stylist_home)
    qtbot.waitUntil(lambda: window.wardrobe.model.rowCount() == 42, timeout=10000)
    return window


@pytest.fixture
def page(qtbot, dress_window):
    dress_window.show_page(1)
    page = dress_window.suggestions
    qtbot.waitUntil(lambda: len(page.cards) > 3, timeout=60000)
    dress_window.activateWindow()
    return page


def one_piece_cards(page):
    return [c for c in page.cards if c.data.one_piece is not None]


def verdicts(window):
    return [(r.outfit, r.verdict, r.source) for r in window.session.library.verdicts()]


def test_a_one_piece_card_shows_two_photos_and_its_one_pair(page):
    from stylist.gui.outfits import PairBars

    cards = one_piece_cards(page)
    assert cards and len(cards) < len(page.cards)  # both families on one page
    card = cards[0]
    assert [p.item_id for p in card.pictures] == [card.data.one_piece, card.data.shoes]
    items = [page.session.item(p.item_id) for p in card.pictures]
    assert [i.category for i in items] == [Category.ONE_PIECE, Category.SHOES]
    bars = card.findChildren(PairBars)
    assert len(bars) == 1 and bars[0].keys == ["one_piece_shoes"]
    assert "One-piece + shoes" in bars[0].toolTip()
    assert bars[0].weakest == ""  # a lone bar is not marked the weakest
    from stylist.gui.outfits import match_text

    assert card.score_label.text() == match_text(card.data.score)
    three = next(c for c in page.cards if c.data.one_piece is None)
    assert len(three.pictures) == 3 and three.findChildren(PairBars)[0].keys == [
        "top_bottom",
        "top_shoes",
        "bottom_shoes",
    ]
    assert card.width() == three.width()  # the grid stays even
    actions = [a.text() for a in card.more_button.menu().actions()]
    names = [window_item.name for window_item in items]
    assert actions == [f"More with {names[0]} (one-piece)", f"More with {names[1]} (shoes)"]
    card.grab()  # paints, the pair bar included


def test_judging_and_keeping_a_one_piece_outfit(qtbot, dress_window, page):
    card = one_piece_cards(page)[0]
    outfit = Outfit(None, None, card.data.shoes, card.data.one_piece)
    page.set_current(page.cards.index(card))
    card.setFocus()
    qtbot.keyClick(card, Qt.Key.Key_F)
    assert [f.outfit for f in dress_window.session.favourites()] == [outfit]
    qtbot.keyClick(card, Qt.Key.Key_L)
    assert verdicts(dress_window) == [(outfit, Verdict.LIKE, "suggestion")]
    assert card not in page.cards
    dress_window.undo_action.trigger()
    assert verdicts(dress_window) == []
    dress_window.show_page(2)
    favourites = dress_window.favourites
    assert favourites.model.rowCount() == 1
    favourites.view.grab()  # the delegate paints a two-photo favourite
    wait_idle(qtbot, dress_window)


def test_compose_a_dress_and_shoes(qtbot, dress_window, page):
    page.compose()
    dialog = page._compose_dialog
    items = dress_window.session.library.items()
    dress = next(i for i in items if i.category == Category.ONE_PIECE)
    shoes = next(i for i in items if i.category == Category.SHOES)
    top = next(i for i in items if i.category == Category.TOP)
    bottom = next(i for i in items if i.category == Category.BOTTOM)
    dialog.pick(top.id, bottom.id, shoes.id)
    assert dialog.outfit() == Outfit(top.id, bottom.id, shoes.id)
    dialog.pick(None, None, shoes.id, one_piece=dress.id)
    assert dialog.outfit() == Outfit(None, None, shoes.id, dress.id)  # the top and bottom went
    qtbot.waitUntil(lambda: "% match" in dialog.score.text(), timeout=30000)
    assert "weakest" not in dialog.score.text()
    dialog.like_button.click()
    assert verdicts(dress_window) == [
        (Outfit(None, None, shoes.id, dress.id), Verdict.LIKE, "composed")
    ]
    dialog.pick(top.id, None, shoes.id)
    assert dialog.outfit() is None  # a top without a bottom makes no outfit
    dialog.close()
    wait_idle(qtbot, dress_window)


def test_more_with_this_dress(qtbot, dress_window, page):
    dress = one_piece_cards(page)[0].data.one_piece
    page.cards[0].moreWith.emit(dress)
    qtbot.waitUntil(
        lambda: page.cards and all(c.data.one_piece == dress for c in page.cards), timeout=30000
    )
    assert len(page.cards) > 1
    # The detail pane of the dress lists its outfits too.
    dress_window.show_page(0)
    wardrobe = dress_window.wardrobe
    wardrobe.select_item(dress)
    from stylist.gui.outfits import MiniOutfit

    layout = wardrobe.detail.outfits_layout

    def strips():
        return [
            layout.itemAt(i).widget()
            for i in range(layout.count())
            if isinstance(layout.itemAt(i).widget(), MiniOutfit)
        ]

    qtbot.waitUntil(lambda: len(strips()) > 0, timeout=30000)
    assert all(s.data.one_piece == dress for s in strips())
    wait_idle(qtbot, dress_window)
