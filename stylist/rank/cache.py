"""Net C's pair matrices kept on disk between runs, updated item by item.

Building the pair matrices is the expensive part of ranking (seconds for a wardrobe of a thousand
items a slot). They depend only on the net and on each item's features, so the matrices of the last
run are kept under ``<data>/cache/``, one file per net file. The file's name comes from the net's
two files (npz and JSON, whose calibration and pair list change the matrices) and the features, so
a calibrated or four-pair version of a net is never mistaken for another. The next run reuses
every entry of items it still has with the same features (kept as a fingerprint per item: a new
cut-out of a garment changes its features), computes the rows and columns of new or changed items
only, and drops removed ones.

A damaged or foreign cache file is ignored and replaced; the cache is only ever a shortcut.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from stylist.files import FileFormatError, atomic_write, read_npz
from stylist.rank.matching import PAIR_SLOTS, MatchingNet, each_pair, stack_slots
from stylist.rank.topk import PairMatrices
from stylist.tasks import Cancel, Progress

# 2: slot ids_3 (one-pieces) and the one-piece pair, when held; 3: feature fingerprints per slot
FORMAT = "stylist-pair-cache/3"
KEEP = 4  # cache files kept (the newest); older nets' matrices are deleted


def net_key(net: MatchingNet, features_sha256: str) -> str | None:
    """What identifies the matrices of ``net`` over one backbone file's features; None for a net
    that was never saved (it has no file to name it by)."""
    if net.source is None:
        return None
    parts = []
    for path in (Path(net.source).with_suffix(".npz"), Path(net.source).with_suffix(".json")):
        try:
            st = path.stat()
        except OSError:
            return None
        parts.append(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}")
    # What the loaded net computes with, whatever its files say now.
    computes = json.dumps({"pairs": net.pairs, "temperature": net.temperatures}, sort_keys=True)
    ident = "|".join([*parts, computes, features_sha256])
    return hashlib.sha256(ident.encode()).hexdigest()[:24]


class PairCache:
    """Pair matrices per net file in ``folder`` (see the module doc)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.computed_pairs = 0  # pairs computed by the last call (0: all came from the cache)

    def _file(self, key: str) -> Path:
        return self.folder / f"pairs-{key}.npz"

    def _read(self, key: str, pairs: Sequence[str]) -> dict[str, np.ndarray] | None:
        path = self._file(key)
        if not path.is_file():
            return None
        slots = sorted({s for p in pairs for s in PAIR_SLOTS[p]})
        wanted = (*(f"ids_{s}" for s in slots), *(f"fp_{s}" for s in slots), *pairs)
        try:
            out = read_npz(path, stamp={"format": FORMAT, "key": key}, keys=wanted)
        except FileFormatError:
            return None
        for key_ in pairs:
            a, b = PAIR_SLOTS[key_]
            if out[key_].shape != (out[f"ids_{a}"].size, out[f"ids_{b}"].size):
                return None
        return out

    def _write(
        self, key: str, ids: Sequence[np.ndarray], fps: Sequence[np.ndarray], m: PairMatrices
    ) -> None:
        slots = sorted({s for p in m.keys for s in PAIR_SLOTS[p]})
        arrays = {
            "format": np.array(FORMAT),
            "key": np.array(key),
            **{f"ids_{s}": np.asarray(ids[s], dtype=np.int64) for s in slots},
            **{f"fp_{s}": fps[s] for s in slots},
            **{k: m[k] for k in m.keys},
        }
        try:
            atomic_write(self._file(key), lambda fh: np.savez(fh, **arrays))
        except OSError:
            # no cache folder (a file took its place: `stylist check --repair` mends it), or a
            # cache that cannot be written: either only costs time next run
            return
        try:
            # another process may be pruning the same folder at the same moment
            files = sorted(self.folder.glob("pairs-*.npz"), key=lambda p: p.stat().st_mtime)
        except OSError:
            return
        for old in files[:-KEEP]:
            old.unlink(missing_ok=True)

    def matrices(
        self,
        net: MatchingNet,
        features_sha256: str,
        slots: Sequence[Mapping[int, np.ndarray]],
        *,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> PairMatrices:
        """Net C's pair matrices over the items of ``slots`` (item id -> features, per slot: tops,
        bottoms, shoes, and one-pieces when the net has the one-piece pair), rows and columns in
        ascending item id. Cancelled when cancelled."""
        ids, feats = stack_slots(slots, net.feature_dim)
        return self.stacked(net, features_sha256, ids, feats, progress=progress, cancel=cancel)

    def stacked(
        self,
        net: MatchingNet,
        features_sha256: str,
        ids: Sequence[np.ndarray],
        feats: Sequence[np.ndarray],
        *,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> PairMatrices:
        """``matrices`` over item ids already in ascending order per slot and their stacked
        features (see ``rank.matching.stack_slots``)."""
        pairs = net.pairs_for(len(ids) > 3)
        key = net_key(net, features_sha256)
        cached = self._read(key, pairs) if key else None
        self.computed_pairs = 0
        fps = [_fingerprints(f) for f in feats]

        def one(pair: str) -> np.ndarray:
            a, b = PAIR_SLOTS[pair]
            return self._pair(net, pair, (ids[a], ids[b]), (fps[a], fps[b]), feats, cached)

        result = each_pair(one, progress, cancel, pairs)
        if result is not None and key and self.computed_pairs:
            self._write(key, ids, fps, result)
        return result

    def _pair(self, net, pair, ids, fps, feats, cached) -> np.ndarray:
        """One pair matrix: cached entries reused, the rest computed."""
        a, b = PAIR_SLOTS[pair]
        (ids_a, ids_b), (fp_a, fp_b), feats_a, feats_b = ids, fps, feats[a], feats[b]
        out = np.empty((ids_a.size, ids_b.size), dtype=np.float32)
        none = np.empty(0, dtype=np.int64)
        old_a = _positions(cached[f"ids_{a}"] if cached else none, ids_a)
        old_b = _positions(cached[f"ids_{b}"] if cached else none, ids_b)
        if cached:
            # an item whose features changed since (a new cut-out) counts as new
            old_a[(old_a >= 0) & (cached[f"fp_{a}"][np.maximum(old_a, 0)] != fp_a)] = -1
            old_b[(old_b >= 0) & (cached[f"fp_{b}"][np.maximum(old_b, 0)] != fp_b)] = -1
        known_a, known_b = old_a >= 0, old_b >= 0
        if known_a.any() and known_b.any():
            block = cached[pair][np.ix_(old_a[known_a], old_b[known_b])]
            out[np.ix_(known_a, known_b)] = block
        new_a, new_b = ~known_a, ~known_b
        if new_a.any() and ids_b.size:  # rows of new items, against every item of the other slot
            out[new_a] = net.pair_matrix(pair, feats_a[new_a], feats_b)
            self.computed_pairs += int(new_a.sum()) * ids_b.size
        if new_b.any() and known_a.any():  # columns of new items, against the known rows
            out[np.ix_(known_a, new_b)] = net.pair_matrix(pair, feats_a[known_a], feats_b[new_b])
            self.computed_pairs += int(known_a.sum()) * int(new_b.sum())
        return out


def _fingerprints(feats: np.ndarray) -> np.ndarray:
    """(N, D) features -> (N,) int64 fingerprints, one per item."""
    if len(feats) == 0:  # a slot the wardrobe has no item in (no one-pieces, say)
        return np.zeros(0, dtype=np.int64)
    rows = np.ascontiguousarray(feats, dtype=np.float32).reshape(len(feats), -1)
    digests = [hashlib.blake2b(row.tobytes(), digest_size=8).digest() for row in rows]
    return np.array([int.from_bytes(d, "little", signed=True) for d in digests], dtype=np.int64)


def _positions(cached_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """For every id, its position among ``cached_ids`` (sorted, unique), or -1."""
    if cached_ids.size == 0:
        return np.full(ids.size, -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(cached_ids, ids), cached_ids.size - 1)
    return np.where(cached_ids[pos] == ids, pos, -1)
