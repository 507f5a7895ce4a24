"""The stylists' outfits (outfits-mango): product-disjoint splits, one-piece outfits,
same-collection negatives, merged four-pair nets and calibrated pair probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from stylist.learn.datasets import load_dataset


@pytest.fixture(scope="module")
def mango(shared_data):
    path = shared_data / "outfits-mango" / "outfits.json"
    return {
        "three": load_dataset(path),
        "one_piece": load_dataset(path, family="one_piece"),
        "path": path,
    }


def _products_by_split(*datasets) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {"train": set(), "val": set(), "test": set()}
    for ds in datasets:
        for o in ds.outfits:
            out[o.split] |= o.products
    return out


def test_no_product_photo_is_in_two_splits_across_both_families(mango) -> None:
    three, one = mango["three"], mango["one_piece"]
    assert len(three.outfits) > 2000 and len(one.outfits) > 800
    by_split = _products_by_split(three, one)
    assert not by_split["train"] & by_split["test"]
    assert not by_split["train"] & by_split["val"]
    assert not by_split["val"] & by_split["test"]
    for ds in (three, one):
        counts = {s: sum(o.split == s for o in ds.outfits) for s in ("train", "val", "test")}
        assert counts["test"] >= 0.08 * len(ds.outfits) and counts["val"] > 0
    # the outfits left out are exactly those straddling the split, and they are said so
    assert any("two sides" in why for _, why in three.skipped)


def test_one_piece_outfits_hold_the_one_piece_in_the_top_and_bottom_slots(mango) -> None:
    one = mango["one_piece"]
    assert one.family == "one_piece"
    o = one.outfits[0]
    assert o.top == o.bottom and o.family == "one_piece" and o.shoes != o.top
    assert mango["three"].family == "three"


def test_cross_validation_folds_are_product_disjoint_and_cover_every_group(mango) -> None:
    tests: list[set[str]] = []
    for fold in range(3):
        ds = load_dataset(mango["path"], folds=5, fold=fold)
        by_split = _products_by_split(ds)
        assert not by_split["train"] & (by_split["test"] | by_split["val"])
        tests.append({o.outfit_id for o in ds.outfits if o.split == "test"})
    assert not tests[0] & tests[1] and not tests[1] & tests[2]


def test_collections_come_from_the_file_names(mango) -> None:
    ds = mango["three"]
    assert ds.collection("images/2019_51000622_02.jpg") == "2019"
    assert ds.collection("crops/0001_vest.jpg") is None


def test_same_collection_negatives_never_mix_shoots() -> None:
    from stylist.learn.sampling import NegativeSampler

    rng = np.random.default_rng(0)
    groups = np.repeat([0, 1], 30)  # items 0..29 one shoot, 30..59 the other
    pools = [np.r_[0:10, 30:40], np.r_[10:20, 40:50], np.r_[20:30, 50:60]]
    positives = np.array([[0, 10, 20], [1, 11, 21], [30, 40, 50], [31, 41, 51]])
    sampler = NegativeSampler(positives, pools, groups=groups, mode="random")
    neg = sampler.sample(rng)  # (P, 6, 3)
    assert neg.shape == (4, 6, 3)
    for p in range(4):
        assert set(groups[neg[p].ravel()]) == {groups[positives[p, 0]]}
    unmatched = NegativeSampler(positives, pools, mode="random").sample(rng)
    assert len(set(groups[unmatched.ravel()])) == 2  # without groups both shoots are drawn


def test_merged_four_pair_net_scores_each_family_exactly_as_its_own_net() -> None:
    import torch

    from stylist.learn.io import merge_pair_nets, net_arrays, net_from_arrays
    from stylist.learn.nets import ONE_PIECE_PAIRS, build_net
    from stylist.rank.matching import FORMAT

    d = 16
    rng = np.random.default_rng(1)
    three = build_net("C", d, hidden=8, seed=0, init="torch")
    one = build_net("C", d, hidden=8, seed=1, init="torch", pairs=ONE_PIECE_PAIRS)
    m0, s0 = rng.normal(size=d).astype(np.float32), rng.uniform(0.5, 2, d).astype(np.float32)
    m1, s1 = rng.normal(size=d).astype(np.float32), rng.uniform(0.5, 2, d).astype(np.float32)
    merged = merge_pair_nets(net_arrays(three, m0, s0), net_arrays(one, m1, s1))
    assert "one_piece_shoes.fc1.weight" in merged and "top_bottom.fc1.weight" in merged
    config = {"format": FORMAT, "net": "C", "feature_dim": d, "hidden": 8, "relu_after_fc1": True}
    config["pairs"] = ["top_bottom", "top_shoes", "bottom_shoes", "one_piece_shoes"]
    x = rng.normal(size=(5, d)).astype(np.float32)  # raw features of five items
    with torch.no_grad():
        dress, shoes = torch.from_numpy((x[:1] - m1) / s1), torch.from_numpy((x[1:2] - m1) / s1)
        own = one(dress, dress, shoes)
        back = net_from_arrays(merged, config, family="one_piece")
        z = [torch.from_numpy((x[k : k + 1] - m0) / s0) for k in (0, 0, 1)]
        assert torch.allclose(back(*z), own, atol=1e-5)
        assert [n for n, _, _ in back.pair_defs] == ["one_piece_shoes"]
        t, b, s = (torch.from_numpy((x[k : k + 1] - m0) / s0) for k in (2, 3, 4))
        assert torch.allclose(
            net_from_arrays(merged, config, family="three")(t, b, s), three(t, b, s)
        )
        plain = {k: v for k, v in config.items() if k != "pairs"}
        assert net_from_arrays(net_arrays(three, m0, s0), plain, "one_piece") is None


def test_temperature_is_recovered_from_labels_drawn_at_that_temperature() -> None:
    from stylist.learn.calibrate import fit_temperature

    rng = np.random.default_rng(3)
    d = rng.normal(0, 8.0, size=20000)  # over-confident logit differences
    y = (rng.random(d.size) < 1 / (1 + np.exp(-d / 4.0))).astype(int)
    assert fit_temperature(d, y) == pytest.approx(4.0, rel=0.15)
    assert fit_temperature(d, np.ones_like(y)) == 1.0  # one class only: left as it is


@pytest.fixture(scope="module")
def small_mango(shared_data, tmp_path_factory):
    """A few hundred stylists' outfits of both families and both collections, photos copied."""
    import json
    import shutil

    src = shared_data / "outfits-mango"
    entries = json.loads((src / "outfits.json").read_text())
    chosen = []
    for year in ("2019", "2023"):
        mine = [
            e
            for e in entries
            if e["kind"] != "incomplete" and (e["shoes"] or "").startswith(f"images/{year}")
        ]
        chosen += [e for e in mine if e["kind"] == "top_bottom_shoes"][:50]
        chosen += [e for e in mine if e["kind"] == "one_piece_shoes"][:25]
    root = tmp_path_factory.mktemp("mango")
    (root / "images").mkdir()
    for e in chosen:
        e["garments"] = [g for g in e["garments"] if g["slot"] != "other"]
        for g in e["garments"]:
            shutil.copy(src / g["crop"], root / g["crop"])
    (root / "outfits.json").write_text(json.dumps(chosen))
    return root / "outfits.json"


