"""Suggestions: the best outfits of a wardrobe under a query, with diversity and exploration.

A :class:`Ranker` holds one wardrobe (item ids per slot) and net C's pair matrices for it. A
:class:`Query` says which items must be in the outfit, which must not, which items a slot may use
(categories, tags, "not worn lately"), how often one item may appear among the shown outfits, and
what share of them are exploration outfits (the model is least sure of them, so a verdict on them
teaches it most). Suggestions come from the exact ranking of every allowed outfit
(:mod:`stylist.rank.topk`); diversity is a greedy pass over that ranking, pulling further outfits
lazily as items reach their cap. With net B, a candidate pool from C is rescored by B (flagged in
each result as ``ranked_by="B"``).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from stylist.domain import Outfit
from stylist.errors import UsageError
from stylist.rank.explain import Explanation, best_swap, explain_outfit, weakest_pair
from stylist.rank.matching import MatchingNet, OutfitScorer, Progress, entropy_bits, stack_slots
from stylist.rank.topk import PAIR_KEYS, SLOTS, Cursor, PairMatrices, TopKSearch

if TYPE_CHECKING:
    from stylist.rank.cache import PairCache

DEFAULT_B_POOL = 500


@dataclass(frozen=True)
class Query:
    """What to suggest. Item ids throughout; ids of items not in the wardrobe are ignored,
    except in ``include``, where they are an error."""

    k: int = 10
    # Items that must be in every outfit; each fixes its slot. Several in one slot: any of them.
    include: Collection[int] = ()
    exclude: Collection[int] = ()
    # Excluded like ``exclude``, but an item the person asked for in ``include`` wins.
    recently_worn: Collection[int] = ()
    # Per slot ("top", "bottom", "shoes"): only these items (a category or tag filter).
    allowed: Mapping[str, Collection[int]] | None = None
    # Whole outfits never to show again, as (top, bottom, shoes) ids.
    exclude_outfits: Collection[tuple[int, int, int]] = ()
    # No item in more than this many of the shown outfits (included items are exempt).
    max_per_item: int | None = None
    # Share of the k outfits chosen for exploration (0 .. 1), and how deep in the ranking
    # to look for them (default max(50, 5·k) outfits past the shown ones).
    exploration: float = 0.0
    exploration_pool: int | None = None
    explain: bool = False
    # Rank a pool of C's best outfits by net B instead (needs a ranker built with net B).
    rescore_with_b: bool = False
    b_pool: int = DEFAULT_B_POOL


@dataclass(frozen=True)
class RankedOutfit:
    """One suggested (or rated) outfit."""

    top: int
    bottom: int
    shoes: int
    score: float  # net C: sum of pair scores (0..3); net B: P(match) (0..1)
    pair_scores: dict[str, float]  # net C's P(match) per pair
    exploration: bool = False
    explanation: Explanation | None = None
    ranked_by: str = "C"  # "C": exact over every outfit; "B": C's pool rescored by B
    uncertainty: float = 0.0  # bits: sum of the pair scores' entropies (C), B's entropy (B)
    c_score: float | None = None  # net C's score when ranked by B

    def outfit(self) -> Outfit:
        return Outfit(self.top, self.bottom, self.shoes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; pair scores, weakest pair and best swap only when explained."""
        d: dict[str, Any] = {
            "top": self.top,
            "bottom": self.bottom,
            "shoes": self.shoes,
            "score": self.score,
            "ranked_by": self.ranked_by,
            "exploration": self.exploration,
        }
        if self.c_score is not None:
            d["c_score"] = self.c_score
        if self.explanation is not None:
            d.update(self.explanation.to_dict())
        return d


@dataclass
class _Caps:
    """Diversity bookkeeping: how often each item has been shown, and which are at the cap."""

    cap: int | None
    exempt: tuple[frozenset[int], ...]  # per slot, indices never capped
    excluded_outfits: frozenset[tuple[int, int, int]]
    counts: tuple[dict[int, int], ...] = field(default_factory=lambda: ({}, {}, {}))
    newly_capped: list[tuple[int, int]] = field(default_factory=list)  # (slot, index)

    def fits(self, c: Cursor) -> bool:
        triple = (c.top, c.bottom, c.shoes)
        if triple in self.excluded_outfits:
            return False
        if self.cap is None:
            return True
        return all(
            i in self.exempt[slot] or self.counts[slot].get(i, 0) < self.cap
            for slot, i in enumerate(triple)
        )

    def accept(self, c: Cursor) -> None:
        if self.cap is None:
            return
        for slot, i in enumerate((c.top, c.bottom, c.shoes)):
            n = self.counts[slot].get(i, 0) + 1
            self.counts[slot][i] = n
            if n >= self.cap and i not in self.exempt[slot]:
                self.newly_capped.append((slot, i))


