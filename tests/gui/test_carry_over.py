"""Choosing a backbone without a general model in the window: the model in use is carried over
to it as a background task, then suggestions come from the student; a wardrobe too small for
that keeps the compact backbone and says so. Real photos, the reduced-width VGG-16 stand-in of
the install tests, real widgets offscreen."""

from __future__ import annotations

import shutil

import pytest
import torch

from stylist.settings import Settings
from tests.gui.conftest import DEMO, open_window, wait_idle

SLOTS = {"top": "tops", "bottom": "bottoms", "shoes": "shoes"}


def _install_stand_in(home, photos, root) -> None:
    from stylist import paths
    from stylist.vision.export import install_vgg16, vgg16_module

    torch.manual_seed(1)
    weights = root / "vgg16-small.pth"
    torch.save(vgg16_module(16).state_dict(), weights)
    install_vgg16(
        paths.for_home(home), weights, width=16, photos=photos[:6], check_photos=4, variants=()
    )


@pytest.fixture(scope="module")
def big_template(tmp_path_factory, wardrobe_items, shared_data):
    """16 real tops, bottoms and shoes each, analysed, with the VGG-16 stand-in installed."""
    from stylist import paths
    from stylist.service import Stylist

    root = tmp_path_factory.mktemp("carry-gui")
    photos = []
    for slot, folder in SLOTS.items():
        pool = [x for x in wardrobe_items if x["slot"] == slot and not x.get("kids")][5::7][:16]
        for x in pool:
            source = shared_data / "wardrobe-photos" / x["file"]
            target = root / "photos" / folder / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            photos.append(target)
    home = root / "home"
    _install_stand_in(home, photos, root)
    with Stylist(paths.for_home(home)) as service:
        assert not service.import_photos([root / "photos"]).failed
        service.extract_features()
    return home


def test_choosing_vgg16_carries_over_in_the_background(qtbot, big_template, stylist_home):
    shutil.copytree(big_template, stylist_home, dirs_exist_ok=True)
    window = open_window(qtbot, stylist_home)
    wait_idle(qtbot, window)
    session = window.session
    statuses, labels = [], []
    session.status.connect(statuses.append)
    session.tasks.changed.connect(
        lambda: labels.extend(t.label for t in session.tasks.active() if t.label not in labels)
    )
    session.apply_settings(Settings(backbone="vgg16", device="cpu"))
    # the compact backbone ranks until the carried-over model is ready
    assert session.service.settings.backbone == "efficientnet-lite0"
    assert session.tasks.running("carry-over") is not None
    wait_idle(qtbot, window, timeout=120000)
    assert "Carrying the style model over to vgg16" in labels
    assert session.service.settings.backbone == "vgg16"
    assert any("carried over from the general model, checked on" in s for s in statuses)

    window.show_page(1)
    page = window.suggestions
    qtbot.waitUntil(lambda: len(page.cards) > 3, timeout=60000)
    assert page.subtitle.text().startswith("Ranked by a model carried over from the general model")
    assert "untrained" not in page.subtitle.text()


def test_too_small_a_wardrobe_keeps_the_compact_backbone(qtbot, demo_home, tmp_path, window):
    from stylist.domain import Category

    session = window.session
    counts = [len(session.service.items(c)) for c in (Category.TOP, Category.BOTTOM)]
    assert min(counts) < 15  # the demo wardrobe is too small to carry a model over
    _install_stand_in(demo_home, sorted(DEMO.rglob("*.jpg"))[:8], tmp_path)
    statuses = []
    session.status.connect(statuses.append)
    session.apply_settings(Settings(backbone="vgg16", device="cpu"))
    wait_idle(qtbot, window, timeout=120000)
    assert session.service.settings.backbone == "efficientnet-lite0"
    assert any("too small" in s and "keep using efficientnet-lite0" in s for s in statuses)