def test_eval_reports_three_piece_and_one_piece_lists_with_same_collection_negatives(
    small_mango, paths
) -> None:
    from stylist.learn.evaluate import run_eval
    from stylist.learn.train import TrainConfig

    report = run_eval(
        small_mango,
        paths=paths,
        nets="C",
        stages="initial,one",
        augment_views=0,
        configs={"one": TrainConfig(epochs=1, lr=1e-3, optimizer="adam")},
    )
    assert report.negatives == "same-collection" and report.family == "three"
    assert report.one_piece is not None and report.one_piece.family == "one_piece"
    for part in (report, report.one_piece):
        assert part.positives > 0 and part.negatives_count == 6 * part.positives
        for net in ("C", "size", "colour"):
            assert part.row(net, "one").metrics is not None, net
    table = report.table()
    assert "one-piece + shoes outfits" in table and table.count("Random ranking") >= 2
    assert report.to_json()["one_piece"]["family"] == "one_piece"


def test_personal_training_keeps_the_one_piece_pair() -> None:
    from stylist.learn.io import merge_pair_nets, net_arrays
    from stylist.learn.nets import ONE_PIECE_PAIRS, build_net
    from stylist.learn.personal import fine_tune_partial
    from stylist.learn.train import TrainConfig
    from stylist.rank.matching import FORMAT

    d = 16
    rng = np.random.default_rng(5)
    three = build_net("C", d, hidden=8, seed=0, init="torch")
    one = build_net("C", d, hidden=8, seed=1, init="torch", pairs=ONE_PIECE_PAIRS)
    mean, std = np.zeros(d, np.float32), np.ones(d, np.float32)
    arrays = merge_pair_nets(net_arrays(three, mean, std), net_arrays(one, mean, std))
    calibration = {"method": "temperature", "temperature": {"one_piece_shoes": 2.0}}
    config = {
        "format": FORMAT,
        "net": "C",
        "feature_dim": d,
        "hidden": 8,
        "relu_after_fc1": True,
        "pairs": ["top_bottom", "top_shoes", "bottom_shoes", "one_piece_shoes"],
        "calibration": calibration,
    }
    wardrobe = {
        slot: {100 * k + i: rng.normal(size=d).astype(np.float32) for i in range(6)}
        for k, slot in enumerate(("top", "bottom", "shoes"))
    }
    likes = [(0, 100, 200), (1, 101, 201), (2, 102, 202)]
    result = fine_tune_partial(
        (arrays, config),
        likes,
        [(3, 103, 203)],
        wardrobe,
        epochs=2,
        config=TrainConfig(epochs=2, lr=1e-2, optimizer="adam"),
    )
    for key in arrays:
        if key.startswith("one_piece_shoes."):
            assert np.array_equal(result.arrays[key], arrays[key]), key
    assert not np.array_equal(
        result.arrays["top_bottom.fc2.weight"], arrays["top_bottom.fc2.weight"]
    )
    assert result.config["pairs"] == config["pairs"]
    # the trained pairs' logits are the person's now; the carried pair keeps its temperature
    assert result.config["calibration"]["temperature"] == {"one_piece_shoes": 2.0}


