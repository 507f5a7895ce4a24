"""Line icons from ``resources/icons``, drawn in a theme colour at every device pixel ratio."""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QByteArray, QRectF, QSize, Qt
from PySide6.QtGui import QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from stylist.gui import theme
from stylist.paths import resources_dir

ICONS = resources_dir() / "icons"


@cache
def _svg(name: str) -> str:
    return (ICONS / f"{name}.svg").read_text(encoding="utf-8")


def pixmap(name: str, size: int, colour: str | None = None, ratio: float = 1.0) -> QPixmap:
    """The icon ``name`` as a pixmap of ``size`` logical pixels, sharp at ``ratio``."""
    colour = colour or theme.active().text
    data = _svg(name).replace("currentColor", colour)
    renderer = QSvgRenderer(QByteArray(data.encode("utf-8")))
    side = max(1, round(size * ratio))
    image = QPixmap(side, side)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, side, side))
    painter.end()
    image.setDevicePixelRatio(ratio)
    return image


def icon(name: str, colour: str | None = None) -> QIcon:
    """A QIcon with 1x and 2x pixmaps for the common sizes, in ``colour`` (default: text)."""
    result = QIcon()
    for size in (16, 20, 24, 32):
        for ratio in (1.0, 2.0):
            result.addPixmap(pixmap(name, size, colour, ratio))
    disabled = theme.active().muted
    for size in (16, 20, 24):
        result.addPixmap(pixmap(name, size, disabled, 2.0), QIcon.Mode.Disabled)
    return result


def app_icon() -> QIcon:
    result = QIcon()
    for side in (16, 24, 32, 48, 64, 128, 256):
        renderer = QSvgRenderer(str(ICONS / "stylist.svg"))
        image = QPixmap(QSize(side, side))
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        result.addPixmap(image)
    return result