class _Stream:
    """The exact ranking of allowed outfits, walked once; items at their cap leave the search.

    Skipping every outfit that holds a capped item is the same as searching without that item,
    so the search is rebuilt without it and resumes after the last outfit looked at.
    """

    def __init__(self, m: PairMatrices, allowed: list[np.ndarray], caps: _Caps) -> None:
        self.m, self.allowed, self.caps = m, allowed, caps
        self.search = TopKSearch(m, allowed)
        self.cursor: Cursor | None = None

    def _batch(self, n: int) -> list[Cursor]:
        if self.caps.newly_capped:
            for slot, i in self.caps.newly_capped:
                self.allowed[slot] = self.allowed[slot][self.allowed[slot] != i]
            self.caps.newly_capped.clear()
            self.search = TopKSearch(self.m, self.allowed)
        return list(self.search.top(n, after=self.cursor))

    def take(self, n: int, accept: bool = True) -> list[Cursor]:
        """The next n outfits that fit the caps; ``accept=False`` only looks (a pool)."""
        out: list[Cursor] = []
        while len(out) < n:
            batch = self._batch(max(16, 2 * (n - len(out))))
            if not batch:
                break
            for c in batch:
                self.cursor = c
                if self.caps.fits(c):
                    if accept:
                        self.caps.accept(c)
                    out.append(c)
                    if len(out) == n:
                        break
        return out


