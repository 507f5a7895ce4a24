"""The application shell: first run, pages, menus, the About box, settings, geometry, one
instance per library, readable errors and the light/dark looks."""

from __future__ import annotations

import subprocess
import sys

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QMessageBox

from tests.gui.conftest import open_window, wait_idle


def test_empty_library_opens_on_the_welcome_page(empty_window):
    window = empty_window
    assert window.wardrobe_stack.currentWidget() is window.welcome
    assert window.welcome.demo_button.isVisible()
    assert window.windowTitle() == "Stylist"
    # Every page has a keyboard shortcut in the View menu.
    shortcuts = [a.shortcut().toString() for a in window.page_actions]
    assert shortcuts == ["Ctrl+1", "Ctrl+2", "Ctrl+3", "Ctrl+4"]
    window.page_actions[3].trigger()
    assert window.stack.currentWidget() is window.mystyle


def test_demo_button_loads_the_demo_wardrobe(qtbot, empty_window):
    window = empty_window
    qtbot.mouseClick(window.welcome.demo_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: window.session.demo and window.wardrobe.model.rowCount() == 38, timeout=30000
    )
    assert window.wardrobe_stack.currentWidget() is window.wardrobe
    assert shown_title(window) == "Demo wardrobe — Stylist"
    assert window.demo_box.isVisible()
    # The demo lives apart from the person's own (still empty) library.
    assert window.session.paths.data_dir == window.session.base_paths.demo_home
    wait_idle(qtbot, window)
    window.leave_demo_button.click()
    qtbot.waitUntil(lambda: window.session.loaded and not window.session.demo, timeout=10000)
    assert window.wardrobe_stack.currentWidget() is window.welcome
    assert shown_title(window) == "Stylist"


def shown_title(window) -> str:
    """The title a window manager shows: Qt appends the application's display name unless the
    window's title already ends with it (QPlatformWindow::formatWindowTitle)."""
    from PySide6.QtGui import QGuiApplication

    title, name = window.windowTitle(), QGuiApplication.applicationDisplayName()
    if not name or title.endswith(name):
        return title or name
    return f"{title} — {name}" if title else name


def test_about_box_names_versions_and_licences(empty_window):
    window = empty_window
    window.about_action.trigger()
    text = window.about_dialog.text
    for needed in ("CC0", "Apache License 2.0", "BSD 3-Clause", "PySide6", "Qt", "ONNX Runtime"):
        assert needed in text
    window.about_dialog.close()


def test_window_geometry_is_remembered_in_the_stylist_config_folder(qtbot, stylist_home):
    window = open_window(qtbot, stylist_home)
    window.resize(QSize(1000, 655))  # the offscreen screen is 800 x 800: the height fits
    window.show_page(2)
    window.close()
    ini = stylist_home / "config" / "window.ini"
    assert ini.is_file()
    again = open_window(qtbot, stylist_home)
    assert again.height() == 655
    assert again.stack.currentWidget() is again.favourites


def test_a_second_instance_raises_the_first(qtbot, tmp_path):
    from stylist.gui.instance import SingleInstance

    first = SingleInstance(tmp_path / "library")
    assert not first.notify_running()  # nobody is running yet
    assert first.listen()
    other_library = SingleInstance(tmp_path / "another")
    assert not other_library.notify_running()
    second = SingleInstance(tmp_path / "library")
    with qtbot.waitSignal(first.activated, timeout=5000):
        assert second.notify_running()
    first.close()


def test_a_second_process_on_the_same_library_exits_at_once(qtbot, stylist_home):
    from stylist.gui.instance import SingleInstance
    from stylist.paths import for_home

    guard = SingleInstance(for_home(stylist_home).data_dir)
    assert guard.listen()
    code = (
        "import sys, types\n"
        "from stylist.gui.app import run\n"
        f"sys.exit(run(types.SimpleNamespace(home={str(stylist_home)!r}, demo=False)))\n"
    )
    with qtbot.waitSignal(guard.activated, timeout=20000):
        proc = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "already open" in out
    guard.close()


