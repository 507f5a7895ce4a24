"""Carrying a matching model over to another backbone on the person's own wardrobe (distillation).

A general model exists for one backbone only; its training photos cannot ship with the app. What
can be done on the person's machine, offline, in seconds: their wardrobe photos run through both
backbones, the model on the old backbone (the *teacher*: the general net C, or their own
version) scores every pair of their items, and a net of the same shape on the new backbone's
features (the *student*) learns to reproduce those pair scores and their order.

How, per item slot rows aligned between both backbones:

1. **Held-out items.** A seeded share of every slot's items is set aside; the student never
   sees them, and its pair scores on them are compared with the teacher's at the end (Spearman
   rank correlation over every pair of held-out items, per pair network).
2. **A linear start.** Both backbones are ImageNet networks, so one feature set is partly a
   linear map of the other. Where a map between the two backbones ships (``models/feature-map-
   <student>-to-<teacher>.npz``, learnt at build time on thousands of photos by
   ``models/build_feature_map.py``, and made for exactly these two backbone files: both sha256
   must match), it is the start, and the wardrobe only corrects it: a ridge regression of what
   the map misses on the training items, its strength chosen by exact leave-one-out error
   (a strength that leaves the map as it is among the choices). Elsewhere (VGG-16, or a
   backbone file the map was not made for) the map is learnt on the wardrobe alone: a ridge
   regression from the student's features (centred, one scale for every dimension) to the
   teacher's normalised ones over the training items, its strength chosen by exact
   leave-one-out error on those items only, read through the teacher's first layers. The map
   is folded into the teacher's first layers: the start is the teacher itself, read through
   the map.
3. **Distillation.** Every pair network is trained on all pairs of training items against the
   teacher's logit (P(match) before any calibration), with a ranking-aware loss: the rank loss
   on pairs of pairs the teacher orders, plus a regression term on the standardised logits,
   and a pull toward the linear start. The first layer's weights stay the map's (see
   ``_distil_pair``). Net B (when the teacher has one) gets the linear start.

The student keeps the teacher's calibration (its logits are on the teacher's scale) and its
pair networks (a one-piece–shoes pair network included). Below ``MIN_ITEMS`` items in a slot the
teacher cannot be carried over: ``WardrobeTooSmall`` says so.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stylist.domain import SLOT_NAMES as SLOTS  # slot rows: tops, bottoms, shoes, one-pieces
from stylist.errors import StylistError
from stylist.rank.matching import PAIR_SLOTS
from stylist.tasks import Progress, is_cancelled

MIN_ITEMS = 15  # per slot (tops, bottoms, shoes): fewer cannot carry a teacher over
MIN_TRAIN = 6  # training items a pair network's slots need to be trained (else: linear start)
HELD_OUT = 0.2
FIT_SAMPLE = 24  # training items per slot the fit is reported on
RIDGE_GRID = tuple(10.0**k for k in range(-4, 3))  # x the mean squared norm of a feature row
# The wardrobe's correction of a shipped map: the strongest of these leaves the map as it is.
CORRECTION_GRID = tuple(10.0**k for k in range(-2, 7))
FEATURE_MAP_FORMAT = "stylist-feature-map/1"


class WardrobeTooSmall(StylistError):
    """Too few items in some slot to carry the teacher over; the message says how many."""


@dataclass(frozen=True)
class FeatureMap:
    """A linear map between two backbones' raw features, ``x_target ≈ a · x_source + c``,
    learnt at build time for exactly the two backbone files named by their sha256."""

    a: np.ndarray  # (D_target, D_source)
    c: np.ndarray  # (D_target,)
    source: str
    source_sha256: str
    target: str
    target_sha256: str
    file: str = ""

    def fits(self, source_sha256: str, target_sha256: str) -> bool:
        return self.source_sha256 == source_sha256 and self.target_sha256 == target_sha256


def feature_map_path(source: str, target: str, folder: Path | None = None) -> Path:
    """Where the map from ``source`` to ``target`` features ships (without suffix)."""
    from stylist.paths import models_dir

    return (folder or models_dir()) / f"feature-map-{source}-to-{target}"


def load_feature_map(
    source: str,
    source_sha256: str,
    target: str,
    target_sha256: str,
    folder: Path | None = None,
) -> FeatureMap | None:
    """The shipped map from ``source`` to ``target`` features, or None when none ships or it
    was made for other backbone files (a sha256 differs: its map would be meaningless)."""
    from stylist.files import read_json, read_npz

    base = feature_map_path(source, target, folder)
    npz, manifest = base.with_suffix(".npz"), base.with_suffix(".json")
    if not (npz.is_file() and manifest.is_file()):
        return None
    info = read_json(manifest, fmt=FEATURE_MAP_FORMAT)
    if (
        info.get("source", {}).get("sha256") != source_sha256
        or info.get("target", {}).get("sha256") != target_sha256
    ):
        return None
    arrays = read_npz(npz, keys=("a", "c"))
    a = np.asarray(arrays["a"], np.float32)
    c = np.asarray(arrays["c"], np.float32)
    if a.ndim != 2 or c.shape != (a.shape[0],):
        raise StylistError(f"{npz}: a map needs a (D_target, D_source) and c (D_target,)")
    return FeatureMap(a, c, source, source_sha256, target, target_sha256, npz.name)


@dataclass(frozen=True)
class DistillConfig:
    """Settings of the distillation; the defaults were chosen on wardrobe-photos
    (``tests/benchmarks/bench_distill.py``), never on outfits-mango."""

    held_out: float = HELD_OUT
    steps: int = 40  # optimiser steps per pair network
    batch: int = 256  # item pairs per step
    lr: float = 3e-4
    rank_weight: float = 1.0
    regression_weight: float = 1.0
    anchor: float = 1e-3  # pull toward the linear start
    seed: int = 0
    wardrobe_correction: bool = True  # correct a shipped map on the wardrobe (see distil)


@dataclass
class DistillResult:
    """The student as plain arrays and config (``stylist-matching-net/1``) and its check."""

    arrays: dict[str, np.ndarray]
    config: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    net_b: tuple[dict[str, np.ndarray], dict[str, Any]] | None = None

    @property
    def rho(self) -> float:
        return float(self.metrics["rho"])

    @property
    def label(self) -> str:
        return label(self.metrics)

    def save(self, path: Any) -> Any:
        from stylist.learn.io import save_matching_net

        return save_matching_net(path, self.arrays, self.config)


def label(metrics: Mapping[str, Any]) -> str:
    """How a carried-over version is named to the person."""
    source = metrics.get("source", "the general model")
    return (
        f"carried over from {source}, checked on {metrics['held_out_items']} "
        f"held-out items: rank correlation {metrics['rho']:.2f}"
    )


def check_size(slots: Sequence[np.ndarray], min_items: int = MIN_ITEMS) -> None:
    """WardrobeTooSmall unless tops, bottoms and shoes each have ``min_items`` items."""
    counts = {SLOTS[k]: len(slots[k]) for k in range(3)}
    short = {name: n for name, n in counts.items() if n < min_items}
    if short:
        plural = {"top": "tops", "bottom": "bottoms", "shoes": "shoes"}
        have = ", ".join(f"{n} {plural[name]}" for name, n in short.items())
        raise WardrobeTooSmall(
            f"the wardrobe is too small to carry the general model over to another backbone: "
            f"it needs {min_items} tops, bottoms and shoes each with features, and has {have}"
        )


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two (N,) arrays (continuous scores: ties are rare)."""
    ra = np.argsort(np.argsort(a, kind="stable"), kind="stable").astype(np.float64)
    rb = np.argsort(np.argsort(b, kind="stable"), kind="stable").astype(np.float64)
    ra -= ra.mean()
    rb -= rb.mean()
    denom = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denom) if denom > 0 else 0.0


