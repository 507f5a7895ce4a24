"""The ranking metrics of the FashionNet paper, computed exactly as its authors did.

Each person has one ranked list of outfits, positives (relevance 1) and negatives (relevance 0).
Gain is ``2**rel - 1`` and the discount of rank ``i`` (1-based) is ``log2(max(i, 2))``, so ranks 1
and 2 are both undiscounted. NDCG@m divides the list's DCG over its first m places by the DCG of
the ideal ordering over the same m places. The *mean NDCG* averages NDCG@m over every m from 1 to
the list's length; results over several people are averaged person by person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


def _discounts(n: int) -> np.ndarray:
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return np.log2(np.maximum(ranks, 2.0))


def ndcg_curve(ranked_relevance: Sequence[float] | np.ndarray) -> np.ndarray:
    """NDCG@m for m = 1 … n of a list already in ranked order (best first).

    Raises ValueError for a list without any positive: its NDCG is undefined.
    """
    rel = np.asarray(ranked_relevance, dtype=np.float64)
    if rel.ndim != 1 or rel.size == 0:
        raise ValueError("a ranked list needs at least one entry")
    gains = np.power(2.0, rel) - 1.0
    disc = _discounts(rel.size)
    dcg = np.cumsum(gains / disc)
    ideal = np.cumsum(np.sort(gains)[::-1] / disc)
    if ideal[-1] <= 0:
        raise ValueError("a ranked list without any positive has no NDCG")
    return dcg / ideal


def ndcg_at(ranked_relevance: Sequence[float] | np.ndarray, m: int) -> float:
    """NDCG over the first m places (m larger than the list counts as the whole list)."""
    curve = ndcg_curve(ranked_relevance)
    return float(curve[min(m, curve.size) - 1])


def mean_ndcg(ranked_relevance: Sequence[float] | np.ndarray) -> float:
    """The mean of NDCG@m over every m from 1 to the list's length."""
    return float(ndcg_curve(ranked_relevance).mean())


def positives_in_top(ranked_relevance: Sequence[float] | np.ndarray, k: int) -> int:
    rel = np.asarray(ranked_relevance, dtype=np.float64)
    return int(np.count_nonzero(rel[:k] > 0))


def rank_labels(
    scores: np.ndarray, labels: np.ndarray, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Labels ordered by descending score.

    Ties are broken in a random order (seeded by ``rng``), so a net that scores every outfit the
    same ranks like chance rather than like the order the list happened to be built in.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.shape != labels.shape:
        raise ValueError(f"{scores.shape[0]} scores for {labels.shape[0]} labels")
    rng = rng if rng is not None else np.random.default_rng(0)
    shuffle = rng.permutation(scores.size)
    order = shuffle[np.argsort(-scores[shuffle], kind="stable")]
    return labels[order]


@dataclass(frozen=True)
class RankingMetrics:
    """The paper's three figures for one list, or their means over several people."""

    mean_ndcg: float
    ndcg_at_10: float
    positives_top_10: float
    lists: int = 1  # how many people's lists were averaged

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def list_metrics(
    scores: np.ndarray, labels: np.ndarray, rng: np.random.Generator | None = None, k: int = 10
) -> RankingMetrics:
    """The metrics of one person's list scored by a model (labels: 1 positive, 0 negative)."""
    ranked = rank_labels(scores, labels, rng)
    curve = ndcg_curve(ranked)
    return RankingMetrics(
        mean_ndcg=float(curve.mean()),
        ndcg_at_10=float(curve[min(k, curve.size) - 1]),
        positives_top_10=float(positives_in_top(ranked, k)),
    )


def average(metrics: Sequence[RankingMetrics]) -> RankingMetrics:
    """Person-by-person average, as the paper reports."""
    if not metrics:
        raise ValueError("no lists to average")
    return RankingMetrics(
        mean_ndcg=float(np.mean([m.mean_ndcg for m in metrics])),
        ndcg_at_10=float(np.mean([m.ndcg_at_10 for m in metrics])),
        positives_top_10=float(np.mean([m.positives_top_10 for m in metrics])),
        lists=sum(m.lists for m in metrics),
    )


def random_ranking(positives: int, negatives: int, k: int = 10) -> RankingMetrics:
    """The exact expectation of the metrics when the list is shuffled uniformly at random.

    Every place holds a positive with probability p = P / (P + N), and NDCG@m is linear in the
    gains of the list once its ideal DCG is fixed, so E[NDCG@m] = p · Σ_{i≤m} 1/d(i) / IDCG@m.
    """
    n = positives + negatives
    if positives <= 0 or n <= 0:
        raise ValueError("a list needs at least one positive")
    p = positives / n
    disc = _discounts(n)
    expected_dcg = p * np.cumsum(1.0 / disc)
    ideal = np.cumsum(np.where(np.arange(n) < positives, 1.0, 0.0) / disc)
    curve = expected_dcg / ideal
    return RankingMetrics(
        mean_ndcg=float(curve.mean()),
        ndcg_at_10=float(curve[min(k, n) - 1]),
        positives_top_10=float(p * min(k, n)),
    )
