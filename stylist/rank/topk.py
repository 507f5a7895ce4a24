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
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

PAIR_KEYS = ("top_bottom", "top_shoes", "bottom_shoes")
SLOTS = ("top", "bottom", "shoes")
# Outfits scored at once while expanding pairs: 2**18 float32 = 1 MiB, cache friendly.
DEFAULT_CHUNK_OUTFITS = 1 << 18

_NEG_INF = np.float32(-np.inf)


@dataclass(frozen=True)
class PairMatrices:
    """Net C's pair probabilities of one wardrobe (float32, indices are item positions)."""

    top_bottom: np.ndarray  # (Nt, Nb)
    top_shoes: np.ndarray  # (Nt, Ns)
    bottom_shoes: np.ndarray  # (Nb, Ns)

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

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in PAIR_KEYS:
            raise KeyError(key)
        return getattr(self, key)

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
    "PAIR_KEYS",
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
