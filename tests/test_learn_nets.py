"""The matching networks in torch, their plain-array files, and agreement with numpy ranking."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from stylist.learn.io import (
    NetFileError,
    input_normalisation,
    load_matching_net,
    make_config,
    net_arrays,
    net_from_arrays,
    save_matching_net,
)
from stylist.learn.nets import build_net, fold_input_projection
from stylist.learn.torch_backbone import widen_first_conv
from stylist.learn.train import (
    RankTask,
    TrainConfig,
    feature_scorer,
    fit,
    projected_scorer,
    rank_loss,
)

D = 24


def random_features(n: int = 30, d: int = D, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def test_scores_are_sums_of_probabilities() -> None:
    x = torch.from_numpy(random_features(10))
    c = build_net("C", D, init="torch")
    b = build_net("B", D, init="torch")
    sc, sb = c(x, x, x), b(x, x, x)
    assert sc.shape == sb.shape == (10,)
    assert torch.all((sc > 0) & (sc < 3)) and torch.all((sb > 0) & (sb < 1))
    pair = c.pair_probs(x, x, x)
    assert torch.allclose(pair.sum(1), sc)


def test_authors_initialisation() -> None:
    net = build_net("C", 1280, seed=3)
    w = net.pairs["top_shoes"].fc1.weight.detach()
    assert abs(float(w.std()) - 0.005) < 2e-4
    assert torch.all(net.pairs["top_shoes"].fc2.bias == 0.1)


def test_rank_loss_is_minus_log_sigmoid_of_the_margin() -> None:
    s_pos = torch.tensor([1.0, 0.0])
    s_neg = torch.tensor([[0.0, 2.0], [0.0, 0.0]])
    expected = -np.log(1 / (1 + np.exp(-np.array([1.0, -1.0, 0.0, 0.0])))).mean()
    assert float(rank_loss(s_pos, s_neg)) == pytest.approx(expected)


@pytest.mark.parametrize("kind", ["B", "C"])
def test_folding_a_projection_into_fc1_is_exact(kind) -> None:
    x = random_features(12, 40)
    projection = np.random.default_rng(1).normal(size=(40, 8)).astype(np.float32)
    small = build_net(kind, 8, init="torch")
    full = fold_input_projection(small, projection)
    xt, xp = torch.from_numpy(x), torch.from_numpy(x @ projection)
    with torch.no_grad():
        assert torch.allclose(full(xt, xt.flip(0), xt), small(xp, xp.flip(0), xp), atol=1e-5)


@pytest.mark.parametrize("kind", ["B", "C"])
def test_partial_training_on_precomputed_projections_equals_plain_training(kind) -> None:
    """W·a computed once plus a learnt V·Qᵀ trains exactly like fc1 itself (plain SGD)."""
    x = random_features(30)
    positives = np.array([[0, 10, 20], [1, 11, 21], [2, 12, 22]])
    neg = np.array(
        [[[3, 13, 23], [4, 14, 24]], [[5, 15, 25], [6, 16, 26]], [[7, 17, 27], [8, 18, 28]]]
    )
    task = RankTask(positives, lambda rng: neg)
    cfg = TrainConfig(epochs=3, lr=0.5, momentum=0.0, weight_decay=0.0, pairs_per_batch=4)
    start = build_net(kind, D, init="torch")
    plain_net = build_net(kind, D, init="torch")
    plain_net.load_state_dict(start.state_dict())
    plain = feature_scorer(plain_net, x)
    fit(plain, task, cfg)
    slots = [np.arange(0, 10), np.arange(10, 20), np.arange(20, 30)]
    projected = projected_scorer(start, x, slots)
    fit(projected, task, cfg)
    trained = projected.to_net()
    xt = torch.from_numpy(x)
    with torch.no_grad():
        a = plain_net(xt[:10], xt[10:20], xt[20:])
        b = trained(xt[:10], xt[10:20], xt[20:])
        assert not torch.allclose(a, start(xt[:10], xt[10:20], xt[20:]), atol=1e-3)  # it learnt
    assert torch.allclose(a, b, atol=1e-4)


def _config(kind: str, d: int = D) -> dict:
    return make_config(
        kind,
        backbone="test",
        backbone_sha256="0" * 64,
        feature_dim=d,
        trained_on="unit test",
        metrics={"val_mean_ndcg": 0.5},
    )


@pytest.mark.parametrize("kind", ["B", "C"])
def test_saved_nets_round_trip_and_match_numpy_ranking(tmp_path, kind) -> None:
    from stylist.rank.matching import MatchingNet

    net = build_net(kind, D, init="torch", seed=2)
    x = random_features(16)
    mean, std = x.mean(0), x.std(0) + 0.5
    npz, js = save_matching_net(tmp_path / f"net-{kind}", net_arrays(net, mean, std), _config(kind))
    assert npz.name == f"net-{kind}.npz" and json.loads(js.read_text())["net"] == kind
    arrays, config = load_matching_net(tmp_path / f"net-{kind}.json")
    again = net_from_arrays(arrays, config)
    m, s = input_normalisation(arrays, D)
    xn = torch.from_numpy((x - m) / s)
    with torch.no_grad():
        ours = again(xn[:8], xn[8:], xn[:8].flip(0)).numpy()
        original = net(xn[:8], xn[8:], xn[:8].flip(0)).numpy()
    assert np.allclose(ours, original, atol=1e-6)
    numpy_net = MatchingNet.load(tmp_path / f"net-{kind}")
    theirs = numpy_net.score_outfits(x[:8], x[8:], x[:8][::-1])
    assert np.allclose(ours, theirs, atol=1e-5)


def test_broken_net_files_are_refused(tmp_path) -> None:
    net = build_net("C", D)
    arrays = net_arrays(net)
    with pytest.raises(NetFileError, match="missing"):
        save_matching_net(
            tmp_path / "x", {k: v for k, v in arrays.items() if "fc3" not in k}, _config("C")
        )
    bad = dict(arrays)
    bad["top_shoes.fc2.bias"] = np.full(512, np.nan, np.float32)
    with pytest.raises(NetFileError, match="NaN"):
        save_matching_net(tmp_path / "x", bad, _config("C"))
    with pytest.raises(NetFileError, match="shape"):
        save_matching_net(tmp_path / "x", arrays, _config("C", D + 1))
    save_matching_net(tmp_path / "ok", arrays, _config("C"))
    (tmp_path / "ok.npz").write_bytes(b"not a zip")
    with pytest.raises(NetFileError, match="is not a readable .npz archive"):
        load_matching_net(tmp_path / "ok")
    with pytest.raises(NetFileError, match="absent.npz does not exist"):
        load_matching_net(tmp_path / "absent")


def test_widened_first_convolution_keeps_the_pretrained_response() -> None:
    conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    wide = widen_first_conv(conv, 3)
    assert wide.in_channels == 9 and wide.weight.shape == (8, 9, 3, 3)
    img = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(wide(torch.cat([img] * 3, 1)), conv(img), atol=1e-5)
    assert conv.weight.shape == (8, 3, 3, 3)  # the original is untouched


@pytest.mark.parametrize("kind", ["B", "C"])
def test_shipped_general_nets_load_and_agree_with_numpy_ranking(kind) -> None:
    from stylist.paths import models_dir
    from stylist.rank.matching import MatchingNet

    path = models_dir() / f"fashionnet-{kind.lower()}-efficientnet-lite0"
    arrays, config = load_matching_net(path)
    manifest = json.loads((models_dir() / "efficientnet-lite0.json").read_text())
    assert config["backbone_sha256"] == manifest["sha256"]
    assert config["feature_dim"] == 1280 and config["relu_after_fc1"] is True
    for key in ("command", "seed", "trained_on", "created"):
        assert config[key] not in (None, "")
    metrics = config["metrics"]
    if kind == "C":  # four pairs: each family's figures beside its own random ranking
        for family, figures in (
            ("three", metrics["three_piece"]),
            ("one_piece", metrics["one_piece"]),
        ):
            assert (
                figures["test_collection"]["mean_ndcg"]
                > metrics["random_ranking"][family]["mean_ndcg"]
            )
        assert set(config["calibration"]["temperature"]) == set(config["pairs"])
    else:
        assert metrics["test_matched"]["mean_ndcg"] > metrics["random_ranking"]["mean_ndcg"]
    x = np.abs(np.random.default_rng(0).normal(0, 0.5, size=(12, 1280))).astype(np.float32)
    net = net_from_arrays(arrays, config, "three" if kind == "C" else None)
    mean, std = input_normalisation(arrays, 1280)
    xn = torch.from_numpy((x - mean) / std)
    with torch.no_grad():
        ours = net(xn[:4], xn[4:8], xn[8:]).numpy()
    # torch trains without the calibration's temperatures; compare the same, uncalibrated sums
    raw = {k: v for k, v in config.items() if k != "calibration"}
    theirs = MatchingNet.from_arrays(arrays, raw, source=path).score_outfits(x[:4], x[4:8], x[8:])
    assert np.allclose(ours, theirs, atol=1e-4)
