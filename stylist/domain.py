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


@dataclass(frozen=True)
class Outfit:
    top: int
    bottom: int
    shoes: int

    def ids(self) -> tuple[int, int, int]:
        return (self.top, self.bottom, self.shoes)
