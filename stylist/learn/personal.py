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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stylist.learn.sampling import NEGATIVES_PER_POSITIVE
from stylist.learn.train import TrainConfig

# The result, its checks and the reading of verdicts are shared with the numpy form.
from stylist.tune import ANCHOR, FineTuneError, FineTuneResult, _load_base, read_verdicts
from stylist.tune import untouched_calibration as _untouched_calibration

Progress = Callable[[int, int, str], None]

# Fine-tuning a trained net: Adam at a small rate, no decay toward zero (the pull goes toward the
# starting weights instead, see ANCHOR). From an untrained net the rate is higher.
FINE_TUNE = TrainConfig(epochs=10, lr=1e-4, optimizer="adam", weight_decay=0.0)
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


def fine_tune_partial(
    base: str | Path | tuple[Mapping[str, np.ndarray], Mapping[str, Any]] | None,
    likes: Sequence[Sequence[Any]],
    dislikes: Sequence[Sequence[Any]],
    wardrobe_features_by_category: Mapping[Any, Mapping[int, np.ndarray]],
    *,
    val_likes: Sequence[Sequence[Any]] = (),
    val_dislikes: Sequence[Sequence[Any]] = (),
    epochs: int = 10,
    seed: int = 0,
    progress: Progress | None = None,
    cancel: Any = None,
    net: str = "C",
    backbone: str | None = None,
    backbone_sha256: str | None = None,
    negatives_per_positive: int = NEGATIVES_PER_POSITIVE,
    config: TrainConfig | None = None,
    anchor: float | None = None,
    incumbent: str | Path | tuple[Mapping[str, np.ndarray], Mapping[str, Any]] | None = None,
) -> FineTuneResult:
    """Stage two, partial, for one person; returns the new net and old/new validation figures.

    base: the net to start from (a saved net's path, or ``(arrays, config)``), or None for an
    untrained net (then ``net``, ``backbone`` and ``backbone_sha256`` say what to build).
    likes / dislikes: the training verdicts, outfits as (top, bottom, shoes) item ids of the
    wardrobe or as three feature vectors. val_likes / val_dislikes: the validation verdicts,
    never trained on; with at least ``MIN_VALIDATION_LIKES`` likes among them the old and the
    new net are compared on them once (mean NDCG against random wardrobe outfits).
    wardrobe_features_by_category: ``{"top": {id: (D,) features}, "bottom": …, "shoes": …}``
    (Category members work as keys); random negatives are drawn from it. ``epochs`` is fixed
    beforehand: no checkpoint is chosen on anything. ``anchor``: the L2 pull toward the
    starting weights (default ``ANCHOR``). incumbent: the net the new one must not be worse
    than (the version in use), when it is not ``base``. On cancel, training stops at the next
    batch (``metrics["cancelled"]``).
    """
    from stylist.learn.io import input_normalisation, make_config, net_arrays, net_from_arrays
    from stylist.learn.nets import build_net
    from stylist.learn.train import RankTask, evaluate_lists, fit, normalisation, projected_scorer

    started = time.perf_counter()
    anchor = ANCHOR if anchor is None else anchor
    verdicts = read_verdicts(
        likes,
        dislikes,
        wardrobe_features_by_category,
        val_likes,
        val_dislikes,
        seed=seed,
        negatives_per_positive=negatives_per_positive,
    )
    x, val_lists = verdicts.x, verdicts.val_lists
    dim = x.shape[1]

    loaded = _load_base(base)
    if loaded is None:
        kind = net
        start = build_net(kind, dim, seed=seed, init="authors")
        mean, std = normalisation(x)
        base_config: dict[str, Any] = {"backbone": backbone, "backbone_sha256": backbone_sha256}
        base_name = "untrained"
        train_cfg = config or FROM_SCRATCH
        anchor = 0.0  # nothing worth staying near
    else:
        arrays, base_config, base_name = loaded
        if int(base_config["feature_dim"]) != dim:
            raise FineTuneError(
                f"the base net takes {base_config['feature_dim']}-d features, "
                f"the wardrobe has {dim}-d ones"
            )
        kind = str(base_config["net"])
        # Verdicts are three-piece outfits: their pair networks learn; a one-piece pair network
        # the base holds is carried over unchanged (below).
        start = net_from_arrays(arrays, base_config, "three")
        mean, std = input_normalisation(arrays, dim)
        train_cfg = config or FINE_TUNE
    # Nothing is chosen on validation: the last weights are the result.
    train_cfg = dataclasses.replace(
        train_cfg, epochs=epochs, seed=seed, keep_best=False, evals_per_epoch=1
    )
    xn = ((x - mean) / std).astype(np.float32)

    # The training task holds no validation verdict at all.
    task = RankTask(positives=verdicts.positives, negatives=verdicts.negatives, val_lists=[])
    slots = verdicts.slots
    scorer = projected_scorer(start, xn, slots)
    old = None
    if val_lists and incumbent is not None:
        in_use = _load_base(incumbent)
        old_arrays, old_config, _ = in_use
        if int(old_config["feature_dim"]) != dim:
            raise FineTuneError("the net in use takes features of another size than the wardrobe")
        old_mean, old_std = input_normalisation(old_arrays, dim)
        old_x = ((x - old_mean) / old_std).astype(np.float32)
        old_net = net_from_arrays(old_arrays, old_config, "three")
        old_scorer = projected_scorer(old_net, old_x, slots)
        old = evaluate_lists(old_scorer, val_lists, seed=seed).mean_ndcg
        del in_use, old_arrays, old_scorer, old_x  # a training's memory stays near one net's
    elif val_lists:
        old = evaluate_lists(scorer, val_lists, seed=seed).mean_ndcg
    _anchor(scorer, anchor)
    fitted = fit(scorer, task, train_cfg, progress=progress, cancel=cancel)
    new_net = scorer.to_net()
    new_val = evaluate_lists(scorer, val_lists, seed=seed).mean_ndcg if val_lists else None

    out_arrays = net_arrays(new_net, mean, std)
    if loaded is not None:
        for key, value in loaded[0].items():  # the one-piece pair network, as it was
            out_arrays.setdefault(key, value)
    metrics = {
        "old_val_mean_ndcg": old,
        "new_val_mean_ndcg": new_val,
        "validated": verdicts.validated,
        "train_likes": int(verdicts.positives.shape[0]),
        "val_likes": int(verdicts.val_likes.shape[0]),
        "train_dislikes": int(verdicts.dislikes.shape[0]),
        "val_dislikes": int(verdicts.val_dislikes.shape[0]),
        "skipped_outfits": verdicts.skipped,
        "epochs_run": fitted.epochs_run,
        "steps": fitted.steps,
        "cancelled": fitted.cancelled,
        "seconds": round(time.perf_counter() - started, 3),
        "base": base_name,
    }
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
            "optimizer": train_cfg.optimizer,
            "lr": train_cfg.lr,
            "weight_decay": train_cfg.weight_decay,
            "anchor": anchor,
            "epochs": train_cfg.epochs,
            "seed": seed,
            "negatives_per_positive": negatives_per_positive,
        },
        # The pair networks carry over. The temperatures of the pairs trained here do not:
        # fine-tuning moves their logits on their own scale, and the person's verdicts, not
        # the general model's validation lists, now say how sure they are. A pair carried over
        # unchanged (one-piece + shoes) keeps its calibration.
        **{k: base_config[k] for k in ("pairs",) if k in base_config},
        **_untouched_calibration(base_config, [name for name, _, _ in start.pair_defs]),
    )
    return FineTuneResult(out_arrays, new_config, metrics)
