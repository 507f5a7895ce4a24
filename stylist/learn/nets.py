"""FashionNet's matching networks A, B and C in torch, for training (inference is numpy elsewhere).

* **C** (the default): three pair networks, top–bottom, top–shoes and bottom–shoes, each
  concat(f_i, f_j) → FC 512 → ReLU → FC 512 → ReLU → FC 2 → softmax; the outfit's score is the
  sum of the three P(match), 0..3. The authors' files have no ReLU after the first FC, which
  makes their first two layers one linear map; we keep the ReLU.
  The one-piece family (a dress or jumpsuit with shoes) has one pair network, one-piece–shoes,
  built as a net C with that single pair (``ONE_PIECE_PAIRS``); its outfits are held as triples
  whose top and bottom both name the one-piece (see ``datasets``), so it reads slots 0 and 2.
* **B**: concat(f_top, f_bottom, f_shoes) → the same three layers; score = P(match).
* **A**: the three photos stacked into one 9-channel image → one CNN (the backbone's first
  convolution widened to 9 channels) → FC 2; trained end to end, for research and evaluation.

torch is imported at module top: ``learn`` is the training stack, reached only lazily from the
service and the command line (the program starts without it).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from stylist.domain import ONE_PIECE_PAIR, PAIR_SLOTS, THREE_PIECE_PAIRS
from stylist.learn.torch_backbone import torch_trunk
from stylist.paths import Paths
from stylist.rank.netfile import DEFAULT_HIDDEN

# (pair name, first slot, second slot) over an outfit held as a triple.
PAIRS = tuple((name, *PAIR_SLOTS[name]) for name in THREE_PIECE_PAIRS)
# A one-piece outfit is held as a triple whose top and bottom both name the one-piece.
ONE_PIECE_PAIRS = ((ONE_PIECE_PAIR, 0, 2),)
FAMILY_PAIRS = {"three": PAIRS, "one_piece": ONE_PIECE_PAIRS}
HIDDEN = DEFAULT_HIDDEN
INIT_STD = 0.005  # the authors' Gaussian for the matching layers
INIT_BIAS = 0.1


class Matcher(nn.Module):
    """FC → ReLU → FC → ReLU → FC 2: one matching head (logits of no-match, match)."""

    def __init__(self, d_in: int, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (M, d_in) -> (M, 2)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))

    def head(self, h1: torch.Tensor) -> torch.Tensor:
        """The layers after fc1, given fc1's output (M, hidden) -> logits (M, 2)."""
        return self.fc3(torch.relu(self.fc2(torch.relu(h1))))


