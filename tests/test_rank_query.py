"""Queries: filters always hold, diversity caps hold and follow the exact ranking, exploration
outfits are marked, net B rescoring, and results that serialise to JSON."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stylist.errors import UsageError
from stylist.rank.matching import MatchingNet, entropy_bits
from stylist.rank.query import Query, Ranker
from stylist.rank.topk import SLOTS, PairMatrices

OFFSETS = (100, 200, 300)  # item ids differ from matrix indices, as in a real library


def make_ranker(nt, nb, ns, seed, levels=None, b_scorer=None) -> Ranker:
    rng = np.random.default_rng(seed)

    def mat(a, b):
        if levels:
            return rng.integers(0, levels, (a, b)).astype(np.float32) / levels
        return rng.random((a, b), dtype=np.float32)

    m = PairMatrices(mat(nt, nb), mat(nt, ns), mat(nb, ns))
    ids = [list(range(o, o + n)) for o, n in zip(OFFSETS, (nt, nb, ns), strict=True)]
    return Ranker(*ids, m, b_scorer=b_scorer)


def reference(r: Ranker, q: Query) -> list[tuple[int, int, int]]:
    """Greedy over the full brute-force ranking, with the query's rules written out plainly."""
    include = set(q.include)
    drop = set(q.exclude) | (set(q.recently_worn) - include)
    slot_items = []
    for slot, ids in enumerate(r.ids):
        ids = [int(x) for x in ids]
        wanted = [x for x in ids if x in include]
        if wanted:
            slot_items.append(wanted)
            continue
        only = (q.allowed or {}).get(SLOTS[slot])
        slot_items.append([x for x in ids if x not in drop and (only is None or x in set(only))])
    pos = [{int(x): i for i, x in enumerate(ids)} for ids in r.ids]
    rows = []
    for t, b, s in itertools.product(*slot_items):
        i = (pos[0][t], pos[1][b], pos[2][s])
        rows.append((-r.matrices.score(*i), i, (t, b, s)))
    rows.sort()
    counts: dict[int, int] = {}
    out = []
    for _, _, outfit in rows:
        if len(out) == q.k:
            break
        if outfit in set(q.exclude_outfits):
            continue
        cap = q.max_per_item
        if cap is not None and any(x not in include and counts.get(x, 0) >= cap for x in outfit):
            continue
        out.append(outfit)
        for x in outfit:
            counts[x] = counts.get(x, 0) + 1
    return out


@st.composite
def queries(draw, with_exploration=False):
    nt, nb, ns = (draw(st.integers(1, 6)) for _ in range(3))
    r = make_ranker(nt, nb, ns, draw(st.integers(0, 2**32 - 1)), draw(st.sampled_from([3, None])))
    every = [int(x) for ids in r.ids for x in ids]
    some = st.lists(st.sampled_from(every), max_size=4, unique=True)
    include = draw(some)
    exclude = [x for x in draw(some) if x not in include]
    allowed = None
    if draw(st.booleans()):
        allowed = {
            slot: draw(st.lists(st.sampled_from([int(x) for x in ids] + [999]), max_size=6))
            for slot, ids in zip(SLOTS, r.ids, strict=True)
            if draw(st.booleans())
        }
    outfits = [
        (int(a), int(b), int(c)) for a, b, c in itertools.product(*(ids[:2] for ids in r.ids))
    ]
    q = Query(
        k=draw(st.integers(1, 25)),
        include=include,
        exclude=exclude,
        recently_worn=draw(some),
        allowed=allowed,
        exclude_outfits=draw(st.lists(st.sampled_from(outfits), max_size=3)),
        max_per_item=draw(st.none() | st.integers(1, 3)),
        exploration=draw(st.sampled_from([0.0, 0.2, 0.5])) if with_exploration else 0.0,
        exploration_pool=draw(st.none() | st.integers(1, 30)),
        explain=draw(st.booleans()),
    )
    return r, q


SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_filters_and_caps(r: Ranker, q: Query, got) -> None:
    include = set(q.include)
    drop = set(q.exclude) | (set(q.recently_worn) - include)
    triples = [(o.top, o.bottom, o.shoes) for o in got]
    assert len(set(triples)) == len(triples)  # never the same outfit twice
    for o in got:
        items = (o.top, o.bottom, o.shoes)
        for slot, x in enumerate(items):
            assert r.slot_of(x) == SLOTS[slot]
            slot_include = {i for i in include if r.slot_of(i) == SLOTS[slot]}
            if slot_include:
                assert x in slot_include
            else:
                assert x not in drop
                only = (q.allowed or {}).get(SLOTS[slot])
                assert only is None or x in set(only)
        assert items not in set(q.exclude_outfits)
    if q.max_per_item is not None:
        counts: dict[int, int] = {}
        for o in got:
            for x in (o.top, o.bottom, o.shoes):
                counts[x] = counts.get(x, 0) + 1
        assert all(n <= q.max_per_item for x, n in counts.items() if x not in include)


@SETTINGS
@given(queries())
def test_suggestions_follow_the_exact_ranking_under_filters_and_caps(case):
    r, q = case
    got = r.suggest(q)
    check_filters_and_caps(r, q, got)
    assert [(o.top, o.bottom, o.shoes) for o in got] == reference(r, q)
    for o in got:
        idx = [r._index(x) for x in (o.top, o.bottom, o.shoes)]
        assert o.score == r.matrices.score(*idx) / 3  # the mean of the three pair scores
        assert o.pair_scores == r.matrices.pair_scores(*idx)
        assert not o.exploration and o.ranked_by == "C"
        assert (o.explanation is not None) == q.explain


@SETTINGS
@given(queries(with_exploration=True))
def test_exploration_outfits_are_marked_and_respect_every_rule(case):
    r, q = case
    got = r.suggest(q)
    check_filters_and_caps(r, q, got)
    n_explore = min(q.k, math.floor(q.exploration * q.k + 0.5))
    best = [(o.top, o.bottom, o.shoes) for o in got if not o.exploration]
    # The exploited part is the exact greedy ranking, computed before any exploration.
    assert best[: q.k - n_explore] == reference(r, q)[: q.k - n_explore]
    assert sum(o.exploration for o in got) <= n_explore
    assert len(got) <= q.k
    if got and n_explore < q.k:
        assert not got[0].exploration  # the best suggestion always comes first


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    k=st.integers(1, 20),
    share=st.sampled_from([0.1, 0.3, 1.0]),
    pool=st.integers(1, 40),
)
def test_exploration_takes_the_most_uncertain_of_the_next_outfits(seed, k, share, pool):
    r = make_ranker(5, 4, 6, seed)
    got = r.suggest(Query(k=k, exploration=share, exploration_pool=pool))
    n_explore = min(k, math.floor(share * k + 0.5))
    ranking = reference(r, Query(k=r.n_outfits))
    window = ranking[k - n_explore : k - n_explore + pool]

    def uncertainty(o):
        idx = [r._index(x) for x in o]
        return entropy_bits(np.array(list(r.matrices.pair_scores(*idx).values()))).mean()

    # Most uncertain first; equal uncertainty keeps ranking order.
    order = sorted(range(len(window)), key=lambda i: -uncertainty(window[i]))
    chosen = [window[i] for i in order[:n_explore]]
    assert len(got) == k
    assert [(o.top, o.bottom, o.shoes) for o in got if o.exploration] == chosen


