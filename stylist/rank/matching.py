"""FashionNet matching networks B and C, run in numpy from their plain-array files.

A trained net is ``<name>.npz`` (float32 arrays, torch ``nn.Linear`` layout ``(out, in)``) and
``<name>.json`` (config, ``"format": "stylist-matching-net/1"``), see docs in the contracts.
Nothing is unpickled and torch is not needed to score.

Net C scores an outfit by pair probabilities: three pairs for a top, a bottom and shoes, and
optionally a fourth, ``one_piece_shoes``, for a one-piece and shoes (the JSON's ``"pairs"`` lists
the pair networks the npz holds; without it, the three classic ones). Each pair's P(match) may be
calibrated by a temperature stored in the JSON (``"calibration"``): sigmoid((logit_match -
logit_nomatch) / T), which keeps every pair's order and so the exactness of the top-k search.

A pair network's first layer applied to ``concat(a, b)`` is ``W_a·a + W_b·b + bias``, so
:meth:`MatchingNet.pair_matrix` projects each item once and then only adds projections, running
the rest of the pair network on every pair in bounded chunks. :meth:`MatchingNet.score_outfits`
is the naive reference that pushes each outfit's concatenated features through the whole network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stylist.domain import ONE_PIECE_PAIR, PAIR_SLOTS
from stylist.rank.netfile import (
    ALL_PAIR_KEYS,
    DEFAULT_HIDDEN,
    FORMAT,
    MatchingNetError,
    check_net,
    expected_shapes,
    make_config,
    pairs_of,
    read_net_files,
    temperatures,
)
from stylist.rank.topk import PAIR_KEYS, PairMatrices
from stylist.tasks import Cancel, Progress, check_cancel

# Working memory for one chunk of pair activations (two buffers of this size).
DEFAULT_CHUNK_BYTES = 32 * 2**20


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """softmax([l0, l1])[1] == sigmoid(l1 - l0), computed without overflow."""
    x = np.asarray(x, dtype=np.float32)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(np.float32)


def _softmax_match(logits: np.ndarray) -> np.ndarray:
    """P(match) = softmax(logits)[:, 1], the plain way (the naive reference)."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e[:, 1] / e.sum(axis=1)).astype(np.float32)


