"""The look setting: system, light or dark, chosen in Settings, applied at once, kept for the
next start."""

from __future__ import annotations

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from stylist.gui import theme
from stylist.settings import Settings
from tests.gui.conftest import open_window


def window_lightness() -> int:
    return QApplication.instance().palette().color(QPalette.ColorRole.Window).lightness()


def choose(window, value: str) -> None:
    window.open_settings()
    dialog = window.settings_dialog
    dialog.theme.setCurrentIndex(dialog.theme.findData(value))
    dialog.accept()


def test_light_and_dark_are_applied_saved_and_kept(qtbot, window, demo_home):
    system_dark = theme.system_prefers_dark()
    try:
        choose(window, "dark")
        assert theme.active().dark and window_lightness() < 128
        assert Settings.load(window.session.paths).theme == "dark"
        choose(window, "light")
        assert not theme.active().dark and window_lightness() > 128
        choose(window, "dark")
        window.close()
        again = open_window(qtbot, demo_home)  # the next start keeps the choice
        assert theme.active().dark
        choose(again, "system")
        assert theme.active().dark == system_dark
        assert Settings.load(again.session.paths).theme == "system"
    finally:
        theme.apply(QApplication.instance(), "dark" if system_dark else "light")
