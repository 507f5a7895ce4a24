"""Outfit datasets for training and evaluating the matching networks.

A dataset is a JSON list of outfits in the format of ``outfits-ccp/outfits.json``: each outfit
names a ``top``, a ``bottom`` and ``shoes`` photo by a path relative to the JSON file's folder.
Optional per outfit: ``outfit_id``, ``user_id`` (whose outfit it is; absent = one shared group),
``split`` (``train`` / ``val`` / ``test``), ``label`` (1, the default: worn or liked; 0: rejected)
and ``garments`` (every garment of the photo with its ``slot``; further garments in a slot give
extra positive combinations for training, e.g. the blouse under a coat).

Without a split each person's outfits are split 65/15/20 deterministically: by a hash of the
outfit id, separately for liked and rejected outfits, so adding an outfit moves no other one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from stylist.errors import StylistError

SPLITS = ("train", "val", "test")
SLOTS = ("top", "bottom", "shoes")
SPLIT_FRACTIONS = (0.65, 0.15, 0.20)


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


def _alternates(entry: dict, main: tuple[str, str, str]) -> tuple[tuple[str, ...], ...]:
    garments = entry.get("garments") or []
    alts: list[list[str]] = [[], [], []]
    for g in garments:
        if not isinstance(g, dict):
            continue
        slot, crop = g.get("slot"), g.get("crop")
        if slot in SLOTS and isinstance(crop, str):
            k = SLOTS.index(slot)
            if crop != main[k] and crop not in alts[k]:
                alts[k].append(crop)
    return tuple(tuple(sorted(a)) for a in alts)


def parse_outfits(entries: Iterable[object], source: str) -> tuple[list[OutfitRecord], list]:
    """Outfit records from decoded JSON; entries without all three slots are skipped."""
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
        missing = [s for s in SLOTS if not isinstance(entry.get(s), str) or not entry.get(s)]
        if missing:
            skipped.append((oid, "no " + " and no ".join(missing)))
            continue
        split = entry.get("split")
        if split is not None and split not in SPLITS:
            raise DatasetError(f"{source}: outfit {oid!r} has split {split!r} (use train/val/test)")
        label = entry.get("label", 1)
        if label not in (0, 1, True, False):
            raise DatasetError(f"{source}: outfit {oid!r} has label {label!r} (use 1 or 0)")
        user = entry.get("user_id")
        main = (entry["top"], entry["bottom"], entry["shoes"])
        outfits.append(
            OutfitRecord(
                outfit_id=oid,
                top=main[0],
                bottom=main[1],
                shoes=main[2],
                user_id=None if user is None else str(user),
                split=split,
                label=int(label),
                alternates=_alternates(entry, main),  # type: ignore[arg-type]
            )
        )
    return outfits, skipped


def load_dataset(path: str | Path, *, check_files: bool = True) -> Dataset:
    """Read a dataset JSON file and give every outfit a split.

    Raises DatasetError naming the file when it cannot be read, is not a list of outfits, holds
    no complete outfit, or (with ``check_files``) names crops that do not exist.
    """
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
    if not outfits:
        raise DatasetError(f"{path}: no outfit with a top, a bottom and shoes")
    dataset = Dataset(path=path, root=path.parent, outfits=assign_splits(outfits), skipped=skipped)
    if check_files:
        missing = [c for c in dataset.crops() if not dataset.crop_path(c).is_file()]
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise DatasetError(f"{path}: missing photos {', '.join(missing[:3])}{more}")
    return dataset
