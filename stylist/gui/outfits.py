"""Outfit widgets: item pictures, the pair-score bars, the suggestion card, small strips.

Suggestions arrive as ``RankedOutfit`` values from the service (top, bottom, shoes ids, or a
one-piece and shoes; a score, the pair scores, exploration flag, an explanation with the weakest
pair and the best swap). The helpers here read them defensively so that a favourite or a composed
outfit (plain ids, no scores yet) is shown by the same widgets. An outfit's "match" is its score
(the mean pair probability, or net B's probability), formatted by :func:`match_text` only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from stylist.domain import ONE_PIECE_PAIR, PAIR_NAMES, Outfit
from stylist.gui import theme
from stylist.gui.items import display_name
from stylist.gui.session import Session
from stylist.gui.thumbnails import Spec, ThumbnailCache
from stylist.gui.widgets import button, label, repolish
from stylist.rank.explain import Swap
from stylist.rank.query import RankedOutfit, match_percent

PAIR_KEYS = PAIR_NAMES
PAIR_LABELS = {
    "top_bottom": "Top + bottom",
    "top_shoes": "Top + shoes",
    "bottom_shoes": "Bottom + shoes",
    ONE_PIECE_PAIR: "One-piece + shoes",
}
SLOT_LABELS = {"top": "top", "bottom": "bottom", "shoes": "shoes", "one_piece": "one-piece"}


def match_text(match: float | None, suffix: str = " match") -> str:
    """How a match (0..1) reads everywhere in the window: '64.2% match', never "100 %" nor
    "0 %" (see ``match_percent``: the figure ``suggest --json`` gives as "match")."""
    if match is None:
        return ""
    return f"{match_percent(match):.1f}%{suffix}"


@dataclass(frozen=True)
class Shown:
    """What the card needs from any outfit value (suggested, favourite or composed)."""

    top: int | None
    bottom: int | None
    shoes: int
    score: float | None = None
    ranked_by: str = "C"
    pair_scores: dict | None = None
    exploration: bool = False
    weakest: str = ""
    swap: Swap | None = None
    one_piece: int | None = None

    def outfit(self) -> Outfit:
        return Outfit(self.top, self.bottom, self.shoes, self.one_piece)

    def ids(self) -> tuple[int, ...]:
        """Item ids in slot order: (top, bottom, shoes) or (one-piece, shoes)."""
        return self.outfit().ids()

    def slots(self) -> tuple[str, ...]:
        return self.outfit().slots()

    def match(self) -> float | None:
        """How well the outfit goes together, 0..1 (both families and nets share this scale)."""
        return self.score


def shown(value: RankedOutfit | Outfit) -> Shown:
    """What a card shows of a ranked outfit (a suggestion, or a rated one) or a plain one."""
    if isinstance(value, Outfit):
        return Shown(value.top, value.bottom, value.shoes, one_piece=value.one_piece)
    pair_scores = dict(value.pair_scores) or None
    explanation = value.explanation
    weakest = explanation.weakest_pair if explanation is not None else ""
    if not weakest and pair_scores:
        weakest = min(pair_scores, key=pair_scores.get)
    return Shown(
        top=value.top,
        bottom=value.bottom,
        shoes=value.shoes,
        one_piece=value.one_piece,
        score=value.score,
        ranked_by=value.ranked_by or "C",
        pair_scores=pair_scores,
        exploration=value.exploration,
        weakest=weakest,
        swap=explanation.best_swap if explanation is not None else None,
    )


class ItemPicture(QLabel):
    """One item's photo, filled in when its thumbnail is loaded."""

    def __init__(
        self, session: Session, thumbs: ThumbnailCache, item_id: int, side: int, parent=None
    ) -> None:
        super().__init__(parent)
        self.session, self.thumbs, self.item_id, self.side = session, thumbs, item_id, side
        self.setFixedSize(side, side)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        item = session.item(item_id)
        self.setToolTip(display_name(item) if item else f"Item {item_id}")
        thumbs.ready.connect(self._ready)
        self._load()

    def _spec(self) -> Spec:
        return Spec(self.side, self.devicePixelRatioF() or 1.0, radius=10)

    def _load(self) -> None:
        item = self.session.item(self.item_id)
        if item is None:
            self.setText("?")
            return
        pix = self.thumbs.get(item.id, self.session.picture_file(item), self._spec())
        if pix is not None:
            self.setPixmap(pix)
        else:
            self.setStyleSheet(f"background: {theme.active().placeholder}; border-radius: 10px;")

    def _ready(self, item_id: int) -> None:
        if item_id == self.item_id:
            pix = self.thumbs.peek(item_id, self._spec())
            if pix is not None:
                self.setStyleSheet("")
                self.setPixmap(pix)


