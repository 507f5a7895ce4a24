"""Personal training in numpy (``stylist.tune``): correct gradients, the same training as the torch
form, and a person's taste learnt on the demo wardrobe's real features."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

from stylist import tune
from stylist.domain import Category, is_holdout
from stylist.rank.matching import FORMAT, MatchingNet


def _small_scorer(seed: int = 0):
    rng = np.random.default_rng(seed)
    d = 8
    net = MatchingNet.untrained(d, seed=seed + 1, hidden=16)
    # Larger weights than the authors' init, so every layer's gradient is far from zero.
    arrays = {k: v * (40 if k.endswith("weight") else 1) for k, v in net.arrays.items()}
    x = rng.standard_normal((12, d)).astype(np.float32)
    scorer = tune.Scorer(arrays, net.config, x, [np.arange(4), np.arange(4, 8), np.arange(8, 12)])
    for head in scorer.heads.values():
        # float64 throughout, so finite differences with a tiny step are exact enough
        head.base = [b.astype(np.float64) for b in head.base]
        head.z = [z.astype(np.float64) for z in head.z]
        for key, value in head.params.items():
            head.params[key] = value.astype(np.float64)
            if key.startswith("delta"):
                head.params[key] = rng.standard_normal(value.shape) * 0.3
    triples = np.array([[0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7, 11], [0, 5, 10], [1, 6, 11]])
    return scorer, triples


@pytest.mark.parametrize("weights", [None, np.array([1.0, 3.0])])
def test_the_hand_written_gradients_match_finite_differences(weights) -> None:
    scorer, triples = _small_scorer()
    params = scorer.parameters()
    _, grads = scorer.loss_and_grads(triples, 2, weights)  # 2 positives, 2 negatives each
    rng = np.random.default_rng(3)
    for key, param in params.items():
        # the directional derivative along a random direction of this parameter
        direction = rng.standard_normal(param.shape)
        start = param.copy()
        eps = 1e-6
        param[...] = start + eps * direction
        plus, _ = scorer.loss_and_grads(triples, 2, weights)
        param[...] = start - eps * direction
        minus, _ = scorer.loss_and_grads(triples, 2, weights)
        param[...] = start
        numeric = (plus - minus) / (2 * eps)
        analytic = float((grads[key] * direction).sum())
        assert analytic == pytest.approx(numeric, rel=1e-4, abs=1e-8), key


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("anchor", [0.0, 1.0])
def test_the_optimisers_step_as_torchs_do(optimizer, anchor) -> None:
    """Adam as torch's AdamW, SGD as torch's SGD with momentum, the anchor as the torch form's
    gradient hook: on gradients well away from zero, twenty steps end on the same weights."""
    torch = pytest.importorskip("torch")
    from stylist.learn.personal import _anchor

    rng = np.random.default_rng(0)
    start = rng.standard_normal((3, 4)).astype(np.float32)
    grads = [rng.standard_normal((3, 4)).astype(np.float32) for _ in range(20)]
    schedule = tune.Schedule(lr=1e-2, weight_decay=5e-4, optimizer=optimizer)
    ours = {"w": start.copy()}
    step = tune.optimiser(ours, schedule, anchor)
    theirs = torch.nn.ParameterList([torch.nn.Parameter(torch.from_numpy(start.copy()))])
    _anchor(theirs, anchor)
    if optimizer == "adam":
        opt = torch.optim.AdamW(theirs.parameters(), lr=1e-2, weight_decay=5e-4)
    else:
        opt = torch.optim.SGD(theirs.parameters(), lr=1e-2, momentum=0.9, weight_decay=5e-4)
    for g in grads:
        step.step({"w": g})
        opt.zero_grad()
        (theirs[0] * torch.from_numpy(g)).sum().backward()  # the gradient g, through the hook
        opt.step()
    assert not np.allclose(ours["w"], start, atol=1e-2)  # the weights moved
    np.testing.assert_allclose(ours["w"], theirs[0].detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def taste(tmp_path_factory):
    """The demo wardrobe's real features, and a person whose taste is a direction in feature
    space: they like the outfits furthest along it and dislike those furthest against it."""
    from stylist import paths as paths_mod
    from stylist.service import Stylist

    base = paths_mod.for_home(tmp_path_factory.mktemp("tune") / "home")
    stylist, _ = Stylist.open_demo(base)
    stylist.extract_features()
    spec = stylist.backbone()
    tops, bottoms, shoes, _ = stylist._slot_features(spec)
    general = stylist._general_net_file(spec)
    stylist.close()
    wardrobe = {"top": tops, "bottom": bottoms, "shoes": shoes}
    rng = np.random.default_rng(7)
    direction = rng.standard_normal(next(iter(tops.values())).shape[0])
    outfits = [(t, b, s) for t in tops for b in bottoms for s in shoes]
    appeal = np.array([direction @ (tops[t] + bottoms[b] + shoes[s]) for t, b, s in outfits])
    order = np.argsort(-appeal)
    ranked = [outfits[i] for i in order]
    liked, disliked = ranked[:120], ranked[-120:]
    # every third of each side is kept apart as a test the training never sees
    test = liked[::3] + disliked[::3]
    labels = np.array([1] * len(liked[::3]) + [0] * len(disliked[::3]))
    train = [o for i, o in enumerate(liked) if i % 3], [o for i, o in enumerate(disliked) if i % 3]
    return wardrobe, general, train, test, labels


def _ndcg(arrays, config, wardrobe, outfits, labels) -> float:
    from stylist.learn.metrics import list_metrics

    net = MatchingNet.from_arrays(arrays, config)
    feats = [
        np.stack([wardrobe[s][o[k]] for o in outfits])
        for k, s in enumerate(("top", "bottom", "shoes"))
    ]
    return list_metrics(net.score_outfits(*feats), labels).mean_ndcg


def _split(outfits):
    return [o for o in outfits if not is_holdout(o)], [o for o in outfits if is_holdout(o)]


def test_it_learns_a_persons_taste_from_the_general_net(taste) -> None:
    from stylist.learn.io import load_matching_net

    wardrobe, general, (likes, dislikes), test, labels = taste
    (train_likes, val_likes), (train_dislikes, val_dislikes) = _split(likes), _split(dislikes)
    result = tune.fine_tune_partial(
        general,
        train_likes,
        train_dislikes,
        wardrobe,
        val_likes=val_likes,
        val_dislikes=val_dislikes,
        epochs=12,
        anchor=0.0,
        schedule=tune.Schedule(lr=1e-3),
    )
    m = result.metrics
    assert m["epochs_run"] == 12 and m["steps"] > 12
    # (No assertion on the epoch losses: every epoch draws fresh random outfits of the wardrobe
    # as negatives, and some of them suit the taste as well as the likes do, so the mean loss
    # of an epoch need not fall. The held-out figures below say whether it learnt.)
    assert result.validated and result.not_worse
    assert result.new_val_mean_ndcg > result.old_val_mean_ndcg
    arrays, config = load_matching_net(general)
    before = _ndcg(arrays, config, wardrobe, test, labels)
    after = _ndcg(result.arrays, result.config, wardrobe, test, labels)
    assert after > before + 0.1, (before, after)  # outfits it never saw are ranked better
    assert result.config["training"]["engine"] == "numpy"
    assert result.config["pairs"] == config.get("pairs", result.config.get("pairs"))
    for key in arrays:  # every pair network of the general net is still there
        assert key in result.arrays, key


def _both_forms(taste, optimizer: str, lr: float, epochs: int):
    """The torch form's and the numpy form's fine-tune on the same verdicts and settings."""
    import torch

    from stylist.learn import personal

    wardrobe, general, (likes, dislikes), _, _ = taste
    (train_likes, val_likes), (train_dislikes, val_dislikes) = _split(likes), _split(dislikes)
    kwargs = dict(val_likes=val_likes, val_dislikes=val_dislikes, epochs=epochs, seed=2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        theirs = personal.fine_tune_partial(
            general,
            train_likes,
            train_dislikes,
            wardrobe,
            config=dataclasses.replace(personal.FINE_TUNE, lr=lr, optimizer=optimizer),
            **kwargs,
        )
    finally:
        torch.set_num_threads(threads)
    schedule = dataclasses.replace(tune.FINE_TUNE, lr=lr, optimizer=optimizer)
    ours = tune.fine_tune_partial(
        general, train_likes, train_dislikes, wardrobe, schedule=schedule, **kwargs
    )
    assert ours.metrics["steps"] == theirs.metrics["steps"] > epochs
    assert set(ours.arrays) == set(theirs.arrays)
    assert ours.config.get("calibration") == theirs.config.get("calibration")
    assert ours.old_val_mean_ndcg == pytest.approx(theirs.old_val_mean_ndcg)
    return ours, theirs


def test_it_trains_as_the_torch_form_does(taste) -> None:
    """Same batches, basis, anchor and optimiser: the two forms end on the same weights.

    Checked with SGD, whose step is linear in the gradient: the forms' float32 sums in another
    order then differ by rounding only, and so do the weights they end on. (With Adam a weight
    whose gradient is near zero steps by the whole rate in a direction rounding decides, so its
    weights are compared by their outcome, below; its steps are checked against torch's on
    well-conditioned gradients above.)"""
    pytest.importorskip("torch")
    from stylist.learn.io import load_matching_net

    # At a rate where training is smooth: much faster (1e-2 with the dislikes' weight), outfits
    # cross ReLU boundaries in one form and not the other, and the two drift apart by chaos.
    ours, theirs = _both_forms(taste, "sgd", lr=3e-3, epochs=3)
    start, _ = load_matching_net(taste[1])
    moved_any = False
    for key, value in theirs.arrays.items():
        # Rounding can still tip one outfit across a hidden unit's ReLU boundary in one form and
        # not the other; that unit's row then differs a little (seen: 113 of 1,310,720 weights,
        # one row, by 1e-4). Every other weight agrees to rounding.
        apart = ~np.isclose(ours.arrays[key], value, rtol=1e-4, atol=1e-5)
        assert apart.mean() < 1e-3, (key, int(apart.sum()))
        moved = np.abs(value - start[key]).mean()
        moved_any |= bool(moved > 1e-4)
        if moved > 0:
            # a different algorithm (other batches, basis or anchor) would differ by about the
            # move itself; rounding drift is a small share of it even in a pair that hardly
            # moved (seen: 0.3 % in a pair whose weights moved by 1e-4 on average)
            assert np.abs(ours.arrays[key] - value).mean() < 0.02 * moved, key
    assert moved_any
    assert ours.new_val_mean_ndcg == pytest.approx(theirs.new_val_mean_ndcg, abs=1e-6)
    assert ours.new_val_mean_ndcg > ours.old_val_mean_ndcg + 0.1  # it learnt something


def test_with_adam_it_learns_what_the_torch_form_learns(taste) -> None:
    """The app's optimiser and rate, one epoch: every outfit of the wardrobe scores alike."""
    pytest.importorskip("torch")
    from stylist.learn.io import load_matching_net

    wardrobe, general = taste[0], taste[1]
    ours, theirs = _both_forms(taste, "adam", lr=tune.FINE_TUNE.lr, epochs=1)
    assert ours.new_val_mean_ndcg > ours.old_val_mean_ndcg + 0.1
    assert theirs.new_val_mean_ndcg > theirs.old_val_mean_ndcg + 0.1
    outfits = [
        (t, b, s) for t in wardrobe["top"] for b in wardrobe["bottom"] for s in wardrobe["shoes"]
    ]
    feats = [np.stack([wardrobe[s][o[k]] for o in outfits]) for k, s in enumerate(wardrobe)]

    def scores(arrays, config):
        return MatchingNet.from_arrays(arrays, config).score_outfits(*feats)

    before = scores(*load_matching_net(general))
    mine, torchs = scores(ours.arrays, ours.config), scores(theirs.arrays, theirs.config)
    moved = np.abs(torchs - before).mean()
    # Seen: the forms differ by under 1 % of how far training moved the scores (Adam's steps on
    # near-zero gradients differ by rounding); another algorithm would differ by the whole move.
    assert moved > 0.1 and np.abs(mine - torchs).mean() < 0.03 * moved, moved


