"""A check and a repair that cannot destroy: lost databases, lost and damaged files, damaged
personal models, stray files, and a damaged database restored from its backup."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3

import pytest
from PIL import Image

from stylist import paths as paths_mod
from stylist.cli import main
from stylist.domain import Outfit, Verdict
from stylist.library import Library, backups
from stylist.library.importer import import_photos
from stylist.service import Stylist


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _stored_originals(paths) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in paths.originals.rglob("*") if p.is_file()}


def _outfit(items) -> Outfit:
    return Outfit(items[0].id, items[4].id, items[8].id)


@pytest.fixture
def filled(paths, some_photos):
    """A library of the twelve photos (four of each slot), a verdict and a favourite."""
    with Library.open(paths) as lib:
        items = import_photos(lib, some_photos).added
        assert len(items) == 12
        lib.add_verdict(_outfit(items), Verdict.LIKE, "cli")
        lib.add_favourite(_outfit(items))
    return items


@pytest.mark.parametrize("how", ["deleted", "emptied"])
def test_a_lost_database_is_rebuilt_from_the_stored_originals_and_nothing_is_deleted(
    capsys, paths, filled, how
):
    family = paths.originals / "family.jpg"  # never Stylist's
    family.write_bytes(b"a photo the person keeps here")
    before = _stored_originals(paths)
    if how == "deleted":
        for suffix in ("", "-wal", "-shm"):
            (paths.data_dir / (paths.database.name + suffix)).unlink(missing_ok=True)
    else:
        conn = sqlite3.connect(paths.database)
        conn.execute("DELETE FROM items")
        conn.commit()
        conn.close()

    code, out, _ = run(capsys, "check")
    assert code == 1
    assert "The database was lost or replaced: 12 of your photos" in out
    assert "Nothing has been removed" in out and "stylist check --repair" in out
    assert _stored_originals(paths) == before  # a check changes nothing

    code, out, _ = run(capsys, "check", "--repair")
    assert "item 12 rebuilt from the stored photo" in out
    after = {p.name: p.read_bytes() for p in paths.data_dir.rglob("*") if p.is_file()}
    for name, data in before.items():
        assert after[name] == data, name  # every original is still there
    assert not family.exists()
    assert (paths.lost_found / "photos" / "family.jpg").read_bytes() == before["family.jpg"]
    with Library.open(paths) as lib:
        assert len(lib.items()) == 12
        assert lib.check(deep=True).consistent
    assert code == 0 and "consistent now" in out


def test_a_folder_of_the_persons_own_never_becomes_a_library(capsys, tmp_path, some_photos):
    """A library made in a folder whose photos/ or incoming/ hold the person's own files would
    take them for strays (a repair moves them, opening settles "journal" files): refused."""
    home = tmp_path / "Pictures"
    (home / "photos").mkdir(parents=True)
    (home / "incoming").mkdir()
    Image.new("RGB", (64, 48), "red").save(home / "photos" / "holiday.jpg")
    (home / "incoming" / "to-sort.txt").write_text("the person's own")
    before = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
    for command in (["check", "--repair"], ["import", str(some_photos[0])], ["info"]):
        code, _, err = run(capsys, "--home", str(home), *command)
        assert code == 2 and "is not a Stylist library" in err, command
        assert "photos/holiday.jpg" in err
    assert {p: p.read_bytes() for p in home.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in home.iterdir()) == ["incoming", "photos"]

    Library.open(paths_mod.for_home(tmp_path / "Library")).close()
    demo = tmp_path / "Library" / "demo"  # a folder named like the demo's is not the demo
    demo.mkdir()
    (demo / "notes.txt").write_text("mine")
    code, _, err = run(capsys, "--home", str(tmp_path / "Library"), "demo", "--reset")
    assert code == 2 and "not the demo wardrobe's library" in err
    assert (demo / "notes.txt").read_text() == "mine"

    beside = tmp_path / "Documents"  # other folders of the person's are never Stylist's business
    (beside / "Holiday").mkdir(parents=True)
    (beside / "Holiday" / "notes.txt").write_text("kept")
    code, _, _ = run(capsys, "--home", str(beside), "import", str(some_photos[0]))
    assert code == 0
    code, out, _ = run(capsys, "--home", str(beside), "check", "--repair")
    assert code == 0 and (beside / "Holiday" / "notes.txt").read_text() == "kept"


def test_an_item_goes_only_when_its_photo_and_working_copy_are_gone_and_that_is_reported(
    capsys, paths, filled
):
    top = filled[0]
    with Library.open(paths) as lib:
        lib.file_path(top.stored_file).unlink()
    code, out, _ = run(capsys, "check", "--repair")
    assert f"kept: item {top.id}: its original is gone; kept, its working copy survives" in out
    with Library.open(paths) as lib:
        assert len(lib.items()) == 12 and len(lib.verdicts()) == 1
        lib.file_path(top.working_file).unlink()
        thumbnail = lib.file_path(top.thumbnail_file).read_bytes()

    code, out, _ = run(capsys, "check")
    assert code == 1
    planned = f"item {top.id} removed: its photo and working copy are gone (1 verdict(s) and 1"
    assert f"- {planned}" in out
    with Library.open(paths) as lib:
        assert len(lib.items()) == 12  # a check alone changes nothing

    code, out, _ = run(capsys, "check", "--repair")
    assert f"repaired: {planned} favourite(s) go with it)" in out
    with Library.open(paths) as lib:
        assert len(lib.items()) == 11 and lib.verdicts() == []
        kept = list(paths.lost_found.rglob("*.jpg"))
        assert [p.read_bytes() for p in kept] == [thumbnail]  # its thumbnail is kept aside


def test_damaged_working_copies_and_thumbnails_are_found_and_made_again(capsys, paths, filled):
    item = filled[3]
    with Library.open(paths) as lib:
        working = lib.file_path(item.working_file)
        working.write_bytes(working.read_bytes()[:200] + b"\x00" * 500)
        thumb = lib.file_path(filled[5].thumbnail_file)
        thumb.write_bytes(b"not a jpeg at all")
        report = lib.check()
        assert not report.consistent and len(report.damaged) == 2
        assert f"item {item.id}: working file" in report.damaged[0]
        repaired = lib.check(repair=True)
        assert len(repaired.repaired) == 2
        for path in (working, thumb):
            with Image.open(path) as image:
                image.load()
        assert lib.check().consistent
    code, out, _ = run(capsys, "export", "favourites", str(paths.data_dir.parent / "f.png"))
    assert code == 0


def test_a_deep_check_finds_four_changed_bytes_in_an_original(paths, filled):
    with Library.open(paths) as lib:
        original = lib.file_path(filled[2].stored_file)
        data = bytearray(original.read_bytes())
        data[len(data) // 2 : len(data) // 2 + 4] = b"\x00\x01\x02\x03"
        original.write_bytes(bytes(data))
        assert lib.check().consistent  # a quick check does not read the originals
        deep = lib.check(deep=True)
        assert not deep.consistent
        assert "no longer matches its hash" in deep.damaged[0]
        lib.check(repair=True, deep=True)
        assert original.read_bytes() == bytes(data)  # a repair leaves it as it is


def test_adopt_imports_the_photos_in_lost_found_again(capsys, paths, some_photos):
    Library.open(paths).close()  # lost+found/ is a library's
    paths.lost_found.mkdir(parents=True)
    for photo in some_photos[:3]:
        shutil.copyfile(photo, paths.lost_found / photo.name)
    (paths.lost_found / "notes.jpg").write_text("not a photo")
    code, out, _ = run(capsys, "check", "--adopt")
    assert out.count("adopted from lost+found/") == 3
    assert "notes.jpg stays in lost+found/" in out
    assert sorted(p.name for p in paths.lost_found.iterdir()) == ["notes.jpg"]
    with Library.open(paths) as lib:
        assert len(lib.items()) == 3


def _personal_model(lib: Library) -> int:
    """The shipped general net copied in as if it were a personal version."""
    folder = lib.paths.models / "personal" / "efficientnet-lite0"
    folder.mkdir(parents=True)
    for suffix in (".npz", ".json"):
        shutil.copyfile(
            paths_mod.models_dir() / f"fashionnet-c-efficientnet-lite0{suffix}",
            folder / f"c-1{suffix}",
        )
    return lib.add_model_version(
        "efficientnet-lite0", "C", "models/personal/efficientnet-lite0/c-1.npz", {}, {}, True
    )


def test_a_damaged_personal_model_falls_back_to_the_general_one_and_is_set_aside(
    capsys, paths, stylist_home
):
    with Stylist(paths) as stylist:
        version = _personal_model(stylist.library)
        assert stylist.matching_net()[1] == f"your model, version {version}"
        npz = paths.models / "personal" / "efficientnet-lite0" / "c-1.npz"
        npz.write_bytes(npz.read_bytes()[:1000])
        net, origin = stylist.matching_net()
        assert origin.startswith("the general model (your model version")
        assert net.source == paths_mod.models_dir() / "fashionnet-c-efficientnet-lite0.npz"
        # and a retraining starts from the general model too
        assert stylist._base_net_file(stylist.backbone()) == net.source
    code, out, _ = run(capsys, "check")
    assert code == 1 and f"model version {version} (in use) does not load" in out
    code, out, _ = run(capsys, "check", "--repair")
    assert f"model version {version} set aside" in out
    with Stylist(paths) as stylist:
        assert stylist.matching_net()[1] == "the general model"
        assert npz.exists()  # its files stay


def test_orphan_model_files_and_a_cache_that_is_a_file_are_reported_and_moved_aside(capsys, paths):
    with Library.open(paths) as lib:
        version = _personal_model(lib)
        lib._conn.execute("DELETE FROM model_versions WHERE id = ?", (version,))  # a kill
    paths.cache.rmdir() if paths.cache.is_dir() else None
    paths.cache.write_text("not a folder")
    code, out, _ = run(capsys, "check")
    assert code == 1
    assert "not the library's: models/personal/efficientnet-lite0/c-1.npz" in out
    assert "damaged: cache is not a folder" in out
    code, out, _ = run(capsys, "check", "--repair")
    assert code == 0, out
    moved = paths.lost_found / "models" / "personal" / "efficientnet-lite0" / "c-1.npz"
    assert moved.is_file() and (paths.lost_found / "cache").read_text() == "not a folder"


def _damage_page_of(database, name: str) -> None:
    conn = sqlite3.connect(database)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    (page,) = conn.execute("SELECT pageno FROM dbstat WHERE name = ? LIMIT 1", (name,)).fetchone()
    conn.close()
    with open(database, "r+b") as handle:
        handle.seek((page - 1) * page_size + 8)
        handle.write(os.urandom(page_size - 16))


def test_a_damaged_database_page_is_restored_from_the_backup_with_nothing_lost_since(
    capsys, paths, some_photos
):
    with Library.open(paths) as lib:
        first = import_photos(lib, some_photos[::2]).added
        lib.add_verdict(Outfit(first[0].id, first[2].id, first[4].id), Verdict.LIKE, "cli")
        lib.backup()
        later = import_photos(lib, some_photos[1::2]).added
        lib.add_verdict(Outfit(later[0].id, later[2].id, later[4].id), Verdict.DISLIKE, "cli")
        lib.add_favourite(Outfit(later[1].id, later[3].id, later[5].id))
        lib.set_tags(later[1].id, ["summer"])
    _damage_page_of(paths.database, "items_category")

    code, out, err = run(capsys, "items")
    assert code == 0, err
    assert "recovered: the database was damaged" in err and "restored from the backup" in err
    with Library.open(paths) as lib:
        assert len(lib.items()) == 12
        assert [v.verdict for v in lib.verdicts()] == [Verdict.LIKE, Verdict.DISLIKE]
        assert len(lib.favourites()) == 1 and lib.item(later[1].id).tags == ["summer"]
        assert lib.check().consistent
    kept = list(backups.backups_dir(paths).glob("damaged-*.sqlite3"))
    assert len(kept) == 1  # the damaged file is kept, never deleted
    code, out, _ = run(capsys, "check")
    assert code == 0


def test_a_lost_items_page_comes_back_from_the_backup_and_the_stored_photos(paths, some_photos):
    with Library.open(paths) as lib:
        import_photos(lib, some_photos[:6])
        lib.backup()
        import_photos(lib, some_photos[6:])
        lib.add_verdict(Outfit(8, 11, 12), Verdict.LIKE, "cli")
        ids = {item.sha256: item.id for item in lib.items()}
    _damage_page_of(paths.database, "items")
    with Library.open(paths) as lib:
        assert any("restored from the backup" in m for m in lib.recovered)
        assert sum("rebuilt from the stored photo" in m for m in lib.recovered) == 6
        # the photos stored since the backup come back from their originals, with their ids
        assert {item.sha256: item.id for item in lib.items()} == ids
        assert [v.outfit for v in lib.verdicts()] == [Outfit(8, 11, 12)]
        assert lib.check().consistent


def test_backups_roll(paths, some_photos):
    with Library.open(paths) as lib:
        assert backups.list_backups(paths) == []  # nothing to keep in an empty library
        import_photos(lib, some_photos[:1])
    with Library.open(paths):
        pass
    assert len(backups.list_backups(paths)) == 1  # at most one a day
    with Library.open(paths) as lib:
        made = [lib.backup() for _ in range(backups.KEEP + 2)]
    assert backups.list_backups(paths) == sorted(made, reverse=True)[: backups.KEEP]


def test_model_use_general_sets_personal_versions_aside(capsys, paths):
    with Library.open(paths) as lib:
        version = _personal_model(lib)
    code, out, _ = run(capsys, "model", "use", "general")
    assert code == 0 and "general model is in use" in out
    with Stylist(paths) as stylist:
        assert stylist.matching_net()[1] == "the general model"
    code, out, _ = run(capsys, "model", "use", str(version))
    with Stylist(paths) as stylist:
        assert stylist.matching_net()[1] == f"your model, version {version}"
    with pytest.raises(SystemExit) as stop:
        main(["model", "use", "mine"])
    assert stop.value.code == 2
    assert "neither a version number nor general" in capsys.readouterr().err


def test_hand_edited_settings_and_hash_cache_do_not_break_anything(paths, capsys):
    from stylist.settings import Settings
    from stylist.vision import backbones

    paths.ensure()
    paths.settings_file.parent.mkdir(parents=True, exist_ok=True)
    for text in ("[1, 2]", '{"backbone": 3}', "not json"):
        paths.settings_file.write_text(text)
        assert Settings.load(paths) == Settings()
    paths.settings_file.unlink()
    backbones.forget_hash_cache()
    with Stylist(paths) as stylist:
        spec = stylist.backbone()
    cache = paths.models / backbones.HASH_CACHE_NAME
    entries = json.loads(cache.read_text())
    for entry in entries.values():
        entry["sha256"] = "0" * 64  # a wrong figure remembered for the right file
    cache.write_text(json.dumps(entries))
    backbones.forget_hash_cache()
    with Stylist(paths) as stylist:
        assert stylist.backbone().sha256 == spec.sha256  # verified again, not "corrupt"
    assert "0" * 64 not in cache.read_text()