def test_platt_shift_and_temperature_are_recovered_and_fold_into_the_last_layer() -> None:
    from stylist.learn.calibrate import fit_platt, fold_shifts

    rng = np.random.default_rng(4)
    d = rng.normal(-6.0, 8.0, size=20000)  # logits far below zero, over-confident
    y = (rng.random(d.size) < 1 / (1 + np.exp(-(d + 6.0) / 4.0))).astype(int)
    t, b = fit_platt(d, y)
    assert t == pytest.approx(4.0, rel=0.2) and b == pytest.approx(-6.0, abs=0.8)
    arrays = {"top_bottom.fc3.bias": np.array([0.5, 1.5], np.float32)}
    folded = fold_shifts(arrays, {"top_bottom": -6.0})
    assert folded["top_bottom.fc3.bias"].tolist() == [0.5, 7.5]  # match logit minus the shift
    assert arrays["top_bottom.fc3.bias"].tolist() == [0.5, 1.5]  # the input is left as it was


def test_personal_training_takes_outfits_of_ids_or_of_feature_vectors() -> None:
    from stylist.learn.personal import (
        FineTuneError,
        fine_tune_partial,
        fine_tune_partial_on_features,
    )
    from stylist.learn.train import TrainConfig
    from stylist.rank.matching import MatchingNet

    d, rng = 6, np.random.default_rng(3)
    base = MatchingNet.untrained(d, hidden=8)
    wardrobe = {
        slot: {100 * k + i: rng.normal(size=d).astype(np.float32) for i in range(6)}
        for k, slot in enumerate(("top", "bottom", "shoes"))
    }
    likes = [(0, 100, 200), (1, 101, 201), (2, 102, 202)]
    vectors = [tuple(wardrobe[s][i] for s, i in zip(wardrobe, o, strict=True)) for o in likes]
    options = {"epochs": 1, "config": TrainConfig(epochs=1, lr=1e-2, optimizer="adam")}
    by_id = fine_tune_partial((base.arrays, base.config), likes, [], wardrobe, **options)
    by_vector = fine_tune_partial_on_features(
        (base.arrays, base.config), vectors, [], wardrobe, **options
    )
    for result in (by_id, by_vector):
        assert result.metrics["train_likes"] == 3 and result.metrics["skipped_outfits"] == 0
        assert MatchingNet.from_arrays(result.arrays, result.config).feature_dim == d
    with pytest.raises(FineTuneError, match="fine_tune_partial_on_features"):
        fine_tune_partial((base.arrays, base.config), vectors, [], wardrobe, **options)