def test_exploration_picks_the_outfits_the_model_is_least_sure_of():
    # Shoes 0 are certain with everything (0.99), shoes 1 sit at 0.5: the uncertain outfits.
    tb = np.array([[0.9, 0.8], [0.85, 0.7]], np.float32)
    ts = np.array([[0.99, 0.5], [0.99, 0.5]], np.float32)
    bs = np.array([[0.99, 0.5], [0.99, 0.5]], np.float32)
    r = Ranker([1, 2], [3, 4], [5, 6], PairMatrices(tb, ts, bs))
    got = r.suggest(Query(k=4, exploration=0.25, exploration_pool=4))
    # Spread through the list (here: the middle), never first.
    assert [o.exploration for o in got] == [False, False, True, False]
    best = [(o.top, o.bottom, o.shoes) for o in got if not o.exploration]
    assert best == [(1, 3, 5), (2, 3, 5), (1, 4, 5)]
    explore = got[2]
    # The pool is the next 4 outfits; of those, top 1 + bottom 4 + shoes 6 (0.8, 0.5, 0.5) is the
    # least sure. The deeper (2, 4, 6) (0.7, 0.5, 0.5) is even less sure but outside the pool.
    assert (explore.top, explore.bottom, explore.shoes) == (1, 4, 6)
    want = entropy_bits(np.array([0.8, 0.5, 0.5], np.float32)).mean()
    assert explore.uncertainty == pytest.approx(want)
    deeper = r.suggest(Query(k=4, exploration=0.25, exploration_pool=5))
    assert [(o.top, o.bottom, o.shoes) for o in deeper if o.exploration] == [(2, 4, 6)]
    assert explore.to_dict()["exploration"] is True


def test_diversity_spreads_a_dominant_item():
    r = make_ranker(6, 5, 4, seed=5)
    r.matrices.top_bottom[2] += 2.0  # top 102 goes with everything
    plain = r.suggest(Query(k=8))
    assert all(o.top == 102 for o in plain)
    diverse = r.suggest(Query(k=8, max_per_item=2))
    tops = [o.top for o in diverse]
    assert tops.count(102) == 2 and len(set(tops)) >= 4
    assert diverse[0] == plain[0]  # the very best outfit stays first
    # A dominant item that the person asked for is exempt from the cap.
    wanted = r.suggest(Query(k=8, include=[102], max_per_item=2))
    assert len(wanted) == 8 and all(o.top == 102 for o in wanted)


def test_what_goes_with_these_jeans():
    r = make_ranker(5, 4, 3, seed=2)
    got = r.suggest(Query(k=50, include=[201], explain=True))
    assert len(got) == 5 * 3 and all(o.bottom == 201 for o in got)
    # Swaps respect the query: the jeans are never swapped out.
    assert all(
        o.explanation.best_swap is None or o.explanation.best_swap.slot != "bottom" for o in got
    )
    two = r.suggest(Query(k=50, include=[201, 300]))
    assert len(two) == 5 and all(o.bottom == 201 and o.shoes == 300 for o in two)
    either = r.suggest(Query(k=50, include=[201, 202]))
    assert {o.bottom for o in either} == {201, 202} and len(either) == 30


def test_bad_queries_say_what_is_wrong():
    r = make_ranker(3, 3, 3, seed=0)
    with pytest.raises(UsageError, match="item 999"):
        r.suggest(Query(include=[999]))
    with pytest.raises(UsageError, match="both required and excluded"):
        r.suggest(Query(include=[100], exclude=[100]))
    with pytest.raises(UsageError, match="unknown slot"):
        r.suggest(Query(allowed={"hat": [1]}))
    with pytest.raises(UsageError, match="exploration"):
        r.suggest(Query(exploration=2.0))
    with pytest.raises(UsageError, match="net B"):
        r.suggest(Query(rescore_with_b=True))
    with pytest.raises(UsageError, match="not a bottom"):
        r.rate(100, 101, 300)
    assert r.suggest(Query(allowed={"shoes": []})) == []
    assert r.count(Query(exclude=[100])) == 2 * 3 * 3


