"""Personal training (stage two, partial) in numpy: the app's everyday fine-tune, without torch.

The same training as ``stylist.learn.personal.fine_tune_partial`` (the torch form, kept for
research and for nets that train through the CNN): a net C's pair networks learn from one
person's training verdicts, liked outfits against random outfits of their own wardrobe and their
disliked ones (a pair with a dislike counting ``DISLIKE_WEIGHT`` times), with the rank loss
−log σ(s⁺ − s⁻), Adam, and an L2 pull toward the starting weights. As there, fc1 applied to
concat(a, b) is W_a·a + W_b·b: W·a is computed once per item and the change of W is learnt as
V·Qᵀ, Q an orthonormal basis of the training items' features of that slot; fc1's bias, fc2 and
fc3 learn directly. The gradients are written out by hand
(shapes noted where they change); the test suite checks them against finite differences.

Training runs on the calibrated scale: a base net's temperatures are folded into its fc3 first
(``fold_calibration``), so P(match) starts where the app shows it, not at the raw 0 or 1.

The validation verdicts are never trained on and choose nothing: the epochs are fixed
beforehand, and the old and the new net are compared on them once, at the end. Every pair
network of the base net is kept (a one-piece pair, untrained here, with its calibration).
Only numpy is imported, so the bundle that runs this needs no torch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stylist import domain
from stylist.errors import StylistError
from stylist.learn.metrics import average, list_metrics
from stylist.learn.sampling import NEGATIVES_PER_POSITIVE, NegativeSampler, negatives_from_outfits
from stylist.rank.matching import PAIR_SLOTS
from stylist.rank.topk import PAIR_KEYS
from stylist.tasks import Progress, is_cancelled

SLOT_NAMES = domain.THREE_PIECE_SLOTS  # a verdict's outfit here: top, bottom, shoes
# The three-piece pair networks and the slots that feed them (top 0, bottom 1, shoes 2).
THREE_PIECE_PAIRS = tuple((key, *PAIR_SLOTS[key]) for key in PAIR_KEYS)


@dataclass(frozen=True)
class Schedule:
    """The optimiser's settings for one fine-tune: Adam as torch's AdamW (decoupled weight
    decay), or SGD with momentum as torch's SGD (the paper's optimiser)."""

    lr: float
    weight_decay: float = 0.0
    pairs_per_batch: int = 30
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    optimizer: str = "adam"  # "adam" | "sgd"
    momentum: float = 0.9  # SGD's


NO_USABLE_LIKE = (
    "no liked outfit can be used: each needs features for its items, and its items still in "
    "their places (a top, a bottom and shoes; has a category changed since?)"
)

# Fine-tuning a trained net: no decay toward zero (the pull goes toward the starting weights
# instead, see ANCHOR). The rate and the pull were chosen together with
# tests/benchmarks/bench_feedback.py on its development people and seeds, training on the
# calibrated scale (fold_calibration): 1e-3 with a pull of 1 learns a taste from 40 verdicts
# about twice as well as 1e-4 with 10, and the demo's best 20 still read 85-96 %, not 100 %.
FINE_TUNE = Schedule(lr=1e-3, weight_decay=0.0)
FROM_SCRATCH = Schedule(lr=1e-3, weight_decay=5e-4)
ANCHOR = 1.0  # strength of the L2 pull toward the starting weights (0: none)
# How much a pair (a like, one of the person's dislikes) counts against a pair (a like, a random
# outfit of their wardrobe): a dislike says what the person does not wear, a random outfit
# mostly what nobody would, which the general model knows already. Chosen on the benchmark's
# development people with the two settings below (3 against 1: the four people's gain +0.275
# against +0.261).
DISLIKE_WEIGHT = 3.0
# Held-out likes needed before a version counts as validated. With 2 (not 3) the check starts
# earlier: on the development people, a person who likes at random then ends on the general
# model (+0.000 against -0.044 with 3), the people with a taste keep their gain.
MIN_VALIDATION_LIKES = 2
# How much better than the net in use and the general model a new version must validate (a
# margin of 0.02 was no better on the development people).
ADOPTION_MARGIN = 0.0


class FineTuneError(StylistError):
    """Personal training cannot run on what it was given; the message says why."""


@dataclass
class FineTuneResult:
    """A fine-tuned net as plain arrays and config, and the metrics to decide on keeping it."""

    arrays: dict[str, np.ndarray]
    config: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def old_val_mean_ndcg(self) -> float | None:
        return self.metrics.get("old_val_mean_ndcg")

    @property
    def new_val_mean_ndcg(self) -> float | None:
        return self.metrics.get("new_val_mean_ndcg")

    @property
    def validated(self) -> bool:
        """Whether enough held-out likes existed to compare the old and the new net on."""
        return bool(self.metrics.get("validated"))

    @property
    def base_val_mean_ndcg(self) -> float | None:
        """The validation figure of the net training started from (the general model)."""
        return self.metrics.get("base_val_mean_ndcg")

    @property
    def not_worse(self) -> bool:
        """Whether the new net validates at least as well as the net in use and the net it
        started from (True when there is too little held out to validate on: then
        ``validated`` is False, and the caller says so)."""
        new = self.new_val_mean_ndcg
        if not self.validated or new is None:
            return True
        rivals = [v for v in (self.old_val_mean_ndcg, self.base_val_mean_ndcg) if v is not None]
        return all(new >= v - 1e-9 + ADOPTION_MARGIN for v in rivals)

    @property
    def base_is_best(self) -> bool:
        """Whether the net training started from validates better than both the net in use and
        the new one: the caller goes back to it (a version put in use unvalidated, or validated
        on fewer verdicts, has since turned out worse than the general model)."""
        old, base = self.old_val_mean_ndcg, self.base_val_mean_ndcg
        if not self.validated or self.not_worse or old is None or base is None:
            return False
        return base > old + 1e-9

    def save(self, path: str | Path) -> tuple[Path, Path]:
        from stylist.rank.netfile import save_matching_net

        return save_matching_net(path, self.arrays, self.config)


def _slot_key(key: Any) -> str:
    name = str(getattr(key, "value", key)).lower()
    if name not in SLOT_NAMES:
        raise FineTuneError(f"unknown wardrobe slot {key!r} (use top, bottom, shoes)")
    return name


def _three(outfit: Sequence[Any]) -> None:
    if len(outfit) != 3:
        raise FineTuneError(f"an outfit is (top, bottom, shoes), got {len(outfit)} parts")


class _Items:
    """Row-indexed features of the wardrobe (ids) plus any outfits given as feature triples
    (shared with the torch form, ``learn.personal``). Each entry point says which it was given:
    ``of_ids`` or ``of_vectors``, never guessed from an outfit's shape."""

    def __init__(self, wardrobe: Mapping[Any, Mapping[int, np.ndarray]]) -> None:
        self.rows: list[np.ndarray] = []
        self.ids: dict[tuple[int, Any], int] = {}  # (slot, item id) -> row
        self.pools: list[list[int]] = [[], [], []]
        for key, items in wardrobe.items():
            slot = SLOT_NAMES.index(_slot_key(key))
            for item_id, vec in items.items():
                self.ids[(slot, item_id)] = len(self.rows)
                self.pools[slot].append(len(self.rows))
                self.rows.append(np.asarray(vec, dtype=np.float32).ravel())

    def of_ids(self, outfit: Sequence[int]) -> tuple[int, int, int] | None:
        """Rows of an outfit of wardrobe item ids; None if an id is unknown."""
        _three(outfit)
        if not all(isinstance(i, int | np.integer) for i in outfit):
            raise FineTuneError(
                "an outfit here is three item ids; outfits of feature vectors go to "
                "fine_tune_partial_on_features"
            )
        rows = [self.ids.get((slot, item_id)) for slot, item_id in enumerate(outfit)]
        return None if None in rows else (rows[0], rows[1], rows[2])

    def of_vectors(self, outfit: Sequence[np.ndarray]) -> tuple[int, int, int]:
        """Rows for an outfit given as three feature vectors (added as rows of their own)."""
        _three(outfit)
        start = len(self.rows)
        self.rows.extend(np.asarray(part, dtype=np.float32).ravel() for part in outfit)
        return (start, start + 1, start + 2)

    def matrix(self) -> np.ndarray:
        dims = {r.shape[0] for r in self.rows}
        if len(dims) != 1:
            raise FineTuneError(f"features of different sizes were given: {sorted(dims)}")
        return np.stack(self.rows)  # (N, D)


