"""Helpers for one-piece tests: a small four-pair net C in the shipped file format, and a
wardrobe with dresses from the shared photos."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from stylist.domain import ONE_PIECE_PAIR, Category
from stylist.rank.matching import ALL_PAIR_KEYS, MatchingNet


def four_pair_net(
    dim: int,
    seed: int = 0,
    *,
    spread: float = 1.5,
    one_piece_bias: float = 0.0,
    temperatures: dict[str, float] | None = None,
    like: np.ndarray | None = None,
    backbone: str = "",
    backbone_sha256: str = "",
) -> MatchingNet:
    """A random four-pair net C whose scores spread over 0..1: each layer's weights rescaled to
    std ``spread / sqrt(fan_in)``, so activations neither vanish nor saturate. ``one_piece_bias``
    raises the one-piece pair's logit of "match", so that one-piece outfits climb the ranking;
    ``temperatures`` are stored as its calibration. Inputs are standardised by the mean and std
    of ``like`` (N, dim) features (default: uniform random features)."""
    net = MatchingNet.untrained(
        dim,
        seed=seed,
        pairs=ALL_PAIR_KEYS,
        backbone=backbone,
        backbone_sha256=backbone_sha256,
    )
    arrays = {
        k: v * np.float32(spread / (0.005 * np.sqrt(v.shape[1]))) if k.endswith("weight") else v
        for k, v in net.arrays.items()
    }
    if like is None:
        like = np.random.default_rng(seed).random((256, dim), dtype=np.float32)
    arrays["input.mean"] = like.mean(axis=0).astype(np.float32)
    arrays["input.std"] = (like.std(axis=0) + 1e-3).astype(np.float32)
    arrays[f"{ONE_PIECE_PAIR}.fc3.bias"] = arrays[f"{ONE_PIECE_PAIR}.fc3.bias"] + np.array(
        [0.0, one_piece_bias], np.float32
    )
    config = dict(net.config, trained_on="a test")
    if temperatures:
        config["calibration"] = {"method": "temperature", "temperature": dict(temperatures)}
    return MatchingNet.from_arrays(arrays, config)


def save_net(net: MatchingNet, base: Path) -> MatchingNet:
    """Write ``<base>.npz`` and ``<base>.json`` (format stylist-matching-net/1); the loaded net."""
    base.parent.mkdir(parents=True, exist_ok=True)
    np.savez(base.with_suffix(".npz"), **net.arrays)
    base.with_suffix(".json").write_text(json.dumps(net.config, indent=2))
    return MatchingNet.load(base.with_suffix(".npz"))


def dress_photos(shared_data: Path, folder: Path, n: int) -> list[Path]:
    """``n`` dress photos of the shared wardrobe photos (label "Dress") copied into ``folder``."""
    items = json.loads((shared_data / "wardrobe-photos" / "items.json").read_text())
    dresses = [x for x in items if x["label"] == "Dress"][:n]
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for entry in dresses:
        source = shared_data / "wardrobe-photos" / entry["file"]
        out.append(Path(shutil.copyfile(source, folder / source.name)))
    return out


def add_dresses(stylist, shared_data: Path, folder: Path, n: int = 4) -> list[int]:
    """Import ``n`` dresses as one-pieces and analyse them; their item ids."""
    report = stylist.import_photos(dress_photos(shared_data, folder, n), Category.ONE_PIECE)
    assert not report.failed
    stylist.extract_features()
    return [i.id for i in stylist.items(Category.ONE_PIECE)]


def use_net(stylist, net: MatchingNet) -> int:
    """Put ``net`` in use in this home as the person's model version (for the backbone in use);
    returns the version id."""
    spec = stylist.backbone()
    net = MatchingNet.from_arrays(
        net.arrays, dict(net.config, backbone=spec.id, backbone_sha256=spec.sha256)
    )
    relative = f"{stylist.paths.models.name}/personal/{spec.id}/c-one-piece-test"
    save_net(net, stylist.library.file_path(relative))
    return stylist.library.add_model_version(
        spec.id, "C", relative + ".npz", net.config, {}, active=True
    )
