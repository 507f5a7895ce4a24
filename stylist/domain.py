"""Plain data shared by every part of Stylist: categories, items, outfits, verdicts."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Category(str, enum.Enum):
    TOP = "top"  # jackets and coats included, as in FashionNet's three slots
    BOTTOM = "bottom"
    SHOES = "shoes"
    ONE_PIECE = "one-piece"
    OTHER = "other"  # hats, bags, accessories
    UNSORTED = "unsorted"

    @classmethod
    def parse(cls, text: str) -> Category:
        """A category from what a person typed: 'tops', 'Shoes', 'one_piece' …"""
        key = text.strip().lower().replace("_", "-")
        aliases = {"tops": "top", "bottoms": "bottom", "shoe": "shoes", "onepiece": "one-piece"}
        key = aliases.get(key, key)
        try:
            return cls(key)
        except ValueError:
            names = ", ".join(c.value for c in cls)
            raise ValueError(f"unknown category {text!r} (choose one of: {names})") from None


# The three slots of a FashionNet outfit, in order.
OUTFIT_SLOTS = (Category.TOP, Category.BOTTOM, Category.SHOES)
# A one-piece outfit: a dress or jumpsuit and a pair of shoes, in that order.
ONE_PIECE_SLOTS = (Category.ONE_PIECE, Category.SHOES)
# The slots of each family by the name outfits use for them (JSON keys, ``Outfit`` fields).
THREE_PIECE_SLOTS = ("top", "bottom", "shoes")
ONE_PIECE_SLOT_NAMES = ("one_piece", "shoes")
# Every slot an outfit of either family can fill: the index of a slot here is its index
# everywhere in ranking.
SLOT_NAMES = (*THREE_PIECE_SLOTS, "one_piece")
SLOT_CATEGORIES = {
    "top": Category.TOP,
    "bottom": Category.BOTTOM,
    "shoes": Category.SHOES,
    "one_piece": Category.ONE_PIECE,
}
# Net C's pair networks: the three of a three-piece outfit, and the one of a one-piece outfit.
THREE_PIECE_PAIRS = ("top_bottom", "top_shoes", "bottom_shoes")
ONE_PIECE_PAIR = "one_piece_shoes"
PAIR_NAMES = (*THREE_PIECE_PAIRS, ONE_PIECE_PAIR)
# The slots feeding each pair network, in input order (indices into ``SLOT_NAMES``).
PAIR_SLOTS = {
    "top_bottom": (0, 1),
    "top_shoes": (0, 2),
    "bottom_shoes": (1, 2),
    ONE_PIECE_PAIR: (3, 2),
}


class CategorySource(str, enum.Enum):
    USER = "user"  # the person said so; never overwritten by a guess
    AUTO = "auto"  # guessed (folder name or the category head)


class Verdict(str, enum.Enum):
    LIKE = "like"
    DISLIKE = "dislike"


HOLDOUT_SHARE = 0.2  # of verdicts kept for validation: no personal version ever trains on them


def is_holdout(outfit_ids: tuple[int | None, ...]) -> bool:
    """The permanent validation flag of a verdict on this outfit: a hash of the outfit, so the
    same outfit is on the same side at every retraining (and after an undo and a new verdict)."""
    import hashlib

    key = ",".join("-" if i is None else str(int(i)) for i in outfit_ids)
    digest = hashlib.sha256(f"stylist-verdict:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < HOLDOUT_SHARE


@dataclass
class Item:
    id: int
    sha256: str
    original_name: str
    stored_file: str  # relative to the home's data folder
    working_file: str
    thumbnail_file: str
    category: Category
    category_source: CategorySource | None
    category_confidence: float | None
    width: int
    height: int
    added_at: str  # ISO 8601, UTC
    colours: list[str] = field(default_factory=list)  # "#rrggbb", most dominant first
    tags: list[str] = field(default_factory=list)
    notes: str = ""
    guess: Category | None = None  # the category head's guess, kept for the person to confirm
    guess_confidence: float | None = None
    name: str = ""  # what people read ("Navy top"); the file name stays in original_name
    named_by_person: bool = False  # a name the person gave is never replaced by Stylist's
    # The garment cut out of its background (see library.cutouts): None until computed, then
    # "auto", "edited" (by the person) or "rejected" (failed its checks); the models see the
    # cut-out when it is "auto" or "edited" and not turned off. The version grows with each mask.
    cutout: str | None = None
    cutout_version: int = 0
    cutout_off: bool = False

    @property
    def uses_cutout(self) -> bool:
        return self.cutout in ("auto", "edited") and not self.cutout_off and self.cutout_version > 0

    @property
    def mask_key(self) -> int:
        """What the models see: 0 for the working copy, else the cut-out's version."""
        return self.cutout_version if self.uses_cutout else 0


@dataclass(frozen=True)
class Outfit:
    """One outfit of either family: a top, a bottom and shoes; or a one-piece and shoes.

    Treat it as an opaque, hashable value: :meth:`ids` gives the item ids it holds in slot order.
    """

    top: int | None
    bottom: int | None
    shoes: int
    one_piece: int | None = None

    def __post_init__(self) -> None:
        three = self.top is not None and self.bottom is not None and self.one_piece is None
        one = self.one_piece is not None and self.top is None and self.bottom is None
        if not (three or one) or self.shoes is None:
            raise ValueError(
                "an outfit is a top, a bottom and shoes, or a one-piece and shoes "
                f"(got top={self.top}, bottom={self.bottom}, shoes={self.shoes}, "
                f"one_piece={self.one_piece})"
            )

    @classmethod
    def of(cls, ids: tuple[int, ...] | list[int]) -> Outfit:
        """From item ids in slot order: (top, bottom, shoes) or (one_piece, shoes)."""
        ids = tuple(int(i) for i in ids)
        if len(ids) == 3:
            return cls(*ids)
        if len(ids) == 2:
            return cls(None, None, ids[1], ids[0])
        raise ValueError(
            f"an outfit is three item ids (top, bottom, shoes) or two (one-piece, shoes), "
            f"not {len(ids)}"
        )

    @property
    def is_one_piece(self) -> bool:
        return self.one_piece is not None

    def slots(self) -> tuple[str, ...]:
        """The slot names of :meth:`ids`, in the same order."""
        return ONE_PIECE_SLOT_NAMES if self.is_one_piece else THREE_PIECE_SLOTS

    def ids(self) -> tuple[int, ...]:
        """The item ids in slot order: (top, bottom, shoes) or (one_piece, shoes)."""
        if self.one_piece is not None:
            return (self.one_piece, self.shoes)
        return (self.top, self.bottom, self.shoes)  # type: ignore[return-value]

    def to_dict(self) -> dict[str, int | None]:
        return {
            "top": self.top,
            "bottom": self.bottom,
            "shoes": self.shoes,
            "one_piece": self.one_piece,
        }
