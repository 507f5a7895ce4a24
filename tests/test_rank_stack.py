"""Pair networks side by side in one net file: exactly the weighted sum of their scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stylist.rank.netfile import (
    load_matching_net,
    pair_names,
    stack_pair_nets,
    widen_pair_nets,
)


def _diff(arrays, name, a, b):
    """A pair network's logit difference on raw features a, b (numpy, as the ranker)."""
    mean, std = arrays["input.mean"], arrays["input.std"]
    x = np.concatenate([(a - mean) / std, (b - mean) / std], axis=1)
    h = np.maximum(x @ arrays[f"{name}.fc1.weight"].T + arrays[f"{name}.fc1.bias"], 0)
    h = np.maximum(h @ arrays[f"{name}.fc2.weight"].T + arrays[f"{name}.fc2.bias"], 0)
    out = h @ arrays[f"{name}.fc3.weight"].T + arrays[f"{name}.fc3.bias"]
    return out[:, 1] - out[:, 0]


MODELS = Path(__file__).resolve().parents[1] / "models"


HIDDEN = 256


@pytest.fixture(scope="module")
def shipped():
    """The shipped net C's pair networks cut to their first 256 hidden units (a smaller net of
    the same kind, whatever width ships)."""
    arrays, _ = load_matching_net(MODELS / "fashionnet-c-efficientnet-lite0")
    out = {k: np.asarray(v, np.float64) for k, v in arrays.items() if k.startswith("input.")}
    h = HIDDEN
    for name in pair_names(arrays):
        cut = {
            "fc1.weight": (slice(0, h),),
            "fc1.bias": (slice(0, h),),
            "fc2.weight": (slice(0, h), slice(0, h)),
            "fc2.bias": (slice(0, h),),
            "fc3.weight": (slice(None), slice(0, h)),
            "fc3.bias": (slice(None),),
        }
        for key, where in cut.items():
            out[f"{name}.{key}"] = np.asarray(arrays[f"{name}.{key}"], np.float64)[where]
    return out


def _other(shipped, seed):
    """Another net of the same shape, with its own input normalisation."""
    rng = np.random.default_rng(seed)
    out = {k: v * rng.uniform(0.5, 1.5, v.shape) for k, v in shipped.items()}
    out["input.mean"] = shipped["input.mean"] + rng.normal(0, 0.3, shipped["input.mean"].shape)
    out["input.std"] = shipped["input.std"] * rng.uniform(0.5, 2.0, shipped["input.std"].shape)
    return out


def test_stacked_pairs_score_the_weighted_sum_and_the_others_as_they_were(shipped) -> None:
    extra = _other(shipped, 1)
    weights = {"top_bottom": (0.4, 0.6), "top_shoes": (1.0, -0.5), "bottom_shoes": (0.0, 2.0)}
    stacked = stack_pair_nets(shipped, extra, weights)
    rng = np.random.default_rng(2)
    a, b = rng.normal(0.5, 1.0, (50, 1280)), rng.normal(0.5, 1.0, (50, 1280))
    for name, (wa, wb) in weights.items():
        assert stacked[f"{name}.fc1.weight"].shape == (2 * HIDDEN, 2560)
        want = wa * _diff(shipped, name, a, b) + wb * _diff(extra, name, a, b)
        got = _diff(stacked, name, a, b)
        assert np.allclose(got, want, rtol=1e-4, atol=1e-3 * np.abs(want).max())
    # the one-piece pair, in only one of them, is padded with dead units: it scores as before
    got = _diff(stacked, "one_piece_shoes", a, b)
    assert np.allclose(got, _diff(shipped, "one_piece_shoes", a, b), rtol=1e-4, atol=1e-4)
    assert set(pair_names(stacked)) == set(pair_names(shipped))


def test_widening_changes_no_score(shipped) -> None:
    wide = widen_pair_nets(shipped, 700)
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.5, 1.0, (20, 1280)), rng.normal(0.5, 1.0, (20, 1280))
    for name in pair_names(shipped):
        assert wide[f"{name}.fc2.weight"].shape == (700, 700)
        assert np.allclose(_diff(wide, name, a, b), _diff(shipped, name, a, b), atol=1e-6)


def test_pairs_only_one_net_holds_cannot_be_stacked(shipped) -> None:
    three = {k: v for k, v in shipped.items() if not k.startswith("one_piece_shoes.")}
    with pytest.raises(ValueError, match="both nets"):
        stack_pair_nets(three, shipped, {"one_piece_shoes": (1.0, 1.0)})
