"""Personal retraining (stage two, partial) on one person's verdicts and wardrobe features.

The app calls ``fine_tune_partial`` in the background after a few new thumbs: it starts from the
general model (or the person's last model, or an untrained net when there is neither) and trains
the matching layers on the person's training verdicts, liked outfits against random outfits of
their own wardrobe and their disliked ones. The validation verdicts (each verdict's permanent
flag, see ``domain.is_holdout``) are never trained on and choose nothing: the number of epochs is
fixed beforehand, and the old and the new net are compared on them once, at the end, so the
caller keeps the new net only when it is not worse. Below ``MIN_VALIDATION_LIKES`` held-out likes
there is nothing to compare on: the result says it is not validated.

Fine-tuning stays near the starting net: an L2 pull toward the starting weights (not toward
zero) keeps a few dozen verdicts from driving pair probabilities to 0 and 1, so scores keep
separating outfits. Features come from the library's cache; nothing here touches photos or the
library itself.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stylist.domain import THREE_PIECE_SLOTS
from stylist.learn.sampling import NEGATIVES_PER_POSITIVE, NegativeSampler, negatives_from_outfits
from stylist.learn.train import TrainConfig
from stylist.rank.netfile import DEFAULT_HIDDEN
from stylist.tasks import Cancel, Progress
from stylist.tune import (
    ANCHOR,
    DISLIKE_WEIGHT,
    NO_USABLE_LIKE,
    FineTuneError,
    FineTuneResult,
    NetSource,
    _Items,
    _load_base,
    validation_lists,
)
from stylist.tune import untouched_calibration as _untouched_calibration

SLOT_NAMES = THREE_PIECE_SLOTS

# The result, its checks, the pull's strength, the base net's reading and the verdicts' rows
# are shared with the numpy form that the app runs (stylist.tune).

# Fine-tuning a trained net: Adam, no decay toward zero (the pull goes toward the starting
# weights instead, see ANCHOR); the rate is the numpy form's (stylist.tune.FINE_TUNE).
FINE_TUNE = TrainConfig(epochs=10, lr=1e-3, optimizer="adam", weight_decay=0.0)
FROM_SCRATCH = TrainConfig(epochs=10, lr=1e-3, optimizer="adam", weight_decay=5e-4)


def _anchor(scorer: Any, strength: float) -> None:
    """Add the gradient of ``strength / 2 · ‖θ − θ₀‖²`` to every trainable parameter, θ₀ the
    starting weights: the optimiser then trades the verdicts against staying near the start."""
    if strength <= 0:
        return
    for param in scorer.parameters():
        if not param.requires_grad:
            continue
        start = param.detach().clone()
        param.register_hook(lambda grad, p=param, p0=start: grad + strength * (p.detach() - p0))


@dataclass
class _Verdicts:
    """The verdicts as item-row triples: training and validation, likes and dislikes."""

    liked: np.ndarray  # (P, 3)
    disliked: np.ndarray
    val_liked: np.ndarray
    val_disliked: np.ndarray
    skipped: int  # outfits with an item the wardrobe has no features of

    def judged(self) -> list[np.ndarray]:
        return [a for a in (self.liked, self.disliked, self.val_liked, self.val_disliked) if a.size]


def fine_tune_partial(
    base: NetSource | None,
    likes: Sequence[Sequence[int]],
    dislikes: Sequence[Sequence[int]],
    wardrobe_features_by_category: Mapping[Any, Mapping[int, np.ndarray]],
    *,
    val_likes: Sequence[Sequence[int]] = (),
    val_dislikes: Sequence[Sequence[int]] = (),
    **options: Any,
) -> FineTuneResult:
    """Stage two, partial, for one person; returns the new net and old/new validation figures.

    base: the net to start from (a saved net's path, or ``(arrays, config)``), or None for an
    untrained net (then ``net``, ``backbone`` and ``backbone_sha256`` say what to build).
    likes / dislikes: the training verdicts, outfits as (top, bottom, shoes) item ids of the
    wardrobe (outfits with an item that has no features are skipped and counted).
    val_likes / val_dislikes: the validation verdicts, never trained on; with at least
    ``MIN_VALIDATION_LIKES`` likes among them the old and the new net are compared on them once
    (mean NDCG against random wardrobe outfits).
    wardrobe_features_by_category: ``{"top": {id: (D,) features}, "bottom": …, "shoes": …}``
    (Category members work as keys); random negatives are drawn from it. ``options``: see
    ``_fine_tune`` (epochs, seed, progress, cancel, net, backbone, backbone_sha256,
    negatives_per_positive, config, anchor, dislike_weight, incumbent).
    """
    items = _Items(wardrobe_features_by_category)
    outfits = (likes, dislikes, val_likes, val_dislikes)
    found = [[t for t in map(items.of_ids, group) if t is not None] for group in outfits]
    skipped = sum(map(len, outfits)) - sum(map(len, found))
    return _fine_tune(base, items, _verdicts(found, skipped), **options)


def fine_tune_partial_on_features(
    base: NetSource | None,
    likes: Sequence[Sequence[np.ndarray]],
    dislikes: Sequence[Sequence[np.ndarray]],
    wardrobe_features_by_category: Mapping[Any, Mapping[int, np.ndarray]],
    *,
    val_likes: Sequence[Sequence[np.ndarray]] = (),
    val_dislikes: Sequence[Sequence[np.ndarray]] = (),
    **options: Any,
) -> FineTuneResult:
    """``fine_tune_partial`` on outfits given as three feature vectors each (items that are not
    in the wardrobe, such as a street photo's garments)."""
    items = _Items(wardrobe_features_by_category)
    outfits = (likes, dislikes, val_likes, val_dislikes)
    found = [[items.of_vectors(o) for o in group] for group in outfits]
    return _fine_tune(base, items, _verdicts(found, 0), **options)


def _verdicts(found: Sequence[Sequence[tuple[int, int, int]]], skipped: int) -> _Verdicts:
    arrays = [np.asarray(t, dtype=np.int64).reshape(-1, 3) for t in found]
    return _Verdicts(*arrays, skipped=skipped)


@dataclass
class _Start:
    """What training starts from: the torch net, its input normalisation and its origin."""

    kind: str
    net: Any
    mean: np.ndarray
    std: np.ndarray
    config: dict[str, Any]  # the base net's config (backbone ids for an untrained one)
    name: str
    arrays: dict[str, np.ndarray] | None  # the base net's arrays (None: untrained)


def _starting_point(
    base: NetSource | None, x: np.ndarray, seed: int, net: str, backbone, backbone_sha256
) -> _Start:
    from stylist.learn.io import input_normalisation, net_from_arrays
    from stylist.learn.nets import build_net
    from stylist.learn.train import normalisation

    dim = x.shape[1]
    loaded = _load_base(base)
    if loaded is None:
        mean, std = normalisation(x)
        config = {"backbone": backbone, "backbone_sha256": backbone_sha256}
        start = build_net(net, dim, seed=seed, init="authors")
        return _Start(net, start, mean, std, config, "untrained", None)
    arrays, config, name = loaded
    if int(config["feature_dim"]) != dim:
        raise FineTuneError(
            f"the base net takes {config['feature_dim']}-d features, the wardrobe has {dim}-d ones"
        )
    # Verdicts are three-piece outfits: their pair networks learn; a one-piece pair network the
    # base holds is carried over unchanged.
    mean, std = input_normalisation(arrays, dim)
    start = net_from_arrays(arrays, config, "three")
    return _Start(str(config["net"]), start, mean, std, config, name, arrays)


def _incumbent_ndcg(
    incumbent: NetSource, x: np.ndarray, slots: list[np.ndarray], val_lists, seed: int
) -> float:
    """The validation figure of the net in use, which the new one must not fall below."""
    from stylist.learn.io import input_normalisation, net_from_arrays
    from stylist.learn.train import evaluate_lists, projected_scorer

    arrays, config, _ = _load_base(incumbent)
    dim = x.shape[1]
    if int(config["feature_dim"]) != dim:
        raise FineTuneError("the net in use takes features of another size than the wardrobe")
    mean, std = input_normalisation(arrays, dim)
    net = net_from_arrays(arrays, config, "three")
    scorer = projected_scorer(net, ((x - mean) / std).astype(np.float32), slots)
    return evaluate_lists(scorer, val_lists, seed=seed).mean_ndcg


def _fine_tune(
    base: NetSource | None,
    items: _Items,
    v: _Verdicts,
    *,
    epochs: int = 10,
    seed: int = 0,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    net: str = "C",
    backbone: str | None = None,
    backbone_sha256: str | None = None,
    negatives_per_positive: int = NEGATIVES_PER_POSITIVE,
    config: TrainConfig | None = None,
    anchor: float | None = None,
    dislike_weight: float | None = None,
    incumbent: NetSource | None = None,
) -> FineTuneResult:
    """The training behind both entry points. ``epochs`` is fixed beforehand: no checkpoint is
    chosen on anything. ``anchor``: the L2 pull toward the starting weights (default
    ``ANCHOR``). incumbent: the net the new one must not be worse than (the version in use),
    when it is not ``base``. On cancel, training stops at the next batch
    (``metrics["cancelled"]``)."""
    from stylist.learn.io import make_config, net_arrays
    from stylist.learn.train import RankTask, evaluate_lists, fit, projected_scorer

    started = time.perf_counter()
    if any(not pool for pool in items.pools):
        missing = [SLOT_NAMES[k] for k, pool in enumerate(items.pools) if not pool]
        raise FineTuneError(f"the wardrobe has no {' or '.join(missing)} with features")
    if not v.liked.size:
        raise FineTuneError(NO_USABLE_LIKE)
    x = items.matrix()  # (N, D)
    start = _starting_point(base, x, seed, net, backbone, backbone_sha256)
    if start.arrays is None:
        train_cfg, anchor = config or FROM_SCRATCH, 0.0  # nothing worth staying near
    else:
        train_cfg, anchor = config or FINE_TUNE, ANCHOR if anchor is None else anchor
    # Nothing is chosen on validation: the last weights are the result.
    train_cfg = dataclasses.replace(
        train_cfg, epochs=epochs, seed=seed, keep_best=False, evals_per_epoch=1
    )
    xn = ((x - start.mean) / start.std).astype(np.float32)

    # Random negatives never land on a judged outfit, of either side.
    known = [tuple(t) for t in (*v.liked, *v.val_liked, *v.val_disliked)]
    pools = [np.asarray(p, dtype=np.int64) for p in items.pools]
    sampler = NegativeSampler(
        v.liked, pools, known=known, mode="random", per_positive=negatives_per_positive
    )

    def negatives(r: np.random.Generator) -> np.ndarray:
        drawn = sampler.sample(r)  # (P, K, 3)
        if v.disliked.shape[0] == 0:
            return drawn
        k = min(negatives_per_positive, v.disliked.shape[0])
        return np.concatenate(
            [drawn, negatives_from_outfits(v.liked.shape[0], v.disliked, k, r)], axis=1
        )

    val_lists = validation_lists(
        v.val_liked, v.val_disliked, pools, known, negatives_per_positive, seed
    )
    # The training task holds no validation verdict at all. The negatives' columns past the
    # random ones are the person's dislikes, weighted as the numpy form weighs them.
    weight = DISLIKE_WEIGHT if dislike_weight is None else dislike_weight

    def negative_weights(k: int) -> np.ndarray:
        return np.where(np.arange(k) < negatives_per_positive, 1.0, weight)

    task = RankTask(
        positives=v.liked, negatives=negatives, val_lists=[], negative_weights=negative_weights
    )
    judged = v.judged()
    slots = [np.unique(np.concatenate([pools[k], *(a[:, k] for a in judged)])) for k in range(3)]
    scorer = projected_scorer(start.net, xn, slots)
    old = start_val = evaluate_lists(scorer, val_lists, seed=seed).mean_ndcg if val_lists else None
    if val_lists and incumbent is not None:
        old = _incumbent_ndcg(incumbent, x, slots, val_lists, seed)
    _anchor(scorer, anchor)
    fitted = fit(scorer, task, train_cfg, progress=progress, cancel=cancel)
    new_net = scorer.to_net()
    new_val = evaluate_lists(scorer, val_lists, seed=seed).mean_ndcg if val_lists else None

    out_arrays = net_arrays(new_net, start.mean, start.std)
    for key, value in (start.arrays or {}).items():  # the one-piece pair network, as it was
        out_arrays.setdefault(key, value)
    metrics = {
        "old_val_mean_ndcg": old,
        "new_val_mean_ndcg": new_val,
        "base_val_mean_ndcg": start_val,
        "validated": bool(val_lists),
        "train_likes": int(v.liked.shape[0]),
        "val_likes": int(v.val_liked.shape[0]),
        "train_dislikes": int(v.disliked.shape[0]),
        "val_dislikes": int(v.val_disliked.shape[0]),
        "skipped_outfits": v.skipped,
        "epochs_run": fitted.epochs_run,
        "steps": fitted.steps,
        "cancelled": fitted.cancelled,
        "seconds": round(time.perf_counter() - started, 3),
        "base": start.name,
    }
    new_config = make_config(
        start.kind,
        backbone=str(start.config.get("backbone")),
        backbone_sha256=str(start.config.get("backbone_sha256")),
        feature_dim=x.shape[1],
        hidden=int(start.config.get("hidden", DEFAULT_HIDDEN)),
        trained_on=(f"personal verdicts: {len(v.liked)} liked, {len(v.disliked)} disliked outfits"),
        metrics={k: val for k, val in metrics.items() if k != "base"},
        stage="two-partial",
        base=start.name,
        training={
            "optimizer": train_cfg.optimizer,
            "lr": train_cfg.lr,
            "weight_decay": train_cfg.weight_decay,
            "anchor": anchor,
            "dislike_weight": weight,
            "epochs": train_cfg.epochs,
            "seed": seed,
            "negatives_per_positive": negatives_per_positive,
        },
        # The pair networks carry over. The temperatures of the pairs trained here do not:
        # fine-tuning moves their logits on their own scale, and the person's verdicts, not
        # the general model's validation lists, now say how sure they are. A pair carried over
        # unchanged (one-piece + shoes) keeps its calibration.
        **{k: start.config[k] for k in ("pairs",) if k in start.config},
        **_untouched_calibration(start.config, [name for name, _, _ in start.net.pair_defs]),
    )
    return FineTuneResult(out_arrays, new_config, metrics)
