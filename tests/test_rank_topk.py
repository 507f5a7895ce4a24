"""Exact top-k over all outfits equals brute force: any k, filters, resuming, ties."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stylist.rank.topk import (
    Cursor,
    PairMatrices,
    TopKSearch,
    brute_force_top_k,
    top_k,
)


def python_ranking(m: PairMatrices, allowed=None) -> list[tuple[float, int, int, int]]:
    """Independent reference: plain Python loops and sort over every allowed outfit."""
    nt, nb, ns = m.shape
    sets = allowed or (None, None, None)
    ranges = []
    for a, n in zip(sets, (nt, nb, ns), strict=True):
        if a is None:
            ranges.append(range(n))
        elif isinstance(a, np.ndarray) and a.dtype == bool:
            ranges.append([i for i in range(n) if a[i]])
        else:
            ranges.append(sorted({int(x) for x in a}))
    rows = []
    for t, b, s in itertools.product(*ranges):
        score = (m.top_bottom[t, b] + m.top_shoes[t, s]) + m.bottom_shoes[b, s]  # float32 sums
        rows.append((float(score), t, b, s))
    rows.sort(key=lambda r: (-r[0], r[1], r[2], r[3]))
    return rows


@st.composite
def wardrobes(draw, max_n: int = 7, tied: bool | None = None):
    nt, nb, ns = (draw(st.integers(1, max_n)) for _ in range(3))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if tied if tied is not None else draw(st.booleans()):
        # Few distinct values: many outfits share a score, so tie-breaking is exercised.
        levels = draw(st.integers(1, 4))

        def mat(a, b):
            return rng.integers(0, levels, (a, b)).astype(np.float32) / 4
    else:

        def mat(a, b):
            return rng.random((a, b), dtype=np.float32)

    return PairMatrices(mat(nt, nb), mat(nt, ns), mat(nb, ns))


@st.composite
def masks(draw, m: PairMatrices):
    out = []
    for n in m.shape:
        kind = draw(st.sampled_from(["all", "mask", "indices"]))
        if kind == "all":
            out.append(None)
        elif kind == "mask":
            out.append(np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n))))
        else:
            out.append(draw(st.lists(st.integers(0, n - 1), max_size=n)))
    return out


FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(data=st.data())
def test_top_k_equals_brute_force(data):
    m = data.draw(wardrobes())
    allowed = data.draw(masks(m))
    k = data.draw(st.integers(1, 60))
    chunk = data.draw(st.integers(1, 40))  # tiny chunks exercise the pruning loop
    got = TopKSearch(m, allowed, chunk_outfits=chunk).top(k)
    want = python_ranking(m, allowed)[:k]
    assert [(float(c.score), c.top, c.bottom, c.shoes) for c in got] == want
    assert got.triples() == brute_force_top_k(m, k, allowed).triples()


@FAST
@given(data=st.data())
def test_resuming_after_any_outfit_continues_the_ranking(data):
    m = data.draw(wardrobes())
    full = python_ranking(m)
    i = data.draw(st.integers(0, len(full) - 1))
    k = data.draw(st.integers(1, 30))
    cursor = Cursor(*full[i])
    got = TopKSearch(m, chunk_outfits=data.draw(st.integers(1, 30))).top(k, after=cursor)
    assert [tuple(c) for c in got] == full[i + 1 : i + 1 + k]


@FAST
@given(data=st.data())
def test_stream_yields_every_outfit_once_in_order(data):
    m = data.draw(wardrobes(max_n=5))
    allowed = data.draw(masks(m))
    search = TopKSearch(m, allowed, chunk_outfits=data.draw(st.integers(1, 50)))
    got = [tuple(c) for c in search.stream(batch=data.draw(st.integers(1, 7)))]
    assert got == python_ranking(m, allowed)


def test_large_random_wardrobe_matches_brute_force_and_prunes():
    rng = np.random.default_rng(7)
    nt, nb, ns = 60, 50, 40
    m = PairMatrices(
        rng.random((nt, nb), dtype=np.float32),
        rng.random((nt, ns), dtype=np.float32),
        rng.random((nb, ns), dtype=np.float32),
    )
    search = TopKSearch(m, chunk_outfits=2000)
    got = search.top(50)
    assert got.triples() == brute_force_top_k(m, 50).triples()
    np.testing.assert_array_equal(got.scores, brute_force_top_k(m, 50).scores)
    # The bound prunes most (top, bottom) pairs on random scores.
    assert search.stats.pairs_expanded < nt * nb / 4


def test_structured_wardrobe_with_a_dominant_item():
    """One top that goes with everything: the search must still be exact."""
    rng = np.random.default_rng(3)
    tb = rng.random((30, 20), dtype=np.float32) * 0.1
    ts = rng.random((30, 25), dtype=np.float32) * 0.1
    bs = rng.random((20, 25), dtype=np.float32)
    tb[4] += 0.9
    ts[4] += 0.9
    m = PairMatrices(tb, ts, bs)
    got = top_k(m, 100)
    assert got.triples() == brute_force_top_k(m, 100).triples()
    assert set(got.tops.tolist()) == {4}


def test_all_equal_scores_rank_by_index():
    m = PairMatrices(np.zeros((3, 4)), np.zeros((3, 2)), np.zeros((4, 2)))
    got = TopKSearch(m, chunk_outfits=3).top(5)
    assert got.triples() == [(0, 0, 0), (0, 0, 1), (0, 1, 0), (0, 1, 1), (0, 2, 0)]


def test_empty_slot_or_k_gives_nothing():
    rng = np.random.default_rng(0)
    m = PairMatrices(rng.random((3, 4)), rng.random((3, 2)), rng.random((4, 2)))
    assert len(top_k(m, 5, allowed=(None, [], None))) == 0
    assert len(top_k(m, 0)) == 0
    assert len(top_k(m, 100)) == 24  # k beyond the wardrobe: every outfit


def test_bad_matrices_and_masks_are_refused():
    with pytest.raises(ValueError, match="disagree"):
        PairMatrices(np.zeros((3, 4)), np.zeros((3, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="NaN"):
        PairMatrices(np.full((1, 1), np.nan), np.zeros((1, 1)), np.zeros((1, 1)))
    m = PairMatrices(np.zeros((3, 4)), np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="out of range"):
        TopKSearch(m, ([5], None, None))
    with pytest.raises(ValueError, match="mask"):
        TopKSearch(m, (np.ones(2, dtype=bool), None, None))