def test_an_untrained_start_a_saved_base_and_cancel(taste, tmp_path) -> None:
    wardrobe, _, (likes, dislikes), test, labels = taste
    scratch = tune.fine_tune_partial(
        None, likes, dislikes, wardrobe, epochs=8, backbone="b", backbone_sha256="s"
    )
    untrained = tune.fine_tune_partial(None, likes, dislikes, wardrobe, epochs=0)
    assert scratch.config["base"] == "untrained" and scratch.config["backbone"] == "b"
    judged = likes + dislikes
    verdicts = np.array([1] * len(likes) + [0] * len(dislikes))
    assert _ndcg(scratch.arrays, scratch.config, wardrobe, judged, verdicts) > (
        _ndcg(untrained.arrays, untrained.config, wardrobe, judged, verdicts) + 0.1
    )
    npz, _ = scratch.save(tmp_path / "mine")
    progress: list[int] = []
    again = tune.fine_tune_partial(
        npz, likes, dislikes, wardrobe, epochs=2, progress=lambda d, t, _: progress.append(d)
    )
    assert progress == [1, 2] and again.config["base"] == str(npz)
    stop = threading.Event()
    stop.set()
    cancelled = tune.fine_tune_partial(npz, likes, dislikes, wardrobe, epochs=3, cancel=stop)
    assert cancelled.metrics["cancelled"] and cancelled.metrics["epochs_run"] == 0
    with pytest.raises(tune.FineTuneError, match="no liked outfit"):
        tune.fine_tune_partial(None, [(-1, -2, -3)], [], wardrobe)
    with pytest.raises(tune.FineTuneError, match="no shoes"):
        tune.fine_tune_partial(None, likes, [], {**wardrobe, "shoes": {}})