class NetC(nn.Module):
    kind = "C"

    def __init__(self, feature_dim: int, hidden: int = HIDDEN, pairs=PAIRS) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.pair_defs = tuple(pairs)
        self.pairs = nn.ModuleDict(
            {name: Matcher(2 * feature_dim, hidden) for name, _, _ in self.pair_defs}
        )

    def pair_probs(self, t: torch.Tensor, b: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """(M, D) x3 -> (M, pairs) P(match), e.g. top–bottom, top–shoes, bottom–shoes."""
        feats = (t, b, s)
        probs = [
            torch.softmax(self.pairs[name](torch.cat((feats[i], feats[j]), dim=1)), dim=1)[:, 1]
            for name, i, j in self.pair_defs
        ]
        return torch.stack(probs, dim=1)

    def forward(self, t: torch.Tensor, b: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return self.pair_probs(t, b, s).sum(dim=1)  # (M,) scores in 0..pairs


class NetB(nn.Module):
    kind = "B"

    def __init__(self, feature_dim: int, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.matcher = Matcher(3 * feature_dim, hidden)

    def forward(self, t: torch.Tensor, b: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        logits = self.matcher(torch.cat((t, b, s), dim=1))  # (M, 2)
        return torch.softmax(logits, dim=1)[:, 1]


class NetA(nn.Module):
    """One CNN over the 9-channel stack of the three photos, then FC 2."""

    kind = "A"

    def __init__(self, trunk: nn.Module, feature_dim: int) -> None:
        super().__init__()
        self.trunk = trunk  # (M, 9, S, S) -> (M, feature_dim)
        self.fc = nn.Linear(feature_dim, 2)

    def forward(self, t: torch.Tensor, b: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        x = torch.cat((t, b, s), dim=1)  # (M, 9, S, S)
        return torch.softmax(self.fc(self.trunk(x)), dim=1)[:, 1]


def init_matching_layers(
    module: nn.Module, scheme: str = "authors", seed: int | None = None
) -> None:
    """Initialise every Linear layer of ``module``.

    ``authors``: Gaussian std 0.005, bias 0.1, as the authors' Caffe files. ``torch``: PyTorch's
    default (Kaiming-uniform), kept for comparison.
    """
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    for layer in module.modules():
        if not isinstance(layer, nn.Linear):
            continue
        if scheme == "authors":
            with torch.no_grad():
                layer.weight.normal_(0.0, INIT_STD, generator=gen)
                layer.bias.fill_(INIT_BIAS)
        elif scheme == "torch":
            layer.reset_parameters()
        else:
            raise ValueError(f"unknown initialisation {scheme!r} (use authors or torch)")


def build_net(
    kind: str,
    feature_dim: int,
    *,
    hidden: int = HIDDEN,
    seed: int = 0,
    init: str = "authors",
    pairs=PAIRS,
) -> NetC | NetB:
    """A fresh net B or C for features of size ``feature_dim`` (A: see ``build_net_a``).

    ``pairs``: C's pair networks as (name, slot, slot), e.g. ``ONE_PIECE_PAIRS``.
    """
    torch.manual_seed(seed)
    if kind == "C":
        net = NetC(feature_dim, hidden, pairs)
    elif kind == "B":
        net = NetB(feature_dim, hidden)
    else:
        raise ValueError(f"net {kind!r} works on images, not features; use build_net_a")
    init_matching_layers(net, init, seed)
    return net


def build_net_a(
    backbone_id: str, *, seed: int = 0, init: str = "authors", paths: Paths | None = None
) -> NetA:
    """Net A on the torch form of ``backbone_id`` (its first convolution widened to 9 channels)."""
    torch.manual_seed(seed)
    trunk, feature_dim = torch_trunk(backbone_id, in_images=3, paths=paths)
    net = NetA(trunk, feature_dim)
    init_matching_layers(net.fc, init, seed)
    return net


def fold_input_projection(net: NetC | NetB, projection: np.ndarray) -> NetC | NetB:
    """The same B/C net on full features: fc1 acting on ``x @ projection`` becomes fc1 on ``x``.

    ``projection`` (D, k) maps normalised D-d features to the k inputs ``net`` was trained on;
    each k-column block W of fc1 becomes W · projectionᵀ, so the result is exact.
    """
    p = torch.as_tensor(np.asarray(projection, dtype=np.float32))  # (D, k)
    d, k = p.shape
    if net.feature_dim != k:
        raise ValueError(f"net takes {net.feature_dim} inputs, projection gives {k}")
    if net.kind == "C":
        hidden = next(iter(net.pairs.values())).fc1.out_features
        full = NetC(d, hidden, net.pair_defs)
    else:
        full = NetB(d, net.matcher.fc1.out_features)
    pairs = (
        [(full.pairs[n], net.pairs[n]) for n, _, _ in net.pair_defs]
        if net.kind == "C"
        else [(full.matcher, net.matcher)]
    )
    with torch.no_grad():
        for target, source in pairs:
            target.load_state_dict(
                {k_: v for k_, v in source.state_dict().items() if not k_.startswith("fc1.weight")},
                strict=False,
            )
            w = source.fc1.weight  # (hidden, blocks·k)
            blocks = w.shape[1] // k
            target.fc1.weight.copy_(
                torch.cat([w[:, b * k : (b + 1) * k] @ p.T for b in range(blocks)], dim=1)
            )
    return full
