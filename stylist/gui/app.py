"""Starting the desktop application: ``run(args)`` is what ``stylist`` without a command calls.

Start-up is kept light: Qt, the library and numpy load; torch and ONNX Runtime load only when a
worker first needs them. A second start on the same library raises the first window and exits.
Unexpected errors reach the person as a readable dialog, never as a traceback on a terminal.
"""

from __future__ import annotations

import gc
import sys
import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

from stylist import APP_NAME, __version__
from stylist import paths as paths_mod
from stylist.errors import StylistError
from stylist.gui import icons, theme
from stylist.gui.main_window import MainWindow
from stylist.gui.session import Session
from stylist.gui.thumbnails import ThumbnailCache
from stylist.gui.workers import TaskManager
from stylist.paths import Paths

EXIT_OK, EXIT_FAILED = 0, 1


def application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (made once), styled for the system's light or dark mode."""
    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
        )
        app = QApplication(argv or [sys.argv[0]])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setOrganizationName(APP_NAME)
    app.setDesktopFileName("stylist")
    app.setWindowIcon(icons.app_icon())
    theme.apply(app)
    return app


def window_settings(paths: Paths) -> QSettings:
    """Window geometry and such, in the Stylist config folder (never Qt's default location)."""
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    return QSettings(str(paths.config_dir / "window.ini"), QSettings.Format.IniFormat)


class GuiThreadCollector(QObject):
    """Python's cycle collector, run on the GUI thread only, while a window is open.

    Left to itself the collector runs in whichever thread allocates when a threshold is
    crossed: a worker reading the wardrobe could then free the last Python references of a
    closed dialog's widgets, and Qt objects destroyed off the GUI thread crash the app.
    Automatic collection is off while any window lives; a timer on the GUI thread collects
    instead, generation by generation, as the collector's own thresholds say."""

    windows = 0  # open windows holding automatic collection off

    def __init__(self, window: QObject, interval_ms: int = 500) -> None:
        super().__init__(window)
        GuiThreadCollector.windows += 1
        gc.disable()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.collect)
        self.timer.start(interval_ms)
        window.destroyed.connect(GuiThreadCollector.released)

    @staticmethod
    def collect() -> None:
        counts, thresholds = gc.get_count(), gc.get_threshold()
        for generation in (2, 1, 0):
            if counts[generation] > thresholds[generation]:
                gc.collect(generation)
                return

    @staticmethod
    def released(*_: Any) -> None:
        GuiThreadCollector.windows = max(0, GuiThreadCollector.windows - 1)
        # Back on from the event loop, not from here: the window's children are still being
        # destroyed, and a collection now could free their Python halves mid-way.
        QTimer.singleShot(0, GuiThreadCollector.resume)

    @staticmethod
    def resume() -> None:
        if GuiThreadCollector.windows == 0:
            gc.enable()


def create_window(base: Paths, demo: bool = False) -> MainWindow:
    """Open the library at ``base`` (or its demo wardrobe) in a new main window (not shown)."""
    from stylist.service import Stylist

    app = application()
    service = Stylist(base)
    tasks = TaskManager()
    session = Session(service, base, tasks)
    thumbs = ThumbnailCache()
    window = MainWindow(session, window_settings(base), thumbs)
    window.collector = GuiThreadCollector(window)
    # The window owns its workers and caches: they go when it goes.
    tasks.setParent(window)
    session.setParent(window)
    thumbs.setParent(window)
    watcher = theme.ThemeWatcher(app)
    watcher.changed.connect(window.retheme)
    window.theme_watcher = watcher
    chosen = service.settings.theme
    if theme.forced_scheme(chosen) is not None:
        watcher.choose(chosen)
    if demo:
        session.open_demo()
    else:
        session.reload_items()
    return window


def install_excepthook(window: MainWindow) -> None:
    """Unexpected errors on the GUI thread become a readable dialog (details folded away)."""

    def hook(kind, value, tb) -> None:
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        details = "".join(traceback.format_exception(kind, value, tb))
        sys.stderr.write(details)
        if isinstance(value, StylistError):
            window.errors.show("Stylist", str(value))
        else:
            window.errors.show(
                "Something went wrong", f"Stylist ran into an unexpected error: {value}", details
            )

    sys.excepthook = hook


def close_on_terminate(window: MainWindow) -> None:
    """SIGTERM (a desktop session ending, ``kill``) closes the window as the person would:
    geometry saved, work stopped, the library released, exit status 0."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: QTimer.singleShot(0, window.close))
    # Python runs a signal handler only between bytecodes; while Qt's loop waits in C++ this
    # timer lets it in.
    ticks = QTimer(window)
    ticks.timeout.connect(lambda: None)
    ticks.start(250)


def run(args: Any) -> int:
    """Open the window on ``args.home`` (or the default library), ``args.demo`` for the demo.

    ``args.on_ready`` (optional) is called with the window once it is shown and the event loop
    runs: the start-up benchmark measures time to a usable window with it.
    """
    home = getattr(args, "home", None)
    demo = bool(getattr(args, "demo", False))
    on_ready = getattr(args, "on_ready", None)
    base = paths_mod.resolve(home)
    app = application()
    from stylist.gui.instance import SingleInstance

    guard = SingleInstance(base.demo_home if demo else base.data_dir)
    if guard.notify_running():
        print("Stylist is already open on this library; it has been brought to the front.")
        return EXIT_OK
    try:
        window = create_window(base, demo=demo)
    except StylistError as exc:
        QMessageBox.critical(None, "Stylist cannot start", str(exc))
        return EXIT_FAILED
    guard.listen()
    guard.activated.connect(window.bring_to_front)
    install_excepthook(window)
    close_on_terminate(window)
    window.show()
    if on_ready is not None:
        QTimer.singleShot(0, lambda: on_ready(window))
    try:
        return app.exec()
    finally:
        guard.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m stylist.gui.app [HOME]``: open the window without the command line parser."""
    argv = sys.argv[1:] if argv is None else argv

    class Args:
        home = Path(argv[0]) if argv else None
        demo = False

    return run(Args())


if __name__ == "__main__":
    sys.exit(main())