def _interleave(best: list[Any], explore: list[Any]) -> list[tuple[Any, bool]]:
    """Exploration outfits spread evenly through the list, never first."""
    total = len(best) + len(explore)
    at = {(j + 1) * total // (len(explore) + 1): e for j, e in enumerate(explore)}
    rest = iter(best)
    return [(at[i], True) if i in at else (next(rest), False) for i in range(total)]


class Ranker:
    """Suggestions for one wardrobe: item ids per slot and net C's pair matrices over them."""

    def __init__(
        self,
        top_ids: Sequence[int],
        bottom_ids: Sequence[int],
        shoe_ids: Sequence[int],
        matrices: PairMatrices,
        b_scorer: OutfitScorer | None = None,
    ) -> None:
        self.ids = tuple(np.asarray(x, dtype=np.int64) for x in (top_ids, bottom_ids, shoe_ids))
        if tuple(len(x) for x in self.ids) != matrices.shape:
            raise ValueError(
                f"item ids per slot {tuple(len(x) for x in self.ids)} do not match "
                f"pair matrices {matrices.shape}"
            )
        self.matrices = matrices
        self.b_scorer = b_scorer
        self._where: dict[int, tuple[int, int]] = {}  # item id -> (slot, index)
        for slot, ids in enumerate(self.ids):
            for i, item in enumerate(ids.tolist()):
                if item in self._where:
                    raise ValueError(f"item {item} appears twice in the wardrobe")
                self._where[item] = (slot, i)

    @classmethod
    def from_features(
        cls,
        net: MatchingNet,
        tops: Mapping[int, np.ndarray],
        bottoms: Mapping[int, np.ndarray],
        shoes: Mapping[int, np.ndarray],
        *,
        net_b: MatchingNet | None = None,
        progress: Progress | None = None,
        cancel: Any = None,
        cache: PairCache | None = None,
        features_sha256: str = "",
    ) -> Ranker | None:
        """Build from features per item id (net C, optionally net B). None when cancelled.

        ``cache``: pair matrices kept on disk (see ``rank.cache``), for features of the backbone
        file ``features_sha256``; without it they are all computed here.
        """
        ids, feats = stack_slots((tops, bottoms, shoes), net.feature_dim)
        if cache is not None:
            matrices = cache.stacked(
                net, features_sha256, ids, feats, progress=progress, cancel=cancel
            )
        else:
            matrices = net.pair_matrices(*feats, progress=progress, cancel=cancel)
        if matrices is None:
            return None
        scorer = net_b.outfit_scorer(*feats) if net_b is not None else None
        return cls(*ids, matrices, b_scorer=scorer)

    # ---------------------------------------------------------------- look-ups
    @property
    def n_outfits(self) -> int:
        return self.matrices.n_outfits

    def slot_of(self, item_id: int) -> str | None:
        where = self._where.get(int(item_id))
        return SLOTS[where[0]] if where else None

    def _index(self, item_id: int, slot: int | None = None) -> int:
        where = self._where.get(int(item_id))
        if where is None or (slot is not None and where[0] != slot):
            what = f"a {SLOTS[slot]}" if slot is not None else "a top, bottom or shoes"
            raise UsageError(f"item {item_id} is not {what} with features in this wardrobe")
        return where[1]

    def _allowed(self, q: Query) -> tuple[list[np.ndarray], tuple[frozenset[int], ...]]:
        """Allowed indices per slot, and the included indices (exempt from caps)."""
        include: list[set[int]] = [set() for _ in SLOTS]
        for item in q.include:
            self._index(item)  # an unknown id is an error here
            slot, i = self._where[int(item)]
            include[slot].add(i)
        clash = set(q.include) & set(q.exclude)
        if clash:
            raise UsageError(f"items {sorted(clash)} are both required and excluded")
        drop = set(q.exclude) | (set(q.recently_worn) - set(q.include))
        allowed_by_slot = dict(q.allowed or {})
        unknown = set(allowed_by_slot) - set(SLOTS)
        if unknown:
            raise UsageError(f"unknown slot(s) {sorted(unknown)} (choose from {', '.join(SLOTS)})")
        allowed: list[np.ndarray] = []
        for slot, ids in enumerate(self.ids):
            if include[slot]:
                keep = np.zeros(len(ids), dtype=bool)
                keep[list(include[slot])] = True
            else:
                keep = np.ones(len(ids), dtype=bool)
                only = allowed_by_slot.get(SLOTS[slot])
                if only is not None:
                    keep &= np.isin(ids, np.fromiter(only, dtype=np.int64))
                if drop:
                    keep &= ~np.isin(ids, np.fromiter(drop, dtype=np.int64))
            allowed.append(np.flatnonzero(keep))
        return allowed, tuple(frozenset(x) for x in include)

    def _excluded(self, q: Query) -> frozenset[tuple[int, int, int]]:
        out = set()
        for triple in q.exclude_outfits:
            where = [self._where.get(int(x)) for x in triple]
            if all(w is not None and w[0] == slot for slot, w in enumerate(where)):
                out.add(tuple(w[1] for w in where))
        return frozenset(out)

    def count(self, query: Query | None = None) -> int:
        """How many outfits the query's filters allow (before diversity)."""
        allowed, _ = self._allowed(query or Query())
        return math.prod(len(a) for a in allowed)

    # ---------------------------------------------------------------- results
    def _uncertainty(self, c: Cursor) -> float:
        p = np.array(list(self.matrices.pair_scores(c.top, c.bottom, c.shoes).values()))
        return float(entropy_bits(p).sum())

    def _result(
        self,
        c: Cursor,
        *,
        exploration: bool,
        explain: bool,
        allowed: Sequence[object] | None,
        b_score: float | None = None,
    ) -> RankedOutfit:
        t, b, s = c.top, c.bottom, c.shoes
        pairs = self.matrices.pair_scores(t, b, s)
        explanation = None
        if explain and b_score is None:
            explanation = explain_outfit(self.matrices, t, b, s, allowed, self.ids)
        elif explain:
            explanation = self._explain_b(t, b, s, b_score, pairs, allowed)
        if b_score is None:
            return RankedOutfit(
                *(int(self.ids[i][x]) for i, x in enumerate((t, b, s))),
                score=float(c.score),
                pair_scores=pairs,
                exploration=exploration,
                explanation=explanation,
                uncertainty=self._uncertainty(c),
            )
        return RankedOutfit(
            *(int(self.ids[i][x]) for i, x in enumerate((t, b, s))),
            score=b_score,
            pair_scores=pairs,
            exploration=exploration,
            explanation=explanation,
            ranked_by="B",
            uncertainty=float(entropy_bits(np.array([b_score]))[0]),
            c_score=float(c.score),
        )

    def _explain_b(
        self,
        t: int,
        b: int,
        s: int,
        score: float,
        pairs: dict[str, float],
        allowed: Sequence[object] | None,
    ) -> Explanation:
        """Pair scores from C; the best swap judged by net B itself (every item of each slot)."""
        assert self.b_scorer is not None
        nt, nb, ns = self.matrices.shape
        vectors = (
            self.b_scorer.score(np.arange(nt), b, s),
            self.b_scorer.score(t, np.arange(nb), s),
            self.b_scorer.score(t, b, np.arange(ns)),
        )
        swap = best_swap((t, b, s), score, vectors, allowed, self.ids)
        return Explanation(pairs, weakest_pair(pairs), swap)

    def rate(
        self, top: int, bottom: int, shoes: int, *, explain: bool = True, by_b: bool = False
    ) -> RankedOutfit:
        """Score (and explain) any outfit, e.g. one the person composed."""
        t, b, s = self._index(top, 0), self._index(bottom, 1), self._index(shoes, 2)
        c = Cursor(self.matrices.score(t, b, s), t, b, s)
        b_score = None
        if by_b:
            b_score = float(self._need_b().score(t, b, s)[0])
        return self._result(c, exploration=False, explain=explain, allowed=None, b_score=b_score)

    def _need_b(self) -> OutfitScorer:
        if self.b_scorer is None:
            raise UsageError("ranking by net B needs a net B; this ranker has only net C")
        return self.b_scorer

    def suggest(self, query: Query | None = None) -> list[RankedOutfit]:
        """The best outfits under the query, best first, exploration outfits spread among them."""
        q = query or Query()
        if q.k <= 0:
            return []
        if not 0.0 <= q.exploration <= 1.0:
            raise UsageError(f"exploration share must be between 0 and 1, not {q.exploration}")
        if q.max_per_item is not None and q.max_per_item < 1:
            raise UsageError(f"max per item must be at least 1, not {q.max_per_item}")
        allowed, exempt = self._allowed(q)
        caps = _Caps(q.max_per_item, exempt, self._excluded(q))
        n_explore = min(q.k, int(math.floor(q.exploration * q.k + 0.5)))
        pool_size = q.exploration_pool or max(50, 5 * q.k)
        filters = [a.copy() for a in allowed]  # for swaps: the query's filters, not the caps

        if q.rescore_with_b:
            return self._suggest_b(q, allowed, caps, n_explore, pool_size, filters)

        stream = _Stream(self.matrices, allowed, caps)
        best = stream.take(q.k - n_explore)
        explore: list[Cursor] = []
        if n_explore:
            pool = stream.take(pool_size, accept=False)
            order = sorted(range(len(pool)), key=lambda i: -self._uncertainty(pool[i]))
            for i in order:
                if len(explore) == n_explore:
                    break
                if caps.fits(pool[i]):
                    caps.accept(pool[i])
                    explore.append(pool[i])
            if len(explore) < n_explore:  # the pool ran dry: fill with the next best
                best += stream.take(n_explore - len(explore))
        return [
            self._result(c, exploration=e, explain=q.explain, allowed=filters)
            for c, e in _interleave(best, explore)
        ]

    def _suggest_b(
        self,
        q: Query,
        allowed: list[np.ndarray],
        caps: _Caps,
        n_explore: int,
        pool_size: int,
        filters: list[np.ndarray],
    ) -> list[RankedOutfit]:
        """Net B over C's best ``b_pool`` outfits (diversity and exploration within that pool)."""
        scorer = self._need_b()
        no_caps = _Caps(None, caps.exempt, caps.excluded_outfits)
        pool = _Stream(self.matrices, [a.copy() for a in allowed], no_caps).take(
            max(q.b_pool, q.k), accept=False
        )
        if not pool:
            return []
        t, b, s = (np.array(x, dtype=np.int64) for x in zip(*[c[1:] for c in pool], strict=True))
        b_scores = scorer.score(t, b, s)  # (P,)
        order = np.lexsort((s, b, t, -b_scores))
        ranked = [(pool[i], float(b_scores[i])) for i in order]
        best: list[tuple[Cursor, float]] = []
        rest: list[tuple[Cursor, float]] = []
        for item in ranked:
            if len(best) < q.k - n_explore and caps.fits(item[0]):
                caps.accept(item[0])
                best.append(item)
            else:
                rest.append(item)
        explore: list[tuple[Cursor, float]] = []
        if n_explore:
            window = [x for x in rest if caps.fits(x[0])][:pool_size]
            window.sort(key=lambda x: -float(entropy_bits(np.array([x[1]]))[0]))
            for item in window:
                if len(explore) == n_explore:
                    break
                if caps.fits(item[0]):
                    caps.accept(item[0])
                    explore.append(item)
            for item in rest:  # the window ran dry: fill with the next best
                if len(best) + len(explore) >= q.k:
                    break
                if item not in explore and caps.fits(item[0]):
                    caps.accept(item[0])
                    best.append(item)
        return [
            self._result(c, exploration=e, explain=q.explain, allowed=filters, b_score=score)
            for (c, score), e in _interleave(best, explore)
        ]


__all__ = ["PAIR_KEYS", "Query", "RankedOutfit", "Ranker"]
