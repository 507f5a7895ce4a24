"""The PDF lookbook, drawn with Qt's own PDF writer: text stays text, photos stay sharp.

A cover page, then one outfit a page: each item's photo at print resolution (never under
:data:`MIN_DPI`; a small photo is printed smaller rather than blurred), its name, category and
colour names, and the outfit's match and pair matches. Text is vector text in embedded fonts
(Qt falls back to a font that has each glyph), so a PDF reader can search and copy it. Photos
come from the working copies, which hold no metadata, so none leaves in the lookbook.

Painting on a QPdfWriter is allowed off the GUI thread, so the export runs as background work.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from PySide6.QtCore import QBuffer, QIODevice, QMarginsF, QRectF, QSizeF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QImage,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
)

from stylist.domain import Outfit
from stylist.export import ExportOutfit
from stylist.files import atomic_write
from stylist.gui.items import CATEGORY_LABELS, item_colour_families
from stylist.rank.query import match_percent

RESOLUTION = 300  # the writer's dots per inch: layout units are 1/300 inch
MIN_DPI = 200  # a photo is never printed at fewer pixels per inch than this
MARGIN_MM = 18
PHOTO_MM = 64  # the largest side of an item's photo on the page
PAIR_LABELS = {
    "top_bottom": "Top + bottom",
    "top_shoes": "Top + shoes",
    "bottom_shoes": "Bottom + shoes",
    "one_piece_shoes": "One-piece + shoes",
}
INK = QColor("#1f1d1a")
MUTED = QColor("#6d675f")
RULE = QColor("#d9d4cc")


def _mm(value: float) -> float:
    return value / 25.4 * RESOLUTION


def _font(point_size: float, bold: bool = False) -> QFont:
    font = QFont()  # the application's font: a real font on every platform, subset-embedded
    font.setPointSizeF(point_size)
    font.setBold(bold)
    # No ligatures: "fi" drawn as one glyph copies and searches as "ﬁ" in many PDF readers.
    font.setFeature(QFont.Tag("liga"), 0)
    return font


def write_lookbook(
    outfits: list[ExportOutfit], photo_path: Callable[[str], Path], target: Path
) -> Path:
    """Write ``outfits`` as a PDF lookbook to ``target`` (atomically) and return it."""
    # Drawn in memory, then written atomically: a failed export leaves nothing half-written.
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    _draw(outfits, photo_path, buffer)
    buffer.close()
    return atomic_write(Path(target), bytes(buffer.data()))


def _draw(outfits: list[ExportOutfit], photo_path, device: QBuffer) -> None:
    writer = QPdfWriter(device)
    writer.setResolution(RESOLUTION)
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Portrait,
            QMarginsF(0, 0, 0, 0),
        )
    )
    writer.setTitle("Stylist lookbook")
    writer.setCreator("Stylist")
    painter = QPainter()
    if not painter.begin(writer):
        raise OSError("the PDF could not be started")
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        page = QRectF(0, 0, writer.width(), writer.height()).adjusted(
            _mm(MARGIN_MM), _mm(MARGIN_MM), -_mm(MARGIN_MM), -_mm(MARGIN_MM)
        )
        _cover(painter, page, outfits, photo_path)
        for n, outfit in enumerate(outfits, start=1):
            writer.newPage()
            _outfit_page(painter, page, outfit, n, photo_path)
    finally:
        painter.end()


def _text(painter: QPainter, rect: QRectF, text: str, font: QFont, colour=INK, flags=0) -> float:
    """Draw wrapped text at the top of ``rect``; returns the height it took."""
    painter.setFont(font)
    painter.setPen(colour)
    options = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop) | int(
        Qt.TextFlag.TextWordWrap
    )
    used = painter.boundingRect(rect, options | flags, text)
    painter.drawText(rect, options | flags, text)
    return used.height()


def _photo(painter: QPainter, box: QRectF, path: Path) -> QRectF:
    """The photo fitted into ``box``, top-left, at no fewer than MIN_DPI; returns its rect."""
    image = QImage(str(path))
    if image.isNull():
        painter.setPen(RULE)
        painter.drawRect(box)
        return box
    # The largest size the photo may take at MIN_DPI, in layout units (1/RESOLUTION inch).
    most = QSizeF(image.width(), image.height()) * (RESOLUTION / MIN_DPI)
    size = QSizeF(image.width(), image.height()).scaled(
        box.size().boundedTo(most), Qt.AspectRatioMode.KeepAspectRatio
    )
    rect = QRectF(box.topLeft(), size)
    painter.drawImage(rect, image)
    return rect


def _cover(painter: QPainter, page: QRectF, outfits: list[ExportOutfit], photo_path) -> None:
    y = page.top() + _mm(40)
    y += _text(painter, QRectF(page.left(), y, page.width(), _mm(30)), "Lookbook", _font(40, True))
    n = len(outfits)
    line = f"{n} outfit{'s' if n != 1 else ''} from your wardrobe · {date.today():%d %B %Y}"
    y += _mm(4)
    y += _text(painter, QRectF(page.left(), y, page.width(), _mm(12)), line, _font(13), MUTED)
    # A strip of the first outfits' pictures, one photo each.
    y += _mm(14)
    side, gap = _mm(38), _mm(5)
    per_row = max(1, int((page.width() + gap) // (side + gap)))
    for i, outfit in enumerate(outfits[: per_row * 2]):
        row, col = divmod(i, per_row)
        box = QRectF(page.left() + col * (side + gap), y + row * (side + gap), side, side)
        _photo(painter, box, photo_path(outfit.items[0].working_file))
    painter.setPen(MUTED)
    painter.setFont(_font(9))
    painter.drawText(
        QRectF(page.left(), page.bottom() - _mm(8), page.width(), _mm(8)),
        int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom),
        "Made with Stylist",
    )


def _slot_label(outfit: Outfit, index: int) -> str:
    return outfit.slots()[index].replace("_", "-").capitalize()


def _outfit_page(painter: QPainter, page: QRectF, o: ExportOutfit, n: int, photo_path) -> None:
    heading = f"Outfit {n}"
    if o.score is not None:
        heading += f" · {match_percent(o.score):.1f}% match"
    y = page.top()
    y += _text(painter, QRectF(page.left(), y, page.width(), _mm(16)), heading, _font(22, True))
    y += _mm(6)
    count = len(o.items)
    footer = _mm(14)
    row_height = min(_mm(PHOTO_MM), (page.bottom() - footer - y) / count - _mm(6))
    text_left = page.left() + row_height + _mm(8)
    text_width = page.right() - text_left
    name_font = _font(15, True)
    for i, item in enumerate(o.items):
        top = y + i * (row_height + _mm(6))
        _photo(
            painter, QRectF(page.left(), top, row_height, row_height), photo_path(item.working_file)
        )
        ty = top + _mm(2)
        label = _slot_label(o.outfit, i)
        ty += _text(painter, QRectF(text_left, ty, text_width, _mm(8)), label, _font(10), MUTED)
        ty += _text(painter, QRectF(text_left, ty, text_width, _mm(24)), item.name, name_font)
        details = []
        if CATEGORY_LABELS[item.category] != label:
            details.append(CATEGORY_LABELS[item.category])
        colours = item_colour_families(item, dominant=3)
        if colours:
            details.append(", ".join(colours))
        if item.tags:
            details.append("tags: " + ", ".join(item.tags))
        ty += _mm(1)
        _text(
            painter,
            QRectF(text_left, ty, text_width, _mm(20)),
            " · ".join(details),
            _font(11),
            MUTED,
        )
    if o.pair_scores:
        parts = [
            f"{PAIR_LABELS.get(k, k.replace('_', ' '))} {match_percent(v):.1f}%"
            for k, v in o.pair_scores.items()
        ]
        painter.setPen(RULE)
        painter.drawLine(
            QRectF(page.left(), page.bottom() - footer, page.width(), 0).topLeft(),
            QRectF(page.left(), page.bottom() - footer, page.width(), 0).topRight(),
        )
        _text(
            painter,
            QRectF(page.left(), page.bottom() - footer + _mm(3), page.width(), footer),
            "Pair matches: " + "   ·   ".join(parts),
            _font(10),
            MUTED,
        )
