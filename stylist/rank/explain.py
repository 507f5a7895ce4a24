"""Why an outfit scores what it does: its pair scores, the weakest pair, the best swap.

The best single swap replaces one item by another of the same slot so that the outfit score rises
the most. With net C's pair matrices the score of every one-item variation of an outfit is one
row or column read per slot, so the whole search costs O(Nt + Nb + Ns) per outfit. A one-piece
outfit has one pair score; its best swap is another one-piece or other shoes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stylist.domain import ONE_PIECE_PAIR, ONE_PIECE_SLOT_NAMES
from stylist.rank.topk import SLOTS, PairMatrices, allowed_indices


@dataclass(frozen=True)
class Swap:
    """Replace ``old`` by ``new`` in ``slot``; the outfit then scores ``score``."""

    slot: str  # "top" | "bottom" | "shoes" | "one_piece"
    old: int  # item id (or index, when no ids were given)
    new: int
    score: float  # outfit score after the swap
    gain: float  # score after minus score before (> 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "old": self.old,
            "new": self.new,
            "score": self.score,
            "gain": self.gain,
        }

    def scaled(self, factor: float) -> Swap:
        """The same swap with its scores multiplied (a sum of three pair scores -> their mean)."""
        return Swap(self.slot, self.old, self.new, self.score * factor, self.gain * factor)


@dataclass(frozen=True)
class Explanation:
    """An outfit's pair scores, its weakest pair and the single swap that helps most."""

    # "top_bottom", "top_shoes", "bottom_shoes" (or "one_piece_shoes" alone) -> P(match)
    pair_scores: dict[str, float]
    weakest_pair: str
    best_swap: Swap | None  # None when no single swap raises the score

    def to_dict(self) -> dict[str, Any]:
        return {
            "pair_scores": dict(self.pair_scores),
            "weakest_pair": self.weakest_pair,
            "best_swap": self.best_swap.to_dict() if self.best_swap else None,
        }


def swap_scores(
    m: PairMatrices, t: int, b: int, s: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outfit score with the top, the bottom or the shoes replaced by each item of that slot.

    Returns (Nt,), (Nb,), (Ns,) float32, added in the same order as the search adds them, so
    entry ``t`` of the first equals the outfit's own score bit for bit.
    """
    tb, ts, bs = m.top_bottom, m.top_shoes, m.bottom_shoes
    by_top = tb[:, b] + ts[:, s]  # (Nt,)
    by_top += bs[b, s]
    by_bottom = tb[t, :] + ts[t, s]  # (Nb,)
    by_bottom += bs[:, s]
    by_shoes = tb[t, b] + ts[t, :]  # (Ns,)
    by_shoes += bs[b, :]
    return by_top, by_bottom, by_shoes


def best_swap(
    current: tuple[int, ...],
    score: float,
    candidates: Sequence[np.ndarray],
    allowed: Sequence[object] | None = None,
    ids: Sequence[np.ndarray] | None = None,
    slots: Sequence[str] = SLOTS,
) -> Swap | None:
    """The swap with the highest new score among ``candidates`` (new score per item, per slot).

    Only items in ``allowed`` (per slot: None, mask or indices) are considered. Ties go to the
    earlier slot (of ``slots``), then to the lower index. None when nothing beats ``score``.
    """
    allowed = tuple(allowed) if allowed is not None else (None,) * len(current)
    best: tuple[float, int, int] | None = None  # (new score, slot, index)
    for slot, (vec, spec, cur) in enumerate(zip(candidates, allowed, current, strict=True)):
        idx = allowed_indices(spec, len(vec), slots[slot])
        idx = idx[idx != cur]
        if idx.size == 0:
            continue
        i = int(idx[np.argmax(vec[idx])])  # argmax takes the first (lowest index) of ties
        new = float(vec[i])
        if new > score and (best is None or new > best[0]):
            best = (new, slot, i)
    if best is None:
        return None
    new, slot, i = best

    def item(j: int) -> int:
        return int(ids[slot][j]) if ids is not None else j

    return Swap(slots[slot], item(current[slot]), item(i), new, new - float(score))


def weakest_pair(pair_scores: dict[str, float]) -> str:
    """The pair with the lowest P(match); ties go to the earlier pair key."""
    return min(pair_scores, key=pair_scores.__getitem__)


def explain_outfit(
    m: PairMatrices,
    t: int,
    b: int,
    s: int,
    allowed: Sequence[object] | None = None,
    ids: Sequence[np.ndarray] | None = None,
) -> Explanation:
    """Explain outfit (t, b, s) (matrix indices). ``ids`` maps indices to item ids per slot."""
    pairs = m.pair_scores(t, b, s)
    vectors = swap_scores(m, t, b, s)
    swap = best_swap((t, b, s), float(vectors[0][t]), vectors, allowed, ids)
    return Explanation(pairs, weakest_pair(pairs), swap)


def explain_one_piece(
    m: PairMatrices,
    o: int,
    s: int,
    allowed: Sequence[object] | None = None,
    ids: Sequence[np.ndarray] | None = None,
) -> Explanation:
    """Explain one-piece outfit (o, s) (matrix indices): its one pair score and the best swap of
    the one-piece or the shoes. ``allowed`` and ``ids`` are (one-pieces, shoes)."""
    if m.one_piece_shoes is None:
        raise ValueError("these pair matrices hold no one-piece pair")
    p = float(m.one_piece_shoes[o, s])
    vectors = (m.one_piece_shoes[:, s], m.one_piece_shoes[o, :])  # (No,), (Ns,)
    swap = best_swap((o, s), p, vectors, allowed, ids, slots=ONE_PIECE_SLOT_NAMES)
    return Explanation({ONE_PIECE_PAIR: p}, ONE_PIECE_PAIR, swap)
