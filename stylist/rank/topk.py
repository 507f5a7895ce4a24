"""Exact top-k over every outfit of a wardrobe, from net C's three pair-score matrices.

An outfit's score is ``S[t, b, s] = (TB[t, b] + TS[t, s]) + BS[b, s]`` in float32, always added
in this order so every code path gives bit-identical scores. Outfits are ranked by score, highest
first, ties broken by (top, bottom, shoes) index ascending. That is one total order, so the top k
for any k is a prefix of the full ranking, and a search can resume right after any outfit (a
:class:`Cursor`) to produce the next best ones lazily.

The search never materialises all Nt·Nb·Ns scores. Every (top, bottom) pair gets an upper bound on
the outfits that contain it, ``R[t, b] = (TB[t, b] + max_s TS[t, s]) + max_s BS[b, s]`` (float32
rounding is monotonic, so the bound holds bit for bit). Pairs are expanded into their Ns outfits
in descending bound order, a chunk at a time; the k best seen so far are kept, and the search
stops as soon as no remaining bound reaches the k-th best score. Allowed sets per slot (filters)
restrict the search to a sub-wardrobe.

One-piece outfits (a one-piece and shoes, scored by the fourth pair matrix) are the second family.
Both are ranked on one scale, the mean of the outfit's pair probabilities: ``S / 3`` for a top,
a bottom and shoes (computed in float64 from the float32 sum, so it orders exactly as ``S``), the
one pair probability for a one-piece outfit. :class:`BothFamilies` walks both rankings at once:
the three-piece one from :class:`TopKSearch`, the one-piece one as a sorted list of every allowed
pair (it has only No·Ns entries), merged exactly. Ties between families put three-piece outfits
first; within a family they break by index as above.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from stylist.domain import ONE_PIECE_PAIR, SLOT_NAMES, THREE_PIECE_PAIRS, THREE_PIECE_SLOTS

PAIR_KEYS = THREE_PIECE_PAIRS
SLOTS = THREE_PIECE_SLOTS
# Slot indices of both families together (``domain.SLOT_NAMES``): top, bottom, shoes, one-piece.
ALL_SLOTS = SLOT_NAMES
THREE_PIECE, ONE_PIECE = 0, 1  # family numbers; on a tie of scores the lower number comes first
# Outfits scored at once while expanding pairs: 2**18 float32 = 1 MiB, cache friendly.
DEFAULT_CHUNK_OUTFITS = 1 << 18

_NEG_INF = np.float32(-np.inf)


@dataclass(frozen=True)
class PairMatrices:
    """Net C's pair probabilities of one wardrobe (float32, indices are item positions)."""

    top_bottom: np.ndarray  # (Nt, Nb)
    top_shoes: np.ndarray  # (Nt, Ns)
    bottom_shoes: np.ndarray  # (Nb, Ns)
    one_piece_shoes: np.ndarray | None = None  # (No, Ns); None: no one-piece outfits

    def __post_init__(self) -> None:
        for key in PAIR_KEYS:
            a = np.ascontiguousarray(getattr(self, key), dtype=np.float32)
            if a.ndim != 2:
                raise ValueError(f"pair matrix {key} must be 2-d, not shape {a.shape}")
            if not np.isfinite(a).all():
                raise ValueError(f"pair matrix {key} holds NaN or infinite values")
            object.__setattr__(self, key, a)
        (nt, nb), (nt2, ns), (nb2, ns2) = (
            self.top_bottom.shape,
            self.top_shoes.shape,
            self.bottom_shoes.shape,
        )
        if nt != nt2 or nb != nb2 or ns != ns2:
            raise ValueError(
                "pair matrices disagree on wardrobe size: top_bottom "
                f"{self.top_bottom.shape}, top_shoes {self.top_shoes.shape}, "
                f"bottom_shoes {self.bottom_shoes.shape}"
            )
        if self.one_piece_shoes is not None:
            a = np.ascontiguousarray(self.one_piece_shoes, dtype=np.float32)
            if a.ndim != 2 or a.shape[1] != ns:
                raise ValueError(
                    f"pair matrix {ONE_PIECE_PAIR} must have shape (No, {ns}), not {a.shape}"
                )
            if not np.isfinite(a).all():
                raise ValueError(f"pair matrix {ONE_PIECE_PAIR} holds NaN or infinite values")
            object.__setattr__(self, ONE_PIECE_PAIR, a)

    @property
    def keys(self) -> tuple[str, ...]:
        """The pair matrices held: the three classic ones, and the one-piece one if present."""
        return PAIR_KEYS if self.one_piece_shoes is None else (*PAIR_KEYS, ONE_PIECE_PAIR)

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self.keys:
            raise KeyError(key)
        return getattr(self, key)

    @property
    def n_one_pieces(self) -> int:
        return 0 if self.one_piece_shoes is None else self.one_piece_shoes.shape[0]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(Nt, Nb, Ns): number of tops, bottoms and shoes."""
        return (*self.top_bottom.shape, self.top_shoes.shape[1])

    @property
    def n_outfits(self) -> int:
        nt, nb, ns = self.shape
        return nt * nb * ns

    def scores(self, t: np.ndarray, b: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Scores of index triples (broadcastable int arrays), exactly as the search adds them."""
        out = self.top_bottom[t, b] + self.top_shoes[t, s]
        out += self.bottom_shoes[b, s]
        return out

    def score(self, t: int, b: int, s: int) -> float:
        return float(self.scores(np.asarray(t), np.asarray(b), np.asarray(s)))

    def pair_scores(self, t: int, b: int, s: int) -> dict[str, float]:
        return {
            "top_bottom": float(self.top_bottom[t, b]),
            "top_shoes": float(self.top_shoes[t, s]),
            "bottom_shoes": float(self.bottom_shoes[b, s]),
        }

    def mean(self, t: int, b: int, s: int) -> float:
        """A three-piece outfit's score on the scale of both families: its mean pair score."""
        return self.score(t, b, s) / 3.0