def test_the_one_piece_pair_and_its_calibration_are_kept() -> None:
    d, hidden = 16, 8
    rng = np.random.default_rng(5)
    pairs = ["top_bottom", "top_shoes", "bottom_shoes", "one_piece_shoes"]
    net = MatchingNet.untrained(d, seed=3, hidden=hidden, pairs=pairs)
    arrays = dict(net.arrays)
    arrays["input.mean"], arrays["input.std"] = np.zeros(d, np.float32), np.ones(d, np.float32)
    temperatures = {"top_bottom": 1.5, "one_piece_shoes": 2.0}
    config = {
        "format": FORMAT,
        "net": "C",
        "feature_dim": d,
        "hidden": hidden,
        "relu_after_fc1": True,
        "pairs": pairs,
        "calibration": {"method": "temperature", "temperature": temperatures},
    }
    wardrobe = {
        slot.value: {100 * k + i: rng.normal(size=d).astype(np.float32) for i in range(6)}
        for k, slot in enumerate((Category.TOP, Category.BOTTOM, Category.SHOES))
    }
    likes = [(0, 100, 200), (1, 101, 201), (2, 102, 202)]
    result = tune.fine_tune_partial(
        (arrays, config), likes, [(3, 103, 203)], wardrobe, epochs=2, schedule=tune.Schedule(1e-2)
    )
    for key in arrays:
        if key.startswith("one_piece_shoes."):
            assert np.array_equal(result.arrays[key], arrays[key]), key
    assert not np.array_equal(
        result.arrays["top_bottom.fc2.weight"], arrays["top_bottom.fc2.weight"]
    )
    assert result.config["pairs"] == pairs and result.config["hidden"] == hidden
    # the trained pairs' logits are the person's now; the carried pair keeps its temperature
    assert result.config["calibration"]["temperature"] == {"one_piece_shoes": 2.0}
    MatchingNet.from_arrays(result.arrays, result.config)  # the ranker accepts it


