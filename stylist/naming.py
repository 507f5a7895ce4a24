"""Names people read: what an item is called when the person has not named it.

A phone names its photos with numbers or UUIDs, which say nothing about the garment. Stylist
names an item from what it knows about it instead: its main colour and its category ("Navy
top", "Black shoes"), and numbers repeats ("Black shoes 2") so every name points at one item.
The person's own name, once given, is never replaced.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from stylist.domain import Category

# The noun for each category; what an unsorted item is called until it is sorted or guessed.
_NOUNS = {
    Category.TOP: "top",
    Category.BOTTOM: "bottom",
    Category.SHOES: "shoes",
    Category.ONE_PIECE: "one-piece",
    Category.OTHER: "piece",
    Category.UNSORTED: "item",
}
MAX_NAME_LENGTH = 80


@lru_cache(maxsize=4096)
def _colour_word(hex_colour: str) -> str:
    from stylist.vision.colours import colour_name  # numpy only; loaded when colours are named

    try:
        return colour_name(hex_colour)
    except ValueError:
        return ""


def base_name(
    category: Category, colours: Iterable[str] = (), guess: Category | None = None
) -> str:
    """The name an item gets from its colour and category, e.g. "Navy top" or "Item"."""
    category = Category(category)
    if category == Category.UNSORTED and guess is not None:
        category = Category(guess)
    noun = _NOUNS[category]
    colour = next((w for w in (_colour_word(c) for c in colours) if w), "")
    words = f"{colour} {noun}" if colour else noun
    return words[:1].upper() + words[1:]


def numbered(base: str, taken: Iterable[str]) -> str:
    """``base``, or ``base`` with the first free number ("Black shoes 2") when it is taken."""
    used = {t.casefold() for t in taken}
    if base.casefold() not in used:
        return base
    n = 2
    while f"{base} {n}".casefold() in used:
        n += 1
    return f"{base} {n}"


def clean_name(name: str) -> str:
    """A name as typed, made fit to store: one line, no control characters, spaces collapsed,
    at most :data:`MAX_NAME_LENGTH` characters. An empty result means "name it for me"."""
    text = "".join(ch if ch.isprintable() else " " for ch in name)
    return re.sub(r"\s+", " ", text).strip()[:MAX_NAME_LENGTH].strip()
