"""Matching nets in numpy agree with the same nets built in torch; bad files are refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stylist.errors import StylistError
from stylist.rank.matching import FORMAT, MatchingNet, MatchingNetError, expected_shapes
from stylist.rank.topk import PAIR_KEYS, PairMatrices


def random_arrays(
    net: str, dim: int, hidden: int, seed: int, norm: bool = False, logit_scale: float = 4.0
) -> dict:
    """Weights with a He-like scale so probabilities spread over (0, 1) (a trained-looking net)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for name, shape in expected_shapes(net, dim, hidden).items():
        fan_in = shape[-1] if len(shape) == 2 else hidden
        arrays[name] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        if name.endswith("fc3.weight"):
            arrays[name] *= logit_scale  # logits of a few units: neither all 0.5 nor all 0/1
    if norm:
        arrays["input.mean"] = rng.standard_normal(dim).astype(np.float32)
        arrays["input.std"] = (0.5 + rng.random(dim)).astype(np.float32)
    return arrays


def config(net: str, dim: int, hidden: int, relu: bool = True) -> dict:
    return {
        "format": FORMAT,
        "net": net,
        "backbone": "test",
        "backbone_sha256": "0" * 64,
        "feature_dim": dim,
        "hidden": hidden,
        "relu_after_fc1": relu,
        "trained_on": "test",
        "created": "2025-01-01",
        "metrics": {},
    }


def save(folder: Path, name: str, arrays: dict, cfg: dict) -> Path:
    np.savez(folder / f"{name}.npz", **arrays)
    (folder / f"{name}.json").write_text(json.dumps(cfg))
    return folder / f"{name}.npz"


def torch_mlp(arrays: dict, prefix: str, relu_after_fc1: bool):
    """The pair/outfit network as torch layers, weights copied from the same arrays."""
    import torch

    layers = []
    for i, name in enumerate(("fc1", "fc2", "fc3")):
        w = torch.from_numpy(arrays[f"{prefix}{name}.weight"].astype(np.float64))
        lin = torch.nn.Linear(w.shape[1], w.shape[0]).double()
        with torch.no_grad():
            lin.weight.copy_(w)
            lin.bias.copy_(torch.from_numpy(arrays[f"{prefix}{name}.bias"].astype(np.float64)))
        layers.append(lin)
        if (i == 0 and relu_after_fc1) or i == 1:
            layers.append(torch.nn.ReLU())
    layers.append(torch.nn.Softmax(dim=1))
    return torch.nn.Sequential(*layers)


def torch_inputs(arrays: dict, feats: np.ndarray):
    import torch

    f = feats.astype(np.float64)
    if "input.mean" in arrays:
        f = (f - arrays["input.mean"]) / arrays["input.std"]
    return torch.from_numpy(f)


@pytest.fixture(scope="module")
def wardrobe():
    rng = np.random.default_rng(11)
    dim = 1280
    # Backbone features are non-negative (post-ReLU/pooling); mimic their scale.
    return tuple(np.abs(rng.standard_normal((n, dim))).astype(np.float32) for n in (9, 7, 5))


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("norm", [False, True])
def test_pair_matrices_equal_torch(tmp_path, wardrobe, relu, norm):
    import torch

    dim, hidden = 1280, 512
    arrays = random_arrays("C", dim, hidden, seed=1, norm=norm)
    net = MatchingNet.load(save(tmp_path, "c", arrays, config("C", dim, hidden, relu)))
    # A small chunk forces the chunked path (several row and column blocks).
    m = net.pair_matrices(*wardrobe, chunk_bytes=3 * 4 * hidden)
    slots = {"top_bottom": (0, 1), "top_shoes": (0, 2), "bottom_shoes": (1, 2)}
    spread = []
    for key in PAIR_KEYS:
        a, b = (wardrobe[i] for i in slots[key])
        fa, fb = torch_inputs(arrays, a), torch_inputs(arrays, b)
        x = torch.cat(
            [fa[:, None, :].expand(-1, len(b), -1), fb[None, :, :].expand(len(a), -1, -1)], 2
        ).reshape(len(a) * len(b), 2 * dim)
        with torch.no_grad():
            want = torch_mlp(arrays, f"{key}.", relu)(x)[:, 1].reshape(len(a), len(b)).numpy()
        np.testing.assert_allclose(m[key], want, atol=1e-5, rtol=0)
        spread.append(want.std())
    assert max(spread) > 0.01  # the check is meaningful: scores differ between pairs

    # The naive path (whole outfits through the nets) gives the same outfit scores.
    t, b, s = np.meshgrid(*(np.arange(len(x)) for x in wardrobe), indexing="ij")
    t, b, s = t.ravel(), b.ravel(), s.ravel()
    naive = net.score_outfits(wardrobe[0][t], wardrobe[1][b], wardrobe[2][s], batch_size=64)
    np.testing.assert_allclose(m.scores(t, b, s), naive, atol=3e-5, rtol=0)


