"""Stage one and stage two training of the matching networks on a dataset's item table.

* **Stage one**: every person's train split pooled, validation lists of every person, the
  checkpoint with the best validation mean NDCG kept.
* **Stage two** for one person, starting from a stage-one net: ``partial`` trains the matching
  layers on cached features; ``whole`` trains the backbone too (its torch form, on the crops);
  ``direct`` is ``partial`` from an untrained net (for A: the whole CNN from ImageNet weights).

Stage one of B and C may learn on a whitened principal-component projection of the features
(``reduce``): a few hundred outfits cannot pin down a first layer over 1,280 correlated inputs,
and a low-dimensional, decorrelated input trains far better (see the model card). The projection
is folded into fc1 afterwards (``fold_input_projection``), so every saved or returned net takes the
backbone's features as they are (after the per-dimension ``input.mean`` / ``input.std``).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stylist.learn.data import ItemTable, group_split, training_task
from stylist.learn.datasets import Dataset
from stylist.learn.features import size_inputs
from stylist.learn.metrics import RankingMetrics, average
from stylist.learn.train import (
    FitResult,
    TrainConfig,
    evaluate_lists,
    feature_scorer,
    fit,
    image_scorer,
    load_images,
    normalisation,
    projected_scorer,
)
from stylist.tasks import Cancel, Progress

# Stage one of B and C: chosen on the validation split of outfits-ccp (see the model card).
STAGE_ONE = TrainConfig(epochs=40, lr=3e-4, optimizer="adam", weight_decay=5e-4)
STAGE_ONE_REDUCE = 64  # whitened principal components the first layer learns on
# The statistics baselines (6 or 32 inputs) learn faster; chosen on validation the same way.
BASELINE = TrainConfig(epochs=30, lr=1e-3, optimizer="adam", weight_decay=5e-4)
STAGE_ONE_INIT = "torch"
# Stage two (partial, direct): matching layers only, the paper's ten epochs.
STAGE_TWO = TrainConfig(epochs=10, lr=1e-4, optimizer="adam", weight_decay=5e-4)
# Nets that train through the CNN (A, whole): the paper's SGD, CNN layers at a tenth of the rate.
THROUGH_CNN = TrainConfig(epochs=3, lr=0.01, optimizer="sgd", trunk_lr_scale=0.1)
INPUTS = ("cnn", "size", "colour")


@dataclass
class Trained:
    """A matching model and what scoring with it needs."""

    kind: str  # "A" | "B" | "C"
    inputs: str  # "cnn" (backbone features / crops), "size" or "colour" (baselines)
    net: Any  # torch net: B/C on normalised (and projected) features, A on images
    mean: np.ndarray | None = None  # per-dimension input normalisation (B/C)
    std: np.ndarray | None = None
    projection: np.ndarray | None = None  # (D, k) while the net works on reduced inputs
    trunk: Any = None  # the fine-tuned torch backbone of a ``whole`` model
    fit: FitResult | None = None
    info: dict[str, Any] = field(default_factory=dict)


def input_features(table: ItemTable, inputs: str) -> np.ndarray:
    """(V, N, F) inputs of every item: backbone features (all views) or a baseline's statistics."""
    crops = table.crops
    if inputs == "cnn":
        return crops.features
    if inputs == "size":
        return size_inputs(crops.size)[None]
    if inputs == "colour":
        return crops.colour  # every view, like the features
    if inputs == "cnn+colour":
        return np.concatenate([crops.features, crops.colour], axis=-1)
    raise ValueError(f"unknown inputs {inputs!r} (one of {', '.join(INPUTS)})")


def whitening(x: np.ndarray, k: int) -> np.ndarray:
    """(D, k) projection onto the top-k principal components of (M, D) rows, scaled to unit
    variance."""
    x = np.asarray(x, dtype=np.float64)
    k = min(k, x.shape[1], max(1, x.shape[0] - 1))
    _, s, vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    scale = s[:k] / np.sqrt(x.shape[0])
    return (vt[:k].T / np.maximum(scale, 1e-6)).astype(np.float32)


def model_inputs(model: Trained, table: ItemTable) -> np.ndarray:
    """(V, N, F) float32 inputs of ``model``'s net: normalised, projected if it is reduced."""
    x = input_features(table, model.inputs)
    x = (x - model.mean) / model.std
    if model.projection is not None:
        x = x @ model.projection
    return np.ascontiguousarray(x, dtype=np.float32)