@dataclass
class Verdicts:
    """One person's verdicts as rows of one feature matrix: what a fine-tune trains on, the
    random negatives it draws, and the validation list it is judged on once."""

    x: np.ndarray  # (N, D) features as given (not normalised)
    positives: np.ndarray  # (P, 3) rows of the training likes
    dislikes: np.ndarray  # (Q, 3) training dislikes
    val_likes: np.ndarray  # held-out likes, never trained on
    val_dislikes: np.ndarray
    skipped: int  # outfits with an item that has no features
    negatives: Callable[[np.random.Generator], np.ndarray]  # rng -> (P, K, 3), afresh each epoch
    val_lists: list[tuple[np.ndarray, np.ndarray]]  # (M, 3) triples, (M,) labels; [] if too few
    slots: list[np.ndarray]  # the items each slot holds in training: fc1's change lives on them

    @property
    def validated(self) -> bool:
        return self.val_likes.shape[0] >= MIN_VALIDATION_LIKES


def read_verdicts(
    items: _Items,
    found: Sequence[Sequence[tuple[int, int, int]]],
    skipped: int = 0,
    *,
    seed: int = 0,
    negatives_per_positive: int = NEGATIVES_PER_POSITIVE,
) -> Verdicts:
    """The verdicts of a fine-tune as rows of ``items``: ``found`` holds the rows of the
    training likes, training dislikes, validation likes and validation dislikes, in this order
    (see ``verdicts_of_ids`` and ``verdicts_of_vectors``); FineTuneError when a slot has no
    item or no like can be used."""
    positives, train_dislikes, val_pos, val_dis = (
        np.asarray(group, dtype=np.int64).reshape(-1, 3) for group in found
    )
    if any(not pool for pool in items.pools):
        missing = [SLOT_NAMES[k] for k, pool in enumerate(items.pools) if not pool]
        raise FineTuneError(f"the wardrobe has no {' or '.join(missing)} with features")
    if not positives.size:
        raise FineTuneError(NO_USABLE_LIKE)
    x = items.matrix()  # (N, D)
    # Random negatives never land on a judged outfit, of either side.
    known = [tuple(t) for t in (*positives.tolist(), *val_pos.tolist(), *val_dis.tolist())]
    pools = [np.asarray(p, dtype=np.int64) for p in items.pools]
    sampler = NegativeSampler(
        positives, pools, known=known, mode="random", per_positive=negatives_per_positive
    )

    def negatives(r: np.random.Generator) -> np.ndarray:
        drawn = sampler.sample(r)  # (P, K, 3)
        if train_dislikes.shape[0] == 0:
            return drawn
        k = min(negatives_per_positive, train_dislikes.shape[0])
        return np.concatenate(
            [drawn, negatives_from_outfits(positives.shape[0], train_dislikes, k, r)], axis=1
        )

    val_lists = validation_lists(val_pos, val_dis, pools, known, negatives_per_positive, seed)
    judged = [a for a in (positives, train_dislikes, val_pos, val_dis) if a.size]
    slots = [np.unique(np.concatenate([pools[k], *(a[:, k] for a in judged)])) for k in range(3)]
    return Verdicts(
        x, positives, train_dislikes, val_pos, val_dis, skipped, negatives, val_lists, slots
    )


