"""Shared test fixtures: the real photos in ../shared/data and a temporary Stylist home."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the shared photos are missing: {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def wardrobe_items(shared_data) -> list[dict]:
    return json.loads((shared_data / "wardrobe-photos" / "items.json").read_text())


@pytest.fixture(autouse=True)
def stylist_home(tmp_path, monkeypatch) -> Path:
    """Every test runs on a temporary home; the real user data directory is never touched."""
    home = tmp_path / "home"
    monkeypatch.setenv("STYLIST_HOME", str(home))
    return home


@pytest.fixture
def paths(stylist_home):
    from stylist import paths

    return paths.for_home(stylist_home)


@pytest.fixture
def some_photos(tmp_path, wardrobe_items, shared_data) -> list[Path]:
    """Twelve real photos (four tops, four bottoms, four shoes) copied into a temporary folder."""
    folder = tmp_path / "photos"
    folder.mkdir()
    chosen = []
    for slot in ("top", "bottom", "shoes"):
        chosen += [x for x in wardrobe_items if x["slot"] == slot][:4]
    copies = []
    for entry in chosen:
        source = shared_data / "wardrobe-photos" / entry["file"]
        target = folder / source.name
        shutil.copyfile(source, target)
        copies.append(target)
    return copies


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a module: on a small shared machine torch's spinning threads cost
    far more than they give for small nets."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def demo(tmp_path):
    """The demo wardrobe analysed in a library of its own (a module may define its own ``demo``)."""
    from stylist import paths as paths_mod
    from stylist.service import Stylist

    base = paths_mod.for_home(tmp_path / "base")
    stylist, report = Stylist.open_demo(base)
    assert report is not None and not report.failed
    stylist.extract_features()
    yield stylist
    stylist.close()
