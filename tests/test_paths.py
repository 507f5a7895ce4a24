"""Where data lives: STYLIST_HOME and --home move all of it; the default is the platform's."""

from pathlib import Path

from stylist import paths


def test_stylist_home_moves_everything(stylist_home):
    p = paths.resolve()
    assert p.data_dir == stylist_home.resolve()
    for location in (p.database, p.originals, p.working, p.thumbnails, p.features, p.models):
        assert stylist_home.resolve() in location.parents
    assert p.settings_file.is_relative_to(stylist_home.resolve())


def test_explicit_home_wins_over_environment(tmp_path):
    other = tmp_path / "elsewhere"
    assert paths.resolve(other).data_dir == other.resolve()


def test_default_is_the_platforms_user_folders(monkeypatch):
    monkeypatch.delenv(paths.HOME_ENV)
    p = paths.resolve()
    assert "stylist" in str(p.data_dir).lower()
    assert "stylist" in str(p.config_dir).lower()
    assert p.data_dir.is_absolute() or Path(p.data_dir).expanduser().is_absolute()


def test_ensure_creates_the_folders(stylist_home):
    p = paths.resolve().ensure()
    for folder in (*p.stored_dirs(), p.incoming, p.config_dir):
        assert folder.is_dir()
