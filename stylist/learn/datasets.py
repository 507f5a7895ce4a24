"""Outfit datasets for training and evaluating the matching networks.

A dataset is a JSON list of outfits in the format of ``outfits-ccp/outfits.json``: each outfit
names a ``top``, a ``bottom`` and ``shoes`` photo by a path relative to the JSON file's folder.
Optional per outfit: ``outfit_id``, ``user_id`` (whose outfit it is; absent = one shared group),
``split`` (``train`` / ``val`` / ``test``), ``label`` (1, the default: worn or liked; 0: rejected)
and ``garments`` (every garment of the photo with its ``slot``; further garments in a slot give
extra positive combinations for training, e.g. the blouse under a coat).

Without a split each person's outfits are split 65/15/20 deterministically: by a hash of the
outfit id, separately for liked and rejected outfits, so adding an outfit moves no other one.
Where products (crop files) are shared between outfits, as in the stylists' outfits-mango,
splitting outfits by id would put the same top on both sides and a net would remember pairs
instead of learning what goes together; such a dataset is split by product instead
(``product_folds``): whole communities of the outfit–product graph go to one side, and an outfit
whose products land on two sides is left out of both.

Two outfit families are read: ``three`` (a top, a bottom and shoes: FashionNet's setting) and
``one_piece`` (a dress or jumpsuit with shoes, ``"one_piece"`` in the JSON). A one-piece outfit is
held as a triple whose top and bottom both name the one-piece, so that the whole training and
evaluation code runs on it unchanged; its net (a single one-piece–shoes pair network) reads slots
0 and 2 only.

Every crop may belong to a *collection* (the shoot it comes from: the leading year of an
outfits-mango file name, ``2019_…``); negatives are drawn from their positive's own collection so
that a background tint cannot tell them apart.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from stylist.domain import ONE_PIECE_SLOT_NAMES, THREE_PIECE_SLOTS
from stylist.errors import StylistError

SPLITS = ("train", "val", "test")
SLOTS = THREE_PIECE_SLOTS
SPLIT_FRACTIONS = (0.65, 0.15, 0.20)
FAMILIES = ("three", "one_piece")
_COLLECTION = re.compile(r"^((?:19|20)\d\d)_\d{6,}_")


class DatasetError(StylistError):
    """A dataset file that cannot be read; the message names the file and the reason."""


@dataclass(frozen=True)
class OutfitRecord:
    """One outfit of a dataset. Crop paths are relative to the dataset's folder."""

    outfit_id: str
    top: str
    bottom: str
    shoes: str
    user_id: str | None = None
    split: str | None = None
    label: int = 1
    # Further crops per slot from the same photo (a coat's blouse): extra training positives.
    alternates: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] = ((), (), ())
    family: str = "three"  # "one_piece": top and bottom both name the one-piece

    @property
    def products(self) -> set[str]:
        """Every crop file the outfit uses (main slots and alternates)."""
        return {*self.crops, *(a for alts in self.alternates for a in alts)}

    @property
    def crops(self) -> tuple[str, str, str]:
        return (self.top, self.bottom, self.shoes)

    def combinations(self) -> list[tuple[str, str, str]]:
        """The main triple first, then every triple with an alternate crop in some slot."""
        options = [(c, *alts) for c, alts in zip(self.crops, self.alternates, strict=True)]
        combos = [(t, b, s) for t in options[0] for b in options[1] for s in options[2]]
        return combos


@dataclass
class Dataset:
    """Outfits read from one JSON file; ``root`` is the folder crop paths are relative to."""

    path: Path
    root: Path
    outfits: list[OutfitRecord]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (outfit id, reason)

    @property
    def family(self) -> str:
        """``three`` or ``one_piece``: the outfit family this dataset holds."""
        return self.outfits[0].family if self.outfits else "three"

    def crop_path(self, relative: str) -> Path:
        return self.root / relative

    def crops(self) -> list[str]:
        """Every crop the dataset uses (main slots and alternates), sorted, without repeats."""
        seen: set[str] = set()
        for o in self.outfits:
            seen.update(o.crops)
            for alts in o.alternates:
                seen.update(alts)
        return sorted(seen)

    def collection(self, crop: str) -> str | None:
        """The collection (shoot) a crop comes from: its file name's leading year, if any."""
        match = _COLLECTION.match(Path(crop).name)
        return match.group(1) if match else None

    def users(self) -> list[str | None]:
        """The people of the dataset in a stable order (None: outfits without a user id)."""
        found = {o.user_id for o in self.outfits}
        named = sorted(u for u in found if u is not None)
        return ([None] if None in found else []) + named

    def select(
        self, *, split: str | None = None, user: str | None | object = ..., label: int | None = None
    ) -> list[OutfitRecord]:
        """Outfits filtered by split, user (``...`` = any user) and label."""
        out = self.outfits
        if split is not None:
            out = [o for o in out if o.split == split]
        if user is not ...:
            out = [o for o in out if o.user_id == user]
        if label is not None:
            out = [o for o in out if o.label == label]
        return out


