"""Ranking: net C/B inference in numpy, exact top-k over every outfit, queries, explanations.

Outfits are a top, a bottom and shoes, or (with a net C that has the one-piece pair) a one-piece
and shoes, ranked together by their mean pair probability. Pure numpy; nothing here imports
torch. Typical use::

    net = MatchingNet.load(models_dir / "general-c.npz")
    # {item id: (D,) features} per slot
    ranker = Ranker.from_features(net, tops, bottoms, shoes, one_pieces=dresses)
    for outfit in ranker.suggest(Query(k=20, include=[jeans_id], max_per_item=3, explain=True)):
        ...
"""

from stylist.rank.explain import Explanation, Swap, explain_outfit
from stylist.rank.matching import FORMAT, MatchingNet, MatchingNetError, OutfitScorer
from stylist.rank.query import Query, RankedOutfit, Ranker
from stylist.rank.topk import (
    PAIR_KEYS,
    SLOTS,
    Cursor,
    PairMatrices,
    Ranking,
    TopKSearch,
    brute_force_top_k,
    top_k,
)

__all__ = [
    "FORMAT",
    "PAIR_KEYS",
    "SLOTS",
    "Cursor",
    "Explanation",
    "MatchingNet",
    "MatchingNetError",
    "OutfitScorer",
    "PairMatrices",
    "Query",
    "RankedOutfit",
    "Ranker",
    "Ranking",
    "Swap",
    "TopKSearch",
    "brute_force_top_k",
    "explain_outfit",
    "top_k",
]