def test_outfits_of_ids_and_of_feature_vectors_have_entry_points_of_their_own() -> None:
    """Which an outfit is comes from the entry point, never from its shape: three-dimensional
    features given as lists read as vectors, and vectors given as ids are refused."""
    d, rng = 3, np.random.default_rng(3)
    base = MatchingNet.untrained(d, hidden=8)
    wardrobe = {
        slot: {k * 100 + i: rng.normal(size=d).astype(np.float32) for i in range(6)}
        for k, slot in enumerate(("top", "bottom", "shoes"))
    }
    likes = [(0, 100, 200), (1, 101, 201), (2, 102, 202)]
    vectors = [[wardrobe[s][i].tolist() for s, i in zip(wardrobe, o, strict=True)] for o in likes]
    options = {"epochs": 1, "schedule": tune.Schedule(lr=1e-2)}
    net = (base.arrays, base.config)
    by_id = tune.fine_tune_partial(net, likes, [], wardrobe, **options)
    by_vector = tune.fine_tune_partial_on_features(net, vectors, [], wardrobe, **options)
    for result in (by_id, by_vector):
        assert result.metrics["train_likes"] == 3 and result.metrics["skipped_outfits"] == 0
        assert MatchingNet.from_arrays(result.arrays, result.config).feature_dim == d
    with pytest.raises(tune.FineTuneError, match="fine_tune_partial_on_features"):
        tune.fine_tune_partial(net, vectors, [], wardrobe, **options)
    # an id the wardrobe does not hold is skipped, not read as a feature
    unknown = tune.fine_tune_partial(net, [*likes, (7, 100, 200)], [], wardrobe, **options)
    assert unknown.metrics["skipped_outfits"] == 1 and unknown.metrics["train_likes"] == 3