def _stable_fraction(text: str) -> float:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(
    outfits: Sequence[OutfitRecord], fractions: tuple[float, float, float] = SPLIT_FRACTIONS
) -> list[OutfitRecord]:
    """Give every outfit without a split one: per person and label, 65/15/20 by hashed id.

    Outfits that already carry a split keep it. Counts are rounded so that a group of n outfits
    gets round(0.65 n) train and round(0.15 n) validation outfits and the rest for testing.
    """
    result = list(outfits)
    groups: dict[tuple[str | None, int], list[int]] = {}
    for i, o in enumerate(result):
        if o.split is None:
            groups.setdefault((o.user_id, o.label), []).append(i)
    for indices in groups.values():
        indices.sort(key=lambda i: (_stable_fraction(result[i].outfit_id), result[i].outfit_id))
        n = len(indices)
        n_train = round(fractions[0] * n)
        n_val = round(fractions[1] * n)
        for rank, i in enumerate(indices):
            split = "train" if rank < n_train else "val" if rank < n_train + n_val else "test"
            result[i] = replace(result[i], split=split)
    return result


def _alternates(
    entry: dict, main: tuple[str, str, str], family: str
) -> tuple[tuple[str, ...], ...]:
    garments = entry.get("garments") or []
    one, shoes = ONE_PIECE_SLOT_NAMES  # a one-piece outfit is held as (one, one, shoes)
    slots = (one, one, shoes) if family == "one_piece" else SLOTS
    alts: list[list[str]] = [[], [], []]
    for g in garments:
        if not isinstance(g, dict):
            continue
        slot, crop = g.get("slot"), g.get("crop")
        if slot in slots and isinstance(crop, str):
            k = slots.index(slot)
            if crop != main[k] and crop not in alts[k]:
                alts[k].append(crop)
    if family == "one_piece":
        alts[1] = []  # the bottom slot repeats the one-piece; its alternates are slot 0's
    return tuple(tuple(sorted(a)) for a in alts)


def _family_of(entry: dict) -> str | None:
    """``three``, ``one_piece`` or None (an outfit missing a slot of either family)."""
    if all(isinstance(entry.get(s), str) and entry.get(s) for s in SLOTS):
        return "three"
    one, shoes = entry.get("one_piece"), entry.get("shoes")
    if isinstance(one, str) and one and isinstance(shoes, str) and shoes:
        return "one_piece"
    return None


def parse_outfits(entries: Iterable[object], source: str) -> tuple[list[OutfitRecord], list]:
    """Outfit records of both families from decoded JSON; incomplete entries are skipped."""
    outfits: list[OutfitRecord] = []
    skipped: list[tuple[str, str]] = []
    seen_ids: set[str] = set()
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise DatasetError(f"{source}: entry {n} is not a JSON object")
        oid = str(entry.get("outfit_id", f"outfit-{n}"))
        if oid in seen_ids:
            raise DatasetError(f"{source}: outfit id {oid!r} appears twice")
        seen_ids.add(oid)
        family = _family_of(entry)
        if family is None:
            missing = [s for s in SLOTS if not isinstance(entry.get(s), str) or not entry.get(s)]
            skipped.append((oid, "no " + " and no ".join(missing)))
            continue
        split = entry.get("split")
        if split is not None and split not in SPLITS:
            raise DatasetError(f"{source}: outfit {oid!r} has split {split!r} (use train/val/test)")
        label = entry.get("label", 1)
        if label not in (0, 1, True, False):
            raise DatasetError(f"{source}: outfit {oid!r} has label {label!r} (use 1 or 0)")
        user = entry.get("user_id")
        if family == "three":
            main = (entry["top"], entry["bottom"], entry["shoes"])
        else:
            main = (entry["one_piece"], entry["one_piece"], entry["shoes"])
        outfits.append(
            OutfitRecord(
                outfit_id=oid,
                top=main[0],
                bottom=main[1],
                shoes=main[2],
                user_id=None if user is None else str(user),
                split=split,
                label=int(label),
                alternates=_alternates(entry, main, family),  # type: ignore[arg-type]
                family=family,
            )
        )
    return outfits, skipped


def shares_products(outfits: Sequence[OutfitRecord]) -> bool:
    """Whether some crop file is used by two outfits (a product photo, not a street photo)."""
    seen: set[str] = set()
    for o in outfits:
        products = o.products
        if seen & products:
            return True
        seen |= products
    return False