def test_rate_and_suggest_from_features_agree_with_the_net():
    dim = 24
    net = MatchingNet.untrained(dim, seed=4)
    # Larger weights than the authors' init, so scores spread and the order is meaningful.
    for name, a in net.arrays.items():
        a *= 60 if name.endswith("weight") else 1
    rng = np.random.default_rng(9)
    feats = {i: rng.random(dim, dtype=np.float32) for i in (11, 12, 13, 21, 22, 31, 32, 33)}
    slots = [{i: feats[i] for i in ids} for ids in ((13, 11, 12), (22, 21), (31, 33, 32))]
    r = Ranker.from_features(net, *slots)
    assert [list(x) for x in r.ids] == [[11, 12, 13], [21, 22], [31, 32, 33]]
    got = r.suggest(Query(k=18))
    naive = net.score_outfits(*(np.stack([feats[getattr(o, a)] for o in got]) for a in SLOTS))
    np.testing.assert_allclose([o.score for o in got], naive / 3, atol=1e-5)
    assert [o.score for o in got] == sorted((o.score for o in got), reverse=True)
    rated = r.rate(12, 21, 33)
    np.testing.assert_allclose(
        rated.score,
        net.score_outfits(feats[12][None], feats[21][None], feats[33][None])[0] / 3,
        atol=1e-5,
    )
    json.dumps([o.to_dict() for o in r.suggest(Query(k=3, explain=True))])


def test_net_b_rescores_the_pool_from_c():
    dim = 16
    rng = np.random.default_rng(1)
    net_c = MatchingNet.untrained(dim, seed=1)
    net_b = MatchingNet.untrained(dim, seed=2, net="B")
    for net in (net_c, net_b):
        for name, a in net.arrays.items():
            a *= 80 if name.endswith("weight") else 1
    tops, bottoms, shoes = (
        {o + i: rng.random(dim, dtype=np.float32) for i in range(n)}
        for o, n in zip(OFFSETS, (4, 3, 5), strict=True)
    )
    r = Ranker.from_features(net_c, tops, bottoms, shoes, net_b=net_b)
    # A pool holding every outfit: B's ranking is then exact.
    got = r.suggest(Query(k=10, rescore_with_b=True, b_pool=60, explain=True))
    everything = list(itertools.product(tops, bottoms, shoes))
    b_all = net_b.score_outfits(
        *(
            np.stack([slot[o[i]] for o in everything])
            for i, slot in enumerate((tops, bottoms, shoes))
        )
    )
    order = sorted(range(len(everything)), key=lambda i: (-b_all[i], everything[i]))
    want = [everything[i] for i in order[:10]]
    assert [(o.top, o.bottom, o.shoes) for o in got] == want
    assert all(o.ranked_by == "B" and o.c_score is not None for o in got)
    np.testing.assert_allclose([o.score for o in got], b_all[order[:10]], atol=1e-5)
    # B's best swap, checked against every single replacement scored by B.
    o = got[-1]
    cur = r.rate(o.top, o.bottom, o.shoes, by_b=True)
    options = [
        (
            r.rate(
                *(x if j == slot else y for j, y in enumerate((o.top, o.bottom, o.shoes))),
                by_b=True,
                explain=False,
            ).score,
            slot,
            x,
        )
        for slot, ids in enumerate(r.ids)
        for x in ids.tolist()
        if x != (o.top, o.bottom, o.shoes)[slot]
    ]
    best = max(options, key=lambda v: v[0])
    swap = cur.explanation.best_swap
    if best[0] > cur.score:
        assert swap is not None and swap.new == best[2] and abs(swap.score - best[0]) < 1e-6
    else:
        assert swap is None
    # Diversity within the pool.
    capped = r.suggest(Query(k=10, rescore_with_b=True, b_pool=60, max_per_item=3))
    counts: dict[int, int] = {}
    for o in capped:
        for x in (o.top, o.bottom, o.shoes):
            counts[x] = counts.get(x, 0) + 1
    assert max(counts.values()) <= 3
    explored = r.suggest(Query(k=10, rescore_with_b=True, b_pool=60, exploration=0.2))
    assert sum(o.exploration for o in explored) == 2 and len(explored) == 10


def test_a_wardrobe_without_shoes_suggests_nothing():
    net = MatchingNet.untrained(8)
    one = {1: np.ones(8, np.float32)}
    r = Ranker.from_features(net, one, {2: np.ones(8, np.float32)}, {})
    assert r.n_outfits == 0 and r.suggest(Query(k=5, explain=True)) == []
