"""Negative outfits for the rank loss: random ones, as the paper draws them, and leak-matched ones.

Items are integer indices into one item table; an outfit is a (top, bottom, shoes) index triple.

*Random* negatives (the paper's): a top, a bottom and shoes drawn uniformly from the split's pools,
never a known positive.

*Same-collection* negatives are random ones drawn, slot by slot, from the positive's own
collection (``groups``: the shoot each item comes from). Product photos of one shoot share a
background tint; a negative mixing two shoots would be told apart by the tint alone.

*Leak-matched* negatives exist because every crop of a street-photo outfit comes from one photo
(same light, same scale): a net can learn "these came from one photo" instead of "these go
together". A leak-matched negative replaces each slot of a positive with a crop from another
photo whose width, height and background share are close to the replaced crop's. Each round of
negatives is a near-permutation of the pool: every crop is used about once per round, so a crop's
size shows up as often among negatives as among positives and no size cue tells them apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

NEGATIVES_PER_POSITIVE = 6


def _as_key(triple: Iterable[int]) -> tuple[int, int, int]:
    t, b, s = (int(x) for x in triple)
    return (t, b, s)


class NegativeSampler:
    """Draws ``per_positive`` negatives for every positive, afresh at each call (each epoch).

    positives: (P, 3) item indices. pools: the items each slot may draw from. origin: (N,) the
    photo (or outfit) each item comes from; a matched negative never mixes crops of one photo.
    known: every known positive triple (never returned as a negative). stats: (N, F) size
    statistics per item, needed for ``mode="matched"``. groups: (N,) the collection of every
    item; random negatives then draw each slot from the positive's own collection.
    """

    def __init__(
        self,
        positives: np.ndarray,
        pools: Sequence[np.ndarray],
        *,
        origin: np.ndarray | None = None,
        known: Iterable[Iterable[int]] = (),
        stats: np.ndarray | None = None,
        groups: np.ndarray | None = None,
        mode: str = "random",
        per_positive: int = NEGATIVES_PER_POSITIVE,
        leaf: int = 4,
    ) -> None:
        if mode not in ("random", "matched"):
            raise ValueError(f"unknown negative mode {mode!r} (use random or matched)")
        self.positives = np.asarray(positives, dtype=np.int64).reshape(-1, 3)
        self.pools = [np.unique(np.asarray(p, dtype=np.int64)) for p in pools]
        if any(p.size == 0 for p in self.pools):
            raise ValueError("every slot needs at least one item to draw negatives from")
        self.known = {_as_key(k) for k in known} | {_as_key(p) for p in self.positives}
        n_items = 1 + max(int(self.positives.max(initial=0)), *(int(p.max()) for p in self.pools))
        self.origin = (
            np.arange(n_items, dtype=np.int64)
            if origin is None
            else np.asarray(origin, dtype=np.int64)
        )
        self.mode = mode
        self.per_positive = per_positive
        self.leaf = leaf
        self._group_of_positive: np.ndarray | None = None
        self._group_pools: dict[int, list[np.ndarray]] = {}
        if groups is not None and mode == "random":
            groups = np.asarray(groups, dtype=np.int64)
            # A positive's collection: that of its first slot (an outfit never mixes shoots).
            self._group_of_positive = groups[self.positives[:, 0]]
            for g in np.unique(self._group_of_positive):
                pools_g = [p[groups[p] == g] for p in self.pools]
                # A collection with no item for a slot draws that slot from every collection.
                self._group_pools[int(g)] = [
                    pg if pg.size else p for pg, p in zip(pools_g, self.pools, strict=True)
                ]
        if mode == "matched":
            if stats is None:
                raise ValueError("matched negatives need size statistics per item")
            self._slots = [self._prepare_slot(np.asarray(stats, np.float64), k) for k in range(3)]

    # -- matched ---------------------------------------------------------------------------

    def _prepare_slot(self, stats: np.ndarray, slot: int) -> tuple[np.ndarray, np.ndarray]:
        """Standardised statistics of the slot's pool, and for every positive the pool position
        of its crop (or of the pool item nearest to it, for a crop outside the pool)."""
        pool = self.pools[slot]
        s = stats[pool]
        mu, sd = s.mean(axis=0), s.std(axis=0) + 1e-9
        z = (s - mu) / sd  # (n, F)
        anchors = (stats[self.positives[:, slot]] - mu) / sd  # (P, F)
        dist = ((anchors[:, None, :] - z[None, :, :]) ** 2).sum(axis=2)  # (P, n)
        return z, dist.argmin(axis=1)

    def _local_permutation(self, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A permutation of the pool that moves every item to a similar one.

        The pool is split recursively at the median of its widest statistic (on slightly
        jittered values, so the cells differ from draw to draw) into cells of ``leaf`` to
        2·``leaf`` items; inside a cell the items are shifted one place along a random cycle.
        Every item is used exactly once, and never in its own place.
        """
        n = z.shape[0]
        perm = np.arange(n)
        if n < 2:
            return perm
        jittered = z + rng.normal(0.0, 0.25, size=z.shape)
        stack = [np.arange(n)]
        while stack:
            idx = stack.pop()
            if idx.size < 2 * self.leaf:
                cycle = rng.permutation(idx)
                perm[cycle] = np.roll(cycle, -1)
                continue
            values = jittered[idx]
            dim = int(np.argmax(values.max(axis=0) - values.min(axis=0)))
            order = idx[np.argsort(values[:, dim], kind="stable")]
            half = order.size // 2
            stack += [order[:half], order[half:]]
        return perm

    def _matched_round(self, rng: np.random.Generator) -> np.ndarray:
        """One negative per positive: every slot's crop swapped for a similar crop of the pool."""
        out = np.empty((self.positives.shape[0], 3), dtype=np.int64)
        for slot in range(3):
            z, anchor = self._slots[slot]
            perm = self._local_permutation(z, rng)
            out[:, slot] = self.pools[slot][perm[anchor]]
        return out

    def _valid(self, neg: np.ndarray, pos: np.ndarray) -> bool:
        if _as_key(neg) in self.known:
            return False
        if self.mode == "matched":
            origins = self.origin[neg]
            if len(set(origins.tolist())) < 3:
                return False  # two crops of one photo would bring the leak back for that pair
            if np.any(origins == self.origin[pos]):
                return False
        return True

    def _repair(self, neg: np.ndarray, p: int, rng: np.random.Generator) -> np.ndarray:
        """Redraw a rejected negative (a known positive, or crops of one photo together)."""
        for _ in range(100):
            if self.mode == "matched":
                cand = self._matched_round(rng)[p]
            else:
                cand = np.array([pool[rng.integers(pool.size)] for pool in self._pools_for(p)])
            if self._valid(cand, self.positives[p]):
                return cand
        return neg  # a pool this small cannot avoid it; keep the draw rather than loop forever

    def _swap_repair(self, out: np.ndarray, rng: np.random.Generator) -> None:
        """Fix invalid rows of one matched round by swapping a slot with a row holding a
        similar crop there, which keeps every crop used once."""
        bad = [p for p in range(out.shape[0]) if not self._valid(out[p], self.positives[p])]
        for p in bad:
            if self._valid(out[p], self.positives[p]):
                continue  # fixed by an earlier swap
            done = False
            for slot in rng.permutation(3):
                z, _ = self._slots[slot]
                pool = self.pools[slot]
                here = int(np.searchsorted(pool, out[p, slot]))
                near = np.argsort(((z - z[here]) ** 2).sum(axis=1))[1:12]  # similar pool items
                for item in pool[near]:
                    for q in np.flatnonzero(out[:, slot] == item):
                        out[p, slot], out[q, slot] = out[q, slot], out[p, slot]
                        if self._valid(out[p], self.positives[p]) and self._valid(
                            out[q], self.positives[q]
                        ):
                            done = True
                            break
                        out[p, slot], out[q, slot] = out[q, slot], out[p, slot]
                    if done:
                        break
                if done:
                    break

    def _pools_for(self, p: int) -> list[np.ndarray]:
        if self._group_of_positive is None:
            return self.pools
        return self._group_pools[int(self._group_of_positive[p])]

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """(P, per_positive, 3) negatives for the positives, in the positives' order."""
        n_pos = self.positives.shape[0]
        neg = np.empty((n_pos, self.per_positive, 3), dtype=np.int64)
        for k in range(self.per_positive):
            if self.mode == "matched":
                neg[:, k] = self._matched_round(rng)
                self._swap_repair(neg[:, k], rng)
            elif self._group_of_positive is None:
                for slot in range(3):
                    pool = self.pools[slot]
                    neg[:, k, slot] = pool[rng.integers(pool.size, size=n_pos)]
            else:
                for g, pools in self._group_pools.items():
                    rows = np.flatnonzero(self._group_of_positive == g)
                    for slot in range(3):
                        picks = rng.integers(pools[slot].size, size=rows.size)
                        neg[rows, k, slot] = pools[slot][picks]
        for p in range(n_pos):
            for k in range(self.per_positive):
                if not self._valid(neg[p, k], self.positives[p]):
                    neg[p, k] = self._repair(neg[p, k], p, rng)
        return neg


def negatives_from_outfits(
    n_positives: int, outfits: np.ndarray, per_positive: int, rng: np.random.Generator
) -> np.ndarray:
    """(P, per_positive, 3) negatives drawn from given negative outfits (rejected, disliked)."""
    outfits = np.asarray(outfits, dtype=np.int64).reshape(-1, 3)
    if outfits.shape[0] == 0:
        return np.empty((n_positives, 0, 3), dtype=np.int64)
    picks = rng.integers(outfits.shape[0], size=(n_positives, per_positive))
    return outfits[picks]
