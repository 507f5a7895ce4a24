"""One-piece outfits in ranking: net C's fourth pair and calibration, the pair cache, one exact
ranking of both families (against brute force, ties included), queries and explanations."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stylist.domain import ONE_PIECE_PAIR, Outfit
from stylist.errors import UsageError
from stylist.rank.cache import PairCache, net_key
from stylist.rank.matching import ALL_PAIR_KEYS, MatchingNet, MatchingNetError
from stylist.rank.query import Query, Ranker
from stylist.rank.topk import (
    ALL_SLOTS,
    ONE_PIECE,
    THREE_PIECE,
    BothFamilies,
    PairMatrices,
    brute_force_both,
)
from tests.one_piece import four_pair_net, save_net

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OFFSETS = (100, 200, 300, 400)  # item ids per slot: tops, bottoms, shoes, one-pieces


# ---------------------------------------------------------------- net C files
def test_a_four_pair_net_round_trips_and_scores_one_pieces_like_the_naive_network(tmp_path):
    net = save_net(four_pair_net(12, seed=3), tmp_path / "c")
    assert net.pairs == ALL_PAIR_KEYS and net.has_one_piece
    assert json.loads((tmp_path / "c.json").read_text())["pairs"] == list(ALL_PAIR_KEYS)
    rng = np.random.default_rng(0)
    dresses, shoes = rng.random((5, 12), np.float32), rng.random((7, 12), np.float32)
    fast = net.pair_matrix(ONE_PIECE_PAIR, dresses, shoes)  # (5, 7)
    o, s = (x.ravel() for x in np.meshgrid(np.arange(5), np.arange(7), indexing="ij"))
    naive = net.pair_scores(ONE_PIECE_PAIR, dresses[o], shoes[s]).reshape(5, 7)
    np.testing.assert_allclose(fast, naive, atol=1e-6)
    assert fast.std() > 0.05  # the test net's scores spread, so the order means something


def test_a_net_without_pairs_in_its_json_holds_the_three_classic_pairs(tmp_path):
    net = save_net(MatchingNet.untrained(8), tmp_path / "c")
    assert "pairs" not in json.loads((tmp_path / "c.json").read_text())
    assert net.pairs == ALL_PAIR_KEYS[:3] and not net.has_one_piece
    with pytest.raises(ValueError, match="unknown pair"):
        net.pair_matrix(ONE_PIECE_PAIR, np.ones((1, 8), np.float32), np.ones((1, 8), np.float32))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pairs": ["top_bottom", "top_shoes"]}, "pairs must list"),
        ({"pairs": [*ALL_PAIR_KEYS, "hat_shoes"]}, "pairs must list"),
        ({"calibration": {"method": "platt"}}, "calibration must be"),
        ({"calibration": {"method": "temperature", "temperature": {"top_shoes": 0}}}, "positive"),
        ({"calibration": {"method": "temperature", "temperature": {"top_shoes": "2"}}}, "positive"),
    ],
)
def test_bad_pairs_or_calibration_are_refused_on_load(tmp_path, change, message):
    net = four_pair_net(8)
    with pytest.raises(MatchingNetError, match=message):
        MatchingNet.from_arrays(net.arrays, {**net.config, **change})


def test_a_four_pair_json_whose_npz_lacks_the_pair_names_the_missing_array(tmp_path):
    net = four_pair_net(8)
    arrays = {k: v for k, v in net.arrays.items() if not k.startswith(ONE_PIECE_PAIR)}
    with pytest.raises(MatchingNetError, match="one_piece_shoes.fc1.weight"):
        MatchingNet.from_arrays(arrays, net.config)


def test_temperature_calibration_divides_each_pairs_logit_and_keeps_its_order():
    temperatures = {"top_bottom": 2.5, "top_shoes": 1.0, "bottom_shoes": 0.5, ONE_PIECE_PAIR: 4.0}
    plain = four_pair_net(10, seed=7)
    calibrated = four_pair_net(10, seed=7, temperatures=temperatures)
    assert calibrated.temperatures == temperatures
    rng = np.random.default_rng(1)
    a, b = rng.random((6, 10), np.float32), rng.random((9, 10), np.float32)
    for key, t in temperatures.items():
        p, q = plain.pair_matrix(key, a, b), calibrated.pair_matrix(key, a, b)
        logit = np.log(p.astype(np.float64)) - np.log1p(-p.astype(np.float64))
        np.testing.assert_allclose(q, 1 / (1 + np.exp(-logit / t)), atol=2e-5)
        if t == 1.0:
            assert np.array_equal(p, q)  # an uncalibrated pair keeps its scores bit for bit
        else:  # rank-preserving: the same order of every pair
            assert np.array_equal(np.argsort(-p, axis=None), np.argsort(-q, axis=None))
        # The naive reference applies the same temperature.
        i, j = np.meshgrid(np.arange(6), np.arange(9), indexing="ij")
        naive = calibrated.pair_scores(key, a[i.ravel()], b[j.ravel()]).reshape(6, 9)
        np.testing.assert_allclose(q, naive, atol=1e-6)
    # Temperatures above one pull scores toward 0.5, so bars spread less at the extremes.
    key = "top_bottom"
    assert (
        np.abs(calibrated.pair_matrix(key, a, b) - 0.5).max()
        < np.abs(plain.pair_matrix(key, a, b) - 0.5).max()
    )


# ---------------------------------------------------------------- the pair cache
def test_the_cache_tells_a_calibrated_or_four_pair_net_from_another(tmp_path):
    dim = 8
    rng = np.random.default_rng(2)
    slots = [
        {o + i: rng.random(dim, dtype=np.float32) for i in range(n)}
        for o, n in zip(OFFSETS, (3, 2, 4, 3), strict=True)
    ]
    cache = PairCache(tmp_path / "cache")
    net = save_net(four_pair_net(dim, seed=1), tmp_path / "nets" / "c")
    first = cache.matrices(net, "sha", slots)
    assert first.one_piece_shoes.shape == (3, 4) and cache.computed_pairs > 0
    again = cache.matrices(MatchingNet.load(tmp_path / "nets" / "c.npz"), "sha", slots)
    assert cache.computed_pairs == 0  # every entry, the one-piece pair's too, from disk
    assert np.array_equal(again.one_piece_shoes, first.one_piece_shoes)
    # A new dress: only its row is computed.
    slots[3][499] = rng.random(dim, dtype=np.float32)
    grown = cache.matrices(net, "sha", slots)
    assert cache.computed_pairs == 2 * 3 + 3 * 4 + 2 * 4 + 1 * 4 - (2 * 3 + 3 * 4 + 2 * 4)
    assert np.array_equal(grown.one_piece_shoes[:3], first.one_piece_shoes)

    # The same npz with a calibration added to its JSON: another key, other matrices.
    calibrated = four_pair_net(dim, seed=1, temperatures={ONE_PIECE_PAIR: 3.0})
    (tmp_path / "nets" / "c.json").write_text(json.dumps(calibrated.config))
    reloaded = MatchingNet.load(tmp_path / "nets" / "c.npz")
    assert net_key(reloaded, "sha") != net_key(net, "sha")
    m = cache.matrices(reloaded, "sha", slots)
    assert cache.computed_pairs > 0
    assert not np.array_equal(m.one_piece_shoes, grown.one_piece_shoes)
    assert np.array_equal(m.top_bottom, grown.top_bottom)  # T = 1 for the other pairs

    # A three-pair net ranks the same wardrobe without the one-piece pair.
    three = save_net(MatchingNet.untrained(dim, seed=1), tmp_path / "nets" / "c3")
    m3 = cache.matrices(three, "sha", slots)
    assert m3.one_piece_shoes is None and m3.shape == (3, 2, 4)


# ---------------------------------------------------------------- one ranking of both families
@st.composite
def wardrobes(draw, max_n: int = 5):
    nt, nb, ns, no = (draw(st.integers(0 if i in (0, 3) else 1, max_n)) for i in range(4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        # Quarters only: many scores tie, within a family and across families (a mean of three
        # quarters can equal a one-piece's quarter).
        def mat(a, b):
            return rng.integers(0, 5, (a, b)).astype(np.float32) / 4
    else:

        def mat(a, b):
            return rng.random((a, b), dtype=np.float32)

    return PairMatrices(mat(nt, nb), mat(nt, ns), mat(nb, ns), mat(no, ns))


def python_ranking(m: PairMatrices, allowed=None) -> list[tuple]:
    """Independent reference in plain Python: (score, family, indices) sorted."""
    nt, nb, ns = m.shape
    sets = [
        range(n) if a is None else sorted(set(int(x) for x in a))
        for a, n in zip(allowed or (None,) * 4, (nt, nb, ns, m.n_one_pieces), strict=True)
    ]
    rows = []
    for t, b, s in itertools.product(sets[0], sets[1], sets[2]):
        total = (m.top_bottom[t, b] + m.top_shoes[t, s]) + m.bottom_shoes[b, s]  # float32
        rows.append((float(total) / 3, THREE_PIECE, (t, b, s)))
    for o, s in itertools.product(sets[3], sets[2]):
        rows.append((float(m.one_piece_shoes[o, s]), ONE_PIECE, (o, s)))
    rows.sort(key=lambda r: (-r[0], r[1], r[2]))
    return rows


@SETTINGS
@given(data=st.data())
def test_both_families_in_one_exact_ranking(data):
    m = data.draw(wardrobes())
    sizes = (*m.shape, m.n_one_pieces)
    allowed = [
        data.draw(st.none() | st.lists(st.integers(0, n - 1), max_size=n)) if n else None
        for n in sizes
    ]
    want = python_ranking(m, allowed)
    got = BothFamilies(m, allowed).take(len(want) + 3)
    assert [(f.score, f.family, f.idx) for f in got] == want
    assert [(f.score, f.family, f.idx) for f in brute_force_both(m, 10**6, allowed)] == want
    k = data.draw(st.integers(0, len(want) + 1))
    assert [(f.score, f.family, f.idx) for f in BothFamilies(m, allowed).take(k)] == want[:k]


def test_a_tie_between_families_puts_the_three_piece_outfit_first():
    q = np.float32(0.5)
    m = PairMatrices(np.full((1, 1), q), np.full((1, 1), q), np.full((1, 1), q), np.full((1, 1), q))
    got = BothFamilies(m).take(5)
    assert [(f.score, f.family) for f in got] == [(0.5, THREE_PIECE), (0.5, ONE_PIECE)]


@SETTINGS
@given(data=st.data())
def test_narrowing_resumes_after_the_last_outfit_taken(data):
    m = data.draw(wardrobes())
    both = BothFamilies(m)
    head = both.take(data.draw(st.integers(0, 6)))
    # Drop one item of some slot, as a diversity cap does, and go on.
    sizes = (*m.shape, m.n_one_pieces)
    slot = data.draw(st.sampled_from([i for i, n in enumerate(sizes) if n]))
    gone = data.draw(st.integers(0, sizes[slot] - 1))
    allowed = [np.arange(n) for n in sizes]
    allowed[slot] = allowed[slot][allowed[slot] != gone]
    both.restrict(allowed)
    rest = both.take(10**6)
    everything = [(f.score, f.family, f.idx) for f in brute_force_both(m, 10**6)]
    taken = [(f.score, f.family, f.idx) for f in head]
    assert taken == everything[: len(head)]
    expected = [r for r in everything[len(head) :] if slots_of_row(r)[slot] != gone]
    assert [(f.score, f.family, f.idx) for f in rest] == expected


def slots_of_row(row) -> tuple:
    """(top, bottom, shoes, one-piece) indices of a reference row, None where not used."""
    _, family, idx = row
    return (None, None, idx[1], idx[0]) if family == ONE_PIECE else (*idx, None)


# ---------------------------------------------------------------- queries over both families
def make_ranker(sizes, seed, levels=None) -> Ranker:
    rng = np.random.default_rng(seed)

    def mat(a, b):
        if levels:
            return rng.integers(0, levels + 1, (a, b)).astype(np.float32) / levels
        return rng.random((a, b), dtype=np.float32)

    nt, nb, ns, no = sizes
    m = PairMatrices(mat(nt, nb), mat(nt, ns), mat(nb, ns), mat(no, ns))
    ids = [list(range(o, o + n)) for o, n in zip(OFFSETS, sizes, strict=True)]
    return Ranker(*ids[:3], m, one_piece_ids=ids[3])


def reference(r: Ranker, q: Query) -> list[Outfit]:
    """Greedy over the brute-force ranking of both families, the query's rules written out."""
    include = set(q.include)
    drop = set(q.exclude) | (set(q.recently_worn) - include)
    items = []
    for slot, ids in enumerate(r.slot_ids):
        ids = [int(x) for x in ids]
        wanted = [x for x in ids if x in include]
        only = (q.allowed or {}).get(ALL_SLOTS[slot])
        items.append(
            wanted or [x for x in ids if x not in drop and (only is None or x in set(only))]
        )
    has = [any(x in include for x in ids.tolist()) for ids in r.slot_ids]
    m = r.matrices
    rows = []
    if not has[3]:
        for t, b, s in itertools.product(*items[:3]):
            i = [r._index(x) for x in (t, b, s)]
            rows.append((-(float(m.score(*i)) / 3), 0, tuple(i), Outfit(t, b, s)))
    if not (has[0] or has[1]):
        for o, s in itertools.product(items[3], items[2]):
            i = (r._index(o), r._index(s))
            rows.append((-float(m.one_piece_shoes[i]), 1, i, Outfit(None, None, s, o)))
    rows.sort(key=lambda x: x[:3])
    excluded = {x if isinstance(x, Outfit) else Outfit.of(x) for x in q.exclude_outfits}
    counts: dict[int, int] = {}
    out = []
    for *_, outfit in rows:
        if len(out) == q.k:
            break
        if outfit in excluded:
            continue
        cap = q.max_per_item
        if cap is not None and any(
            x not in include and counts.get(x, 0) >= cap for x in outfit.ids()
        ):
            continue
        out.append(outfit)
        for x in outfit.ids():
            counts[x] = counts.get(x, 0) + 1
    return out


