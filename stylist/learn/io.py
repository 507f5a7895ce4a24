"""Trained matching networks between torch and their plain-array files.

The files themselves (``<name>.npz`` beside ``<name>.json``, format ``stylist-matching-net/1``)
belong to ``rank.netfile``, shared with the numpy ranker; this module turns torch nets into those
arrays and back, and re-exports the file functions training uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from stylist.learn.nets import FAMILY_PAIRS, HIDDEN, ONE_PIECE_PAIRS, PAIRS
from stylist.rank.netfile import (
    MatchingNetError,
    base_path,
    check_net,
    input_normalisation,
    load_matching_net,
    make_config,
    merge_pair_nets,
    pair_names,
    save_matching_net,
)

# One error for every matching-net file, whichever side reads it.
NetFileError = MatchingNetError


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


def net_from_arrays(
    arrays: Mapping[str, np.ndarray], config: Mapping[str, Any], family: str | None = None
) -> Any:
    """The torch net of saved arrays (normalisation not included: see ``input_normalisation``).

    ``family`` (``three`` / ``one_piece``) keeps only that family's pair networks of a C net;
    None if it has none of them.
    """
    import torch

    from stylist.learn.nets import build_net

    check_net(arrays, config, "matching net")
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


__all__ = [
    "NetFileError",
    "base_path",
    "input_normalisation",
    "load_matching_net",
    "make_config",
    "merge_pair_nets",
    "net_arrays",
    "net_from_arrays",
    "pair_names",
    "save_matching_net",
]