@pytest.mark.parametrize("relu", [True, False])
def test_net_b_equals_torch(tmp_path, wardrobe, relu):
    import torch

    dim, hidden = 1280, 512
    arrays = random_arrays("B", dim, hidden, seed=2, norm=True, logit_scale=0.3)
    net = MatchingNet.load(save(tmp_path, "b", arrays, config("B", dim, hidden, relu)))
    rng = np.random.default_rng(0)
    t, b, s = (rng.integers(0, len(x), 40) for x in wardrobe)
    x = torch.cat([torch_inputs(arrays, wardrobe[i][idx]) for i, idx in enumerate((t, b, s))], 1)
    with torch.no_grad():
        want = torch_mlp(arrays, "", relu)(x)[:, 1].numpy()
    assert want.std() > 0.01
    np.testing.assert_allclose(
        net.score_outfits(*(w[i] for w, i in zip(wardrobe, (t, b, s), strict=True))),
        want,
        atol=1e-5,
    )
    np.testing.assert_allclose(net.outfit_scorer(*wardrobe).score(t, b, s), want, atol=1e-5)


def test_untrained_net_follows_the_authors_init():
    net = MatchingNet.untrained(64, seed=3)
    w = net.arrays["top_bottom.fc1.weight"]
    assert w.shape == (512, 128)
    assert abs(float(w.std()) - 0.005) < 0.0005
    assert np.all(net.arrays["top_shoes.fc2.bias"] == np.float32(0.1))
    assert not net.trained and net.net == "C"
    feats = np.random.default_rng(0).random((4, 64), dtype=np.float32)
    m = net.pair_matrices(feats, feats[:3], feats[:2])
    assert isinstance(m, PairMatrices) and m.shape == (4, 3, 2)
    # Untrained: every pair near 0.5, yet the matrices are finite and deterministic.
    assert np.all(np.abs(m.top_bottom - 0.5) < 0.05)
    np.testing.assert_array_equal(
        m.top_bottom, MatchingNet.untrained(64, seed=3).pair_matrix("top_bottom", feats, feats[:3])
    )
    assert MatchingNet.untrained(64, net="B").outfit_scorer(feats, feats, feats).score(
        [0], [1], [2]
    ).shape == (1,)


def test_pair_matrices_report_progress_and_stop_on_cancel():
    import threading

    net = MatchingNet.untrained(16)
    f = np.ones((3, 16), np.float32)
    seen = []
    net.pair_matrices(f, f, f, progress=lambda d, n, label: seen.append((d, n, label)))
    assert seen[0] == (0, 3, "top_bottom") and seen[-1] == (3, 3, "")
    cancel = threading.Event()
    cancel.set()
    from stylist.tasks import Cancelled

    with pytest.raises(Cancelled):
        net.pair_matrices(f, f, f, cancel=cancel)