WEAKER_BY = 0.10  # a pair is marked weakest only when it is this much below the others


def marked_weakest(pair_scores: dict[str, float], weakest: str) -> str:
    """The weakest pair, when it really is weaker than the others; else none is marked."""
    if weakest not in pair_scores or len(pair_scores) < 2:
        return ""
    others = [v for k, v in pair_scores.items() if k != weakest]
    return weakest if pair_scores[weakest] <= min(others) - WEAKER_BY else ""


class PairBars(QWidget):
    """The outfit's pair scores as small bars (three, or one for a one-piece outfit), the weakest
    pair marked."""

    def __init__(self, pair_scores: dict[str, float], weakest: str, parent=None) -> None:
        super().__init__(parent)
        self.pair_scores = pair_scores
        self.keys = [k for k in PAIR_KEYS if k in pair_scores]
        # One bar alone is never "the weakest"; of several, only one really weaker is marked.
        self.weakest = marked_weakest(pair_scores, weakest)
        self.setMinimumHeight(len(self.keys) * 20)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        tips = [f"{PAIR_LABELS[k]}: {match_text(pair_scores[k], '')}" for k in self.keys]
        self.setToolTip(
            "How well each pair goes together (the model's P(match)).\n" + "\n".join(tips)
        )

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(260, len(self.keys) * 20)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        t = theme.active()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        small = QFont(self.font())
        small.setPointSizeF(max(7.0, self.font().pointSizeF() * 0.9))
        painter.setFont(small)
        metrics = QFontMetrics(small)
        label_w = max(metrics.horizontalAdvance(PAIR_LABELS[k]) for k in PAIR_KEYS) + 10
        value_w = metrics.horizontalAdvance("100%") + 8
        bar_w = max(30, self.width() - label_w - value_w - 8)
        for row, key in enumerate(self.keys):
            value = float(self.pair_scores.get(key, 0.0))
            y = row * 20
            weakest = key == self.weakest
            painter.setPen(QColor(t.warn if weakest else t.muted))
            painter.drawText(
                QRectF(0, y, label_w, 18),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                PAIR_LABELS[key],
            )
            track = QPainterPath()
            track.addRoundedRect(QRectF(label_w, y + 6, bar_w, 6), 3, 3)
            painter.fillPath(track, QColor(t.track))
            fill = QPainterPath()
            fill.addRoundedRect(QRectF(label_w, y + 6, max(6.0, bar_w * value), 6), 3, 3)
            painter.fillPath(fill, QColor(t.warn if weakest else t.accent))
            painter.setPen(QColor(t.warn if weakest else t.text))
            painter.drawText(
                QRectF(label_w + bar_w + 6, y, value_w, 18),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                match_text(value, ""),
            )