@dataclass(frozen=True)
class _Mlp:
    """One pair (or outfit) network, with the first layer split per input slot."""

    w1_parts: tuple[np.ndarray, ...]  # each (H, D): fc1.weight columns of one input
    b1: np.ndarray  # (H,)
    w2t: np.ndarray  # (H, H) fc2.weight transposed, so activations @ w2t
    b2: np.ndarray  # (H,)
    w3: np.ndarray  # (2, H)
    b3: np.ndarray  # (2,)
    w3_diff: np.ndarray  # (H,) fc3 row 1 - row 0: logit of "match" minus logit of "no match"
    b3_diff: float
    relu_after_fc1: bool
    temperature: float = 1.0  # P(match) = sigmoid(logit difference / temperature)

    @classmethod
    def from_arrays(
        cls,
        arrays: Mapping[str, np.ndarray],
        prefix: str,
        parts: int,
        relu_after_fc1: bool,
        temperature: float = 1.0,
    ) -> _Mlp:
        w1 = arrays[f"{prefix}fc1.weight"]
        d = w1.shape[1] // parts
        w3 = arrays[f"{prefix}fc3.weight"]
        b3 = arrays[f"{prefix}fc3.bias"]
        return cls(
            w1_parts=tuple(np.ascontiguousarray(w1[:, i * d : (i + 1) * d]) for i in range(parts)),
            b1=arrays[f"{prefix}fc1.bias"],
            w2t=np.ascontiguousarray(arrays[f"{prefix}fc2.weight"].T),
            b2=arrays[f"{prefix}fc2.bias"],
            w3=w3,
            b3=b3,
            w3_diff=(w3[1] - w3[0]).astype(np.float32),
            b3_diff=float(b3[1] - b3[0]),
            relu_after_fc1=relu_after_fc1,
            temperature=float(temperature),
        )

    def calibrated(self, logit: np.ndarray) -> np.ndarray:
        """(N,) logit differences -> (N,) P(match), divided by the temperature first. In place."""
        if self.temperature != 1.0:  # an uncalibrated net keeps its scores bit for bit
            logit /= np.float32(self.temperature)
        return _sigmoid(logit)

    def project(self, part: int, feats: np.ndarray) -> np.ndarray:
        """(N, D) normalised features -> (N, H) share of the first layer (no bias)."""
        return feats @ self.w1_parts[part].T

    def head(self, h1: np.ndarray) -> np.ndarray:
        """(N, H) first-layer sums (bias included) -> (N,) P(match). Overwrites h1."""
        if self.relu_after_fc1:
            np.maximum(h1, 0, out=h1)
        h2 = h1 @ self.w2t  # (N, H)
        h2 += self.b2
        np.maximum(h2, 0, out=h2)
        return self.calibrated(h2 @ self.w3_diff + np.float32(self.b3_diff))

    def forward_concat(self, x: np.ndarray) -> np.ndarray:
        """The plain network on concatenated inputs: (N, parts*D) -> (N,) P(match)."""
        w1 = np.concatenate(self.w1_parts, axis=1)  # (H, parts*D)
        h1 = x @ w1.T + self.b1
        if self.relu_after_fc1:
            h1 = np.maximum(h1, 0)
        h2 = np.maximum(h1 @ self.w2t + self.b2, 0)
        return _softmax_match((h2 @ self.w3.T + self.b3) / np.float32(self.temperature))