def validation_lists(
    val_likes: np.ndarray,
    val_dislikes: np.ndarray,
    pools: Sequence[np.ndarray],
    known: Sequence[tuple],
    per_positive: int,
    seed: int,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The one ranked list a new version and its rivals are compared on: the held-out likes
    among the held-out dislikes ([] when fewer than ``MIN_VALIDATION_LIKES`` likes are held out).

    Only where no dislike is held out do random outfits of the wardrobe stand in as the
    negatives. A random outfit is not one the person rejected, and for a person with a taste it
    holds what they like about as often as not: scored as a negative, it counts against exactly
    the version that learnt the taste (on the feedback benchmark's development people the mean
    gain was +0.260 with random outfits beside the dislikes, +0.287 with the dislikes alone; the
    person without a taste +0.000 either way)."""
    if val_likes.shape[0] < MIN_VALIDATION_LIKES:
        return []
    if val_dislikes.shape[0]:
        negatives = val_dislikes
    else:
        sampler = NegativeSampler(
            val_likes, pools, known=known, mode="random", per_positive=per_positive
        )
        negatives = sampler.sample(np.random.default_rng([seed, 12])).reshape(-1, 3)
    triples = np.concatenate([val_likes, negatives])
    labels = np.concatenate([np.ones(len(val_likes)), np.zeros(len(negatives))]).astype(np.int64)
    return [(triples, labels)]


VerdictGroups = tuple[Sequence[Any], Sequence[Any], Sequence[Any], Sequence[Any]]


def verdicts_of_ids(
    groups: VerdictGroups,
    wardrobe_features_by_category: Mapping[Any, Mapping[int, np.ndarray]],
    **options: Any,
) -> Verdicts:
    """Training likes, dislikes, validation likes, dislikes given as outfits of wardrobe item
    ids; an outfit with an item that has no features is skipped and counted."""
    items = _Items(wardrobe_features_by_category)
    found = [[t for t in map(items.of_ids, group) if t is not None] for group in groups]
    skipped = sum(map(len, groups)) - sum(map(len, found))
    return read_verdicts(items, found, skipped, **options)


def verdicts_of_vectors(
    groups: VerdictGroups,
    wardrobe_features_by_category: Mapping[Any, Mapping[int, np.ndarray]],
    **options: Any,
) -> Verdicts:
    """The same four groups given as outfits of three feature vectors each (items that are not
    in the wardrobe, such as a street photo's garments)."""
    items = _Items(wardrobe_features_by_category)
    found = [[items.of_vectors(o) for o in group] for group in groups]
    return read_verdicts(items, found, 0, **options)


def _load_base(base: Any) -> tuple[dict[str, np.ndarray], dict[str, Any], str] | None:
    """A net as (arrays, config, name), its three-piece pairs' calibration folded in."""
    from stylist.rank.netfile import load_matching_net

    if base is None:
        return None
    if isinstance(base, tuple) and len(base) == 2:
        arrays, config = base
        return (*fold_calibration(arrays, config), str(config.get("name", "given arrays")))
    arrays, config = load_matching_net(base)
    return (*fold_calibration(arrays, config), str(base))


def fold_calibration(
    arrays: Mapping[str, np.ndarray], config: Mapping[str, Any]
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The same net with each three-piece pair's temperature folded into its fc3 (logits / T is
    fc3 / T), and dropped from the config: it scores exactly as the calibrated net does.

    Training starts on the calibrated scale, where P(match) sits near the middle and the rank
    loss has a gradient; the raw logits of a net calibrated at T ≈ 20 put most pairs at 0 or 1,
    so a fine-tune on them both learns little and shows saturated scores."""
    arrays, config = dict(arrays), dict(config)
    calibration = config.get("calibration")
    if str(config.get("net", "C")) != "C" or not isinstance(calibration, Mapping):
        return arrays, config
    given = dict(calibration.get("temperature", {}))
    for key in PAIR_KEYS:
        t = given.pop(key, None)
        if t is None or f"{key}.fc3.weight" not in arrays:
            continue
        for part in ("weight", "bias"):
            name = f"{key}.fc3.{part}"
            arrays[name] = (np.asarray(arrays[name], np.float32) / np.float32(t)).astype(np.float32)
    if given:
        config["calibration"] = {**calibration, "temperature": given}
    else:
        config.pop("calibration", None)
    return arrays, config


def untouched_calibration(config: Mapping[str, Any], trained: Sequence[str]) -> dict[str, Any]:
    """The base net's calibration for the pairs not trained here ({} when none is left)."""
    calibration = config.get("calibration")
    if not isinstance(calibration, Mapping):
        return {}
    kept = {k: t for k, t in calibration.get("temperature", {}).items() if k not in trained}
    if not kept:
        return {}
    return {"calibration": {"method": calibration.get("method"), "temperature": kept}}


def feature_normalisation(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) per dimension of (N, D) features, std floored so no dimension explodes."""
    flat = np.asarray(features, dtype=np.float64).reshape(-1, features.shape[-1])
    mean, std = flat.mean(axis=0), flat.std(axis=0)
    floor = 0.05 * float(np.median(std[std > 0])) if np.any(std > 0) else 1.0
    return mean.astype(np.float32), np.maximum(std, floor).astype(np.float32)


def _input_normalisation(arrays: Mapping[str, np.ndarray], dim: int):
    if "input.mean" in arrays:
        return np.asarray(arrays["input.mean"]), np.asarray(arrays["input.std"])
    return np.zeros(dim, np.float32), np.ones(dim, np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def orthonormal_basis(x: np.ndarray, items: np.ndarray) -> np.ndarray:
    """(D, r) orthonormal basis of the features of ``items`` (the identity when they are at
    least as many as the dimensions): the span the change of fc1 is learnt in."""
    d = x.shape[1]
    items = np.unique(np.asarray(items, dtype=np.int64))
    if items.size >= d:
        return np.eye(d, dtype=np.float32)
    q, _ = np.linalg.qr(x[items].astype(np.float64).T)  # (D, r)
    return q.astype(np.float32)


class PairHead:
    """One pair network on normalised item features, ready to train in its projected form.

    Frozen: ``base[k]`` (N, H), fc1's weight block of input k applied to every item, and
    ``z[k]`` (N, r_k), the items' coordinates in their slot's basis. Trained (``params``):
    ``delta{k}`` (H, r_k), ``b1`` (H,), ``w2`` (H, H), ``b2`` (H,), ``w3`` (2, H), ``b3`` (2,).
    """

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        prefix: str,
        slots: Sequence[int],
        x: np.ndarray,
        bases: Sequence[np.ndarray],
    ) -> None:
        d = x.shape[1]
        w1 = np.asarray(arrays[f"{prefix}fc1.weight"], np.float32)  # (H, parts·D)
        self.prefix, self.slots, self.w1 = prefix, tuple(slots), w1
        self.bases = [bases[s] for s in self.slots]  # (D, r_k) each
        self.base = [x @ w1[:, k * d : (k + 1) * d].T for k in range(len(self.slots))]
        self.z = [x @ q for q in self.bases]
        self.params: dict[str, np.ndarray] = {
            **{
                f"delta{k}": np.zeros((w1.shape[0], q.shape[1]), np.float32)
                for k, q in enumerate(self.bases)
            },
            "b1": np.array(arrays[f"{prefix}fc1.bias"], np.float32),
            "w2": np.array(arrays[f"{prefix}fc2.weight"], np.float32),
            "b2": np.array(arrays[f"{prefix}fc2.bias"], np.float32),
            "w3": np.array(arrays[f"{prefix}fc3.weight"], np.float32),
            "b3": np.array(arrays[f"{prefix}fc3.bias"], np.float32),
        }

    def forward(self, triples: np.ndarray) -> tuple[np.ndarray, tuple]:
        """(M, 3) item rows -> (M,) P(match), and what the backward pass needs."""
        p = self.params
        idx = [triples[:, s] for s in self.slots]
        a1 = p["b1"] + sum(
            self.base[k][i] + self.z[k][i] @ p[f"delta{k}"].T for k, i in enumerate(idx)
        )  # (M, H)
        r1 = np.maximum(a1, 0)
        a2 = r1 @ p["w2"].T + p["b2"]  # (M, H)
        r2 = np.maximum(a2, 0)
        logits = r2 @ p["w3"].T + p["b3"]  # (M, 2)
        prob = _sigmoid(logits[:, 1] - logits[:, 0])  # (M,)
        return prob, (idx, a1, r1, a2, r2, prob)

    def backward(self, d_prob: np.ndarray, cache: tuple) -> dict[str, np.ndarray]:
        """Gradients of every parameter given dLoss/dP(match) (M,)."""
        p = self.params
        idx, a1, r1, a2, r2, prob = cache
        d_diff = d_prob * prob * (1 - prob)  # (M,)
        d_logits = np.stack([-d_diff, d_diff], axis=1)  # (M, 2)
        grads = {"w3": d_logits.T @ r2, "b3": d_logits.sum(axis=0)}
        d_a2 = (d_logits @ p["w3"]) * (a2 > 0)  # (M, H)
        grads["w2"], grads["b2"] = d_a2.T @ r1, d_a2.sum(axis=0)
        d_a1 = (d_a2 @ p["w2"]) * (a1 > 0)  # (M, H)
        grads["b1"] = d_a1.sum(axis=0)
        for k, i in enumerate(idx):
            grads[f"delta{k}"] = d_a1.T @ self.z[k][i]  # (H, r_k)
        return grads

    def arrays(self) -> dict[str, np.ndarray]:
        """The plain pair network: fc1 = W + V·Qᵀ per input block, the rest as trained."""
        p, d = self.params, self.bases[0].shape[0]
        w1 = self.w1.copy()
        for k, q in enumerate(self.bases):
            w1[:, k * d : (k + 1) * d] += p[f"delta{k}"] @ q.T
        out = {"fc1.weight": w1, "fc1.bias": p["b1"], "fc2.weight": p["w2"], "fc2.bias": p["b2"]}
        out |= {"fc3.weight": p["w3"], "fc3.bias": p["b3"]}
        return {f"{self.prefix}{k}": np.asarray(v, np.float32).copy() for k, v in out.items()}


class Scorer:
    """Net B or C's three-piece pair networks as trainable heads; an outfit's score is the sum
    of its heads' P(match) (net B has one head over all three items)."""

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        config: Mapping[str, Any],
        x: np.ndarray,
        slot_items: Sequence[np.ndarray] | None,
    ) -> None:
        d = x.shape[1]
        if slot_items is None:  # scoring only: nothing to learn, no basis needed
            bases = [np.zeros((d, 0), np.float32)] * 3
        else:
            bases = [orthonormal_basis(x, items) for items in slot_items]
        kind = str(config.get("net", "C"))
        if kind == "C":
            held = config.get("pairs") or [name for name, _, _ in THREE_PIECE_PAIRS]
            defs = [(n, i, j) for n, i, j in THREE_PIECE_PAIRS if n in held]
            self.heads = {n: PairHead(arrays, f"{n}.", (i, j), x, bases) for n, i, j in defs}
        elif kind == "B":
            self.heads = {"all": PairHead(arrays, "", (0, 1, 2), x, bases)}
        else:
            raise FineTuneError(f"personal training works on nets B and C, not {kind}")
        if not self.heads:
            raise FineTuneError("the base net holds no three-piece pair network to train")

    def parameters(self) -> dict[str, np.ndarray]:
        return {f"{n}/{k}": v for n, h in self.heads.items() for k, v in h.params.items()}

    def score(self, triples: np.ndarray, batch: int = 4096) -> np.ndarray:
        """(M, 3) rows -> (M,) scores."""
        t = np.asarray(triples, dtype=np.int64).reshape(-1, 3)
        parts = [
            sum(h.forward(t[i : i + batch])[0] for h in self.heads.values())
            for i in range(0, t.shape[0], batch)
        ]
        return np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)

    def loss_and_grads(
        self, triples: np.ndarray, g: int, weights: np.ndarray | None = None
    ) -> tuple[float, dict[str, np.ndarray]]:
        """The rank loss of ``g`` positives followed by their (g, K) negatives, and its
        gradients by parameter name; ``weights`` (K,): how much each column of negatives counts
        (1 each when None)."""
        caches = {n: h.forward(triples) for n, h in self.heads.items()}
        scores = sum(prob for prob, _ in caches.values()).astype(np.float64)  # (g + g·K,)
        k = (scores.size - g) // g
        margin = scores[:g, None] - scores[g:].reshape(g, k)  # (g, K)
        w = np.ones(k) if weights is None else np.asarray(weights, np.float64)  # (K,)
        loss = float((_softplus(-margin) * w).mean())
        d_margin = -_sigmoid(-margin) * w / margin.size  # (g, K)
        dtype = next(iter(caches.values()))[0].dtype  # the heads' own precision (float32)
        d_scores = np.concatenate([d_margin.sum(axis=1), -d_margin.ravel()]).astype(dtype)
        grads = {}
        for name, (_, cache) in caches.items():
            for key, grad in self.heads[name].backward(d_scores, cache).items():
                grads[f"{name}/{key}"] = grad
        return loss, grads

    def arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for head in self.heads.values():
            out.update(head.arrays())
        return out


