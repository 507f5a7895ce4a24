"""Line icons from ``resources/icons``, drawn in a theme colour at every device pixel ratio."""

from __future__ import annotations

from functools import cache, lru_cache

from PySide6.QtCore import QByteArray, QRectF, QSize, Qt
from PySide6.QtGui import QGuiApplication, QIcon, QPainter, QPixmap
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
    """A QIcon for the common sizes at the screen's pixel ratio, in ``colour`` (default: text)."""
    t = theme.active()
    return _icon(name, colour or t.text, t.muted, _screen_ratio())


def _screen_ratio() -> float:
    app = QGuiApplication.instance()
    return max(1.0, app.devicePixelRatio()) if app is not None else 1.0


@lru_cache(maxsize=512)
def _icon(name: str, colour: str, disabled: str, ratio: float) -> QIcon:
    result = QIcon()
    for size in (16, 20, 24, 28):
        result.addPixmap(pixmap(name, size, colour, ratio))
        result.addPixmap(pixmap(name, size, disabled, ratio), QIcon.Mode.Disabled)
    return result


@lru_cache(maxsize=1)
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