def stack_slots(
    slots: Sequence[Mapping[int, np.ndarray]], feature_dim: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per slot, the item ids in ascending order (int64) and their features stacked in that
    order ((N, D) float32): the rows and columns of the pair matrices."""
    ids, feats = [], []
    for slot in slots:
        order = sorted(slot)
        ids.append(np.array(order, dtype=np.int64))
        feats.append(
            np.stack([np.asarray(slot[i], dtype=np.float32) for i in order])
            if order
            else np.empty((0, feature_dim), np.float32)
        )
    return ids, feats


def each_pair(
    make: Callable[[str], np.ndarray],
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    pairs: Sequence[str] = PAIR_KEYS,
) -> PairMatrices:
    """The pair matrices of ``pairs``, ``make(pair_key)`` each, with progress; Cancelled when
    cancelled (a partial set of matrices cannot rank anything)."""
    done: dict[str, np.ndarray] = {}
    for i, key in enumerate(pairs):
        check_cancel(cancel, "finding outfits")
        if progress is not None:
            progress(i, len(pairs), key)
        done[key] = make(key)
    if progress is not None:
        progress(len(pairs), len(pairs), "")
    return PairMatrices(**done)


@dataclass
class MatchingNet:
    """A FashionNet matching network (C: three or four pair networks, B: one outfit network)."""

    net: str  # "C" | "B"
    feature_dim: int
    hidden: int
    relu_after_fc1: bool
    arrays: dict[str, np.ndarray]  # float32, exactly as stored
    config: dict[str, Any]
    source: Path | None = None
    _mlps: dict[str, _Mlp] = field(default_factory=dict, repr=False)

    # ---------------------------------------------------------------- construction
    @classmethod
    def load(cls, path: str | Path) -> MatchingNet:
        """Load ``<name>.npz`` and its ``<name>.json`` (either path, or the name without suffix)."""
        arrays, config, npz_path = read_net_files(path)
        return cls.from_arrays(arrays, config, source=npz_path)

    @classmethod
    def from_arrays(
        cls,
        arrays: Mapping[str, np.ndarray],
        config: Mapping[str, Any],
        source: Path | None = None,
    ) -> MatchingNet:
        """Check arrays against the config (format, kind, every shape, finite values)."""
        checked = check_net(arrays, config, str(source) if source else "matching network")
        return cls(
            net=config["net"],
            feature_dim=config["feature_dim"],
            hidden=config.get("hidden", DEFAULT_HIDDEN),
            relu_after_fc1=config.get("relu_after_fc1", True),
            arrays=checked,
            config=dict(config),
            source=source,
        )

    @classmethod
    def untrained(
        cls,
        feature_dim: int,
        seed: int = 0,
        net: str = "C",
        hidden: int = 512,
        backbone: str = "",
        backbone_sha256: str = "",
        relu_after_fc1: bool = True,
        pairs: Sequence[str] = PAIR_KEYS,
    ) -> MatchingNet:
        """A fresh net initialised as the FashionNet authors did: Gaussian std 0.005, bias 0.1.
        ``pairs``: net C's pair networks (add ``one_piece_shoes`` for one-piece outfits)."""
        rng = np.random.default_rng(seed)
        arrays = {
            name: (
                np.full(shape, 0.1, dtype=np.float32)
                if name.endswith(".bias")
                else (rng.standard_normal(shape, dtype=np.float32) * np.float32(0.005))
            )
            for name, shape in expected_shapes(net, feature_dim, hidden, pairs).items()
        }
        config = make_config(
            net,
            backbone=backbone,
            backbone_sha256=backbone_sha256,
            feature_dim=feature_dim,
            trained_on="untrained",
            hidden=hidden,
            relu_after_fc1=relu_after_fc1,
        )
        if net == "C" and tuple(pairs) != PAIR_KEYS:
            config["pairs"] = list(pairs)
        return cls.from_arrays(arrays, config)

    # ---------------------------------------------------------------- properties
    @property
    def backbone(self) -> str:
        return str(self.config.get("backbone", ""))

    @property
    def backbone_sha256(self) -> str:
        return str(self.config.get("backbone_sha256", ""))

    @property
    def trained(self) -> bool:
        return self.config.get("trained_on") != "untrained"

    @property
    def pairs(self) -> tuple[str, ...]:
        """Net C's pair networks, in file order (the three classic ones, maybe the one-piece)."""
        return pairs_of(self.config, self.net, "") if self.net == "C" else ()

    @property
    def has_one_piece(self) -> bool:
        """Whether this net can score one-piece outfits (a one-piece and shoes)."""
        return ONE_PIECE_PAIR in self.pairs

    @property
    def temperatures(self) -> dict[str, float]:
        """Each pair's calibration temperature (1.0: uncalibrated)."""
        return temperatures(self.config, self.pairs, "")

    def _mlp(self, key: str) -> _Mlp:
        if key not in self._mlps:
            if self.net == "C":
                if key not in self.pairs:
                    raise ValueError(f"unknown pair {key!r} (this net has {self.pairs})")
                self._mlps[key] = _Mlp.from_arrays(
                    self.arrays, f"{key}.", 2, self.relu_after_fc1, self.temperatures[key]
                )
            else:
                self._mlps[key] = _Mlp.from_arrays(self.arrays, "", 3, self.relu_after_fc1)
        return self._mlps[key]

    def _need(self, kind: str) -> None:
        if self.net != kind:
            raise ValueError(f"this is net {self.net}; the operation needs net {kind}")

    def normalise(self, feats: np.ndarray) -> np.ndarray:
        """(N, D) backbone features -> (N, D) float32 net inputs (input.mean/std if stored)."""
        f = np.asarray(feats, dtype=np.float32)
        if f.ndim != 2 or f.shape[1] != self.feature_dim:
            raise ValueError(
                f"features must have shape (N, {self.feature_dim}), not {tuple(f.shape)}"
            )
        if "input.mean" in self.arrays:
            f = (f - self.arrays["input.mean"]) / self.arrays["input.std"]
        return f

    # ---------------------------------------------------------------- net C, fast path
    def pair_matrix(
        self,
        pair_key: str,
        feats_a: np.ndarray,
        feats_b: np.ndarray,
        *,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    ) -> np.ndarray:
        """P(match) of every (a, b): (Na, D), (Nb, D) -> (Na, Nb) float32.

        Each item is projected through its half of the first layer once; pairs only add
        projections. Pairs are processed in chunks holding at most ``chunk_bytes`` of activations.
        """
        self._need("C")
        mlp = self._mlp(pair_key)
        pa = mlp.project(0, self.normalise(feats_a)) + mlp.b1  # (Na, H)
        pb = mlp.project(1, self.normalise(feats_b))  # (Nb, H)
        na, nb, h = pa.shape[0], pb.shape[0], self.hidden
        out = np.empty((na, nb), dtype=np.float32)
        if na == 0 or nb == 0:
            return out
        if not mlp.relu_after_fc1:
            # fc1 and fc2 are one linear map then: fold fc2 into the projections and each pair
            # costs an add, a ReLU and a dot product instead of a (H, H) matrix product.
            pa = pa @ mlp.w2t + mlp.b2  # (Na, H)
            pb = pb @ mlp.w2t  # (Nb, H)
        pairs_per_chunk = max(1, chunk_bytes // (4 * h))
        cols = min(nb, pairs_per_chunk)
        rows = max(1, min(na, pairs_per_chunk // cols))
        buf = np.empty(rows * cols * h, dtype=np.float32)
        buf2 = np.empty(rows * cols * h, dtype=np.float32) if mlp.relu_after_fc1 else None
        for i0 in range(0, na, rows):
            i1 = min(na, i0 + rows)
            for j0 in range(0, nb, cols):
                j1 = min(nb, j0 + cols)
                n = (i1 - i0) * (j1 - j0)
                h1 = buf[: n * h].reshape(i1 - i0, j1 - j0, h)
                np.add(pa[i0:i1, None, :], pb[None, j0:j1, :], out=h1)  # (r, c, H)
                h1 = h1.reshape(n, h)
                if mlp.relu_after_fc1:
                    np.maximum(h1, 0, out=h1)
                    h2 = buf2[: n * h].reshape(n, h)
                    np.matmul(h1, mlp.w2t, out=h2)  # (r*c, H)
                    h2 += mlp.b2
                else:
                    h2 = h1  # already fc2's pre-activation
                np.maximum(h2, 0, out=h2)
                logit = h2 @ mlp.w3_diff  # (r*c,)
                logit += np.float32(mlp.b3_diff)
                out[i0:i1, j0:j1] = mlp.calibrated(logit).reshape(i1 - i0, j1 - j0)
        return out

    def pair_matrices(
        self,
        tops: np.ndarray,
        bottoms: np.ndarray,
        shoes: np.ndarray,
        one_pieces: np.ndarray | None = None,
        *,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    ) -> PairMatrices:
        """The pair matrices of a wardrobe: (Nt, D), (Nb, D), (Ns, D) features, and (No, D)
        one-pieces (their matrix only when given and this net has the one-piece pair).

        Raises Cancelled when cancelled (a partial set of matrices cannot rank anything).
        """
        self._need("C")
        feats = (tops, bottoms, shoes, one_pieces)

        def one(key: str) -> np.ndarray:
            a, b = PAIR_SLOTS[key]
            return self.pair_matrix(key, feats[a], feats[b], chunk_bytes=chunk_bytes)

        return each_pair(one, progress, cancel, self.pairs_for(one_pieces is not None))

    def pairs_for(self, one_pieces: bool) -> tuple[str, ...]:
        """The pair matrices a wardrobe needs: the classic three, and the one-piece pair when the
        wardrobe is ranked with one-pieces and this net can score them."""
        return (*PAIR_KEYS, ONE_PIECE_PAIR) if one_pieces and self.has_one_piece else PAIR_KEYS

    # ---------------------------------------------------------------- naive reference
    def pair_scores(self, pair_key: str, feats_a: np.ndarray, feats_b: np.ndarray) -> np.ndarray:
        """P(match) of row-aligned pairs through the whole pair network: (N, D) x2 -> (N,)."""
        self._need("C")
        x = np.concatenate([self.normalise(feats_a), self.normalise(feats_b)], axis=1)
        return self._mlp(pair_key).forward_concat(x)  # (N, 2D) -> (N,)

    def score_outfits(
        self, tops: np.ndarray, bottoms: np.ndarray, shoes: np.ndarray, batch_size: int = 4096
    ) -> np.ndarray:
        """Outfit scores of row-aligned (N, D) features, each outfit through the whole net.

        Net C: sum of the three pair probabilities (0..3; rankings show the mean). Net B:
        P(match) (0..1).
        This is the naive reference the fast paths are checked and benchmarked against.
        """
        n = len(tops)
        if not (len(bottoms) == n == len(shoes)):
            raise ValueError("tops, bottoms and shoes must have the same number of rows")
        out = np.empty(n, dtype=np.float32)
        for i0 in range(0, n, batch_size):
            t, b, s = (x[i0 : i0 + batch_size] for x in (tops, bottoms, shoes))
            if self.net == "C":
                out[i0 : i0 + len(t)] = (
                    self.pair_scores("top_bottom", t, b)
                    + self.pair_scores("top_shoes", t, s)
                    + self.pair_scores("bottom_shoes", b, s)
                )
            else:
                x = np.concatenate([self.normalise(t), self.normalise(b), self.normalise(s)], 1)
                out[i0 : i0 + len(t)] = self._mlp("B").forward_concat(x)  # (n, 3D) -> (n,)
        return out

    # ---------------------------------------------------------------- net B, fast path
    def outfit_scorer(
        self, tops: np.ndarray, bottoms: np.ndarray, shoes: np.ndarray
    ) -> OutfitScorer:
        """Net B on any (top, bottom, shoes) index triples of a wardrobe, items projected once."""
        self._need("B")
        mlp = self._mlp("B")
        feats = (tops, bottoms, shoes)
        proj = tuple(mlp.project(i, self.normalise(f)) for i, f in enumerate(feats))
        return OutfitScorer(mlp, proj[0] + mlp.b1, proj[1], proj[2])


@dataclass
class OutfitScorer:
    """Net B over one wardrobe: first-layer projections of every item, computed once."""

    mlp: _Mlp
    top_proj: np.ndarray  # (Nt, H), bias included
    bottom_proj: np.ndarray  # (Nb, H)
    shoe_proj: np.ndarray  # (Ns, H)

    def score(
        self, tops: np.ndarray, bottoms: np.ndarray, shoes: np.ndarray, batch_size: int = 8192
    ) -> np.ndarray:
        """P(match) of index triples: three (N,) int arrays (broadcastable) -> (N,) float32."""
        t, b, s = np.broadcast_arrays(
            np.asarray(tops, np.int64), np.asarray(bottoms, np.int64), np.asarray(shoes, np.int64)
        )
        t, b, s = t.ravel(), b.ravel(), s.ravel()
        out = np.empty(len(t), dtype=np.float32)
        for i0 in range(0, len(t), batch_size):
            sl = slice(i0, i0 + batch_size)
            h1 = self.top_proj[t[sl]] + self.bottom_proj[b[sl]]  # (n, H)
            h1 += self.shoe_proj[s[sl]]
            out[sl] = self.mlp.head(h1)
        return out


def entropy_bits(p: np.ndarray) -> np.ndarray:
    """Binary entropy of match probabilities, in bits (1 at p = 0.5, 0 at p = 0 or 1)."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))


__all__ = [
    "ALL_PAIR_KEYS",
    "FORMAT",
    "MatchingNet",
    "MatchingNetError",
    "OutfitScorer",
    "entropy_bits",
    "expected_shapes",
]
