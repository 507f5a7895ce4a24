"""Fixtures for the desktop app's tests: real widgets (offscreen), real libraries, real photos.

The demo wardrobe is imported once per test session into a template home (with features when the
service can compute them); each test gets its own copy under its temporary STYLIST_HOME.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo-wardrobe"


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """A home holding the demo wardrobe, imported (and analysed, where possible) once."""
    from stylist import paths
    from stylist.service import Stylist

    home = tmp_path_factory.mktemp("demo-template")
    with Stylist(paths.for_home(home)) as service:
        report = service.import_photos([DEMO])
        assert len(report.added) == 38, report.failed
        if callable(getattr(service, "extract_features", None)):
            service.extract_features()
        else:  # the vision code alone: features without categories or colours
            from stylist.vision.features import compute_features

            compute_features(service.library, service.extractor())
    return home


@pytest.fixture
def demo_home(demo_template, stylist_home) -> Path:
    """This test's STYLIST_HOME, holding a copy of the demo wardrobe."""
    shutil.copytree(demo_template, stylist_home, dirs_exist_ok=True)
    return stylist_home


def open_window(qtbot, home: Path):
    from stylist import paths
    from stylist.gui.app import create_window

    window = create_window(paths.for_home(home))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.session.loaded, timeout=10000)
    return window


@pytest.fixture
def empty_window(qtbot, stylist_home):
    return open_window(qtbot, stylist_home)


@pytest.fixture
def window(qtbot, demo_home):
    win = open_window(qtbot, demo_home)
    qtbot.waitUntil(lambda: win.wardrobe.model.rowCount() == 38, timeout=10000)
    return win


def wait_idle(qtbot, window, timeout: int = 60000) -> None:
    """Wait until no background work (visible or quiet) is left."""
    qtbot.waitUntil(lambda: not window.session.tasks.active(include_quiet=True), timeout=timeout)
