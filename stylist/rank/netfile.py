"""Matching-net files: the one owner of the ``stylist-matching-net/1`` format, numpy only.

A trained net is ``<name>.npz`` (float32 arrays, torch ``nn.Linear`` layout ``(out, in)``) beside
``<name>.json`` (its config). Net C holds ``<pair>.fc{1,2,3}.{weight,bias}`` for the pairs
top_bottom, top_shoes and bottom_shoes, and optionally the one-piece family's ``one_piece_shoes``
(the JSON's ``"pairs"`` then lists them); net B holds ``fc{1,2,3}.*``; optional ``input.mean`` /
``input.std`` normalise every feature first. The JSON may calibrate each pair by a temperature.

This module reads, checks and writes those files for both the ranker (``rank.matching``) and
training (``learn``): both files are complete before either is renamed into place, and reading
never unpickles anything.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stylist.domain import ONE_PIECE_PAIR, PAIR_NAMES
from stylist.domain import THREE_PIECE_PAIRS as PAIR_KEYS
from stylist.errors import StylistError
from stylist.files import read_json, read_npz, write_temporary

FORMAT = "stylist-matching-net/1"
NET_KINDS = ("C", "B")
DEFAULT_HIDDEN = 512
# Every pair network net C may hold: the three classic ones always, the one-piece pair optionally.
ALL_PAIR_KEYS = PAIR_NAMES


class MatchingNetError(StylistError):
    """A matching network file is missing, unreadable or does not match its config."""


def _layer_shapes(prefix: str, d_in: int, hidden: int) -> dict[str, tuple[int, ...]]:
    return {
        f"{prefix}fc1.weight": (hidden, d_in),
        f"{prefix}fc1.bias": (hidden,),
        f"{prefix}fc2.weight": (hidden, hidden),
        f"{prefix}fc2.bias": (hidden,),
        f"{prefix}fc3.weight": (2, hidden),
        f"{prefix}fc3.bias": (2,),
    }


def pairs_of(config: Mapping[str, Any], net: Any, where: str) -> tuple[str, ...]:
    """Net C's pair networks from its config: ``"pairs"``, or the three classic ones."""
    if net != "C":
        return ()
    pairs = config.get("pairs", list(PAIR_KEYS))
    if (
        not isinstance(pairs, list)
        or len(set(map(str, pairs))) != len(pairs)
        or not set(PAIR_KEYS) <= set(pairs) <= set(ALL_PAIR_KEYS)
    ):
        raise MatchingNetError(
            f"{where}: pairs must list {', '.join(PAIR_KEYS)} and optionally {ONE_PIECE_PAIR} "
            f"once each, not {pairs!r}"
        )
    return tuple(pairs)


def temperatures(config: Mapping[str, Any], pairs: Sequence[str], where: str) -> dict[str, float]:
    """Each pair's calibration temperature from the config (missing: 1.0, uncalibrated)."""
    out = dict.fromkeys(pairs, 1.0)
    calibration = config.get("calibration")
    if calibration is None:
        return out
    if not isinstance(calibration, Mapping) or calibration.get("method") != "temperature":
        raise MatchingNetError(f"{where}: calibration must be {{'method': 'temperature', ...}}")
    given = calibration.get("temperature", {})
    if not isinstance(given, Mapping):
        raise MatchingNetError(f"{where}: calibration temperature must map pairs to numbers")
    for key, t in given.items():
        if key not in out:
            continue  # a temperature for a pair this net lacks says nothing about the others
        if isinstance(t, bool) or not isinstance(t, int | float) or not np.isfinite(t) or t <= 0:
            raise MatchingNetError(
                f"{where}: the temperature of {key} must be a positive number, not {t!r}"
            )
        out[key] = float(t)
    return out


def expected_shapes(
    net: str, feature_dim: int, hidden: int = DEFAULT_HIDDEN, pairs: Sequence[str] = PAIR_KEYS
) -> dict[str, tuple[int, ...]]:
    """Every array a net of this kind must hold, with its shape (input.mean/std are optional).
    ``pairs``: net C's pair networks."""
    if net == "C":
        shapes: dict[str, tuple[int, ...]] = {}
        for key in pairs:
            shapes.update(_layer_shapes(f"{key}.", 2 * feature_dim, hidden))
        return shapes
    if net == "B":
        return _layer_shapes("", 3 * feature_dim, hidden)
    raise ValueError(f"unknown matching net kind {net!r} (choose C or B)")


