"""The paper's ranking metrics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stylist.learn.metrics import (
    average,
    list_metrics,
    mean_ndcg,
    ndcg_at,
    ndcg_curve,
    positives_in_top,
    random_ranking,
    rank_labels,
)

LOG2_3 = math.log2(3)


def test_ranks_one_and_two_are_both_undiscounted() -> None:
    # [0, 1]: the positive at rank 2 counts fully (discount log2(max(2, 2)) = 1).
    assert ndcg_curve([0, 1]).tolist() == [0.0, 1.0]
    assert mean_ndcg([0, 1]) == pytest.approx(0.5)


def test_hand_computed_list() -> None:
    # gains 1,0,1,0; discounts 1,1,log2 3,2; ideal gains 1,1,0,0.
    ranked = [1, 0, 1, 0]
    at3 = (1 + 1 / LOG2_3) / 2
    assert ndcg_curve(ranked) == pytest.approx([1.0, 0.5, at3, at3])
    assert ndcg_at(ranked, 3) == pytest.approx(0.8154648767857287)
    assert mean_ndcg(ranked) == pytest.approx((1 + 0.5 + 2 * at3) / 4)
    assert ndcg_at(ranked, 99) == pytest.approx(at3)  # past the end: the whole list


def test_last_place_positive() -> None:
    # One positive at rank 3 of 3: NDCG@m = 0, 0, (1/log2 3)/1.
    assert mean_ndcg([0, 0, 1]) == pytest.approx((1 / LOG2_3) / 3)


def test_perfect_and_worst_orders() -> None:
    assert mean_ndcg([1, 1, 0, 0, 0]) == pytest.approx(1.0)
    worst = mean_ndcg([0, 0, 0, 1, 1])
    assert 0 < worst < mean_ndcg([0, 1, 0, 1, 0]) < 1


def test_positives_in_top_k() -> None:
    assert positives_in_top([1, 0, 1, 1, 0], 3) == 2
    assert positives_in_top([0, 0], 10) == 0


def test_list_without_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="without any positive"):
        ndcg_curve([0, 0, 0])


def test_rank_labels_sorts_by_score_and_breaks_ties_randomly() -> None:
    labels = np.array([0, 1, 0, 1])
    assert rank_labels(np.array([0.1, 0.9, 0.5, 0.2]), labels).tolist() == [1, 0, 1, 0]
    firsts = {int(rank_labels(np.zeros(4), labels, np.random.default_rng(s))[0]) for s in range(20)}
    assert firsts == {0, 1}  # equal scores: either label may come first


def test_list_metrics_and_average() -> None:
    m = list_metrics(np.array([3.0, 2.0, 1.0, 0.0]), np.array([1, 0, 1, 0]))
    assert m.mean_ndcg == pytest.approx(mean_ndcg([1, 0, 1, 0]))
    assert m.positives_top_10 == 2
    both = average([m, list_metrics(np.array([0.0, 1.0]), np.array([1, 0]))])
    assert both.mean_ndcg == pytest.approx((m.mean_ndcg + 0.5) / 2)
    assert both.lists == 2


def test_random_ranking_matches_the_paper_and_simulation() -> None:
    # The paper's test list: 62 positives, 372 negatives -> about 1.43 positives in the top 10.
    expected = random_ranking(62, 372)
    assert expected.positives_top_10 == pytest.approx(62 / 434 * 10)
    assert round(expected.positives_top_10, 2) == 1.43
    rng = np.random.default_rng(0)
    labels = np.array([1] * 62 + [0] * 372)
    sims = [mean_ndcg(rng.permutation(labels)) for _ in range(400)]
    assert expected.mean_ndcg == pytest.approx(np.mean(sims), abs=0.005)
    tops = [ndcg_at(rng.permutation(labels), 10) for _ in range(2000)]
    assert expected.ndcg_at_10 == pytest.approx(np.mean(tops), abs=0.01)
