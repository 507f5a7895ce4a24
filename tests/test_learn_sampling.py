"""Negative outfits: random ones as the paper draws them, and leak-matched ones."""

from __future__ import annotations

import numpy as np
import pytest

from stylist.learn.sampling import NegativeSampler, negatives_from_outfits


def street_photos(n: int, seed: int = 0):
    """n outfits, each three crops of one photo (rows 3i, 3i+1, 3i+2) with random sizes."""
    rng = np.random.default_rng(seed)
    positives = np.arange(3 * n).reshape(n, 3)
    origin = np.repeat(np.arange(n), 3)
    stats = np.column_stack(
        [rng.normal(5.3, 0.3, 3 * n), rng.normal(5.6, 0.3, 3 * n), rng.uniform(0.3, 0.7, 3 * n)]
    )
    pools = [positives[:, k] for k in range(3)]
    return positives, pools, origin, stats


def test_random_negatives_come_from_the_pools_and_are_never_positive() -> None:
    positives, pools, origin, _ = street_photos(8)
    sampler = NegativeSampler(positives, pools, origin=origin, mode="random", per_positive=6)
    known = {tuple(p) for p in positives.tolist()}
    for seed in range(20):
        neg = sampler.sample(np.random.default_rng(seed))
        assert neg.shape == (8, 6, 3)
        for k in range(3):
            assert set(neg[:, :, k].ravel()) <= set(pools[k].tolist())
        assert not any(tuple(t) in known for t in neg.reshape(-1, 3).tolist())


def test_negatives_are_resampled_and_reproducible() -> None:
    positives, pools, origin, stats = street_photos(30)
    sampler = NegativeSampler(positives, pools, origin=origin, stats=stats, mode="matched")
    a = sampler.sample(np.random.default_rng(1))
    b = sampler.sample(np.random.default_rng(1))
    c = sampler.sample(np.random.default_rng(2))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_matched_negatives_use_every_crop_once_per_round_and_never_its_photo() -> None:
    positives, pools, origin, stats = street_photos(60)
    sampler = NegativeSampler(positives, pools, origin=origin, stats=stats, mode="matched")
    neg = sampler.sample(np.random.default_rng(0))  # (60, 6, 3)
    for k in range(3):
        counts = np.bincount(neg[:, :, k].ravel(), minlength=3 * 60)[pools[k]]
        assert counts.tolist() == [6] * 60  # each crop exactly once in each of the six rounds
    origins = origin[neg]  # (60, 6, 3)
    assert np.all(origins != np.arange(60)[:, None, None])  # never a crop of the positive's photo
    flat = origins.reshape(-1, 3)
    assert all(len(set(row)) == 3 for row in flat.tolist())  # three different photos


def test_matched_negatives_look_like_their_positive_in_size() -> None:
    positives, pools, origin, stats = street_photos(200)
    matched = NegativeSampler(positives, pools, origin=origin, stats=stats, mode="matched")
    rand = NegativeSampler(positives, pools, origin=origin, stats=stats, mode="random")
    rng = np.random.default_rng(0)
    z = (stats - stats.mean(0)) / stats.std(0)

    def gap(neg: np.ndarray) -> float:
        return float(np.abs(z[neg] - z[positives][:, None, :, :]).mean())

    assert gap(matched.sample(rng)) < 0.5 * gap(rand.sample(rng))


def test_matched_mode_needs_statistics() -> None:
    positives, pools, origin, _ = street_photos(5)
    with pytest.raises(ValueError, match="size statistics"):
        NegativeSampler(positives, pools, origin=origin, mode="matched")
    with pytest.raises(ValueError, match="unknown negative mode"):
        NegativeSampler(positives, pools, mode="clever")


def test_negatives_from_given_outfits() -> None:
    rejected = np.array([[1, 2, 3], [4, 5, 6]])
    neg = negatives_from_outfits(5, rejected, 4, np.random.default_rng(0))
    assert neg.shape == (5, 4, 3)
    assert {tuple(t) for t in neg.reshape(-1, 3).tolist()} <= {(1, 2, 3), (4, 5, 6)}
    assert negatives_from_outfits(5, np.zeros((0, 3)), 4, np.random.default_rng(0)).shape == (
        5,
        0,
        3,
    )