def check_net(
    arrays: Mapping[str, np.ndarray], config: Mapping[str, Any], where: str
) -> dict[str, np.ndarray]:
    """The net's arrays as contiguous float32, once the config (format, kind, sizes, pairs,
    calibration) and every array (present, float, of its shape, finite) are checked;
    MatchingNetError naming ``where`` otherwise."""
    if not isinstance(config, Mapping):
        raise MatchingNetError(f"{where}: config is not a JSON object")
    if config.get("format") != FORMAT:
        raise MatchingNetError(
            f"{where}: unsupported format {config.get('format')!r} (expected {FORMAT!r})"
        )
    net = config.get("net")
    if net not in NET_KINDS:
        raise MatchingNetError(f"{where}: net must be 'C' or 'B', not {net!r}")
    dim, hidden = config.get("feature_dim"), config.get("hidden", DEFAULT_HIDDEN)
    if not isinstance(dim, int) or dim <= 0 or not isinstance(hidden, int) or hidden <= 0:
        raise MatchingNetError(
            f"{where}: feature_dim and hidden must be positive integers "
            f"(got {dim!r} and {hidden!r})"
        )
    relu = config.get("relu_after_fc1", True)
    if not isinstance(relu, bool):
        raise MatchingNetError(f"{where}: relu_after_fc1 must be true or false")

    pairs = pairs_of(config, net, where)
    temperatures(config, pairs, where)  # checked now, so a bad file fails on load
    shapes = expected_shapes(net, dim, hidden, pairs)
    if "input.mean" in arrays or "input.std" in arrays:
        shapes["input.mean"] = (dim,)
        shapes["input.std"] = (dim,)
    checked: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        if name not in arrays:
            raise MatchingNetError(f"{where}: array {name!r} is missing")
        a = np.asarray(arrays[name])
        if a.dtype.kind != "f":
            raise MatchingNetError(f"{where}: array {name!r} has dtype {a.dtype}, not float")
        if a.shape != shape:
            raise MatchingNetError(
                f"{where}: array {name!r} has shape {a.shape}, expected {shape} "
                f"(net {net}, feature_dim {dim}, hidden {hidden})"
            )
        if not np.isfinite(a).all():
            raise MatchingNetError(f"{where}: array {name!r} holds NaN or infinite values")
        checked[name] = np.ascontiguousarray(a, dtype=np.float32)
    if "input.std" in checked and not (checked["input.std"] > 0).all():
        raise MatchingNetError(f"{where}: input.std must be positive everywhere")
    return checked


def base_path(path: str | os.PathLike[str]) -> Path:
    """``x``, ``x.npz`` or ``x.json`` -> ``x`` (the pair of files' common name)."""
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".npz", ".json") else p


def net_file_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The (``.npz``, ``.json``) pair of files of a net named by either file or their stem."""
    base = base_path(path)
    return base.with_name(base.name + ".npz"), base.with_name(base.name + ".json")


def read_net_files(
    path: str | os.PathLike[str],
) -> tuple[dict[str, np.ndarray], dict[str, Any], Path]:
    """(arrays, config, npz path) of a saved net, as stored (unchecked: see ``check_net``);
    MatchingNetError naming the file that is missing or unreadable."""
    npz, js = net_file_paths(path)
    for f in (npz, js):
        if not f.is_file():
            raise MatchingNetError(f"matching network file {f} does not exist")
    config = read_json(js, error=MatchingNetError)
    arrays = read_npz(npz, error=MatchingNetError)
    return arrays, config, npz


def load_matching_net(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, config) of a saved net, checked; MatchingNetError naming the file otherwise."""
    arrays, config, npz = read_net_files(path)
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
    check_net(arrays, config, str(npz))
    return arrays, config