@pytest.mark.parametrize(
    ("old", "base", "new", "validated", "adopted", "back"),
    [
        (0.6, 0.6, 0.7, True, True, False),  # better than both: used
        (0.6, 0.6, 0.6, True, True, False),  # a tie: the newer, trained on more, is used
        (0.8, 0.6, 0.7, True, False, False),  # worse than the version in use: kept out
        (0.6, 0.8, 0.7, True, False, True),  # the general model beats both: back to it
        (0.9, 0.8, 0.7, True, False, False),  # the version in use beats the general model
        (0.8, 0.9, 0.1, False, True, False),  # too little held out: used, not yet validated
    ],
)
def test_a_version_is_used_when_it_validates_no_worse_than_the_one_in_use_and_the_general(
    old, base, new, validated, adopted, back
) -> None:
    metrics = {"old_val_mean_ndcg": old, "base_val_mean_ndcg": base, "new_val_mean_ndcg": new}
    result = tune.FineTuneResult({}, {}, {**metrics, "validated": validated})
    assert (result.not_worse, result.base_is_best) == (adopted, back)


def test_a_version_is_judged_on_the_held_out_likes_against_the_held_out_dislikes() -> None:
    """The person's own verdicts decide: the held-out likes ranked among the held-out dislikes
    and nothing else. Random outfits of the wardrobe (which may well be to the person's taste)
    stand in only where no dislike is held out, and never one the person judged."""
    d, rng = 3, np.random.default_rng(5)
    wardrobe = {
        slot: {k * 100 + i: rng.normal(size=d).astype(np.float32) for i in range(5)}
        for k, slot in enumerate(("top", "bottom", "shoes"))
    }
    likes, dislikes = [(0, 100, 200)], [(1, 101, 201)]
    val_likes, val_dislikes = [(2, 102, 202), (3, 103, 203)], [(4, 104, 204)]

    ids = [i for items in wardrobe.values() for i in items]  # the feature rows, in order

    def ids_of(verdicts, triples):
        assert verdicts.x.shape[0] == len(ids)  # outfits of ids add no rows
        return sorted(tuple(ids[r] for r in row) for row in triples.tolist())

    groups = (likes, dislikes, val_likes, val_dislikes)
    verdicts = tune.verdicts_of_ids(groups, wardrobe, seed=0)
    [(triples, labels)] = verdicts.val_lists
    assert ids_of(verdicts, triples[labels == 1]) == sorted(val_likes)
    assert ids_of(verdicts, triples[labels == 0]) == sorted(val_dislikes)

    verdicts = tune.verdicts_of_ids((likes, dislikes, val_likes, []), wardrobe, seed=0)
    [(triples, labels)] = verdicts.val_lists
    assert ids_of(verdicts, triples[labels == 1]) == sorted(val_likes)
    stand_ins = ids_of(verdicts, triples[labels == 0])
    assert len(stand_ins) == tune.NEGATIVES_PER_POSITIVE * len(val_likes)
    assert not set(stand_ins) & {*likes, *val_likes}

    # one held-out like is too few to judge on
    one = tune.verdicts_of_ids((likes, dislikes, val_likes[:1], val_dislikes), wardrobe)
    assert one.val_lists == []