class ImageBank:
    """Every crop of the table preprocessed for the torch backbone, loaded once on first use."""

    def __init__(self, dataset: Dataset, table: ItemTable, size: int | None = None) -> None:
        self.dataset, self.table, self.size = dataset, table, size
        self._array: np.ndarray | None = None

    def array(self) -> np.ndarray:
        """(N, 3, S, S) float16 in the table's row order."""
        if self._array is None:
            from stylist.vision.backbones import get_backbone

            pre = get_backbone(self.table.crops.backbone_id, verify=False).preprocess
            files = [self.dataset.crop_path(k) for k in self.table.crops.keys]
            self._array = load_images(files, pre, self.size)
        return self._array


def untrained(
    kind: str,
    table: ItemTable,
    *,
    inputs: str = "cnn",
    seed: int = 0,
    train_items: np.ndarray | None = None,
    reduce: int | None = None,
    init: str = "authors",
    family: str = "three",
) -> Trained:
    """A net with freshly initialised matching layers (the paper's "initial" row).

    B/C: input normalisation from ``train_items`` (all items when None); ``reduce`` = k makes the
    net work on k whitened principal components. ``family``: ``one_piece`` gives C the single
    one-piece–shoes pair network.
    """
    from stylist.learn.nets import FAMILY_PAIRS, build_net, build_net_a

    if kind == "A":
        return Trained("A", "cnn", build_net_a(table.crops.backbone_id, seed=seed, init=init))
    x = input_features(table, inputs)
    items = np.arange(x.shape[1]) if train_items is None else np.unique(train_items)
    mean, std = normalisation(x[:, items])
    projection = None
    dim = x.shape[-1]
    if reduce is not None and reduce < dim:
        rows = ((x[:, items] - mean) / std).reshape(-1, dim)
        if inputs == "cnn+colour":
            # the features' leading components and every colour statistic, each whitened
            d = table.crops.features.shape[-1]
            cnn, colour = whitening(rows[:, :d], reduce), whitening(rows[:, d:], dim - d)
            projection = np.zeros((dim, cnn.shape[1] + colour.shape[1]), dtype=np.float32)
            projection[:d, : cnn.shape[1]] = cnn
            projection[d:, cnn.shape[1] :] = colour
        else:
            projection = whitening(rows, reduce)
        dim = projection.shape[1]
    if family != "three" and kind != "C":
        raise ValueError(f"net {kind} scores three-piece outfits only; use C for {family}")
    net = build_net(kind, dim, seed=seed, init=init, pairs=FAMILY_PAIRS[family])
    return Trained(kind, inputs, net, mean, std, projection)


def folded(model: Trained) -> Trained:
    """The model with its input projection folded into fc1 (a net over full features)."""
    from stylist.learn.nets import fold_input_projection

    if model.projection is None:
        return model
    net = fold_input_projection(model.net, model.projection)
    return dataclasses.replace(model, net=net, projection=None)


def scorer_for(
    model: Trained,
    table: ItemTable,
    images: ImageBank | None = None,
    cfg: TrainConfig | None = None,
) -> Any:
    """A torch scorer of ``model`` over every item of the table."""
    if model.kind == "A" or model.trunk is not None:
        if images is None:
            raise ValueError(f"net {model.kind} trained through the CNN scores crops: give images")
        if model.kind == "A":
            return image_scorer(model.net, images.array())
        return image_scorer(
            model.net, images.array(), trunk=model.trunk, mean=model.mean, std=model.std
        )
    return feature_scorer(model.net, model_inputs(model, table), cfg)


def score(
    model: Trained, table: ItemTable, lists, images: ImageBank | None = None, seed: int = 0
) -> RankingMetrics:
    """The paper's metrics of ``model`` on ranked lists, averaged person by person."""
    return evaluate_lists(scorer_for(model, table, images), lists, seed=seed)


def as_they_are(table: ItemTable) -> ItemTable:
    """The table with only view 0, the crops as they are (no augmented versions to train on)."""
    crops = dataclasses.replace(
        table.crops, features=table.crops.features[:1], colour=table.crops.colour[:1]
    )
    return dataclasses.replace(table, crops=crops)


def relit_views(model: Trained, table: ItemTable) -> int:
    """How many augmented views of every crop ``model`` can be scored on (0: none)."""
    if model.kind == "A" or model.trunk is not None or model.inputs == "size":
        return 0  # nets on crops see the images; size statistics of a re-scaled view are noise
    return table.crops.views - 1


def score_relit(model: Trained, table: ItemTable, lists, seed: int = 0) -> RankingMetrics | None:
    """The paper's metrics with every crop replaced by one of its augmented versions, averaged
    over the versions (None when the table has none).

    Each crop is re-lit and re-scaled on its own, so the crops of one street photo no longer
    share their light: a net that learnt "same light, same photo" loses that cue here, a net
    that learnt which clothes go together keeps what it learnt.
    """
    views = relit_views(model, table)
    if views == 0:
        return None
    x = model_inputs(model, table)
    per_view = [
        evaluate_lists(feature_scorer(model.net, x[v]), lists, seed=seed)
        for v in range(1, views + 1)
    ]
    return dataclasses.replace(average(per_view), lists=per_view[0].lists)