def evaluate(scorer: Scorer, lists: Sequence[tuple[np.ndarray, np.ndarray]], seed: int = 0):
    """The paper's metrics averaged over the lists, ties broken by ``seed`` (as the torch path)."""
    rng = np.random.default_rng(seed)
    return average([list_metrics(scorer.score(t), labels, rng) for t, labels in lists])


class Adam:
    """torch's AdamW on a dict of arrays, plus the anchor: ``strength · (θ − θ₀)`` added to
    every gradient, θ₀ the starting weights (the gradient of an L2 pull toward the start)."""

    def __init__(self, params: dict[str, np.ndarray], schedule: Schedule, anchor: float) -> None:
        self.params, self.schedule, self.anchor = params, schedule, anchor
        self.start = {k: v.copy() for k, v in params.items()} if anchor > 0 else {}
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        s = self.schedule
        b1, b2 = s.betas
        self.t += 1
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        # In place, one scratch array per parameter: a step is most of a training's time.
        for key, param in self.params.items():
            grad = np.array(grads[key], dtype=param.dtype)  # a copy: the caller's stays as given
            if self.anchor > 0:
                scratch = np.subtract(param, self.start[key])
                scratch *= self.anchor
                grad += scratch
            else:
                scratch = np.empty_like(param)
            if s.weight_decay:
                param *= 1 - s.lr * s.weight_decay
            m, v = self.m[key], self.v[key]
            m *= b1
            m += (1 - b1) * grad
            np.multiply(grad, grad, out=scratch)
            scratch *= 1 - b2
            v *= b2
            v += scratch
            np.divide(v, c2, out=scratch)
            np.sqrt(scratch, out=scratch)
            scratch += s.eps
            np.divide(m, scratch, out=scratch)
            scratch *= s.lr / c1
            param -= scratch


