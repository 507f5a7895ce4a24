"""Explanations: pair scores, weakest pair, and the best single swap checked by brute force."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stylist.rank.explain import explain_outfit, swap_scores
from stylist.rank.topk import SLOTS, PairMatrices


def brute_force_swap(m: PairMatrices, outfit, allowed=None):
    """Try every single replacement; the best by score, ties to the earlier slot, lower index."""
    cur = m.score(*outfit)
    best = None
    for slot in range(3):
        n = m.shape[slot]
        options = range(n) if allowed is None or allowed[slot] is None else allowed[slot]
        for i in sorted(set(options)):
            if i == outfit[slot]:
                continue
            new = list(outfit)
            new[slot] = i
            score = m.score(*new)
            if score > cur and (best is None or score > best[0]):
                best = (score, slot, i)
    return best


@st.composite
def cases(draw):
    nt, nb, ns = (draw(st.integers(1, 6)) for _ in range(3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    levels = draw(st.sampled_from([3, 1000]))  # 3 levels: many ties

    def mat(a, b):
        return rng.integers(0, levels, (a, b)).astype(np.float32) / levels

    m = PairMatrices(mat(nt, nb), mat(nt, ns), mat(nb, ns))
    outfit = tuple(draw(st.integers(0, n - 1)) for n in (nt, nb, ns))
    allowed = None
    if draw(st.booleans()):
        allowed = [
            draw(st.none() | st.lists(st.integers(0, n - 1), max_size=n)) for n in (nt, nb, ns)
        ]
    return m, outfit, allowed


@settings(max_examples=200, deadline=None)
@given(cases())
def test_best_swap_equals_brute_force(case):
    m, outfit, allowed = case
    ids = tuple(np.arange(n) + 1000 * (slot + 1) for slot, n in enumerate(m.shape))
    e = explain_outfit(m, *outfit, allowed=allowed, ids=ids)
    want = brute_force_swap(m, outfit, allowed)
    if want is None:
        assert e.best_swap is None
    else:
        score, slot, i = want
        swap = e.best_swap
        assert swap is not None
        assert (swap.slot, swap.new, swap.old) == (
            SLOTS[slot],
            int(ids[slot][i]),
            int(ids[slot][outfit[slot]]),
        )
        assert swap.score == score
        assert swap.gain > 0 and abs(swap.gain - (score - m.score(*outfit))) < 1e-6
    assert e.pair_scores == m.pair_scores(*outfit)
    assert e.pair_scores[e.weakest_pair] == min(e.pair_scores.values())


def test_swap_vectors_hold_the_outfit_score_at_its_own_index():
    rng = np.random.default_rng(1)
    m = PairMatrices(*(rng.random(s, dtype=np.float32) for s in ((5, 4), (5, 3), (4, 3))))
    by_top, by_bottom, by_shoes = swap_scores(m, 2, 1, 0)
    own = m.score(2, 1, 0)
    assert by_top[2] == by_bottom[1] == by_shoes[0] == np.float32(own)


def test_explanation_names_the_obviously_weak_pair_and_fixes_it():
    tb = np.array([[0.9, 0.8]], np.float32)  # one top, two bottoms
    ts = np.array([[0.9]], np.float32)
    bs = np.array([[0.1], [0.7]], np.float32)  # bottom 0 clashes with the shoes
    m = PairMatrices(tb, ts, bs)
    e = explain_outfit(m, 0, 0, 0, ids=([10], [20, 21], [30]))
    assert e.weakest_pair == "bottom_shoes"
    assert e.best_swap is not None
    assert (e.best_swap.slot, e.best_swap.old, e.best_swap.new) == ("bottom", 20, 21)
    assert abs(e.best_swap.gain - 0.5) < 1e-6
    d = e.to_dict()
    assert d["best_swap"]["new"] == 21 and d["weakest_pair"] == "bottom_shoes"
