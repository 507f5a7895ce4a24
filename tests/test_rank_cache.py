"""Pair matrices kept on disk: reused entry for entry, only new items computed, never trusted
when damaged or made by another net."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from stylist.paths import models_dir
from stylist.rank.cache import PairCache
from stylist.rank.matching import MatchingNet
from stylist.rank.topk import PAIR_KEYS

SHA = "f" * 64  # the backbone file's hash the features came from


@pytest.fixture
def net(tmp_path) -> MatchingNet:
    """The shipped general net C, from a copy this test may touch."""
    for suffix in (".npz", ".json"):
        shutil.copy(
            models_dir() / f"fashionnet-c-efficientnet-lite0{suffix}", tmp_path / f"c{suffix}"
        )
    return MatchingNet.load(tmp_path / "c.npz")


def wardrobe(rng, ids_per_slot, dim):
    return [
        {i: np.abs(rng.normal(size=dim)).astype(np.float32) for i in ids} for ids in ids_per_slot
    ]


def fresh(net, slots):
    feats = [np.stack([s[i] for i in sorted(s)]) for s in slots]
    return net.pair_matrices(*feats)


def assert_same(got, want) -> None:
    for key in PAIR_KEYS:
        assert np.allclose(getattr(got, key), getattr(want, key), atol=1e-6), key


def test_a_second_run_reuses_everything_and_new_items_cost_only_their_pairs(net, tmp_path):
    rng = np.random.default_rng(0)
    slots = wardrobe(rng, [range(1, 9), range(20, 26), range(40, 44)], net.feature_dim)
    cache = PairCache(tmp_path / "cache")
    first = cache.matrices(net, SHA, slots)
    assert cache.computed_pairs == 8 * 6 + 8 * 4 + 6 * 4
    assert_same(first, fresh(net, slots))

    again = PairCache(tmp_path / "cache")  # a new run
    same = again.matrices(net, SHA, slots)
    assert again.computed_pairs == 0
    for key in PAIR_KEYS:
        assert np.array_equal(getattr(same, key), getattr(first, key))

    # One new top (id 0, sorting first), one new pair of shoes, one bottom gone.
    changed = [dict(s) for s in slots]
    changed[0][0] = np.abs(rng.normal(size=net.feature_dim)).astype(np.float32)
    changed[2][99] = np.abs(rng.normal(size=net.feature_dim)).astype(np.float32)
    del changed[1][23]
    updated = again.matrices(net, SHA, changed)
    # top 0 against 5 bottoms and 5 shoes; shoes 99 against the 8 old tops and 5 bottoms
    assert again.computed_pairs == (5 + 5) + (8 + 5)
    assert_same(updated, fresh(net, changed))
    assert updated.top_bottom.shape == (9, 5) and updated.bottom_shoes.shape == (5, 5)


def test_an_item_whose_features_changed_is_computed_again(net, tmp_path):
    """A new cut-out of a garment changes its features under the same item id."""
    rng = np.random.default_rng(2)
    slots = wardrobe(rng, [range(1, 5), range(10, 13), range(20, 22)], net.feature_dim)
    PairCache(tmp_path / "cache").matrices(net, SHA, slots)
    changed = [dict(s) for s in slots]
    changed[1][11] = np.abs(rng.normal(size=net.feature_dim)).astype(np.float32)
    again = PairCache(tmp_path / "cache")
    updated = again.matrices(net, SHA, changed)
    assert again.computed_pairs == 4 + 2  # bottom 11 against the tops and the shoes
    assert_same(updated, fresh(net, changed))


def test_a_wardrobe_without_one_pieces_is_cached_too(net, tmp_path):
    """The four-pair net over a wardrobe whose one-piece slot is empty."""
    rng = np.random.default_rng(3)
    slots = [*wardrobe(rng, [range(1, 4), range(10, 12), range(20, 22)], net.feature_dim), {}]
    first = PairCache(tmp_path / "cache").matrices(net, SHA, slots)
    assert first.one_piece_shoes.shape == (0, 2)
    again = PairCache(tmp_path / "cache")
    assert_same(again.matrices(net, SHA, slots), first)
    assert again.computed_pairs == 0


def test_another_net_or_another_backbone_file_does_not_reuse(net, tmp_path):
    rng = np.random.default_rng(1)
    slots = wardrobe(rng, [range(3), range(3, 6), range(6, 9)], net.feature_dim)
    cache = PairCache(tmp_path / "cache")
    cache.matrices(net, SHA, slots)
    cache.matrices(net, "e" * 64, slots)
    assert cache.computed_pairs == 27
    bias = net.arrays["top_bottom.fc3.bias"].copy()
    bias[1] += 1.0  # "match" more likely for every top and bottom: a retrained net
    net.source.with_suffix(".npz").unlink()
    np.savez(net.source.with_suffix(".npz"), **{**net.arrays, "top_bottom.fc3.bias": bias})
    changed = MatchingNet.load(net.source)
    got = cache.matrices(changed, SHA, slots)
    assert cache.computed_pairs == 27
    assert_same(got, fresh(changed, slots))


def test_a_damaged_cache_is_recomputed(net, tmp_path):
    rng = np.random.default_rng(2)
    slots = wardrobe(rng, [range(4), range(4, 7), range(7, 9)], net.feature_dim)
    cache = PairCache(tmp_path / "cache")
    want = cache.matrices(net, SHA, slots)
    (file,) = (tmp_path / "cache").glob("pairs-*.npz")
    file.write_bytes(file.read_bytes()[:100])
    got = cache.matrices(net, SHA, slots)
    assert cache.computed_pairs == 4 * 3 + 4 * 2 + 3 * 2
    assert_same(got, want)


def test_an_unsaved_net_is_not_cached(tmp_path):
    net = MatchingNet.untrained(16, net="C")
    slots = wardrobe(np.random.default_rng(3), [range(2), range(2, 4), range(4, 6)], 16)
    cache = PairCache(tmp_path / "cache")
    assert_same(cache.matrices(net, SHA, slots), fresh(net, slots))
    assert not (tmp_path / "cache").exists()