def save_matching_net(
    path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray], config: Mapping[str, Any]
) -> tuple[Path, Path]:
    """Write ``<path>.npz`` and ``<path>.json`` after checking them; returns both paths.

    Both files are complete before either is renamed into place, the arrays first, so a reader
    that goes by the JSON never meets a half-written npz.
    """
    npz, js = net_file_paths(path)
    check_net(arrays, config, str(base_path(path)))
    clean = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}
    tmp_npz = write_temporary(npz, lambda fh: np.savez(fh, **clean))
    try:
        tmp_js = write_temporary(js, json.dumps(dict(config), indent=2) + "\n")
    except BaseException:
        tmp_npz.unlink(missing_ok=True)
        raise
    os.replace(tmp_npz, npz)
    os.replace(tmp_js, js)
    return npz, js


def make_config(
    kind: str,
    *,
    backbone: str,
    backbone_sha256: str,
    feature_dim: int,
    trained_on: str,
    metrics: Mapping[str, Any] | None = None,
    hidden: int = DEFAULT_HIDDEN,
    **extra: Any,
) -> dict[str, Any]:
    """A net's JSON config; ``extra`` adds or overrides entries (``pairs``, ``calibration``…)."""
    config: dict[str, Any] = {
        "format": FORMAT,
        "net": kind,
        "backbone": backbone,
        "backbone_sha256": backbone_sha256,
        "feature_dim": int(feature_dim),
        "hidden": hidden,
        "relu_after_fc1": True,
        "trained_on": trained_on,
        "created": _dt.date.today().isoformat(),
        "metrics": dict(metrics or {}),
    }
    config.update(extra)
    return config


def input_normalisation(
    arrays: Mapping[str, np.ndarray], feature_dim: int
) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) the net expects its features normalised with (identity when absent)."""
    if "input.mean" in arrays:
        return np.asarray(arrays["input.mean"]), np.asarray(arrays["input.std"])
    return np.zeros(feature_dim, np.float32), np.ones(feature_dim, np.float32)


def pair_names(arrays: Mapping[str, np.ndarray]) -> list[str]:
    """The pair networks a C net's arrays hold, in the standard order."""
    return [n for n in ALL_PAIR_KEYS if f"{n}.fc1.weight" in arrays]