def test_load_accepts_either_file_or_the_bare_name(tmp_path):
    arrays = random_arrays("C", 8, 16, seed=0)
    save(tmp_path, "mine", arrays, config("C", 8, 16))
    for p in ("mine.npz", "mine.json", "mine"):
        net = MatchingNet.load(tmp_path / p)
        assert net.feature_dim == 8 and net.hidden == 16 and net.backbone == "test"


def corrupt_cases():
    def drop(a, c):
        a.pop("top_shoes.fc2.bias")

    def reshape(a, c):
        a["bottom_shoes.fc1.weight"] = a["bottom_shoes.fc1.weight"][:, :-1]

    def nan(a, c):
        a["top_bottom.fc3.bias"][0] = np.nan

    def ints(a, c):
        a["top_bottom.fc3.bias"] = np.array([1, 2])

    def fmt(a, c):
        c["format"] = "something-else/2"

    def kind(a, c):
        c["net"] = "A"

    def dim(a, c):
        c["feature_dim"] = 9

    def std(a, c):
        a["input.mean"] = np.zeros(8, np.float32)
        a["input.std"] = np.zeros(8, np.float32)

    return {
        "drop": (drop, "top_shoes.fc2.bias.*missing"),
        "reshape": (reshape, "bottom_shoes.fc1.weight.*shape"),
        "nan": (nan, "NaN"),
        "ints": (ints, "dtype"),
        "format": (fmt, "unsupported format"),
        "kind": (kind, "net must be"),
        "dim": (dim, "shape"),
        "std": (std, "input.std"),
    }


@pytest.mark.parametrize("case", sorted(corrupt_cases()))
def test_inconsistent_nets_are_refused_with_the_reason(tmp_path, case):
    change, message = corrupt_cases()[case]
    arrays, cfg = random_arrays("C", 8, 16, seed=0), config("C", 8, 16)
    change(arrays, cfg)
    path = save(tmp_path, "bad", arrays, cfg)
    with pytest.raises(MatchingNetError, match=message) as err:
        MatchingNet.load(path)
    assert isinstance(err.value, StylistError)
    assert "bad.npz" in str(err.value)


def test_missing_and_unreadable_files_name_the_file(tmp_path):
    with pytest.raises(MatchingNetError, match=r"nothere\.npz does not exist"):
        MatchingNet.load(tmp_path / "nothere.npz")
    path = save(tmp_path, "cut", random_arrays("C", 8, 16, seed=0), config("C", 8, 16))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MatchingNetError, match=r"cut\.npz is not a readable"):
        MatchingNet.load(path)
    save(tmp_path, "nojson", random_arrays("C", 8, 16, seed=0), config("C", 8, 16))
    (tmp_path / "nojson.json").unlink()
    with pytest.raises(MatchingNetError, match=r"nojson\.json does not exist"):
        MatchingNet.load(tmp_path / "nojson.npz")
    save(tmp_path, "badjson", random_arrays("C", 8, 16, seed=0), config("C", 8, 16))
    (tmp_path / "badjson.json").write_text("{not json")
    with pytest.raises(MatchingNetError, match=r"badjson\.json is not readable JSON"):
        MatchingNet.load(tmp_path / "badjson")
    # Pickled object arrays are never loaded.
    np.savez(tmp_path / "pickle.npz", **{"x": np.array([{"a": 1}], dtype=object)})
    (tmp_path / "pickle.json").write_text(json.dumps(config("C", 8, 16)))
    with pytest.raises(MatchingNetError, match="pickle.npz"):
        MatchingNet.load(tmp_path / "pickle.npz")


def test_wrong_feature_size_is_a_clear_error():
    net = MatchingNet.untrained(8)
    with pytest.raises(ValueError, match=r"\(N, 8\)"):
        net.pair_matrix("top_bottom", np.zeros((2, 9)), np.zeros((2, 8)))


def test_importing_rank_does_not_import_torch():
    code = (
        "import sys, stylist.rank; sys.exit('torch' in sys.modules or 'onnxruntime' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
