"""Light and dark looks that follow the system: a palette, the style sheet and named colours.

The style sheet lives in ``resources/style/stylist.qss`` with ``$name`` placeholders filled from
the active :class:`Theme`; widgets that paint themselves (delegates, charts, cards) read colours
from :func:`active` so that they switch with the rest of the window.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from string import Template

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from stylist.paths import resources_dir

FONT_FAMILIES = ["Inter", "Cantarell", "Segoe UI", "SF Pro Text", "Noto Sans", "DejaVu Sans"]


@dataclass(frozen=True)
class Theme:
    name: str
    window: str
    sidebar: str
    card: str
    hover: str
    pressed: str
    border: str
    text: str
    muted: str
    accent: str
    accent_strong: str
    accent_soft: str
    accent_border: str
    accent_text: str
    like: str
    like_soft: str
    dislike: str
    dislike_soft: str
    warn: str
    warn_soft: str
    track: str
    scroll: str
    toast: str
    toast_text: str
    toast_accent: str
    placeholder: str
    font_pt: str = "10pt"
    small_pt: str = "9pt"
    h2_pt: str = "12pt"
    title_pt: str = "17pt"
    hero_pt: str = "24pt"

    @property
    def dark(self) -> bool:
        return self.name == "dark"

    def color(self, name: str) -> QColor:
        return QColor(getattr(self, name))


LIGHT = Theme(
    name="light",
    window="#f7f6f3",
    sidebar="#efede8",
    card="#ffffff",
    hover="#ecebe6",
    pressed="#e2e0da",
    border="#e0ddd6",
    text="#1f1e1c",
    muted="#75716a",
    accent="#5a57d9",
    accent_strong="#4340b8",
    accent_soft="#e9e8fb",
    accent_border="#c9c7f3",
    accent_text="#ffffff",
    like="#2e9b68",
    like_soft="#e2f4ea",
    dislike="#d2504a",
    dislike_soft="#fbe6e4",
    warn="#b7741c",
    warn_soft="#fbefdc",
    track="#e8e6e0",
    scroll="#cfccc4",
    toast="#2a2927",
    toast_text="#f4f3ef",
    toast_accent="#a9a7ff",
    placeholder="#ecebe6",
)

DARK = Theme(
    name="dark",
    window="#1b1b1d",
    sidebar="#222225",
    card="#29292d",
    hover="#333338",
    pressed="#3c3c42",
    border="#38383e",
    text="#eeeef0",
    muted="#a3a2aa",
    accent="#8683f2",
    accent_strong="#a9a7ff",
    accent_soft="#34335a",
    accent_border="#4a4880",
    accent_text="#ffffff",
    like="#4cc38a",
    like_soft="#1f3a2d",
    dislike="#f07068",
    dislike_soft="#44262a",
    warn="#e0a54f",
    warn_soft="#42331d",
    track="#38383e",
    scroll="#4a4a52",
    toast="#f0eff2",
    toast_text="#1b1b1d",
    toast_accent="#4340b8",
    placeholder="#303035",
)

_active: Theme = LIGHT


def active() -> Theme:
    """The theme the window shows now."""
    return _active


def system_prefers_dark() -> bool:
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    if scheme is not None:
        value = scheme()
        if value == Qt.ColorScheme.Dark:
            return True
        if value == Qt.ColorScheme.Light:
            return False
    # Unknown scheme (older platforms, offscreen): judge by the platform's window colour, as
    # it was before Stylist set a palette of its own (a chosen dark look must not read as the
    # system's once the person goes back to "same as the system").
    global _platform_dark
    if _platform_dark is None:
        _platform_dark = (
            QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128
        )
    return _platform_dark


_platform_dark: bool | None = None


def palette_for(theme: Theme) -> QPalette:
    p = QPalette()
    c = theme.color
    roles = {
        QPalette.ColorRole.Window: c("window"),
        QPalette.ColorRole.WindowText: c("text"),
        QPalette.ColorRole.Base: c("card"),
        QPalette.ColorRole.AlternateBase: c("window"),
        QPalette.ColorRole.ToolTipBase: c("card"),
        QPalette.ColorRole.ToolTipText: c("text"),
        QPalette.ColorRole.Text: c("text"),
        QPalette.ColorRole.Button: c("card"),
        QPalette.ColorRole.ButtonText: c("text"),
        QPalette.ColorRole.BrightText: c("dislike"),
        QPalette.ColorRole.Highlight: c("accent"),
        QPalette.ColorRole.HighlightedText: c("accent_text"),
        QPalette.ColorRole.Link: c("accent"),
        QPalette.ColorRole.PlaceholderText: c("muted"),
        QPalette.ColorRole.Mid: c("border"),
        QPalette.ColorRole.Midlight: c("hover"),
        QPalette.ColorRole.Dark: c("pressed"),
    }
    for role, colour in roles.items():
        p.setColor(role, colour)
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        p.setColor(QPalette.ColorGroup.Disabled, role, c("muted"))
    return p


def style_sheet(theme: Theme) -> str:
    template = (resources_dir() / "style" / "stylist.qss").read_text(encoding="utf-8")
    return Template(template).safe_substitute(asdict(theme))


class ThemeWatcher(QObject):
    """Re-applies the look when the system switches between light and dark."""

    changed = Signal(object)  # the new Theme

    def __init__(self, app: QApplication, forced: str | None = None) -> None:
        super().__init__(app)
        self._app = app
        self._forced = forced
        hints = QGuiApplication.styleHints()
        if hasattr(hints, "colorSchemeChanged"):
            hints.colorSchemeChanged.connect(self._on_scheme_changed)

    def _on_scheme_changed(self, *_args: object) -> None:
        if self._forced is None:
            self.changed.emit(apply(self._app))

    def choose(self, setting: str) -> Theme:
        """Apply the person's choice ("system", "light" or "dark") and keep to it."""
        self._forced = forced_scheme(setting)
        look = apply(self._app, self._forced)
        self.changed.emit(look)
        return look


def forced_scheme(setting: str) -> str | None:
    """The scheme a look setting forces: "light" or "dark", or None to follow the system."""
    return setting if setting in ("light", "dark") else None


def apply(app: QApplication, scheme: str | None = None) -> Theme:
    """Apply the light or dark look (``scheme`` "light"/"dark", else the system's)."""
    global _active
    if scheme is None:
        scheme = "dark" if system_prefers_dark() else "light"
    theme = DARK if scheme == "dark" else LIGHT
    point = app.font().pointSizeF()
    if point > 0 and abs(point - 10) > 0.5:
        # Keep the person's chosen text size: scale the sheet's sizes with it.
        ratio = point / 10
        theme = replace(
            theme,
            font_pt=f"{10 * ratio:.1f}pt",
            small_pt=f"{9 * ratio:.1f}pt",
            h2_pt=f"{12 * ratio:.1f}pt",
            title_pt=f"{17 * ratio:.1f}pt",
            hero_pt=f"{24 * ratio:.1f}pt",
        )
    _active = theme
    app.setStyle("Fusion")
    app.setPalette(palette_for(theme))
    font = QFont(app.font())
    font.setFamilies(FONT_FAMILIES)
    app.setFont(font)
    app.setStyleSheet(style_sheet(theme))
    return theme