class OutfitCard(QFrame):
    """One outfit: its photos (three, or two for a one-piece and shoes), the match, pair bars,
    and the buttons to judge it."""

    verdict = Signal(object, str)  # the card, "like" | "dislike" | "wore"
    favourite = Signal(object)
    moreWith = Signal(int)  # item id
    focused = Signal(object)
    tryOutfit = Signal(object)  # the Outfit the best swap would make

    def __init__(
        self,
        session: Session,
        thumbs: ThumbnailCache,
        value: RankedOutfit | Outfit,
        side: int = 118,
        parent=None,
    ):
        super().__init__(parent)
        self.value = value
        self.data = shown(value)
        self.setProperty("card", True)
        self.setProperty("current", False)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 14, 14, 12)
        layout.setSpacing(10)

        head = QHBoxLayout()
        self.score_label = label(match_text(self.data.match()), "h2")
        if self.data.score is not None:
            self.score_label.setToolTip(
                "Ranked by the whole-outfit network B among the best outfits of network C"
                if self.data.ranked_by == "B"
                else "The mean of the pair scores below"
            )
        head.addWidget(self.score_label)
        head.addStretch(1)
        if self.data.exploration:
            badge = label("Exploring", "explore")
            badge.setToolTip(
                "The model is unsure about this outfit: your verdict on it teaches it the most."
            )
            head.addWidget(badge)
        layout.addLayout(head)

        # The photos sit centred in a row as wide as three, so every card has the same width.
        row = QWidget()
        row.setFixedSize(3 * side + 2 * 8, side)
        pictures = QHBoxLayout(row)
        pictures.setContentsMargins(0, 0, 0, 0)
        pictures.setSpacing(8)
        self.pictures = [ItemPicture(session, thumbs, i, side) for i in self.data.ids()]
        pictures.addStretch(1)
        for picture in self.pictures:
            pictures.addWidget(picture)
        pictures.addStretch(1)
        layout.addWidget(row)

        if self.data.pair_scores:
            layout.addWidget(PairBars(self.data.pair_scores, self.data.weakest))
        swap = self.data.swap
        self.swap_row: QWidget | None = None
        gain = swap.score - self.data.score if swap and self.data.score is not None else 0
        if swap is not None and gain >= 0.01:  # a swap worth less than a point is noise
            item = session.item(swap.new)
            name = display_name(item) if item else f"item {swap.new}"
            slot = SLOT_LABELS.get(swap.slot, swap.slot)
            # The swap with its picture, one click from trying it.
            self.swap_row = QWidget()
            row_layout = QHBoxLayout(self.swap_row)
            row_layout.setContentsMargins(0, 0, 0, 0)
            row_layout.setSpacing(8)
            self.swap_picture = ItemPicture(session, thumbs, swap.new, 36)
            row_layout.addWidget(self.swap_picture)
            hint = label(f"Best swap: {slot} → {name} (+{gain:.0%})", "small", wrap=True)
            hint.setToolTip("The single change that would raise this outfit's score the most")
            row_layout.addWidget(hint, 1)
            self.try_button = button("Try it", "", "ghost", f"Show the outfit with {name}")
            swapped = dataclasses.replace(self.data.outfit(), **{swap.slot: swap.new})
            self.try_button.clicked.connect(lambda: self.tryOutfit.emit(swapped))
            row_layout.addWidget(self.try_button)
            layout.addWidget(self.swap_row)

        actions = QHBoxLayout()
        actions.setSpacing(6)
        self.like_button = button("", "thumb-up", "like", "I like it (L or ↑)")
        self.dislike_button = button("", "thumb-down", "dislike", "Not for me (D or ↓)")
        self.wore_button = button("Wore it", "wore", "", "I wore this outfit (W)")
        self.fav_button = button("", "heart", "", "Add to favourites (F)")
        self.more_button = button("More", "layers", "ghost", "More outfits with one of these items")
        menu = QMenu(self.more_button)
        for slot, item_id in zip(self.data.slots(), self.data.ids(), strict=True):
            item = session.item(item_id)
            name = display_name(item) if item else str(item_id)
            menu.addAction(
                f"More with {name} ({SLOT_LABELS[slot]})", lambda i=item_id: self.moreWith.emit(i)
            )
        self.more_button.setMenu(menu)
        self.like_button.clicked.connect(lambda: self.verdict.emit(self, "like"))
        self.dislike_button.clicked.connect(lambda: self.verdict.emit(self, "dislike"))
        self.wore_button.clicked.connect(lambda: self.verdict.emit(self, "wore"))
        self.fav_button.clicked.connect(lambda: self.favourite.emit(self))
        for widget in (self.like_button, self.dislike_button, self.wore_button, self.fav_button):
            actions.addWidget(widget)
        actions.addStretch(1)
        actions.addWidget(self.more_button)
        layout.addLayout(actions)

    def set_current(self, current: bool) -> None:
        if self.property("current") != current:
            self.setProperty("current", current)
            repolish(self)

    def set_favourite(self, on: bool) -> None:
        self.fav_button.setProperty("icon_name", "heart-filled" if on else "heart")
        from stylist.gui import icons

        self.fav_button.setIcon(
            icons.icon("heart-filled", theme.active().dislike) if on else icons.icon("heart")
        )
        self.fav_button.setToolTip("In your favourites" if on else "Add to favourites (F)")

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.focused.emit(self)
        super().mousePressEvent(event)


class MiniOutfit(QFrame):
    """A small strip: the outfit's pictures and the match, used in the item's detail pane."""

    clicked = Signal(object)

    def __init__(
        self,
        session: Session,
        thumbs: ThumbnailCache,
        value: RankedOutfit | Outfit,
        side: int = 56,
        parent=None,
    ):
        super().__init__(parent)
        self.data = shown(value)
        self.setProperty("card", True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 8, 10, 8)
        layout.setSpacing(6)
        for item_id in self.data.ids():
            layout.addWidget(ItemPicture(session, thumbs, item_id, side))
        layout.addStretch(1)
        match = self.data.match()
        if match is not None:
            layout.addWidget(label(match_text(match, ""), "h2"))

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.clicked.emit(self.data)
        super().mouseReleaseEvent(event)