class SGD:
    """torch's SGD with momentum (weight decay added to the gradient), plus the anchor as in
    ``Adam``. Its step is linear in the gradient, so two forms whose gradients differ by float
    rounding end a training apart by about as little (Adam divides by the root of the
    gradient's square: a near-zero gradient of either sign moves a weight by the whole rate)."""

    def __init__(self, params: dict[str, np.ndarray], schedule: Schedule, anchor: float) -> None:
        self.params, self.schedule, self.anchor = params, schedule, anchor
        self.start = {k: v.copy() for k, v in params.items()} if anchor > 0 else {}
        self.buf: dict[str, np.ndarray] = {}

    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        s = self.schedule
        for key, param in self.params.items():
            grad = np.array(grads[key], dtype=param.dtype)
            if self.anchor > 0:
                grad += self.anchor * (param - self.start[key])
            if s.weight_decay:
                grad += s.weight_decay * param
            if s.momentum:
                buf = self.buf.get(key)
                if buf is None:
                    self.buf[key] = buf = grad
                else:
                    buf *= s.momentum
                    buf += grad
                grad = buf
            param -= s.lr * grad


def optimiser(params: dict[str, np.ndarray], schedule: Schedule, anchor: float) -> Adam | SGD:
    if schedule.optimizer == "adam":
        return Adam(params, schedule, anchor)
    if schedule.optimizer == "sgd":
        return SGD(params, schedule, anchor)
    raise FineTuneError(f"unknown optimiser {schedule.optimizer!r} (use adam or sgd)")


