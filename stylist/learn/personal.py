"""Personal retraining (stage two, partial) on one person's verdicts and wardrobe features.

The app calls ``fine_tune_partial`` in the background after a few new thumbs: it starts from the
general model (or the person's last model, or an untrained net when there is neither), trains the
matching layers on the person's liked outfits against random outfits of their own wardrobe and
their disliked ones, and measures validation mean NDCG on held-out verdicts for the old and the new
net, so the caller keeps the new one only when it is not worse. Features come from the library's
cache; nothing here touches photos or the library itself.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stylist.errors import StylistError
from stylist.learn.sampling import NEGATIVES_PER_POSITIVE, NegativeSampler, negatives_from_outfits
from stylist.learn.train import TrainConfig

Progress = Callable[[int, int, str], None]
SLOT_NAMES = ("top", "bottom", "shoes")

# Fine-tuning a trained net: the paper's ten epochs, Adam at a small rate (validated on people
# built from outfits-ccp, see the model card). From an untrained net the rate is higher.
FINE_TUNE = TrainConfig(epochs=10, lr=1e-4, optimizer="adam", weight_decay=5e-4)
FROM_SCRATCH = TrainConfig(epochs=10, lr=1e-3, optimizer="adam", weight_decay=5e-4)
MIN_VALIDATION_LIKES = 2
MIN_LIKES_TO_CHOOSE_CHECKPOINT = 10


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
    def not_worse(self) -> bool:
        """Whether the new net validates at least as well as the old (True when there is too
        little held out to validate on)."""
        old, new = self.old_val_mean_ndcg, self.new_val_mean_ndcg
        if old is None or new is None:
            # Too few verdicts held out to compare on: no evidence that it is worse, and the
            # person's own verdicts are what it learned from.
            return True
        return new >= old - 1e-9

    def save(self, path: str | Path) -> tuple[Path, Path]:
        from stylist.learn.io import save_matching_net

        return save_matching_net(path, self.arrays, self.config)


def _slot_key(key: Any) -> str:
    name = getattr(key, "value", key)
    name = str(name).lower()
    if name not in SLOT_NAMES:
        raise FineTuneError(f"unknown wardrobe slot {key!r} (use top, bottom, shoes)")
    return name


class _Items:
    """Row-indexed features of the wardrobe (ids) plus any outfits given as feature triples."""

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

    def triple(self, outfit: Sequence[Any]) -> tuple[int, int, int] | None:
        """Rows of an outfit of item ids or of three feature vectors; None if an id is unknown."""
        if len(outfit) != 3:
            raise FineTuneError(f"an outfit is (top, bottom, shoes), got {len(outfit)} parts")
        rows = []
        for slot, part in enumerate(outfit):
            if isinstance(part, np.ndarray) or (isinstance(part, (list, tuple)) and len(part) > 3):
                rows.append(len(self.rows))
                self.rows.append(np.asarray(part, dtype=np.float32).ravel())
            else:
                row = self.ids.get((slot, part))
                if row is None:
                    return None
                rows.append(row)
        return (rows[0], rows[1], rows[2])

    def matrix(self) -> np.ndarray:
        dims = {r.shape[0] for r in self.rows}
        if len(dims) != 1:
            raise FineTuneError(f"features of different sizes were given: {sorted(dims)}")
        return np.stack(self.rows)  # (N, D)


def _load_base(base: Any) -> tuple[dict[str, np.ndarray], dict[str, Any], str] | None:
    from stylist.learn.io import load_matching_net

    if base is None:
        return None
    if isinstance(base, tuple) and len(base) == 2:
        arrays, config = base
        return dict(arrays), dict(config), str(config.get("name", "given arrays"))
    arrays, config = load_matching_net(base)
    return arrays, config, str(base)


def _split(n: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(n)
    n_val = int(round(fraction * n)) if n >= 2 * MIN_VALIDATION_LIKES + 1 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def fine_tune_partial(
    base: str | Path | tuple[Mapping[str, np.ndarray], Mapping[str, Any]] | None,
    likes: Sequence[Sequence[Any]],
    dislikes: Sequence[Sequence[Any]],
    wardrobe_features_by_category: Mapping[Any, Mapping[int, np.ndarray]],
    *,
    epochs: int = 10,
    seed: int = 0,
    val_fraction: float = 0.2,
    progress: Progress | None = None,
    cancel: Any = None,
    net: str = "C",
    backbone: str | None = None,
    backbone_sha256: str | None = None,
    negatives_per_positive: int = NEGATIVES_PER_POSITIVE,
    config: TrainConfig | None = None,
) -> FineTuneResult:
    """Stage two, partial, for one person; returns the new net and old/new validation figures.

    base: the net to start from (a saved net's path, or ``(arrays, config)``), or None for an
    untrained net (then ``net``, ``backbone`` and ``backbone_sha256`` say what to build).
    likes / dislikes: outfits as (top, bottom, shoes) item ids of the wardrobe, or as three
    feature vectors. wardrobe_features_by_category: ``{"top": {id: (D,) features}, "bottom": …,
    "shoes": …}`` (Category members work as keys); random negatives are drawn from it.
    A share ``val_fraction`` of likes and dislikes (at least two likes) is held out: their mean
    NDCG against random wardrobe outfits is measured before and after. On cancel, training stops
    at the next batch and the best net so far is returned (``metrics["cancelled"]``).
    """
    from stylist.learn.io import input_normalisation, make_config, net_arrays, net_from_arrays
    from stylist.learn.nets import build_net
    from stylist.learn.train import RankTask, evaluate_lists, fit, normalisation, projected_scorer

    started = time.perf_counter()
    items = _Items(wardrobe_features_by_category)
    liked = [t for t in (items.triple(o) for o in likes) if t is not None]
    disliked = [t for t in (items.triple(o) for o in dislikes) if t is not None]
    skipped = len(likes) + len(dislikes) - len(liked) - len(disliked)
    if any(not pool for pool in items.pools):
        missing = [SLOT_NAMES[k] for k, pool in enumerate(items.pools) if not pool]
        raise FineTuneError(f"the wardrobe has no {' or '.join(missing)} with features")
    if not liked:
        raise FineTuneError("no liked outfit whose three items all have features")
    x = items.matrix()  # (N, D)
    dim = x.shape[1]

    loaded = _load_base(base)
    if loaded is None:
        kind = net
        start = build_net(kind, dim, seed=seed, init="authors")
        mean, std = normalisation(x)
        base_config: dict[str, Any] = {"backbone": backbone, "backbone_sha256": backbone_sha256}
        base_name = "untrained"
        train_cfg = config or FROM_SCRATCH
    else:
        arrays, base_config, base_name = loaded
        if int(base_config["feature_dim"]) != dim:
            raise FineTuneError(
                f"the base net takes {base_config['feature_dim']}-d features, "
                f"the wardrobe has {dim}-d ones"
            )
        kind = str(base_config["net"])
        start = net_from_arrays(arrays, base_config)
        mean, std = input_normalisation(arrays, dim)
        train_cfg = config or FINE_TUNE
    train_cfg = dataclasses.replace(train_cfg, epochs=epochs, seed=seed)
    if len(liked) * val_fraction < MIN_LIKES_TO_CHOOSE_CHECKPOINT:
        # A handful of held-out likes cannot pick a checkpoint; they can still veto a bad net.
        train_cfg = dataclasses.replace(train_cfg, keep_best=False, evals_per_epoch=1)
    xn = ((x - mean) / std).astype(np.float32)

    rng = np.random.default_rng([seed, 11])
    liked_a = np.asarray(liked, dtype=np.int64).reshape(-1, 3)
    disliked_a = np.asarray(disliked, dtype=np.int64).reshape(-1, 3)
    like_train, like_val = _split(len(liked_a), val_fraction, rng)
    dis_train, dis_val = _split(len(disliked_a), val_fraction, rng)
    if like_val.size < MIN_VALIDATION_LIKES:
        like_train, like_val = np.arange(len(liked_a)), np.zeros(0, dtype=np.int64)
        dis_train, dis_val = np.arange(len(disliked_a)), np.zeros(0, dtype=np.int64)
    positives = liked_a[like_train]
    known = [tuple(t) for t in liked_a]
    pools = [np.asarray(p, dtype=np.int64) for p in items.pools]
    sampler = NegativeSampler(
        positives, pools, known=known, mode="random", per_positive=negatives_per_positive
    )
    train_dislikes = disliked_a[dis_train]

    def negatives(r: np.random.Generator) -> np.ndarray:
        drawn = sampler.sample(r)  # (P, K, 3)
        if train_dislikes.shape[0] == 0:
            return drawn
        k = min(negatives_per_positive, train_dislikes.shape[0])
        return np.concatenate(
            [drawn, negatives_from_outfits(positives.shape[0], train_dislikes, k, r)], axis=1
        )

    val_lists = []
    if like_val.size:
        val_pos = liked_a[like_val]
        val_sampler = NegativeSampler(
            val_pos, pools, known=known, mode="random", per_positive=negatives_per_positive
        )
        val_neg = val_sampler.sample(np.random.default_rng([seed, 12])).reshape(-1, 3)
        val_neg = np.concatenate([val_neg, disliked_a[dis_val]])
        triples = np.concatenate([val_pos, val_neg])
        labels = np.concatenate([np.ones(len(val_pos)), np.zeros(len(val_neg))]).astype(np.int64)
        val_lists.append((triples, labels))

    task = RankTask(positives=positives, negatives=negatives, val_lists=val_lists)
    slots = [
        np.unique(np.concatenate([pools[k], liked_a[:, k], disliked_a[:, k]])) for k in range(3)
    ]
    scorer = projected_scorer(start, xn, slots)
    old = evaluate_lists(scorer, val_lists, seed=seed).mean_ndcg if val_lists else None
    fitted = fit(scorer, task, train_cfg, progress=progress, cancel=cancel)
    new_net = scorer.to_net()
    new_val = fitted.best_val if val_lists else None

    out_arrays = net_arrays(new_net, mean, std)
    metrics = {
        "old_val_mean_ndcg": old,
        "new_val_mean_ndcg": new_val,
        "train_likes": int(positives.shape[0]),
        "val_likes": int(like_val.size),
        "train_dislikes": int(train_dislikes.shape[0]),
        "val_dislikes": int(dis_val.size),
        "skipped_outfits": skipped,
        "epochs_run": fitted.epochs_run,
        "cancelled": fitted.cancelled,
        "seconds": round(time.perf_counter() - started, 3),
        "base": base_name,
    }
    new_config = make_config(
        kind,
        backbone=str(base_config.get("backbone")),
        backbone_sha256=str(base_config.get("backbone_sha256")),
        feature_dim=dim,
        trained_on=f"personal verdicts: {len(liked)} liked, {len(disliked)} disliked outfits",
        metrics={k: v for k, v in metrics.items() if k != "base"},
        stage="two-partial",
        base=base_name,
        training={
            "optimizer": train_cfg.optimizer,
            "lr": train_cfg.lr,
            "epochs": train_cfg.epochs,
            "seed": seed,
            "negatives_per_positive": negatives_per_positive,
        },
    )
    return FineTuneResult(out_arrays, new_config, metrics)