class Cursor(NamedTuple):
    """One outfit in the ranking: its score and item indices. A search resumes after it."""

    score: float
    top: int
    bottom: int
    shoes: int


@dataclass(frozen=True)
class Ranking:
    """Outfits in ranked order (best first): parallel arrays of scores and item indices."""

    scores: np.ndarray  # (n,) float32
    tops: np.ndarray  # (n,) int64
    bottoms: np.ndarray  # (n,) int64
    shoes: np.ndarray  # (n,) int64

    @classmethod
    def empty(cls) -> Ranking:
        i = np.empty(0, dtype=np.int64)
        return cls(np.empty(0, dtype=np.float32), i, i.copy(), i.copy())

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, i: int) -> Cursor:
        return Cursor(
            float(self.scores[i]), int(self.tops[i]), int(self.bottoms[i]), int(self.shoes[i])
        )

    def __iter__(self) -> Iterator[Cursor]:
        for i in range(len(self)):
            yield self[i]

    @property
    def last(self) -> Cursor | None:
        return self[len(self) - 1] if len(self) else None

    def triples(self) -> list[tuple[int, int, int]]:
        return list(
            zip(self.tops.tolist(), self.bottoms.tolist(), self.shoes.tolist(), strict=True)
        )


@dataclass
class SearchStats:
    """What the last search did (for benchmarks and tuning)."""

    pairs_total: int = 0
    pairs_expanded: int = 0
    outfits_scored: int = 0
    chunks: int = 0


def allowed_indices(spec: object, n: int, slot: str = "slot") -> np.ndarray:
    """Sorted unique item indices from None (all), a boolean mask (n,) or indices."""
    if spec is None:
        return np.arange(n, dtype=np.int64)
    a = np.asarray(spec)
    if a.dtype == bool:
        if a.shape != (n,):
            raise ValueError(f"{slot} mask must have shape ({n},), not {a.shape}")
        return np.flatnonzero(a).astype(np.int64)
    if a.size == 0:
        return np.empty(0, dtype=np.int64)
    if a.dtype.kind not in "iu":
        raise ValueError(f"{slot} indices must be integers, not {a.dtype}")
    a = np.unique(a.astype(np.int64).ravel())
    if a[0] < 0 or a[-1] >= n:
        raise ValueError(f"{slot} index out of range 0..{n - 1}")
    return a


def _after_mask(
    scores: np.ndarray, t: np.ndarray, b: np.ndarray, s: np.ndarray, after: Cursor
) -> np.ndarray:
    """Which outfits come strictly after the cursor in the ranking order."""
    cs = np.float32(after.score)
    later_ids = (t > after.top) | (
        (t == after.top) & ((b > after.bottom) | ((b == after.bottom) & (s > after.shoes)))
    )
    return (scores < cs) | ((scores == cs) & later_ids)


