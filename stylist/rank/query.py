"""Suggestions: the best outfits of a wardrobe under a query, with diversity and exploration.

A :class:`Ranker` holds one wardrobe (item ids per slot) and net C's pair matrices for it. An
outfit is a top, a bottom and shoes, or (when net C has the one-piece pair) a one-piece and shoes;
both families are ranked in one stream by their mean pair probability (see
:mod:`stylist.rank.topk`). A :class:`Query` says which items must be in the outfit, which must
not, which items a slot may use (categories, tags, "not worn lately"), how often one item may
appear among the shown outfits, and what share of them are exploration outfits (the model is least
sure of them, so a verdict on them teaches it most). Suggestions come from the exact ranking of
every allowed outfit; diversity is a greedy pass over that ranking, pulling further outfits lazily
as items reach their cap. With net B, a candidate pool from C is rescored by B (flagged in each
result as ``ranked_by="B"``; B judges three-piece outfits only, one-piece ones keep C's score).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from stylist.domain import ONE_PIECE_PAIR, Outfit
from stylist.errors import UsageError
from stylist.rank.explain import (
    Explanation,
    best_swap,
    explain_one_piece,
    explain_outfit,
    weakest_pair,
)
from stylist.rank.matching import MatchingNet, OutfitScorer, entropy_bits, stack_slots
from stylist.rank.topk import (
    ALL_SLOTS,
    ONE_PIECE,
    PAIR_KEYS,
    SLOTS,
    THREE_PIECE,
    BothFamilies,
    Found,
    PairMatrices,
)
from stylist.tasks import Cancel, Progress

if TYPE_CHECKING:
    from stylist.rank.cache import PairCache

DEFAULT_B_POOL = 500
TOP, BOTTOM, SHOES, ONE = range(4)  # slot indices of ALL_SLOTS


@dataclass(frozen=True)
class Query:
    """What to suggest. Item ids throughout; ids of items not in the wardrobe are ignored,
    except in ``include``, where they are an error."""

    k: int = 10
    # Items that must be in every outfit; each fixes its slot. Several in one slot: any of them.
    # A one-piece asks for one-piece outfits, a top or bottom for three-piece ones.
    include: Collection[int] = ()
    exclude: Collection[int] = ()
    # Excluded like ``exclude``, but an item the person asked for in ``include`` wins.
    recently_worn: Collection[int] = ()
    # Per slot ("top", "bottom", "shoes", "one_piece"): only these items (a category or tag
    # filter).
    allowed: Mapping[str, Collection[int]] | None = None
    # Whole outfits never to show again: ``Outfit`` values, or (top, bottom, shoes) ids.
    exclude_outfits: Collection[Outfit | tuple[int, ...]] = ()
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


def match_percent(score: float) -> float:
    """An outfit's (or a pair's) match as the app shows it everywhere: a percentage with one
    decimal, never 0 nor 100 (no model is certain). One decimal, because a person's best outfits
    lie within a few points of each other: in whole percentages the best twenty of a trained
    model read as a handful of repeated figures that tell them apart no better than a tie."""
    return min(99.9, max(0.1, round(100 * float(score), 1)))


@dataclass(frozen=True)
class RankedOutfit:
    """One suggested (or rated) outfit: a top, a bottom and shoes, or a one-piece and shoes."""

    top: int | None
    bottom: int | None
    shoes: int
    score: float  # net C: mean of the pair scores (0..1); net B: P(match) (0..1)
    pair_scores: dict[str, float]  # net C's P(match) per pair (one pair for a one-piece)
    exploration: bool = False
    explanation: Explanation | None = None
    ranked_by: str = "C"  # "C": exact over every outfit; "B": C's pool rescored by B
    uncertainty: float = 0.0  # bits: mean entropy of the pair scores (C), B's entropy (B)
    c_score: float | None = None  # net C's score when ranked by B
    one_piece: int | None = None

    def outfit(self) -> Outfit:
        return Outfit(self.top, self.bottom, self.shoes, self.one_piece)

    def ids(self) -> tuple[int, ...]:
        return self.outfit().ids()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; pair scores, weakest pair and best swap only when explained."""
        d: dict[str, Any] = {
            **self.outfit().to_dict(),
            "score": self.score,
            "match": match_percent(self.score),  # the percentage the window shows
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
    exempt: tuple[frozenset[int], ...]  # per slot of ALL_SLOTS, indices never capped
    excluded_outfits: frozenset[tuple[int | None, ...]]  # Found.slots() of outfits never shown
    counts: tuple[dict[int, int], ...] = field(default_factory=lambda: ({}, {}, {}, {}))
    newly_capped: list[tuple[int, int]] = field(default_factory=list)  # (slot, index)

    def fits(self, f: Found) -> bool:
        slots = f.slots()
        if slots in self.excluded_outfits:
            return False
        if self.cap is None:
            return True
        return all(
            i is None or i in self.exempt[slot] or self.counts[slot].get(i, 0) < self.cap
            for slot, i in enumerate(slots)
        )

    def accept(self, f: Found) -> None:
        if self.cap is None:
            return
        for slot, i in enumerate(f.slots()):
            if i is None:
                continue
            n = self.counts[slot].get(i, 0) + 1
            self.counts[slot][i] = n
            if n >= self.cap and i not in self.exempt[slot]:
                self.newly_capped.append((slot, i))


class _Stream:
    """The exact ranking of allowed outfits of both families, walked once; items at their cap
    leave the search.

    Skipping every outfit that holds a capped item is the same as searching without that item,
    so the search is narrowed and resumes after the last outfit looked at. Until then the capped
    item's outfits are only skipped (they stay correctly ordered), so narrowing waits until the
    three-piece search needs its next batch.
    """

    def __init__(self, m: PairMatrices, allowed: list[np.ndarray], caps: _Caps) -> None:
        self.allowed, self.caps = allowed, caps
        self.both = BothFamilies(m, allowed)

    def _next(self, hint: int) -> Found | None:
        if self.caps.newly_capped and not self.both.buffer:
            for slot, i in self.caps.newly_capped:
                self.allowed[slot] = self.allowed[slot][self.allowed[slot] != i]
            self.caps.newly_capped.clear()
            self.both.restrict(self.allowed)
        return self.both.next(hint)

    def take(self, n: int, accept: bool = True) -> list[Found]:
        """The next n outfits that fit the caps; ``accept=False`` only looks (a pool)."""
        out: list[Found] = []
        while len(out) < n:
            f = self._next(n - len(out))
            if f is None:
                break
            if self.caps.fits(f):
                if accept:
                    self.caps.accept(f)
                out.append(f)
        return out


def _interleave(best: list[Any], explore: list[Any]) -> list[tuple[Any, bool]]:
    """Exploration outfits spread evenly through the list, never first."""
    total = len(best) + len(explore)
    at = {(j + 1) * total // (len(explore) + 1): e for j, e in enumerate(explore)}
    rest = iter(best)
    return [(at[i], True) if i in at else (next(rest), False) for i in range(total)]


class Ranker:
    """Suggestions for one wardrobe: item ids per slot and net C's pair matrices over them.

    ``ids`` are the three classic slots (tops, bottoms, shoes); ``one_piece_ids`` the one-pieces,
    the rows of the matrices' one-piece pair (empty when the net has none).
    """

    def __init__(
        self,
        top_ids: Sequence[int],
        bottom_ids: Sequence[int],
        shoe_ids: Sequence[int],
        matrices: PairMatrices,
        b_scorer: OutfitScorer | None = None,
        one_piece_ids: Sequence[int] = (),
    ) -> None:
        self.ids = tuple(np.asarray(x, dtype=np.int64) for x in (top_ids, bottom_ids, shoe_ids))
        self.one_piece_ids = np.asarray(one_piece_ids, dtype=np.int64)
        if tuple(len(x) for x in self.ids) != matrices.shape:
            raise ValueError(
                f"item ids per slot {tuple(len(x) for x in self.ids)} do not match "
                f"pair matrices {matrices.shape}"
            )
        if len(self.one_piece_ids) != matrices.n_one_pieces:
            raise ValueError(
                f"{len(self.one_piece_ids)} one-piece ids do not match the "
                f"{matrices.n_one_pieces} rows of the one-piece pair matrix"
            )
        self.matrices = matrices
        self.b_scorer = b_scorer
        self._where: dict[int, tuple[int, int]] = {}  # item id -> (slot of ALL_SLOTS, index)
        for slot, ids in enumerate(self.slot_ids):
            for i, item in enumerate(ids.tolist()):
                if item in self._where:
                    raise ValueError(f"item {item} appears twice in the wardrobe")
                self._where[item] = (slot, i)

    @property
    def slot_ids(self) -> tuple[np.ndarray, ...]:
        """Item ids per slot of ``ALL_SLOTS``: tops, bottoms, shoes, one-pieces."""
        return (*self.ids, self.one_piece_ids)

    @classmethod
    def from_features(
        cls,
        net: MatchingNet,
        tops: Mapping[int, np.ndarray],
        bottoms: Mapping[int, np.ndarray],
        shoes: Mapping[int, np.ndarray],
        *,
        one_pieces: Mapping[int, np.ndarray] | None = None,
        net_b: MatchingNet | None = None,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
        cache: PairCache | None = None,
        features_sha256: str = "",
    ) -> Ranker:
        """Build from features per item id (net C, optionally net B); Cancelled when cancelled.

        ``one_pieces`` take part only when net C has the one-piece pair. ``cache``: pair matrices
        kept on disk (see ``rank.cache``), for features of the backbone file ``features_sha256``;
        without it they are all computed here.
        """
        if not net.has_one_piece:
            one_pieces = None
        slots = (tops, bottoms, shoes, one_pieces or {})
        ids, feats = stack_slots(slots, net.feature_dim)
        if cache is not None:
            matrices = cache.stacked(
                net, features_sha256, ids, feats, progress=progress, cancel=cancel
            )
        else:
            matrices = net.pair_matrices(
                *feats[:3],
                feats[3] if net.has_one_piece else None,
                progress=progress,
                cancel=cancel,
            )
        scorer = net_b.outfit_scorer(*feats[:3]) if net_b is not None else None
        one_piece_ids = ids[3] if matrices.one_piece_shoes is not None else ()
        return cls(*ids[:3], matrices, b_scorer=scorer, one_piece_ids=one_piece_ids)

    # ---------------------------------------------------------------- look-ups
    @property
    def n_outfits(self) -> int:
        return self.matrices.n_outfits + self.matrices.n_one_pieces * self.matrices.shape[2]

    @property
    def has_one_piece(self) -> bool:
        """Whether this ranker can score one-piece outfits (its net has the one-piece pair)."""
        return self.matrices.one_piece_shoes is not None

    def slot_of(self, item_id: int) -> str | None:
        where = self._where.get(int(item_id))
        return ALL_SLOTS[where[0]] if where else None

    def _index(self, item_id: int, slot: int | None = None) -> int:
        where = self._where.get(int(item_id))
        if where is None or (slot is not None and where[0] != slot):
            if slot == ONE and not self.has_one_piece:
                raise UsageError(
                    f"item {item_id} cannot be scored: this model has no one-piece pair network"
                )
            what = (
                f"a {ALL_SLOTS[slot].replace('_', '-')}"
                if slot is not None
                else "a top, bottom, shoes or one-piece"
            )
            raise UsageError(f"item {item_id} is not {what} with features in this wardrobe")
        return where[1]

    def _allowed(self, q: Query) -> tuple[list[np.ndarray], tuple[frozenset[int], ...]]:
        """Allowed indices per slot of ``ALL_SLOTS``, and the included indices (exempt from caps).

        A family that cannot hold every included slot is left out: a required one-piece leaves
        out three-piece outfits, a required top or bottom leaves out one-piece ones.
        """
        include: list[set[int]] = [set() for _ in ALL_SLOTS]
        for item in q.include:
            self._index(item)  # an unknown id is an error here
            slot, i = self._where[int(item)]
            include[slot].add(i)
        clash = set(q.include) & set(q.exclude)
        if clash:
            raise UsageError(f"items {sorted(clash)} are both required and excluded")
        drop = set(q.exclude) | (set(q.recently_worn) - set(q.include))
        allowed_by_slot = dict(q.allowed or {})
        unknown = set(allowed_by_slot) - set(ALL_SLOTS)
        if unknown:
            raise UsageError(
                f"unknown slot(s) {sorted(unknown)} (choose from {', '.join(ALL_SLOTS)})"
            )
        allowed: list[np.ndarray] = []
        for slot, ids in enumerate(self.slot_ids):
            if include[slot]:
                keep = np.zeros(len(ids), dtype=bool)
                keep[list(include[slot])] = True
            else:
                keep = np.ones(len(ids), dtype=bool)
                only = allowed_by_slot.get(ALL_SLOTS[slot])
                if only is not None:
                    keep &= np.isin(ids, np.fromiter(only, dtype=np.int64))
                if drop:
                    keep &= ~np.isin(ids, np.fromiter(drop, dtype=np.int64))
            allowed.append(np.flatnonzero(keep))
        none = np.empty(0, dtype=np.int64)
        if include[ONE]:
            allowed[TOP] = none  # no three-piece outfit holds a one-piece
        if include[TOP] or include[BOTTOM]:
            allowed[ONE] = none
        return allowed, tuple(frozenset(x) for x in include)

    def _excluded(self, q: Query) -> frozenset[tuple[int | None, ...]]:
        out = set()
        for value in q.exclude_outfits:
            outfit = value if isinstance(value, Outfit) else Outfit.of(value)
            slots = (outfit.top, outfit.bottom, outfit.shoes, outfit.one_piece)
            where = [None if x is None else self._where.get(int(x)) for x in slots]
            if all(
                (x is None) == (w is None) and (w is None or w[0] == slot)
                for slot, (x, w) in enumerate(zip(slots, where, strict=True))
            ):
                out.add(tuple(None if w is None else w[1] for w in where))
        return frozenset(out)

    def count(self, query: Query | None = None) -> int:
        """How many outfits the query's filters allow (before diversity)."""
        allowed, _ = self._allowed(query or Query())
        three = math.prod(len(a) for a in allowed[:3])
        return three + (len(allowed[ONE]) * len(allowed[SHOES]) if self.has_one_piece else 0)

    # ---------------------------------------------------------------- results
    def _pair_scores(self, f: Found) -> dict[str, float]:
        if f.family == ONE_PIECE:
            o, s = f.idx
            return {ONE_PIECE_PAIR: float(self.matrices.one_piece_shoes[o, s])}
        return self.matrices.pair_scores(*f.idx)

    def _uncertainty(self, f: Found) -> float:
        """Mean entropy of the outfit's pair scores, in bits: the same scale for both families."""
        p = np.array(list(self._pair_scores(f).values()))
        return float(entropy_bits(p).mean())

    def _item_ids(self, f: Found) -> dict[str, int | None]:
        return {
            name: None if i is None else int(self.slot_ids[slot][i])
            for slot, (name, i) in enumerate(zip(ALL_SLOTS, f.slots(), strict=True))
        }

    def _explain(self, f: Found, filters: Sequence[object] | None) -> Explanation:
        filters = filters if filters is not None else (None,) * 4
        if f.family == ONE_PIECE:
            ids = (self.one_piece_ids, self.ids[SHOES])
            return explain_one_piece(self.matrices, *f.idx, (filters[ONE], filters[SHOES]), ids)
        e = explain_outfit(self.matrices, *f.idx, filters[:3], self.ids)
        # explain_outfit works on sums of three pair scores; outfits are shown by their mean.
        swap = e.best_swap.scaled(1 / 3) if e.best_swap is not None else None
        return Explanation(e.pair_scores, e.weakest_pair, swap)

    def _result(
        self,
        f: Found,
        *,
        exploration: bool,
        explain: bool,
        allowed: Sequence[object] | None,
        b_score: float | None = None,
    ) -> RankedOutfit:
        ids = self._item_ids(f)
        pairs = self._pair_scores(f)
        if b_score is None:
            return RankedOutfit(
                **ids,
                score=float(f.score),
                pair_scores=pairs,
                exploration=exploration,
                explanation=self._explain(f, allowed) if explain else None,
                uncertainty=self._uncertainty(f),
            )
        t, b, s = f.idx
        return RankedOutfit(
            **ids,
            score=b_score,
            pair_scores=pairs,
            exploration=exploration,
            explanation=self._explain_b(t, b, s, b_score, pairs, allowed) if explain else None,
            ranked_by="B",
            uncertainty=float(entropy_bits(np.array([b_score]))[0]),
            c_score=float(f.score),
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
        swap = best_swap((t, b, s), score, vectors, allowed[:3] if allowed else None, self.ids)
        return Explanation(pairs, weakest_pair(pairs), swap)

    def rate(
        self,
        outfit: Outfit | int,
        bottom: int | None = None,
        shoes: int | None = None,
        *,
        explain: bool = True,
        by_b: bool = False,
    ) -> RankedOutfit:
        """Score (and explain) any outfit, e.g. one the person composed: an ``Outfit``, or the
        ids of a top, a bottom and shoes. Net B judges three-piece outfits only."""
        if not isinstance(outfit, Outfit):
            outfit = Outfit(outfit, bottom, shoes)
        if outfit.is_one_piece:
            o, s = self._index(outfit.one_piece, ONE), self._index(outfit.shoes, SHOES)
            f = Found(float(self.matrices.one_piece_shoes[o, s]), ONE_PIECE, (o, s))
            return self._result(f, exploration=False, explain=explain, allowed=None)
        t, b = self._index(outfit.top, TOP), self._index(outfit.bottom, BOTTOM)
        s = self._index(outfit.shoes, SHOES)
        f = Found(self.matrices.mean(t, b, s), THREE_PIECE, (t, b, s))
        b_score = float(self._need_b().score(t, b, s)[0]) if by_b else None
        return self._result(f, exploration=False, explain=explain, allowed=None, b_score=b_score)

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
        explore: list[Found] = []
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
            self._result(f, exploration=e, explain=q.explain, allowed=filters)
            for f, e in _interleave(best, explore)
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
        """Net B over C's best ``b_pool`` outfits (diversity and exploration within that pool).
        One-piece outfits in the pool keep net C's score (net B has no one-piece input)."""
        scorer = self._need_b()
        no_caps = _Caps(None, caps.exempt, caps.excluded_outfits)
        pool = _Stream(self.matrices, [a.copy() for a in allowed], no_caps).take(
            max(q.b_pool, q.k), accept=False
        )
        if not pool:
            return []
        three = [i for i, f in enumerate(pool) if f.family == THREE_PIECE]
        scores = [f.score for f in pool]
        if three:
            t, b, s = (
                np.array(x, dtype=np.int64) for x in zip(*[pool[i].idx for i in three], strict=True)
            )
            for i, v in zip(three, scorer.score(t, b, s).tolist(), strict=True):  # (P,)
                scores[i] = v
        order = sorted(range(len(pool)), key=lambda i: (-scores[i], pool[i].family, pool[i].idx))
        ranked = [(pool[i], scores[i]) for i in order]
        best: list[tuple[Found, float]] = []
        rest: list[tuple[Found, float]] = []
        for item in ranked:
            if len(best) < q.k - n_explore and caps.fits(item[0]):
                caps.accept(item[0])
                best.append(item)
            else:
                rest.append(item)
        explore: list[tuple[Found, float]] = []
        if n_explore:
            window = [x for x in rest if caps.fits(x[0])][:pool_size]
            window.sort(key=lambda x: -self._b_uncertainty(*x))
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
            self._result(
                f,
                exploration=e,
                explain=q.explain,
                allowed=filters,
                b_score=score if f.family == THREE_PIECE else None,
            )
            for (f, score), e in _interleave(best, explore)
        ]

    def _b_uncertainty(self, f: Found, score: float) -> float:
        if f.family == THREE_PIECE:
            return float(entropy_bits(np.array([score]))[0])
        return self._uncertainty(f)


__all__ = ["PAIR_KEYS", "SLOTS", "Query", "RankedOutfit", "Ranker"]
