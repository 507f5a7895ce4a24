"""From a dataset and its crop features to what training and evaluation consume.

Crops become rows of one item table; outfits become (top, bottom, shoes) row triples. Per person
(user id) and split this builds the positives, the negatives (the split's rejected outfits when it
has any, else six drawn per positive, random or leak-matched) and the ranked lists the paper's
metrics are computed on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from stylist.learn.datasets import Dataset, OutfitRecord
from stylist.learn.features import CropFeatures, matching_key
from stylist.learn.sampling import NEGATIVES_PER_POSITIVE, NegativeSampler, negatives_from_outfits

NEGATIVE_MODES = ("matched", "random", "collection")
# A ranked list holds at most this many liked outfits (the paper's lists hold 62): one list of
# thousands of outfits would make the mean over every cut-off a different metric.
LIST_POSITIVES = 100


@dataclass
class RankTask:
    """What to train on: positives, a fresh set of negatives per epoch, validation lists."""

    positives: np.ndarray  # (P, 3) item indices
    negatives: Callable[[np.random.Generator], np.ndarray]  # rng -> (P, K, 3)
    val_lists: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (M,3), (M,)
    # K -> (K,): how much each column of the negatives counts in the loss (None: 1 each)
    negative_weights: Callable[[int], np.ndarray] | None = None


@dataclass
class ItemTable:
    """Every crop of a dataset as one row."""

    crops: CropFeatures
    index: dict[str, int]
    origin: np.ndarray  # (N,) the photo a crop comes from (see ``item_table``)
    collection: np.ndarray | None = None  # (N,) the shoot a crop comes from (None: one shoot)

    @property
    def features(self) -> np.ndarray:
        return self.crops.features  # (V, N, D)

    def triple(self, crops: tuple[str, str, str]) -> tuple[int, int, int]:
        t, b, s = (self.index[c] for c in crops)
        return (t, b, s)


def item_table(dataset: Dataset, crops: CropFeatures) -> ItemTable:
    """Rows for the dataset's crops. A crop used by exactly one outfit is taken to come from that
    outfit's photo (street photos, cut into garments); one used by several outfits is a photo of
    its own (a wardrobe item worn in many outfits)."""
    index = crops.index()
    users: dict[str, list[int]] = {}
    for n, o in enumerate(dataset.outfits):
        for c in {*o.crops, *(a for alts in o.alternates for a in alts)}:
            users.setdefault(c, []).append(n)
    n_out = len(dataset.outfits)
    origin = np.empty(len(crops.keys), dtype=np.int64)
    for k, key in enumerate(crops.keys):
        owners = users.get(key, [])
        origin[k] = owners[0] if len(owners) == 1 else n_out + k
    names = [dataset.collection(key) for key in crops.keys]
    codes = {name: i for i, name in enumerate(sorted({n for n in names if n is not None}))}
    collection = (
        np.asarray([codes.get(n, -1) for n in names], dtype=np.int64) if len(codes) > 1 else None
    )
    return ItemTable(crops=crops, index=index, origin=origin, collection=collection)


def default_negatives(table: ItemTable) -> str:
    """Same-collection negatives where the crops come from several shoots, else leak-matched."""
    return "collection" if table.collection is not None else "matched"


@dataclass
class GroupSplit:
    """One person's outfits of one split, as item rows."""

    user: str | None
    split: str
    positives: np.ndarray  # (P, 3) main triples of liked outfits
    extra_positives: np.ndarray  # (E, 3) further combinations from the same photos
    rejected: np.ndarray  # (R, 3) outfits labelled 0
    pools: list[np.ndarray]  # per slot, the items negatives may be drawn from


def _triples(table: ItemTable, outfits: list[OutfitRecord]) -> np.ndarray:
    rows = [table.triple(o.crops) for o in outfits]
    return np.asarray(rows, dtype=np.int64).reshape(-1, 3)


def group_split(dataset: Dataset, table: ItemTable, user: str | None, split: str) -> GroupSplit:
    liked = dataset.select(split=split, user=user, label=1)
    rejected = dataset.select(split=split, user=user, label=0)
    extra = [table.triple(c) for o in liked for c in o.combinations()[1:]]
    pools = []
    for slot in range(3):
        items = {table.index[o.crops[slot]] for o in liked}
        pools.append(np.asarray(sorted(items), dtype=np.int64))
    return GroupSplit(
        user=user,
        split=split,
        positives=_triples(table, liked),
        extra_positives=np.asarray(extra, dtype=np.int64).reshape(-1, 3),
        rejected=_triples(table, rejected),
        pools=pools,
    )