def _rank(scores: np.ndarray, t: np.ndarray, b: np.ndarray, s: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k first outfits in ranking order (score desc, then indices asc)."""
    return np.lexsort((s, b, t, -scores))[:k]


class TopKSearch:
    """Exact best outfits of a wardrobe (or of allowed subsets of its slots).

    ``allowed`` is (tops, bottoms, shoes), each None, a boolean mask or item indices.
    Indices in results always refer to rows/columns of the full matrices.
    """

    def __init__(
        self,
        matrices: PairMatrices,
        allowed: Sequence[object] | None = None,
        *,
        chunk_outfits: int = DEFAULT_CHUNK_OUTFITS,
    ) -> None:
        self.matrices = matrices
        sizes = matrices.shape
        allowed = tuple(allowed) if allowed is not None else (None, None, None)
        if len(allowed) != 3:
            raise ValueError("allowed must give one entry per slot (tops, bottoms, shoes)")
        self.indices = tuple(
            allowed_indices(a, n, slot) for a, n, slot in zip(allowed, sizes, SLOTS, strict=True)
        )
        t, b, s = self.indices
        full = tuple(len(i) == n for i, n in zip(self.indices, sizes, strict=True))
        m = matrices
        # Sub-matrices of the allowed items; index order is kept, so ties still break by the
        # original indices.
        self._tb = m.top_bottom if full[0] and full[1] else m.top_bottom[np.ix_(t, b)]
        self._ts = m.top_shoes if full[0] and full[2] else m.top_shoes[np.ix_(t, s)]
        self._bs = m.bottom_shoes if full[1] and full[2] else m.bottom_shoes[np.ix_(b, s)]
        self.chunk_outfits = max(1, int(chunk_outfits))
        self._bound: np.ndarray | None = None
        self.stats = SearchStats()

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(len(i) for i in self.indices)  # type: ignore[return-value]

    @property
    def n_outfits(self) -> int:
        nt, nb, ns = self.shape
        return nt * nb * ns

    def _pair_bounds(self) -> np.ndarray:
        """(nt*nb,) upper bound of every outfit containing each allowed (top, bottom) pair."""
        if self._bound is None:
            bound = self._tb + self._ts.max(axis=1)[:, None]  # (nt, nb)
            bound += self._bs.max(axis=1)[None, :]
            self._bound = bound.ravel()
        return self._bound

    def top(self, k: int, after: Cursor | None = None) -> Ranking:
        """The k best outfits (strictly after ``after`` in ranking order, when given)."""
        nt, nb, ns = self.shape
        self.stats = SearchStats(pairs_total=nt * nb)
        if k <= 0 or nt * nb * ns == 0:
            return Ranking.empty()
        bound = self._pair_bounds()
        per_chunk = max(1, self.chunk_outfits // ns)
        kept = Ranking.empty()
        n_pairs = nt * nb
        if n_pairs <= per_chunk:
            first = np.argsort(-bound, kind="stable")
        else:
            # Best-bound pairs first: their outfits give a good k-th score to prune with.
            first = np.argpartition(-bound, per_chunk - 1)[:per_chunk]
            first = first[np.argsort(-bound[first], kind="stable")]
        kept = self._expand(first, k, after, kept)
        if n_pairs > per_chunk:
            theta = self._theta(kept, k)
            todo = bound >= theta
            todo[first] = False
            rest = np.flatnonzero(todo)
            rest = rest[np.argsort(-bound[rest], kind="stable")]
            for c0 in range(0, len(rest), per_chunk):
                theta = self._theta(kept, k)
                chunk = rest[c0 : c0 + per_chunk]
                if bound[chunk[0]] < theta:
                    break  # bounds are sorted: nothing left can reach the k-th best
                kept = self._expand(chunk[bound[chunk] >= theta], k, after, kept)
        return kept

    @staticmethod
    def _theta(kept: Ranking, k: int) -> np.float32:
        """Score an outfit needs to enter the kept k (ties may still enter by index)."""
        return kept.scores[-1] if len(kept) >= k else _NEG_INF

    def _expand(self, pairs: np.ndarray, k: int, after: Cursor | None, kept: Ranking) -> Ranking:
        """Score every outfit of these (top, bottom) pairs; merge the best into ``kept``."""
        if len(pairs) == 0:
            return kept
        _, nb, ns = self.shape
        t_all, b_all, s_all = self.indices
        ti, bi = np.divmod(pairs, nb)  # positions in the allowed sub-matrices
        vals = self._tb[ti, bi][:, None] + self._ts[ti]  # (C, ns)
        vals += self._bs[bi]
        flat = vals.ravel()
        self.stats.pairs_expanded += len(pairs)
        self.stats.outfits_scored += flat.size
        self.stats.chunks += 1

        theta = self._theta(kept, k)
        if theta > _NEG_INF and after is not None:
            cand = np.flatnonzero((flat >= theta) & (flat <= np.float32(after.score)))
        elif theta > _NEG_INF:
            cand = np.flatnonzero(flat >= theta)
        elif after is not None:
            cand = np.flatnonzero(flat <= np.float32(after.score))
        else:
            cand = np.arange(flat.size)
        if after is not None and cand.size:
            row, col = np.divmod(cand, ns)
            keep = _after_mask(flat[cand], t_all[ti[row]], b_all[bi[row]], s_all[col], after)
            cand = cand[keep]
        if cand.size > k:
            v = flat[cand]
            kth = np.partition(v, v.size - k)[v.size - k]
            cand = cand[v >= kth]  # ties with the k-th value all stay: order decides later
        if cand.size == 0:
            return kept
        row, col = np.divmod(cand, ns)
        scores = np.concatenate([kept.scores, flat[cand]])
        t = np.concatenate([kept.tops, t_all[ti[row]]])
        b = np.concatenate([kept.bottoms, b_all[bi[row]]])
        s = np.concatenate([kept.shoes, s_all[col]])
        order = _rank(scores, t, b, s, k)
        return Ranking(scores[order], t[order], b[order], s[order])

    def stream(
        self, batch: int = 64, after: Cursor | None = None, max_batch: int = 4096
    ) -> Iterator[Cursor]:
        """Every allowed outfit in ranking order, produced lazily in growing batches."""
        cursor = after
        batch = max(1, batch)
        while True:
            ranking = self.top(batch, after=cursor)
            yield from ranking
            if len(ranking) < batch:
                return
            cursor = ranking.last
            batch = min(2 * batch, max(batch, max_batch))


class Found(NamedTuple):
    """One outfit of either family in the ranking of both."""

    score: float  # the mean pair probability (0..1), the key both families are ranked by
    family: int  # THREE_PIECE or ONE_PIECE
    idx: tuple[int, ...]  # matrix indices: (top, bottom, shoes) or (one-piece, shoes)
    cursor: Cursor | None = None  # three-piece: where its search resumes after it

    def order(self) -> tuple:
        """Sort key of the ranking of both families (smaller comes first)."""
        return (-self.score, self.family, self.idx)

    def slots(self) -> tuple[int | None, int | None, int, int | None]:
        """Indices per slot of ``ALL_SLOTS`` (top, bottom, shoes, one-piece); None: not used."""
        if self.family == ONE_PIECE:
            return (None, None, self.idx[1], self.idx[0])
        return (self.idx[0], self.idx[1], self.idx[2], None)


def _found(c: Cursor) -> Found:
    return Found(c.score / 3.0, THREE_PIECE, (c.top, c.bottom, c.shoes), c)


class OnePieceList:
    """Every allowed (one-piece, shoes) pair, best first: score desc, then indices ascending."""

    def __init__(self, matrix: np.ndarray | None, rows: np.ndarray, cols: np.ndarray) -> None:
        if matrix is None or len(rows) == 0 or len(cols) == 0:
            self.scores = np.empty(0, np.float32)
            self.o = self.s = np.empty(0, np.int64)
            return
        vals = matrix[np.ix_(rows, cols)].ravel()  # (no*ns,)
        o, s = (x.ravel() for x in np.meshgrid(rows, cols, indexing="ij"))
        order = np.lexsort((s, o, -vals))
        self.scores, self.o, self.s = vals[order], o[order], s[order]

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, i: int) -> Found:
        return Found(float(self.scores[i]), ONE_PIECE, (int(self.o[i]), int(self.s[i])))

    def first_after(self, last: Found | None) -> int:
        """Position of the first entry that comes after ``last`` (a one-piece entry) or 0."""
        if last is None:
            return 0
        # Scores descend: entries with a lower score, or the same score and later indices.
        score = np.float32(last.score)
        lo = int(np.searchsorted(-self.scores, -score, side="left"))
        hi = int(np.searchsorted(-self.scores, -score, side="right"))
        o, s = last.idx
        later = (self.o[lo:hi] > o) | ((self.o[lo:hi] == o) & (self.s[lo:hi] > s))
        return lo + int(np.argmax(later)) if later.any() else hi


class BothFamilies:
    """Every allowed outfit of both families in ranking order, one at a time (exact).

    ``allowed`` gives one entry per slot of ``ALL_SLOTS`` (top, bottom, shoes, one-piece): None,
    a boolean mask or item indices. :meth:`restrict` narrows the allowed items and resumes right
    after the last outfit taken.
    """

    def __init__(self, matrices: PairMatrices, allowed: Sequence[object] | None = None) -> None:
        self.m = matrices
        self.last3: Cursor | None = None  # the last three-piece outfit taken
        self.last1: Found | None = None  # the last one-piece outfit taken
        self.restrict(allowed)

    def restrict(self, allowed: Sequence[object] | None) -> None:
        allowed = tuple(allowed) if allowed is not None else (None,) * 4
        if len(allowed) != 4:
            raise ValueError("allowed must give one entry per slot (top, bottom, shoes, one-piece)")
        sizes = (*self.m.shape, self.m.n_one_pieces)
        self.allowed = [
            allowed_indices(a, n, slot)
            for a, n, slot in zip(allowed, sizes, ALL_SLOTS, strict=True)
        ]
        self.search = TopKSearch(self.m, self.allowed[:3])
        self._batch = 16  # small first batches: a narrowed search often needs only a few
        self.buffer: deque[Cursor] = deque()
        self.exhausted3 = False
        self.ones = OnePieceList(self.m.one_piece_shoes, self.allowed[3], self.allowed[2])
        self.pos1 = self.ones.first_after(self.last1)

    def _peek3(self, hint: int) -> Cursor | None:
        if not self.buffer and not self.exhausted3:
            n = max(self._batch, 2 * hint)
            got = self.search.top(n, after=self.last3)
            self.buffer.extend(got)
            self.exhausted3 = len(got) < n
            self._batch = min(4096, 2 * self._batch)
        return self.buffer[0] if self.buffer else None

    def next(self, hint: int = 1) -> Found | None:
        """The next outfit of the ranking of both families; None when every one was taken.
        ``hint``: how many more outfits the caller expects to take (sizes the search batches)."""
        c = self._peek3(hint)
        three = _found(c) if c is not None else None
        one = self.ones[self.pos1] if self.pos1 < len(self.ones) else None
        if three is not None and (one is None or three.order() < one.order()):
            self.buffer.popleft()
            self.last3 = c
            return three
        if one is not None:
            self.pos1 += 1
            self.last1 = one
            return one
        return None

    def take(self, n: int) -> list[Found]:
        out: list[Found] = []
        while len(out) < n:
            f = self.next(n - len(out))
            if f is None:
                break
            out.append(f)
        return out


def brute_force_both(
    matrices: PairMatrices, k: int, allowed: Sequence[object] | None = None
) -> list[Found]:
    """Reference: every allowed outfit of both families scored and sorted; the first k."""
    allowed = tuple(allowed) if allowed is not None else (None,) * 4
    three = brute_force_top_k(matrices, matrices.n_outfits, allowed[:3])
    found = [_found(c) for c in three]
    sizes = (*matrices.shape, matrices.n_one_pieces)
    o_idx, s_idx = (allowed_indices(allowed[i], sizes[i], ALL_SLOTS[i]) for i in (3, 2))
    if matrices.one_piece_shoes is not None:
        found += [
            Found(float(matrices.one_piece_shoes[o, s]), ONE_PIECE, (int(o), int(s)))
            for o in o_idx
            for s in s_idx
        ]
    found.sort(key=Found.order)
    return found[: max(k, 0)]


def top_k(
    matrices: PairMatrices,
    k: int,
    allowed: Sequence[object] | None = None,
    after: Cursor | None = None,
) -> Ranking:
    """The k best outfits of a wardrobe, exactly (see :class:`TopKSearch`)."""
    return TopKSearch(matrices, allowed).top(k, after=after)


def brute_force_top_k(
    matrices: PairMatrices,
    k: int,
    allowed: Sequence[object] | None = None,
    after: Cursor | None = None,
) -> Ranking:
    """Reference: score every outfit, sort, take k. Only for wardrobes small enough."""
    sizes = matrices.shape
    allowed = tuple(allowed) if allowed is not None else (None, None, None)
    t, b, s = (
        allowed_indices(a, n, slot) for a, n, slot in zip(allowed, sizes, SLOTS, strict=True)
    )
    tt, bb, ss = (x.ravel() for x in np.meshgrid(t, b, s, indexing="ij"))
    scores = matrices.scores(tt, bb, ss)
    if after is not None:
        keep = _after_mask(scores, tt, bb, ss, after)
        scores, tt, bb, ss = scores[keep], tt[keep], bb[keep], ss[keep]
    order = _rank(scores, tt, bb, ss, max(k, 0))
    return Ranking(scores[order], tt[order], bb[order], ss[order])


__all__ = [
    "ALL_SLOTS",
    "ONE_PIECE",
    "PAIR_KEYS",
    "THREE_PIECE",
    "BothFamilies",
    "Found",
    "OnePieceList",
    "brute_force_both",
    "SLOTS",
    "Cursor",
    "PairMatrices",
    "Ranking",
    "SearchStats",
    "TopKSearch",
    "allowed_indices",
    "brute_force_top_k",
    "top_k",
]