def merge_pair_nets(
    base: Mapping[str, np.ndarray], extra: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """One C net holding the pair networks of both (e.g. three-piece and one-piece), exactly.

    A file has one input normalisation, so ``extra``'s own normalisation is folded into its
    first layers re-expressed over ``base``'s: with x₀ = (x − m₀)/s₀ the input ``extra`` was
    trained on is (x − m₁)/s₁ = x₀·s₀/s₁ + (m₀ − m₁)/s₁, so each input block W of fc1 becomes
    W·s₀/s₁ and the bias gains W·(m₀ − m₁)/s₁.
    """
    dim = next(v.shape[0] for k, v in base.items() if k == "input.mean")
    m0, s0 = input_normalisation(base, dim)
    m1, s1 = input_normalisation(extra, dim)
    merged = dict(base)
    for name in pair_names(extra):
        if name in pair_names(base):
            raise ValueError(f"both nets hold the pair {name!r}")
        for key in ("fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"):
            merged[f"{name}.{key}"] = np.asarray(extra[f"{name}.{key}"], np.float32)
        w = np.asarray(extra[f"{name}.fc1.weight"], np.float64)  # (H, 2D)
        blocks = w.reshape(w.shape[0], -1, dim)  # (H, 2, D)
        merged[f"{name}.fc1.weight"] = (blocks * (s0 / s1)).reshape(w.shape).astype(np.float32)
        shift = np.einsum("hbd,d->h", blocks, (m0 - m1) / s1)
        merged[f"{name}.fc1.bias"] = (extra[f"{name}.fc1.bias"] + shift).astype(np.float32)
    return merged


def _widened(arrays: Mapping[str, np.ndarray], name: str, hidden: int) -> dict[str, np.ndarray]:
    """A pair network's layers padded with dead hidden units up to ``hidden`` (exact: a unit
    with zero weights and bias reads 0 after its ReLU and feeds nothing)."""
    w1, b1 = arrays[f"{name}.fc1.weight"], arrays[f"{name}.fc1.bias"]
    w2, b2 = arrays[f"{name}.fc2.weight"], arrays[f"{name}.fc2.bias"]
    w3 = arrays[f"{name}.fc3.weight"]
    h = w1.shape[0]
    out = {
        "fc1.weight": np.zeros((hidden, w1.shape[1]), np.float32),
        "fc1.bias": np.zeros(hidden, np.float32),
        "fc2.weight": np.zeros((hidden, hidden), np.float32),
        "fc2.bias": np.zeros(hidden, np.float32),
        "fc3.weight": np.zeros((2, hidden), np.float32),
        "fc3.bias": np.asarray(arrays[f"{name}.fc3.bias"], np.float32),
    }
    out["fc1.weight"][:h], out["fc1.bias"][:h] = w1, b1
    out["fc2.weight"][:h, :h], out["fc2.bias"][:h], out["fc3.weight"][:, :h] = w2, b2, w3
    return {f"{name}.{k}": v for k, v in out.items()}


def stack_pair_nets(
    base: Mapping[str, np.ndarray],
    extra: Mapping[str, np.ndarray],
    weights: Mapping[str, tuple[float, float]],
) -> dict[str, np.ndarray]:
    """One C net whose pair network ``name`` (of ``weights``) is the weighted sum of ``base``'s
    and ``extra``'s, exactly: logit difference = w_base · d_base + w_extra · d_extra.

    The two networks side by side make one twice as wide: fc1 stacks their first layers (``extra``'s
    re-expressed over ``base``'s input normalisation, as ``merge_pair_nets`` does), fc2 is
    block-diagonal, fc3 weighs each half. The other pair networks of ``base`` are padded to the
    new width with dead units, so the file keeps one hidden size.
    """
    dim = base["input.mean"].shape[0]
    names = pair_names(base)
    if not set(weights) <= set(names) & set(pair_names(extra)):
        raise ValueError(f"both nets must hold the pairs {sorted(weights)}")
    hidden = base[f"{names[0]}.fc1.weight"].shape[0] + extra[f"{names[0]}.fc1.weight"].shape[0]
    # extra's pair networks over base's input normalisation (merge re-expresses them exactly)
    moved = merge_pair_nets(
        {"input.mean": base["input.mean"], "input.std": base["input.std"]}, extra
    )
    out = {"input.mean": base["input.mean"], "input.std": base["input.std"]}
    for name in names:
        if name not in weights:
            out.update(_widened(base, name, hidden))
            continue
        wa, wb = weights[name]
        a = {
            k.split(".", 1)[1]: np.asarray(v, np.float32)
            for k, v in base.items()
            if k.startswith(f"{name}.")
        }
        b = {
            k.split(".", 1)[1]: np.asarray(v, np.float32)
            for k, v in moved.items()
            if k.startswith(f"{name}.")
        }
        ha, hb = a["fc1.bias"].shape[0], b["fc1.bias"].shape[0]
        fc2 = np.zeros((ha + hb, ha + hb), np.float32)
        fc2[:ha, :ha], fc2[ha:, ha:] = a["fc2.weight"], b["fc2.weight"]
        out.update(
            {
                f"{name}.fc1.weight": np.concatenate([a["fc1.weight"], b["fc1.weight"]]),
                f"{name}.fc1.bias": np.concatenate([a["fc1.bias"], b["fc1.bias"]]),
                f"{name}.fc2.weight": fc2,
                f"{name}.fc2.bias": np.concatenate([a["fc2.bias"], b["fc2.bias"]]),
                f"{name}.fc3.weight": np.concatenate(
                    [wa * a["fc3.weight"], wb * b["fc3.weight"]], axis=1
                ).astype(np.float32),
                f"{name}.fc3.bias": (wa * a["fc3.bias"] + wb * b["fc3.bias"]).astype(np.float32),
            }
        )
    if dim != out[f"{names[0]}.fc1.weight"].shape[1] // 2:
        raise ValueError("the nets take features of another size")
    return out


def widen_pair_nets(arrays: Mapping[str, np.ndarray], hidden: int) -> dict[str, np.ndarray]:
    """Every pair network of ``arrays`` padded with dead hidden units to ``hidden`` (exact)."""
    out = {k: v for k, v in arrays.items() if k.startswith("input.")}
    for name in pair_names(arrays):
        out.update(_widened(arrays, name, hidden))
    return out
