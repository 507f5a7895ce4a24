"""Moving the library to another folder: everything goes, and the next start finds it there."""

from __future__ import annotations

import appdirs
import pytest

from stylist import paths as paths_mod
from stylist.errors import UsageError
from stylist.service import Stylist


@pytest.fixture
def platform_dirs(tmp_path, monkeypatch):
    """The platform's folders, in a temporary place (the real ones are never touched)."""
    monkeypatch.delenv(paths_mod.HOME_ENV)
    monkeypatch.setattr(appdirs, "user_data_dir", lambda *a, **k: str(tmp_path / "data"))
    monkeypatch.setattr(appdirs, "user_config_dir", lambda *a, **k: str(tmp_path / "config"))
    return tmp_path


def test_move_library_copies_checks_and_remembers(platform_dirs, some_photos):
    with Stylist.open() as stylist:
        stylist.import_photos(some_photos[:4])
        stylist.set_tags(stylist.items()[0].id, ["work"])
        before = [(i.sha256, i.tags) for i in stylist.items()]
        target = platform_dirs / "elsewhere" / "Stylist"
        seen = []
        stylist.move_library(target, progress=lambda d, t, s: seen.append((d, t)))
        assert stylist.paths.data_dir == target
        assert [(i.sha256, i.tags) for i in stylist.items()] == before
        assert stylist.check().consistent
        assert seen and seen[-1][0] == seen[-1][1]
    assert not (platform_dirs / "data").exists()
    with Stylist.open() as again:  # the next start opens the moved library
        assert again.paths.data_dir == target
        assert len(again.items()) == 4


def test_move_refuses_a_non_empty_folder_and_a_chosen_home(platform_dirs, some_photos, tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    (full / "something.txt").write_text("mine")
    with Stylist.open() as stylist:
        stylist.import_photos(some_photos[:1])
        with pytest.raises(UsageError, match="not empty"):
            stylist.move_library(full)
        assert len(stylist.items()) == 1 and stylist.check().consistent
    with Stylist.open(tmp_path / "chosen") as chosen, pytest.raises(UsageError, match="--home"):
        chosen.move_library(tmp_path / "x")