@dataclass
class FitResult:
    losses: list[float]  # mean rank loss per epoch
    epochs_run: int
    steps: int
    cancelled: bool = False


def fit(
    scorer: Scorer,
    positives: np.ndarray,
    negatives: Callable[[np.random.Generator], np.ndarray],
    epochs: int,
    schedule: Schedule,
    *,
    anchor: float = 0.0,
    seed: int = 0,
    progress: Progress | None = None,
    cancel: Any = None,
    random_columns: int | None = None,
    dislike_weight: float = 1.0,
) -> FitResult:
    """Train in place with the rank loss for a fixed number of epochs; a batch holds a few
    positives with all their negatives (``pairs_per_batch`` pairs). The negatives' columns past
    ``random_columns`` are the person's dislikes, and count ``dislike_weight`` times. On cancel
    the loop stops at the next batch."""
    rng = np.random.default_rng(seed)
    positives = np.asarray(positives, dtype=np.int64).reshape(-1, 3)
    n_pos = positives.shape[0]
    optimizer = optimiser(scorer.parameters(), schedule, anchor)
    losses: list[float] = []
    steps = epochs_run = 0
    cancelled = False
    for epoch in range(epochs):
        neg = np.asarray(negatives(rng), dtype=np.int64)  # (P, K, 3)
        k = neg.shape[1]
        weights = None
        if random_columns is not None and k > random_columns and dislike_weight != 1.0:
            weights = np.where(np.arange(k) < random_columns, 1.0, dislike_weight)
        per_batch = max(1, schedule.pairs_per_batch // max(k, 1))
        order = rng.permutation(n_pos)
        epoch_losses = []
        for b in range(math.ceil(n_pos / per_batch)):
            if is_cancelled(cancel):
                cancelled = True
                break
            chunk = order[b * per_batch : (b + 1) * per_batch]
            outfits = np.concatenate([positives[chunk], neg[chunk].reshape(-1, 3)])
            loss, grads = scorer.loss_and_grads(outfits, chunk.size, weights)
            optimizer.step(grads)
            steps += 1
            epoch_losses.append(loss)
        if cancelled:
            break
        epochs_run = epoch + 1
        losses.append(float(np.mean(epoch_losses)))
        if progress is not None:
            progress(epoch + 1, epochs, f"epoch {epoch + 1}/{epochs}, loss {losses[-1]:.4f}")
    return FitResult(losses, epochs_run, steps, cancelled)


# A saved net's path, or its (arrays, config).
NetSource = str | Path | tuple[Mapping[str, np.ndarray], Mapping[str, Any]]


def fine_tune_partial(
    base: NetSource | None,
    likes: Sequence[Sequence[int]],
    dislikes: Sequence[Sequence[int]],
    wardrobe_features_by_category: Mapping[Any, Mapping[int, np.ndarray]],
    *,
    val_likes: Sequence[Sequence[int]] = (),
    val_dislikes: Sequence[Sequence[int]] = (),
    seed: int = 0,
    negatives_per_positive: int = NEGATIVES_PER_POSITIVE,
    **options: Any,
) -> FineTuneResult:
    """Stage two, partial, for one person; returns the new net and old/new validation figures.

    The arguments are those of the torch form (``stylist.learn.personal``): base is a saved
    net's path, ``(arrays, config)``, or None for an untrained net (``net``, ``backbone`` and
    ``backbone_sha256`` say what to build); outfits are (top, bottom, shoes) item ids of the
    wardrobe (outfits of feature vectors go to ``fine_tune_partial_on_features``). ``options``:
    see ``_fine_tune`` (epochs, progress, cancel, net, backbone, backbone_sha256, schedule,
    anchor, incumbent).
    """
    groups = (likes, dislikes, val_likes, val_dislikes)
    verdicts = verdicts_of_ids(
        groups,
        wardrobe_features_by_category,
        seed=seed,
        negatives_per_positive=negatives_per_positive,
    )
    return _fine_tune(
        base, verdicts, seed=seed, negatives_per_positive=negatives_per_positive, **options
    )


def fine_tune_partial_on_features(
    base: NetSource | None,
    likes: Sequence[Sequence[np.ndarray]],
    dislikes: Sequence[Sequence[np.ndarray]],
    wardrobe_features_by_category: Mapping[Any, Mapping[int, np.ndarray]],
    *,
    val_likes: Sequence[Sequence[np.ndarray]] = (),
    val_dislikes: Sequence[Sequence[np.ndarray]] = (),
    seed: int = 0,
    negatives_per_positive: int = NEGATIVES_PER_POSITIVE,
    **options: Any,
) -> FineTuneResult:
    """``fine_tune_partial`` on outfits given as three feature vectors each (items that are not
    in the wardrobe, such as a street photo's garments)."""
    groups = (likes, dislikes, val_likes, val_dislikes)
    verdicts = verdicts_of_vectors(
        groups,
        wardrobe_features_by_category,
        seed=seed,
        negatives_per_positive=negatives_per_positive,
    )
    return _fine_tune(
        base, verdicts, seed=seed, negatives_per_positive=negatives_per_positive, **options
    )


def _fine_tune(
    base: NetSource | None,
    verdicts: Verdicts,
    *,
    epochs: int = 10,
    seed: int = 0,
    progress: Progress | None = None,
    cancel: Any = None,
    net: str = "C",
    backbone: str | None = None,
    backbone_sha256: str | None = None,
    negatives_per_positive: int = NEGATIVES_PER_POSITIVE,
    schedule: Schedule | None = None,
    anchor: float | None = None,
    dislike_weight: float | None = None,
    incumbent: NetSource | None = None,
) -> FineTuneResult:
    """The training behind both entry points. ``epochs`` is fixed beforehand: nothing is chosen
    on the validation verdicts. ``anchor``: the pull toward the starting weights (default
    ``ANCHOR``); ``incumbent``: the net in use, when it is not ``base``. On cancel, training
    stops at the next batch (``metrics["cancelled"]``)."""
    from stylist.rank.matching import MatchingNet
    from stylist.rank.netfile import make_config

    started = time.perf_counter()
    anchor = ANCHOR if anchor is None else anchor
    x, val_lists = verdicts.x, verdicts.val_lists
    dim = x.shape[1]

    loaded = _load_base(base)
    if loaded is None:
        untrained = MatchingNet.untrained(dim, seed=seed, net=net)
        arrays, base_config, base_name = dict(untrained.arrays), dict(untrained.config), "untrained"
        base_config.update(backbone=backbone, backbone_sha256=backbone_sha256)
        mean, std = feature_normalisation(x)
        schedule = schedule or FROM_SCRATCH
        anchor = 0.0  # nothing worth staying near
    else:
        arrays, base_config, base_name = loaded
        if int(base_config["feature_dim"]) != dim:
            raise FineTuneError(
                f"the base net takes {base_config['feature_dim']}-d features, "
                f"the wardrobe has {dim}-d ones"
            )
        mean, std = _input_normalisation(arrays, dim)
        schedule = schedule or FINE_TUNE
    kind = str(base_config.get("net", net))
    xn = ((x - mean) / std).astype(np.float32)

    scorer = Scorer(arrays, base_config, xn, verdicts.slots)
    old = start_val = evaluate(scorer, val_lists, seed).mean_ndcg if val_lists else None
    if val_lists and incumbent is not None:
        old_arrays, old_config, _ = _load_base(incumbent)
        if int(old_config["feature_dim"]) != dim:
            raise FineTuneError("the net in use takes features of another size than the wardrobe")
        old_mean, old_std = _input_normalisation(old_arrays, dim)
        old_x = ((x - old_mean) / old_std).astype(np.float32)
        old = evaluate(Scorer(old_arrays, old_config, old_x, None), val_lists, seed).mean_ndcg
        del old_arrays, old_x  # a training's memory stays near one net's
    fitted = fit(
        scorer,
        verdicts.positives,
        verdicts.negatives,
        epochs,
        schedule,
        anchor=anchor,
        seed=seed,
        progress=progress,
        cancel=cancel,
        random_columns=negatives_per_positive,
        dislike_weight=DISLIKE_WEIGHT if dislike_weight is None else dislike_weight,
    )
    new_val = evaluate(scorer, val_lists, seed).mean_ndcg if val_lists else None

    # Every array of the base (a one-piece pair network, the input normalisation) carries over;
    # the trained pair networks replace theirs.
    out_arrays = {k: np.asarray(v, np.float32) for k, v in arrays.items()}
    out_arrays.update(scorer.arrays())
    out_arrays["input.mean"] = np.asarray(mean, np.float32)
    out_arrays["input.std"] = np.asarray(std, np.float32)
    metrics = {
        "old_val_mean_ndcg": old,
        "new_val_mean_ndcg": new_val,
        "base_val_mean_ndcg": start_val,
        "validated": verdicts.validated,
        "train_likes": int(verdicts.positives.shape[0]),
        "val_likes": int(verdicts.val_likes.shape[0]),
        "train_dislikes": int(verdicts.dislikes.shape[0]),
        "val_dislikes": int(verdicts.val_dislikes.shape[0]),
        "skipped_outfits": verdicts.skipped,
        "epochs_run": fitted.epochs_run,
        "steps": fitted.steps,
        "cancelled": fitted.cancelled,
        # the rank loss of the first and the last epoch (None when no epoch ran)
        "loss_start": round(fitted.losses[0], 5) if fitted.losses else None,
        "loss_end": round(fitted.losses[-1], 5) if fitted.losses else None,
        "seconds": round(time.perf_counter() - started, 3),
        "base": base_name,
    }
    trained = list(scorer.heads) if kind == "C" else []
    new_config = make_config(
        kind,
        backbone=str(base_config.get("backbone")),
        backbone_sha256=str(base_config.get("backbone_sha256")),
        feature_dim=dim,
        trained_on=f"personal verdicts: {verdicts.positives.shape[0]} liked, "
        f"{verdicts.dislikes.shape[0]} disliked outfits",
        metrics={k: v for k, v in metrics.items() if k != "base"},
        stage="two-partial",
        base=base_name,
        training={
            "engine": "numpy",
            "optimizer": schedule.optimizer,
            "lr": schedule.lr,
            "weight_decay": schedule.weight_decay,
            "anchor": anchor,
            "dislike_weight": DISLIKE_WEIGHT if dislike_weight is None else dislike_weight,
            "epochs": epochs,
            "seed": seed,
            "negatives_per_positive": negatives_per_positive,
        },
        # The temperatures of the pairs trained here do not carry over (fine-tuning moves their
        # logits on their own scale); a pair carried over unchanged keeps its calibration.
        **{k: base_config[k] for k in ("pairs", "hidden") if k in base_config},
        **untouched_calibration(base_config, trained),
    )
    return FineTuneResult(out_arrays, new_config, metrics)