@st.composite
def queries(draw):
    sizes = (draw(st.integers(0, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    sizes = (*sizes, draw(st.integers(0, 4)))
    r = make_ranker(sizes, draw(st.integers(0, 2**32 - 1)), draw(st.sampled_from([4, None])))
    every = [int(x) for ids in r.slot_ids for x in ids]
    some = st.lists(st.sampled_from(every), max_size=3, unique=True)
    include = draw(some)
    allowed = None
    if draw(st.booleans()):
        allowed = {
            slot: draw(st.lists(st.sampled_from([int(x) for x in ids] + [999]), max_size=5))
            for slot, ids in zip(ALL_SLOTS, r.slot_ids, strict=True)
            if draw(st.booleans())
        }
    three = [Outfit(*x) for x in itertools.product(*(ids[:2].tolist() for ids in r.ids))]
    ones = [
        Outfit(None, None, s, o)
        for o, s in itertools.product(r.one_piece_ids[:2].tolist(), r.ids[2][:2].tolist())
    ]
    q = Query(
        k=draw(st.integers(1, 20)),
        include=include,
        exclude=[x for x in draw(some) if x not in include],
        recently_worn=draw(some),
        allowed=allowed,
        exclude_outfits=draw(st.lists(st.sampled_from(three + ones), max_size=3))
        if three + ones
        else [],
        max_per_item=draw(st.none() | st.integers(1, 3)),
        explain=draw(st.booleans()),
    )
    return r, q


@SETTINGS
@given(queries())
def test_suggestions_over_both_families_follow_the_exact_ranking(case):
    r, q = case
    got = r.suggest(q)
    assert [o.outfit() for o in got] == reference(r, q)
    for o in got:
        if o.one_piece is not None:
            assert o.top is None and o.bottom is None
            p = float(r.matrices.one_piece_shoes[r._index(o.one_piece), r._index(o.shoes)])
            assert o.score == p and o.pair_scores == {ONE_PIECE_PAIR: p}
        else:
            idx = [r._index(x) for x in (o.top, o.bottom, o.shoes)]
            assert o.score == r.matrices.score(*idx) / 3
        assert (o.explanation is not None) == q.explain
        json.dumps(o.to_dict())
    assert r.count(q) >= len(got)


def test_what_to_wear_with_this_dress_and_with_these_shoes():
    r = make_ranker((3, 3, 4, 3), seed=4)
    dress = 401
    with_dress = r.suggest(Query(k=50, include=[dress], explain=True))
    assert len(with_dress) == 4 and all(o.one_piece == dress for o in with_dress)
    # Swaps respect the query: the dress is never swapped out.
    assert all(
        o.explanation.best_swap is None or o.explanation.best_swap.slot == "shoes"
        for o in with_dress
    )
    with_top = r.suggest(Query(k=100, include=[100]))
    assert len(with_top) == 3 * 4 and all(o.top == 100 for o in with_top)
    with_shoes = r.suggest(Query(k=100, include=[302]))
    assert {o.one_piece is None for o in with_shoes} == {True, False}
    assert len(with_shoes) == 3 * 3 + 3 and all(o.shoes == 302 for o in with_shoes)
    assert r.suggest(Query(k=10, include=[100, dress])) == []  # no outfit holds both
    only_dresses = r.suggest(Query(k=100, allowed={"top": []}))
    assert len(only_dresses) == 3 * 4 and all(o.one_piece is not None for o in only_dresses)
    assert r.count(Query()) == 3 * 3 * 4 + 3 * 4


def test_a_one_piece_outfit_is_explained_by_its_pair_and_its_best_swap():
    r = make_ranker((2, 2, 5, 4), seed=8)
    m = r.matrices.one_piece_shoes
    for o, s in itertools.product(range(4), range(5)):
        outfit = Outfit(None, None, 300 + s, 400 + o)
        rated = r.rate(outfit)
        e = rated.explanation
        assert rated.score == float(m[o, s]) and e.pair_scores == {ONE_PIECE_PAIR: float(m[o, s])}
        assert e.weakest_pair == ONE_PIECE_PAIR
        # Every single replacement, tried one by one; ties go to the one-piece, then lower id.
        options = [(float(m[x, s]), 0, 400 + x) for x in range(4) if x != o]
        options += [(float(m[o, x]), 1, 300 + x) for x in range(5) if x != s]
        best = min(options, key=lambda v: (-v[0], v[1], v[2]))
        if best[0] > rated.score:
            swap = e.best_swap
            assert (swap.slot, swap.new, swap.score) == (
                ("one_piece", "shoes")[best[1]],
                best[2],
                best[0],
            )
            assert swap.gain == pytest.approx(best[0] - rated.score)
        else:
            assert e.best_swap is None


def test_a_three_piece_swap_is_shown_on_the_mean_scale():
    r = make_ranker((4, 3, 3, 0), seed=5)
    o = r.suggest(Query(k=12, explain=True))[-1]
    swap = o.explanation.best_swap
    assert swap is not None
    new = dict(zip(("top", "bottom", "shoes"), (o.top, o.bottom, o.shoes), strict=True))
    new[swap.slot] = swap.new
    after = r.rate(Outfit(new["top"], new["bottom"], new["shoes"]), explain=False)
    assert swap.score == pytest.approx(after.score) and swap.gain == pytest.approx(
        after.score - o.score
    )


def test_exploration_and_diversity_span_both_families():
    r = make_ranker((3, 3, 5, 3), seed=11)
    got = r.suggest(Query(k=8, max_per_item=2, exploration=0.25, exploration_pool=20))
    assert len(got) == 8 and sum(o.exploration for o in got) == 2
    assert {o.one_piece is None for o in got} == {True, False}
    counts: dict[int, int] = {}
    for o in got:
        for x in o.ids():
            counts[x] = counts.get(x, 0) + 1
    assert max(counts.values()) <= 2  # shoes are shared by both families and capped across them
    for o in got:
        p = np.array(list(o.pair_scores.values()), np.float64)
        p = np.clip(p, 1e-12, 1 - 1e-12)
        h = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
        assert o.uncertainty == pytest.approx(h.mean())


def test_a_net_without_the_one_piece_pair_suggests_no_one_piece_outfit():
    dim = 8
    rng = np.random.default_rng(0)
    slots = [{o + i: rng.random(dim, dtype=np.float32) for i in range(2)} for o in OFFSETS]
    three = Ranker.from_features(MatchingNet.untrained(dim), *slots[:3], one_pieces=slots[3])
    assert not three.has_one_piece and all(o.one_piece is None for o in three.suggest(Query(k=20)))
    with pytest.raises(UsageError, match="no one-piece pair"):
        three.rate(Outfit(None, None, 300, 400))
    four = Ranker.from_features(four_pair_net(dim), *slots[:3], one_pieces=slots[3])
    got = four.suggest(Query(k=20))
    assert len(got) == 2 * 2 * 2 + 2 * 2 and any(o.one_piece is not None for o in got)
    d = next(o for o in got if o.one_piece is not None).to_dict()
    assert d["top"] is None and d["bottom"] is None and d["one_piece"] in (400, 401)


def test_net_b_rescores_three_piece_outfits_and_one_piece_ones_keep_cs_score():
    dim = 8
    rng = np.random.default_rng(3)
    slots = [{o + i: rng.random(dim, dtype=np.float32) for i in range(3)} for o in OFFSETS]
    net_b = MatchingNet.untrained(dim, seed=5, net="B")
    for name, a in net_b.arrays.items():
        a *= 80 if name.endswith("weight") else 1
    r = Ranker.from_features(four_pair_net(dim), *slots[:3], one_pieces=slots[3], net_b=net_b)
    got = r.suggest(Query(k=36, rescore_with_b=True, b_pool=100, explain=True))
    assert len(got) == 3 * 3 * 3 + 3 * 3  # the pool holds every outfit
    for o in got:
        if o.one_piece is None:
            assert o.ranked_by == "B" and o.c_score is not None
        else:
            assert o.ranked_by == "C" and o.score == o.pair_scores[ONE_PIECE_PAIR]
    assert [o.score for o in got] == sorted((o.score for o in got), reverse=True)