def test_problems_become_readable_dialogs(qtbot, empty_window):
    window = empty_window

    def broken(progress, cancel):
        raise ValueError("the photo folder went away")

    window.session.tasks.start(broken, "Testing")
    qtbot.waitUntil(lambda: window.errors.count == 1, timeout=5000)
    title, message = window.errors.last
    assert title == "Testing"
    assert "the photo folder went away" in message
    boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox)]
    assert any("the photo folder went away" in b.text() for b in boxes)
    for b in boxes:
        b.close()


def test_light_and_dark_palettes(empty_window):
    from stylist.gui import theme

    app = QApplication.instance()
    try:
        dark = theme.apply(app, "dark")
        assert dark.dark
        assert app.palette().color(QPalette.ColorRole.Window).lightness() < 60
        assert dark.card in app.styleSheet()
        empty_window.retheme()
        light = theme.apply(app, "light")
        assert app.palette().color(QPalette.ColorRole.Window).lightness() > 200
        assert "$" not in app.styleSheet()  # every placeholder was filled
        assert light.accent in app.styleSheet()
    finally:
        theme.apply(app)


def test_settings_dialog_shows_backbones_device_and_library(qtbot, empty_window):
    window = empty_window
    window.open_settings()
    dialog = window.settings_dialog
    assert dialog.backbone_buttons["efficientnet-lite0"].isChecked()
    assert str(window.session.paths.data_dir) in dialog.location.text()
    # What runs where is found out in a worker, then said in words.
    qtbot.waitUntil(lambda: dialog.device_text.text() != "Checking …", timeout=30000)
    assert "CPU" in dialog.device_text.text() or "GPU" in dialog.device_text.text()
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    dialog.accept()
    from stylist.settings import Settings

    assert Settings.load(window.session.paths).device == "cpu"
    wait_idle(qtbot, window)


def test_starting_the_app_does_not_import_torch():
    code = (
        "import sys\n"
        "import stylist.gui.app, stylist.gui.main_window\n"
        "print([m for m in ('torch', 'torchvision', 'onnxruntime') if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_long_painting_does_not_exhaust_none():
    """Many void Qt calls (as in hours of painting) leave the interpreter healthy."""
    code = (
        "import sys\n"
        "import stylist.gui\n"
        "from PySide6.QtGui import QGuiApplication, QImage, QPainter\n"
        "app = QGuiApplication([])\n"
        "image = QImage(64, 64, QImage.Format.Format_ARGB32)\n"
        "painter = QPainter(image)\n"
        "for _ in range(50000):\n"
        "    painter.drawRect(1, 1, 8, 8)\n"
        "painter.end()\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.strip() == "ok"


def test_python_frees_cycles_on_the_gui_thread_only_while_a_window_is_open(qtbot, stylist_home):
    """Garbage made and churned on a worker is freed on the GUI thread: freed on a worker, a
    closed dialog's widgets would be destroyed off the GUI thread, which crashes Qt."""
    import gc
    import threading

    from stylist import paths
    from stylist.gui.app import create_window

    window = create_window(paths.for_home(stylist_home))  # closed and deleted below
    window.show()
    qtbot.waitUntil(lambda: window.session.loaded, timeout=60000)
    assert not gc.isenabled()
    freed_on_gui_thread: list[bool] = []

    class Cycle:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            freed_on_gui_thread.append(threading.current_thread() is threading.main_thread())

    def churn(progress, cancel) -> int:
        for _ in range(20):
            Cycle()
        # enough tracked allocations to cross the collector's thresholds many times over
        return len([[] for _ in range(300_000)])

    task = window.session.tasks.start(churn, "churning", kind="read", quiet=True)
    qtbot.waitUntil(
        lambda: task not in window.session.tasks.active(include_quiet=True), timeout=60000
    )
    kept = [[] for _ in range(5_000)]  # the GUI thread's own allocations cross a threshold
    qtbot.waitUntil(lambda: len(freed_on_gui_thread) == 20, timeout=60000)
    assert all(freed_on_gui_thread) and len(kept) == 5_000

    window.close()
    window.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    # automatic collection is back once the window is gone
    qtbot.waitUntil(gc.isenabled, timeout=60000)
