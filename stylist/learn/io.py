"""Trained matching networks as plain arrays: ``<name>.npz`` (float32) beside ``<name>.json``.

The format (``stylist-matching-net/1``) is shared with the numpy ranker: torch layout
(out, in) for every Linear; C has ``<pair>.fc{1,2,3}.{weight,bias}`` for the pairs top_bottom,
top_shoes and bottom_shoes, B has ``fc{1,2,3}.*``; optional ``input.mean`` / ``input.std`` normalise
every feature first. A C net may hold the one-piece family's pair ``one_piece_shoes`` too; its
JSON then lists ``pairs``. Files are written under temporary names and renamed into place, and read
back with ``allow_pickle=False``: loading never runs code.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from stylist.errors import StylistError
from stylist.learn.nets import FAMILY_PAIRS, HIDDEN, ONE_PIECE_PAIRS, PAIRS
from stylist.rank.matching import FORMAT


class NetFileError(StylistError):
    """A matching-net file is missing, unreadable or not in the expected format."""


def base_path(path: str | os.PathLike[str]) -> Path:
    """``x``, ``x.npz`` or ``x.json`` -> ``x`` (the pair of files' common name)."""
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".npz", ".json") else p


def net_arrays(
    net: Any, mean: np.ndarray | None = None, std: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """A torch B or C net (and its input normalisation) as named float32 arrays."""
    arrays: dict[str, np.ndarray] = {}
    if net.kind == "C":
        for name, _, _ in net.pair_defs:
            for key, tensor in net.pairs[name].state_dict().items():
                arrays[f"{name}.{key}"] = tensor.detach().cpu().numpy().astype(np.float32)
    elif net.kind == "B":
        for key, tensor in net.matcher.state_dict().items():
            arrays[key] = tensor.detach().cpu().numpy().astype(np.float32)
    else:
        raise ValueError(f"net {net.kind} has no plain-array form (it includes a CNN)")
    if mean is not None and std is not None:
        arrays["input.mean"] = np.asarray(mean, dtype=np.float32)
        arrays["input.std"] = np.asarray(std, dtype=np.float32)
    return arrays


def make_config(
    kind: str,
    *,
    backbone: str,
    backbone_sha256: str,
    feature_dim: int,
    trained_on: str,
    metrics: Mapping[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "format": FORMAT,
        "net": kind,
        "backbone": backbone,
        "backbone_sha256": backbone_sha256,
        "feature_dim": int(feature_dim),
        "hidden": HIDDEN,
        "relu_after_fc1": True,
        "trained_on": trained_on,
        "created": _dt.date.today().isoformat(),
        "metrics": dict(metrics or {}),
    }
    config.update(extra)
    return config


def check_arrays(arrays: Mapping[str, np.ndarray], config: Mapping[str, Any], where: str) -> None:
    """NetFileError unless the arrays are a complete net of the config's kind and size: the same
    checks the ranking applies when it loads a net (``rank.matching``), so a net written here
    always loads there."""
    from stylist.rank.matching import MatchingNet, MatchingNetError

    try:
        MatchingNet.from_arrays(dict(arrays), dict(config), source=Path(where))
    except MatchingNetError as exc:
        raise NetFileError(str(exc)) from None


def _file_mode() -> int:
    """0o666 less the process umask, read without changing it (os.umask is not thread-safe)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    return 0o644


def _atomic_write(path: Path, write: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with open(tmp, "wb") as fh:
            write(fh)
        return Path(tmp)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_matching_net(
    path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray], config: Mapping[str, Any]
) -> tuple[Path, Path]:
    """Write ``<path>.npz`` and ``<path>.json``; returns both paths.

    Both files are complete before either is renamed into place, the arrays first, so a reader
    that goes by the JSON never meets a half-written npz.
    """
    base = base_path(path)
    check_arrays(arrays, config, str(base))
    npz, js = base.with_suffix(".npz"), base.with_suffix(".json")
    clean = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}
    text = json.dumps(dict(config), indent=2, sort_keys=False) + "\n"
    tmp_npz = _atomic_write(npz, lambda fh: np.savez(fh, **clean))
    try:
        tmp_js = _atomic_write(js, lambda fh: fh.write(text.encode("utf-8")))
    except BaseException:
        tmp_npz.unlink(missing_ok=True)
        raise
    mode = _file_mode()
    for tmp in (tmp_npz, tmp_js):
        os.chmod(tmp, mode)  # the mode a plain open() would give, not mkstemp's 0600
    os.replace(tmp_npz, npz)
    os.replace(tmp_js, js)
    return npz, js


def load_matching_net(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, config) of a saved net, checked; NetFileError naming the file otherwise."""
    base = base_path(path)
    npz, js = base.with_suffix(".npz"), base.with_suffix(".json")
    for f in (npz, js):
        if not f.is_file():
            raise NetFileError(f"{f}: no such matching-net file")
    try:
        config = json.loads(js.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise NetFileError(f"{js}: cannot read the config ({err})") from None
    if not isinstance(config, dict):
        raise NetFileError(f"{js}: the config is not a JSON object")
    try:
        with np.load(npz, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k], dtype=np.float32) for k in data.files}
    except (OSError, ValueError, EOFError) as err:
        raise NetFileError(f"{npz}: cannot read the arrays ({err})") from None
    check_arrays(arrays, config, str(npz))
    return arrays, config


def net_from_arrays(
    arrays: Mapping[str, np.ndarray], config: Mapping[str, Any], family: str | None = None
) -> Any:
    """The torch net of saved arrays (normalisation not included: see ``input_normalisation``).

    ``family`` (``three`` / ``one_piece``) keeps only that family's pair networks of a C net;
    None if it has none of them.
    """
    import torch

    from stylist.learn.nets import build_net

    check_arrays(arrays, config, "matching net")
    names = config.get("pairs") or [name for name, _, _ in PAIRS]
    wanted = (*PAIRS, *ONE_PIECE_PAIRS) if family is None else FAMILY_PAIRS[family]
    defs = [d for d in wanted if d[0] in names]
    if config["net"] == "C" and not defs:
        return None
    net = build_net(
        config["net"], int(config["feature_dim"]), hidden=config.get("hidden", HIDDEN), pairs=defs
    )
    with torch.no_grad():
        if net.kind == "C":
            for name, _, _ in net.pair_defs:
                state = {
                    k: torch.from_numpy(np.array(arrays[f"{name}.{k}"]))
                    for k in net.pairs[name].state_dict()
                }
                net.pairs[name].load_state_dict(state)
        else:
            state = {k: torch.from_numpy(np.array(arrays[k])) for k in net.matcher.state_dict()}
            net.matcher.load_state_dict(state)
    return net


def input_normalisation(
    arrays: Mapping[str, np.ndarray], feature_dim: int
) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) the net expects its features normalised with (identity when absent)."""
    if "input.mean" in arrays:
        return np.asarray(arrays["input.mean"]), np.asarray(arrays["input.std"])
    return np.zeros(feature_dim, np.float32), np.ones(feature_dim, np.float32)


def pair_names(arrays: Mapping[str, np.ndarray]) -> list[str]:
    """The pair networks a C net's arrays hold, in the standard order."""
    known = [name for family in FAMILY_PAIRS.values() for name, _, _ in family]
    return [n for n in known if f"{n}.fc1.weight" in arrays]


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