def _device(scorer: Any, device: str | None) -> Any:
    return scorer if device in (None, "cpu") else scorer.to(device)


def stage_one(
    kind: str,
    dataset: Dataset,
    table: ItemTable,
    users: list[str | None],
    val_lists,
    *,
    inputs: str = "cnn",
    negatives: str = "matched",
    cfg: TrainConfig | None = None,
    reduce: int | None = STAGE_ONE_REDUCE,
    init: str = STAGE_ONE_INIT,
    seed: int = 0,
    images: ImageBank | None = None,
    device: str | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> Trained:
    """Stage one on the pooled train splits of ``users``; best validation checkpoint kept.

    Returns B/C with the projection folded in (a net over the backbone's features).
    """
    through_cnn = kind == "A"
    own = STAGE_ONE if inputs.startswith("cnn") else BASELINE
    base = cfg or (THROUGH_CNN if through_cnn else own)
    cfg = dataclasses.replace(base, seed=seed)
    task = training_task(dataset, table, users, mode=negatives, val_lists=val_lists)
    model = untrained(
        kind,
        table,
        inputs=inputs,
        seed=seed,
        train_items=task.positives,
        reduce=None if through_cnn or inputs not in ("cnn", "cnn+colour") else reduce,
        init="authors" if through_cnn else init,
        family=dataset.family,
    )
    scorer = _device(scorer_for(model, table, images, cfg), device)
    model.fit = fit(scorer, task, cfg, progress=progress, cancel=cancel)
    scorer.cpu()
    model.info.update(
        {
            "stage": "one",
            "negatives": negatives,
            "seed": seed,
            "train_positives": int(task.positives.shape[0]),
        }
    )
    return folded(model)


def _slot_items(dataset: Dataset, table: ItemTable, user, task) -> list[np.ndarray]:
    """Per slot, the items the person's training puts there (never validation or test items:
    with Adam the basis they span shapes the training, see ``train.projected_scorer``)."""
    g = group_split(dataset, table, user, "train")
    out = []
    for k in range(3):
        seen = [task.positives[:, k], g.pools[k], g.rejected[:, k]]
        out.append(np.unique(np.concatenate(seen)))
    return out


def stage_two(
    mode: str,
    start: Trained,
    dataset: Dataset,
    table: ItemTable,
    user: str | None,
    val_lists,
    test_lists=(),
    *,
    negatives: str = "matched",
    cfg: TrainConfig | None = None,
    seed: int = 0,
    images: ImageBank | None = None,
    device: str | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> Trained:
    """Stage two for one person: ``partial``, ``whole`` or ``direct`` (see the module doc).

    ``start``: the stage-one model (``partial``, ``whole``) or an untrained one (``direct``);
    never changed. ``test_lists``: the lists the result will be scored on; they change nothing
    in the training (kept for callers that pass them).
    """
    if mode not in ("partial", "whole", "direct"):
        raise ValueError(f"unknown stage two {mode!r} (use partial, whole or direct)")
    through_cnn = start.kind == "A" or mode == "whole"
    base = cfg or (THROUGH_CNN if through_cnn else STAGE_TWO)
    cfg = dataclasses.replace(base, seed=seed)
    task = training_task(dataset, table, [user], mode=negatives, val_lists=val_lists)
    start = folded(start)
    if start.kind == "A":
        model = Trained("A", "cnn", copy.deepcopy(start.net))
        scorer = _device(scorer_for(model, table, images), device)
        model.fit = fit(scorer, task, cfg, progress=progress, cancel=cancel)
        scorer.cpu()
    elif mode == "whole":
        from stylist.learn.torch_backbone import torch_trunk

        trunk = start.trunk if start.trunk is not None else torch_trunk(table.crops.backbone_id)[0]
        model = dataclasses.replace(start, net=copy.deepcopy(start.net), trunk=copy.deepcopy(trunk))
        scorer = _device(scorer_for(model, table, images), device)
        model.fit = fit(scorer, task, cfg, progress=progress, cancel=cancel)
        scorer.cpu()
    else:
        x = model_inputs(start, table)[0]  # (N, D) view 0: the crops as they are
        slots = _slot_items(dataset, table, user, task)
        scorer = _device(projected_scorer(start.net, x, slots), device)
        fitted = fit(scorer, task, cfg, progress=progress, cancel=cancel)
        model = dataclasses.replace(start, net=scorer.cpu().to_net(), fit=fitted)
    model.info = {**start.info, "stage": mode, "user": user, "seed": seed}
    return model
