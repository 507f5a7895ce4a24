"""The shipped general model on the demo wardrobe: its best outfits are told apart."""

from __future__ import annotations


def test_the_general_models_top_twenty_on_the_demo_show_distinct_scores(demo):
    """Before any verdict the page of suggestions (three outfits per item at most, as it is
    shown) ranks with the shipped general net C: its twenty outfits read at least ten different
    percentages, none 0 % or 100 %."""
    from stylist.gui.outfits import match_text

    best = [o.score for o in demo.suggest(20, exploration=0.0)]
    assert "general" in demo.ranker_origin, demo.ranker_origin
    texts = [match_text(m) for m in best]
    assert len(best) == 20
    assert len(set(texts)) >= 10, [round(m, 3) for m in best]
    assert all(0 < round(100 * m) < 100 for m in best), best