def known_positives(dataset: Dataset, table: ItemTable) -> set[tuple[int, int, int]]:
    """Every liked combination of the dataset (any person, any split): never a negative."""
    return {table.triple(c) for o in dataset.outfits if o.label == 1 for c in o.combinations()}


def _sampler(
    g: GroupSplit, table: ItemTable, known: set, positives: np.ndarray, mode: str, per: int
) -> NegativeSampler | None:
    if positives.shape[0] == 0 or any(p.size == 0 for p in g.pools):
        return None
    if mode not in NEGATIVE_MODES:
        raise ValueError(f"unknown negatives {mode!r} (use {' or '.join(NEGATIVE_MODES)})")
    if mode == "collection" and table.collection is None:
        mode = "random"  # one shoot: every negative is from the positive's own collection
    return NegativeSampler(
        positives,
        g.pools,
        origin=table.origin,
        known=known,
        stats=matching_key(table.crops.size),
        groups=table.collection if mode == "collection" else None,
        mode="random" if mode == "collection" else mode,
        per_positive=per,
    )


def training_task(
    dataset: Dataset,
    table: ItemTable,
    users: list[str | None],
    *,
    mode: str = "matched",
    per_positive: int = NEGATIVES_PER_POSITIVE,
    alternates: bool = True,
    val_lists: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> RankTask:
    """The train split of ``users`` pooled: positives and a negative draw per epoch.

    A person whose train split holds rejected outfits gets those as negatives; the others get
    ``per_positive`` drawn ones (``mode``: leak-matched or random). With ``alternates`` the
    further combinations of a photo (blouse under the coat) are positives too.
    """
    known = known_positives(dataset, table)
    parts: list[tuple[np.ndarray, object]] = []
    for user in users:
        g = group_split(dataset, table, user, "train")
        pos = g.positives
        if alternates and g.extra_positives.shape[0]:
            pos = np.concatenate([pos, g.extra_positives])
        if pos.shape[0] == 0:
            continue
        if g.rejected.shape[0]:
            parts.append((pos, ("rejected", g.rejected)))
        else:
            parts.append((pos, ("sampler", _sampler(g, table, known, pos, mode, per_positive))))
    if not parts:
        raise ValueError("no liked outfits in the train split")
    positives = np.concatenate([p for p, _ in parts])

    def negatives(rng: np.random.Generator) -> np.ndarray:
        out = []
        for pos, (kind, source) in parts:
            if kind == "rejected":
                out.append(negatives_from_outfits(pos.shape[0], source, per_positive, rng))
            else:
                out.append(source.sample(rng))
        return np.concatenate(out)  # (P, K, 3)

    return RankTask(positives=positives, negatives=negatives, val_lists=val_lists or [])


def _user_key(user: str | None) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha256(repr(user).encode()).digest()[:4], "big")


def ranked_lists(
    dataset: Dataset,
    table: ItemTable,
    users: list[str | None],
    split: str,
    *,
    mode: str = "matched",
    per_positive: int = NEGATIVES_PER_POSITIVE,
    seed: int = 0,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per person, the split's liked outfits and its negatives: (triples (M, 3), labels (M,)).

    Negatives are the split's rejected outfits when it has any, else ``per_positive`` drawn per
    liked outfit with a generator seeded by ``seed`` (the same lists for every model compared).
    People without a liked outfit in the split are left out. A group with drawn negatives and
    more than ``LIST_POSITIVES`` liked outfits gives several lists (liked outfits dealt round
    robin, each with its own negatives), so that every list is the size of the paper's.
    """
    known = known_positives(dataset, table)
    lists = []
    for user in users:
        g = group_split(dataset, table, user, split)
        if g.positives.shape[0] == 0:
            continue
        if g.rejected.shape[0]:
            neg = g.rejected
        else:
            sampler = _sampler(g, table, known, g.positives, mode, per_positive)
            if sampler is None:
                continue
            rng = np.random.default_rng([seed, _user_key(user), 7])  # same list, however asked
            drawn = sampler.sample(rng)  # (P, K, 3)
            chunks = -(-g.positives.shape[0] // LIST_POSITIVES)
            for k in range(chunks):
                pos = g.positives[k::chunks]
                neg = drawn[k::chunks].reshape(-1, 3)
                labels = np.r_[np.ones(len(pos)), np.zeros(len(neg))].astype(np.int64)
                lists.append((np.concatenate([pos, neg]), labels))
            continue
        triples = np.concatenate([g.positives, neg])
        labels = np.concatenate([np.ones(len(g.positives)), np.zeros(len(neg))]).astype(np.int64)
        lists.append((triples, labels))
    return lists