def pair_logits(
    arrays: Mapping[str, np.ndarray], name: str, xa: np.ndarray, xb: np.ndarray
) -> np.ndarray:
    """A pair network's logit (match minus no match, before calibration) of every (a, b):
    normalised (Na, D), (Nb, D) -> (Na, Nb)."""
    w1 = arrays[f"{name}.fc1.weight"]  # (H, 2D)
    d = xa.shape[1]
    pa = (xa @ w1[:, :d].T + arrays[f"{name}.fc1.bias"]).astype(np.float32)  # (Na, H)
    pb = (xb @ w1[:, d:].T).astype(np.float32)  # (Nb, H)
    w2t = np.ascontiguousarray(arrays[f"{name}.fc2.weight"].T, np.float32)
    b2 = np.asarray(arrays[f"{name}.fc2.bias"], np.float32)
    w3 = arrays[f"{name}.fc3.weight"]
    b3 = arrays[f"{name}.fc3.bias"]
    diff, bias = (w3[1] - w3[0]).astype(np.float32), np.float32(b3[1] - b3[0])
    na, nb, h = len(xa), len(xb), pa.shape[1]
    out = np.empty((na, nb), np.float32)
    rows = max(1, 8192 // max(1, nb))
    for i in range(0, na, rows):
        r = min(rows, na - i)
        h1 = np.maximum(pa[i : i + r, None, :] + pb[None], 0).reshape(r * nb, h)  # (r·Nb, H)
        h2 = h1 @ w2t
        h2 += b2
        np.maximum(h2, 0, out=h2)
        out[i : i + r] = (h2 @ diff + bias).reshape(r, nb)
    return out


def ridge_map(
    xs: np.ndarray,
    xt: np.ndarray,
    readout: np.ndarray | None = None,
    grid: Sequence[float] = RIDGE_GRID,
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """The linear map ``xt ≈ xs @ a.T + c`` from (N, Ds) to (N, Dt) rows, ridge-regularised.

    Solved in the dual (N is far below D) from one eigendecomposition of the centred Gram
    matrix; the strength is the one of ``RIDGE_GRID`` (relative to the mean squared row norm)
    (or ``grid``) with the least exact leave-one-out error, measured through ``readout`` (K, Dt):
    the teacher's first layers, so that the error counts in the directions the teacher reads.
    Returns (a (Dt, Ds), c (Dt,), info).
    """
    xs = np.asarray(xs, np.float64)
    xt = np.asarray(xt, np.float64)
    ms, mt = xs.mean(0), xt.mean(0)
    s, t = xs - ms, xt - mt
    gram = s @ s.T  # (N, N)
    evals, evecs = np.linalg.eigh(gram)
    evals = np.maximum(evals, 0.0)
    scale = float(np.trace(gram)) / len(s)
    proj_t = evecs.T @ t  # (N, Dt)
    # Predictions are linear in the targets: the error is measured on the targets read out
    # (N, K), which costs N² per strength instead of N·Dt·K.
    seen = t @ readout.T if readout is not None else t
    proj_seen = evecs.T @ seen
    best: tuple[float, float] | None = None
    for rel in grid:
        lam = rel * scale
        shrink = evals / (evals + lam)  # hat matrix H = V diag(shrink) Vᵀ
        fitted = evecs @ (shrink[:, None] * proj_seen)
        leverage = (evecs**2) @ shrink + 1.0 / len(s)  # diag(H), the intercept's share too
        loo = (seen - fitted) / np.maximum(1.0 - leverage, 1e-6)[:, None]
        err = float((loo**2).mean())
        if best is None or err < best[1]:
            best = (lam, err)
    assert best is not None
    lam = best[0]
    alpha = evecs @ (proj_t / (evals + lam)[:, None])  # (N, Dt) dual coefficients
    a = (s.T @ alpha).T  # (Dt, Ds)
    c = mt - a @ ms
    info = {"ridge": lam / scale, "loo_r2": 1.0 - best[1] / max(float((seen**2).mean()), 1e-12)}
    return a.astype(np.float32), c.astype(np.float32), info


def fold_map(
    arrays: Mapping[str, np.ndarray],
    a: np.ndarray,
    c: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    teacher_dim: int,
) -> dict[str, np.ndarray]:
    """The teacher's arrays re-expressed on the student's features through ``x_t = a·x_s + c``:
    every block of every fc1 becomes W·a and its bias gains W·c; the input normalisation
    becomes the student's (``mean``, ``std``)."""
    out: dict[str, np.ndarray] = {}
    for key, value in arrays.items():
        if key.startswith("input."):
            continue
        if key.endswith("fc1.weight"):
            blocks = value.shape[1] // teacher_dim
            parts = [value[:, k * teacher_dim : (k + 1) * teacher_dim] for k in range(blocks)]
            out[key] = np.concatenate([p @ a for p in parts], axis=1).astype(np.float32)
            bias_key = key[: -len("weight")] + "bias"
            shift = sum(p @ c for p in parts)
            out[bias_key] = (arrays[bias_key] + shift).astype(np.float32)
        elif key.endswith("fc1.bias"):
            continue  # written with its weight
        else:
            out[key] = np.asarray(value, np.float32)
    out["input.mean"] = np.asarray(mean, np.float32)
    out["input.std"] = np.asarray(std, np.float32)
    return out


def _split(n: int, share: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, held-out rows) of one slot: ``share`` held out, at least 2 when n >= 6."""
    order = rng.permutation(n)
    k = int(round(share * n))
    if n >= 6:
        k = max(k, 2)
    return np.sort(order[k:]), np.sort(order[:k])


def _distil_pair(
    arrays: dict[str, np.ndarray],
    name: str,
    xa: np.ndarray,
    xb: np.ndarray,
    target: np.ndarray,
    cfg: DistillConfig,
    rng_seed: int,
    cancel: Any,
) -> int:
    """Train one pair network of ``arrays`` (in place) on every (a, b) of training items against
    the teacher's logits ``target`` (Na, Nb); returns the steps run.

    The first layer's weights stay those of the linear start: they are what carries the teacher
    to items the student never saw, and a few hundred items cannot pin down 1,280-d weights
    (training them fits the training pairs and loses held-out ones). The rest of the network
    learns how the map's projections differ from the teacher's."""
    import torch

    torch.manual_seed(rng_seed)
    gen = np.random.default_rng(rng_seed)
    params = {
        k: torch.nn.Parameter(torch.from_numpy(np.array(arrays[f"{name}.{k}"], np.float32)))
        for k in ("fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias")
    }
    start = {k: p.detach().clone() for k, p in params.items()}
    w1 = arrays[f"{name}.fc1.weight"]
    d = xa.shape[1]
    pa = torch.from_numpy(np.ascontiguousarray(xa @ w1[:, :d].T))  # (Na, H), projected once
    pb = torch.from_numpy(np.ascontiguousarray(xb @ w1[:, d:].T))  # (Nb, H)
    y = torch.from_numpy(np.asarray(target, np.float32))  # (Na, Nb)
    y_std = float(y.std()) or 1.0
    opt = torch.optim.Adam(params.values(), lr=cfg.lr)
    steps = 0
    for _ in range(cfg.steps):
        if is_cancelled(cancel):
            break
        i = torch.from_numpy(gen.integers(len(xa), size=cfg.batch))
        j = torch.from_numpy(gen.integers(len(xb), size=cfg.batch))
        h1 = torch.relu(pa[i] + pb[j] + params["fc1.bias"])  # (B, H)
        h2 = torch.relu(h1 @ params["fc2.weight"].T + params["fc2.bias"])
        logits = h2 @ params["fc3.weight"].T + params["fc3.bias"]  # (B, 2)
        s = logits[:, 1] - logits[:, 0]  # (B,) student logits
        t = y[i, j]  # (B,) teacher logits
        regression = (((s - t) / y_std) ** 2).mean()
        # rank loss on pairs of pairs in the teacher's order (each sample against a shuffled one)
        k = torch.randperm(cfg.batch)
        order = torch.sign(t - t[k])
        rank = torch.nn.functional.softplus(-order * (s - s[k]) / y_std)[order != 0].mean()
        pull = sum(((p - start[n]) ** 2).sum() for n, p in params.items())
        loss = cfg.regression_weight * regression + cfg.rank_weight * rank + cfg.anchor * pull
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    for k, p in params.items():
        arrays[f"{name}.{k}"] = p.detach().numpy().astype(np.float32)
    return steps


def _normalised(arrays: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    if "input.mean" in arrays:
        return ((x - arrays["input.mean"]) / arrays["input.std"]).astype(np.float32)
    return np.asarray(x, np.float32)


def distil(
    teacher: tuple[Mapping[str, np.ndarray], Mapping[str, Any]],
    teacher_slots: Sequence[np.ndarray],
    student_slots: Sequence[np.ndarray],
    *,
    backbone: str,
    backbone_sha256: str,
    teacher_b: tuple[Mapping[str, np.ndarray], Mapping[str, Any]] | None = None,
    feature_map: FeatureMap | None | str = "shipped",
    config: DistillConfig | None = None,
    progress: Progress | None = None,
    cancel: Any = None,
    min_items: int = MIN_ITEMS,
) -> DistillResult:
    """The student net C (and B) on the student backbone, carried over from ``teacher``.

    teacher: the net C as (arrays, config) on the teacher's backbone. teacher_slots /
    student_slots: per slot (tops, bottoms, shoes, one-pieces; the last may be empty) the
    same items' features on each backbone, rows aligned: (n_k, Dt) and (n_k, Ds). Raises
    WardrobeTooSmall below ``min_items`` tops, bottoms or shoes. On cancel the result has
    ``metrics["cancelled"]`` and must not be used.

    feature_map: the map from the student's to the teacher's raw features to start from;
    "shipped" (the default) loads the one that ships for these two backbone files, if any
    (``load_feature_map``); None learns the map on the wardrobe alone.
    """
    from stylist.learn.io import make_config

    cfg = config or DistillConfig()
    started = time.perf_counter()
    t_slots = [np.asarray(x, np.float32) for x in teacher_slots]
    s_slots = [np.asarray(x, np.float32) for x in student_slots]
    while len(t_slots) < 4:
        t_slots.append(np.zeros((0, t_slots[0].shape[1]), np.float32))
        s_slots.append(np.zeros((0, s_slots[0].shape[1]), np.float32))
    for k in range(4):
        if len(t_slots[k]) != len(s_slots[k]):
            raise ValueError(f"slot {SLOTS[k]}: {len(t_slots[k])} vs {len(s_slots[k])} rows")
    check_size(t_slots, min_items)
    t_arrays = {k: np.asarray(v, np.float32) for k, v in teacher[0].items()}
    t_config = dict(teacher[1])
    t_dim = int(t_config["feature_dim"])
    s_dim = int(s_slots[0].shape[1])
    pairs = [
        p for p in t_config.get("pairs", list(PAIR_SLOTS)[:3]) if f"{p}.fc1.weight" in t_arrays
    ]

    def report(done: int, total: int, what: str) -> None:
        if progress is not None:
            progress(done, total, what)

    total = 2 + len(pairs)
    report(0, total, "fitting the linear start")
    rng = np.random.default_rng([cfg.seed, 17])
    splits = [_split(len(x), cfg.held_out, rng) for x in t_slots]
    train_t = np.concatenate([_normalised(t_arrays, t_slots[k][splits[k][0]]) for k in range(4)])
    train_s_raw = np.concatenate([s_slots[k][splits[k][0]] for k in range(4)])
    all_s = np.concatenate(s_slots)
    # Centred on the wardrobe, but one scale for every dimension: the ridge then shrinks the
    # directions the wardrobe barely varies in, instead of blowing them up to unit variance,
    # which keeps the student sane on photos unlike the wardrobe's (product photos).
    mean = all_s.mean(axis=0).astype(np.float32)
    std = np.full_like(mean, max(float(np.sqrt(((all_s - mean) ** 2).mean())), 1e-6))
    s_norm = [((x - mean) / std).astype(np.float32) for x in s_slots]
    readout = np.concatenate(  # every input block of every first layer: (K, Dt)
        [
            w[:, k * t_dim : (k + 1) * t_dim]
            for key, w in t_arrays.items()
            if key.endswith("fc1.weight")
            for k in range(w.shape[1] // t_dim)
        ]
    )
    if feature_map == "shipped":
        feature_map = load_feature_map(
            backbone,
            backbone_sha256,
            str(t_config.get("backbone")),
            str(t_config.get("backbone_sha256")),
        )
    elif isinstance(feature_map, FeatureMap) and not feature_map.fits(
        backbone_sha256, str(t_config.get("backbone_sha256"))
    ):
        feature_map = None  # made for other backbone files: meaningless here
    train_s = (train_s_raw - mean) / std
    if isinstance(feature_map, FeatureMap):
        # the shipped map re-expressed from raw to normalised features on both sides
        t_mean = t_arrays.get("input.mean", np.zeros(t_dim, np.float32)).astype(np.float64)
        t_std = t_arrays.get("input.std", np.ones(t_dim, np.float32)).astype(np.float64)
        a = feature_map.a.astype(np.float64) * std.astype(np.float64)[None, :] / t_std[:, None]
        c = (feature_map.a.astype(np.float64) @ mean + feature_map.c - t_mean) / t_std
        ridge_info: dict[str, float | None] = {"ridge": None}  # the map as it is
        if cfg.wardrobe_correction:
            missed = train_t - (train_s @ a.T + c)  # (N, Dt) what the map misses here
            da, dc, info = ridge_map(train_s, missed, readout, CORRECTION_GRID)
            if info["ridge"] < CORRECTION_GRID[-1]:
                a, c = a + da, c + dc
                ridge_info = dict(info)
        a, c = a.astype(np.float32), c.astype(np.float32)
    else:
        a, c, ridge_info = ridge_map(train_s, train_t, readout)
    student = fold_map(t_arrays, a, c, mean, std, t_dim)
    linear = dict(student)  # training replaces arrays, never changes them in place
    t_norm = [_normalised(t_arrays, x) for x in t_slots]

    metrics: dict[str, Any] = {
        "pairs": {},
        **{k: (None if v is None else round(v, 4)) for k, v in ridge_info.items()},
    }
    metrics["feature_map"] = feature_map.file if isinstance(feature_map, FeatureMap) else None
    steps_run = 0
    for n, name in enumerate(pairs):
        if is_cancelled(cancel):
            break
        report(1 + n, total, f"carrying over {name.replace('_', ' – ')}")
        sa, sb = PAIR_SLOTS[name]
        tr_a, tr_b = splits[sa][0], splits[sb][0]
        if min(len(tr_a), len(tr_b)) < MIN_TRAIN or cfg.steps == 0:
            continue  # too few to learn from: the linear start stays
        target = pair_logits(t_arrays, name, t_norm[sa][tr_a], t_norm[sb][tr_b])
        steps_run += _distil_pair(
            student,
            name,
            s_norm[sa][tr_a],
            s_norm[sb][tr_b],
            target,
            cfg,
            cfg.seed * 1000 + n,
            cancel,
        )
    cancelled = is_cancelled(cancel)

    report(total - 1, total, "checking on held-out items")
    rhos, weights, start_rhos, fits = [], [], [], []
    for name in pairs:
        sa, sb = PAIR_SLOTS[name]
        ho_a, ho_b = splits[sa][1], splits[sb][1]
        if len(ho_a) < 2 or len(ho_b) < 2:
            continue
        want = pair_logits(t_arrays, name, t_norm[sa][ho_a], t_norm[sb][ho_b]).ravel()
        got = pair_logits(student, name, s_norm[sa][ho_a], s_norm[sb][ho_b]).ravel()
        first = pair_logits(linear, name, s_norm[sa][ho_a], s_norm[sb][ho_b]).ravel()
        rho, rho0 = spearman(want, got), spearman(want, first)
        metrics["pairs"][name] = {
            "rho": round(rho, 4),
            "rho_linear": round(rho0, 4),
            "held_out_pairs": int(want.size),
        }
        rhos.append(rho)
        start_rhos.append(rho0)
        weights.append(want.size)
        # how closely it fits the teacher where it learnt (a sample of the training items)
        tr_a, tr_b = splits[sa][0][:FIT_SAMPLE], splits[sb][0][:FIT_SAMPLE]
        fit = spearman(
            pair_logits(t_arrays, name, t_norm[sa][tr_a], t_norm[sb][tr_b]).ravel(),
            pair_logits(student, name, s_norm[sa][tr_a], s_norm[sb][tr_b]).ravel(),
        )
        metrics["pairs"][name]["rho_train"] = round(fit, 4)
        fits.append(fit)
    held_out_items = int(sum(len(splits[k][1]) for k in range(4)))
    metrics.update(
        rho=round(float(np.average(rhos, weights=weights)), 4) if rhos else float("nan"),
        rho_linear=round(float(np.average(start_rhos, weights=weights)), 4) if rhos else None,
        rho_train=round(float(np.mean(fits)), 4) if fits else None,
        held_out_items=held_out_items,
        train_items=int(sum(len(splits[k][0]) for k in range(4))),
        items={SLOTS[k]: int(len(t_slots[k])) for k in range(4)},
        steps=steps_run,
        cancelled=bool(cancelled),
        seconds=round(time.perf_counter() - started, 3),
    )
    teacher_name = str(t_config.get("name") or t_config.get("trained_on") or "the general model")
    out_config = make_config(
        "C",
        backbone=backbone,
        backbone_sha256=backbone_sha256,
        feature_dim=s_dim,
        trained_on=(
            f"carried over from a net on {t_config.get('backbone')} by distillation on "
            f"{metrics['train_items']} wardrobe items"
            + (
                f", starting from the shipped feature map {metrics['feature_map']}"
                if metrics["feature_map"]
                else ""
            )
        ),
        metrics={k: v for k, v in metrics.items()},
        stage="carried-over",
        teacher={
            "backbone": t_config.get("backbone"),
            "backbone_sha256": t_config.get("backbone_sha256"),
            "trained_on": teacher_name,
        },
        training={
            "steps": cfg.steps,
            "batch": cfg.batch,
            "lr": cfg.lr,
            "rank_weight": cfg.rank_weight,
            "regression_weight": cfg.regression_weight,
            "anchor": cfg.anchor,
            "held_out": cfg.held_out,
            "seed": cfg.seed,
            "wardrobe_correction": cfg.wardrobe_correction,
        },
        **{k: t_config[k] for k in ("pairs", "calibration", "hidden") if k in t_config},
    )
    net_b = None
    if teacher_b is not None:
        b_arrays = {k: np.asarray(v, np.float32) for k, v in teacher_b[0].items()}
        b_config = dict(teacher_b[1])
        # the map targets net C's normalised features; net B may normalise its own way
        c_mean = t_arrays.get("input.mean", np.zeros(t_dim, np.float32))
        c_std = t_arrays.get("input.std", np.ones(t_dim, np.float32))
        b_mean = b_arrays.get("input.mean", np.zeros(t_dim, np.float32))
        b_std = b_arrays.get("input.std", np.ones(t_dim, np.float32))
        a_b = (a * (c_std / b_std)[:, None]).astype(np.float32)
        c_b = ((c * c_std + c_mean - b_mean) / b_std).astype(np.float32)
        b_out = fold_map(b_arrays, a_b, c_b, mean, std, t_dim)
        net_b = (
            b_out,
            make_config(
                "B",
                backbone=backbone,
                backbone_sha256=backbone_sha256,
                feature_dim=s_dim,
                trained_on=out_config["trained_on"] + " (linear start)",
                stage="carried-over",
                **{k: b_config[k] for k in ("calibration", "hidden") if k in b_config},
            ),
        )
    report(total, total, "done")
    return DistillResult(student, out_config, metrics, net_b)