def product_groups(outfits: Sequence[OutfitRecord], fractions: Sequence[float], seed: int = 0):
    """Split outfits so that no product (crop file) is on two sides: a group index per outfit,
    or None for an outfit whose products fall on two sides (left out of every group).

    Outfits sharing a product are linked; the graph's communities (Louvain, seeded) are dealt,
    largest first, to the group furthest below its share of ``fractions``; each product goes to
    the group holding most of its outfits, and an outfit belongs to a group when all its products
    do. A product in many outfits links them all, so a plain connected-component split would
    leave one giant group; communities cut the few links between dense parts instead.
    """
    import networkx as nx

    by_product: dict[str, list[int]] = {}
    for i, o in enumerate(outfits):
        for p in sorted(o.products):
            by_product.setdefault(p, []).append(i)
    graph = nx.Graph()
    graph.add_nodes_from(range(len(outfits)))
    for users in by_product.values():
        graph.add_edges_from((a, b) for k, a in enumerate(users) for b in users[k + 1 :])
    communities = nx.community.louvain_communities(graph, seed=seed)
    communities = sorted(communities, key=lambda c: (-len(c), min(c)))
    targets = np.asarray(fractions, dtype=np.float64) / sum(fractions) * len(outfits)
    filled = np.zeros(len(fractions))
    group_of_outfit = np.empty(len(outfits), dtype=np.int64)
    for community in communities:
        g = int(np.argmax(targets - filled))
        filled[g] += len(community)
        group_of_outfit[sorted(community)] = g
    group_of_product = {
        p: int(np.bincount(group_of_outfit[users], minlength=len(fractions)).argmax())
        for p, users in by_product.items()
    }
    result: list[int | None] = []
    for o in outfits:
        groups = {group_of_product[p] for p in o.products}
        result.append(groups.pop() if len(groups) == 1 else None)
    return result


def product_splits(
    outfits: Sequence[OutfitRecord], *, folds: int | None = None, fold: int = 0, seed: int = 0
) -> tuple[list[OutfitRecord], list[tuple[str, str]]]:
    """Product-disjoint train/val/test splits (see ``product_groups``).

    Without ``folds``: 65/15/20. With ``folds`` = k: group ``fold`` of k equal groups is the test
    split, group ``fold + 1`` the validation split, the rest train (k-fold cross-validation).
    Returns the outfits with their split and the (id, reason) of those left out.
    """
    if folds is None:
        groups = product_groups(outfits, SPLIT_FRACTIONS, seed)
        names = dict(enumerate(SPLITS))
    else:
        groups = product_groups(outfits, [1.0] * folds, seed)
        names = {g: "train" for g in range(folds)}
        names[fold % folds], names[(fold + 1) % folds] = "test", "val"
    kept, left_out = [], []
    for o, g in zip(outfits, groups, strict=True):
        if g is None:
            left_out.append((o.outfit_id, "its products fall on two sides of the split"))
        else:
            kept.append(replace(o, split=names[g]))
    return kept, left_out


def load_dataset(
    path: str | Path,
    *,
    family: str = "three",
    folds: int | None = None,
    fold: int = 0,
    split_seed: int = 0,
    check_files: bool = True,
) -> Dataset:
    """Read a dataset JSON file, give every outfit a split and keep one ``family`` of outfits.

    Outfits that share products are split by product (``product_splits``, over both families
    at once, so that a pair of shoes worn with a dress and with jeans stays on one side); the
    others by hashed id. ``folds``/``fold`` ask for one fold of a k-fold cross-validation
    instead of the 65/15/20 split (product-sharing datasets; see ``product_splits``).

    Raises DatasetError naming the file when it cannot be read, is not a list of outfits, holds
    no complete outfit, or (with ``check_files``) names crops that do not exist.
    """
    if family not in FAMILIES:
        raise DatasetError(f"unknown outfit family {family!r} (use {' or '.join(FAMILIES)})")
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such dataset file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the dataset ({exc})") from None
    if not isinstance(data, list):
        raise DatasetError(f"{path}: a dataset is a JSON list of outfits")
    outfits, skipped = parse_outfits(data, str(path))
    if folds is not None or (shares_products(outfits) and all(o.split is None for o in outfits)):
        outfits, left_out = product_splits(outfits, folds=folds, fold=fold, seed=split_seed)
        skipped += left_out
    skipped += [(o.outfit_id, f"a {o.family} outfit") for o in outfits if o.family != family]
    outfits = [o for o in outfits if o.family == family]
    outfits = assign_splits(outfits)  # where no split was given or made by product
    if not outfits:
        what = "a top, a bottom and shoes" if family == "three" else "a one-piece and shoes"
        raise DatasetError(f"{path}: no outfit with {what}")
    dataset = Dataset(path=path, root=path.parent, outfits=outfits, skipped=skipped)
    if check_files:
        missing = [c for c in dataset.crops() if not dataset.crop_path(c).is_file()]
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise DatasetError(f"{path}: missing photos {', '.join(missing[:3])}{more}")
    return dataset
