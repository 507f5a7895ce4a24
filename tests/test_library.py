"""The library on real SQLite files: schema migrations, items, files, integrity and repair."""

from __future__ import annotations

import os
import sqlite3

import numpy as np
import pytest

from stylist.domain import Category, CategorySource, Outfit, Verdict
from stylist.errors import StylistError, UsageError
from stylist.library import Library, schema
from stylist.library.importer import import_photos
from stylist.library.store import ROLES


@pytest.fixture
def library(paths):
    lib = Library.open(paths)
    yield lib
    lib.close()


def test_a_database_of_the_first_schema_is_upgraded_on_open(paths):
    paths.ensure()
    conn = sqlite3.connect(paths.database, isolation_level=None)
    schema.migrate(conn, target=1)
    conn.execute(
        "INSERT INTO items (sha256, original_name, stored_file, working_file, thumbnail_file,"
        " category, category_source, width, height, added_at)"
        " VALUES ('abc', 'shirt.jpg', 'photos/ab/abc.jpg', 'working/ab/abc.jpg',"
        " 'thumbnails/ab/abc.jpg', 'top', 'user', 10, 20, '2024-01-01T00:00:00+00:00')"
    )
    conn.close()

    with Library.open(paths) as lib:
        assert schema.version_of(lib._conn) == schema.SCHEMA_VERSION > 1
        (item,) = lib.items()
        assert (item.original_name, item.category, item.width) == ("shirt.jpg", Category.TOP, 10)
        assert item.colours == [] and item.notes == "" and item.guess is None
        lib.set_tags(item.id, ["summer", "work"])
        assert lib.item(item.id).tags == ["summer", "work"]


def test_a_database_from_a_newer_stylist_is_refused_untouched(paths):
    paths.ensure()
    conn = sqlite3.connect(paths.database)
    conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StylistError, match="newer Stylist"):
        Library.open(paths)
    conn = sqlite3.connect(paths.database)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION + 1


def test_wal_and_foreign_keys_are_on(library):
    assert library._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert library._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_a_guess_never_overwrites_what_the_person_said(library, some_photos):
    item = import_photos(library, some_photos[:1]).added[0]
    assert library.set_category(item.id, Category.BOTTOM, CategorySource.AUTO, 0.7)
    assert library.item(item.id).category == Category.BOTTOM
    library.set_category(item.id, Category.TOP, CategorySource.USER)
    assert not library.set_category(item.id, Category.SHOES, CategorySource.AUTO, 0.99)
    stored = library.item(item.id)
    assert (stored.category, stored.category_source) == (Category.TOP, CategorySource.USER)


def test_features_round_trip_and_follow_their_item(library, some_photos):
    items = import_photos(library, some_photos[:3]).added
    vectors = {item.id: np.arange(8, dtype=np.float32) + item.id for item in items[:2]}
    library.put_features("tiny", "hash1", vectors)
    stored = library.features("tiny", "hash1")
    assert set(stored) == set(vectors)
    np.testing.assert_array_equal(stored[items[0].id], vectors[items[0].id])
    assert [i.id for i in library.items_without_features("tiny", "hash1")] == [items[2].id]
    assert len(library.items_without_features("tiny", "other-hash")) == 3
    library.remove_items([items[0].id])
    assert set(library.features("tiny", "hash1")) == {items[1].id}


def test_verdicts_favourites_and_model_versions(library, some_photos):
    top, bottom, shoes = (import_photos(library, [p]).added[0] for p in some_photos[::4][:3])
    outfit = Outfit(top.id, bottom.id, shoes.id)
    library.add_verdict(outfit, Verdict.LIKE, "suggestion")
    fav = library.add_favourite(outfit)
    assert library.add_favourite(outfit) == fav  # the same outfit is kept once
    assert library.verdicts()[0].outfit == outfit
    with pytest.raises(UsageError, match="no item 9999"):
        library.add_verdict(Outfit(9999, bottom.id, shoes.id), Verdict.DISLIKE, "cli")
    v1 = library.add_model_version("b", "C", "models/v1.npz", {}, {"ndcg": 0.5}, active=True)
    v2 = library.add_model_version("b", "C", "models/v2.npz", {}, {"ndcg": 0.6}, active=True)
    assert [v.active for v in library.model_versions()] == [False, True]
    library.use_model_version(v1)
    assert [v.id for v in library.model_versions() if v.active] == [v1]
    assert v2 != v1
    library.remove_items([top.id])
    assert library.verdicts() == [] and library.favourites() == []


def test_a_write_that_fails_half_way_leaves_the_library_as_it_was(library, some_photos):
    top, bottom, shoes = (import_photos(library, [p]).added[0] for p in some_photos[::4][:3])
    outfit = Outfit(top.id, bottom.id, shoes.id)
    library.add_verdict(outfit, Verdict.LIKE, "suggestion")
    # the earlier verdict is deleted inside the transaction before the bad value is read
    with pytest.raises(ValueError):
        library.add_verdict(outfit, "not a verdict", "cli")
    assert [v.verdict for v in library.verdicts()] == [Verdict.LIKE]
    assert not library._conn.in_transaction
    with pytest.raises(RuntimeError), library._transaction() as conn:
        conn.execute("UPDATE model_versions SET active = 0")
        conn.execute("DELETE FROM feedback")
        raise RuntimeError("stop")
    assert len(library.verdicts()) == 1 and not library._conn.in_transaction
    library.add_favourite(outfit)  # the connection still writes
    assert len(library.favourites()) == 1


def test_remove_takes_the_files_with_it(library, some_photos):
    item = import_photos(library, some_photos[:1]).added[0]
    files = [
        library.file_path(f) for f in (item.stored_file, item.working_file, item.thumbnail_file)
    ]
    assert all(f.is_file() for f in files)
    library.remove_items([item.id])
    assert not any(f.exists() for f in files)
    assert library.check().consistent


def test_check_finds_and_repairs_orphans_and_lost_copies(library, some_photos):
    items = import_photos(library, some_photos[:3]).added
    orphan = library.paths.originals / "zz" / "orphan.jpg"
    orphan.parent.mkdir()
    orphan.write_bytes(b"left behind")
    library.file_path(items[0].thumbnail_file).unlink()
    library.file_path(items[1].stored_file).unlink()

    report = library.check()
    assert not report.consistent
    assert report.orphans == ["photos/zz/orphan.jpg"]
    assert len(report.missing_files) == 2

    repaired = library.check(repair=True)
    assert any("thumbnail file made again" in m for m in repaired.repaired)
    assert library.file_path(items[0].thumbnail_file).is_file()
    assert not orphan.exists()
    assert (library.paths.lost_found / "photos" / "zz" / "orphan.jpg").read_bytes() == (
        b"left behind"
    )
    # its original is gone but its working copy survives: the item stays
    assert [i.id for i in library.items()] == [i.id for i in items]
    assert any(f"item {items[1].id}" in m for m in repaired.kept)
    again = library.check()
    assert not again.orphans and not again.damaged
    assert again.missing_files == [
        f"item {items[1].id}: original file {items[1].stored_file} missing"
    ]


def test_an_add_killed_before_its_commit_leaves_no_file_and_hides_nothing(
    paths, some_photos, monkeypatch
):
    """The files are in place before the row is committed (so that a reader in another process
    never lists a row whose files are still on their way); a kill before the commit leaves them
    there without a row, and the next open removes them with their journal entries."""
    from stylist.library import store

    with Library.open(paths) as lib:
        kept = import_photos(lib, some_photos[:1]).added[0]
        placed = []

        def killed(source, target):
            store_second_name(source, target)
            placed.append(target)
            if len(placed) == 3:  # every file in place, the row not yet written
                raise KeyboardInterrupt

        store_second_name = store._second_name
        monkeypatch.setattr(store, "_second_name", killed)
        with pytest.raises(KeyboardInterrupt):
            import_photos(lib, some_photos[1:2])
        monkeypatch.undo()
        assert len(placed) == 3 and all(p.is_file() for p in placed)
        assert len(lib.items()) == 1
    with Library.open(paths) as lib:
        assert lib.settled_on_open == 3
        assert not any(p.exists() for p in placed)
        assert list(paths.incoming.iterdir()) == []
        assert [i.id for i in lib.items()] == [kept.id]
        assert lib.check().consistent


def test_the_journal_finishes_an_add_interrupted_after_its_commit(paths, some_photos):
    """A kill between the commit and the renames: the next open moves the files into place."""
    with Library.open(paths) as lib:
        item = import_photos(lib, some_photos[:1]).added[0]
        for relative, role in ((item.stored_file, "original"), (item.working_file, "working")):
            os_path = lib.file_path(relative)
            os_path.rename(lib._journal_path(role, relative))
        (paths.incoming / ("f" * 64 + ".original.jpg")).write_bytes(b"never committed")
    with Library.open(paths) as lib:
        assert lib.settled_on_open == 3
        assert lib.check().consistent
        assert list(paths.incoming.iterdir()) == []


def test_the_journal_drops_second_names_of_files_already_in_place(paths, some_photos):
    """A kill after the commit but before the journal names went (an add), or after the second
    names were made but before the row was deleted (a removal): each journal entry is another
    name of the file in place, or a copy cut short where the file system has no links. Renaming
    one hard link onto another does nothing and a short copy must never replace the whole file,
    so the journal drops them, and the files stay as they were."""
    with Library.open(paths) as lib:
        item = import_photos(lib, some_photos[:1]).added[0]
        files = {
            role: lib.file_path(relative)
            for role, relative in zip(
                ROLES, (item.stored_file, item.working_file, item.thumbnail_file), strict=True
            )
        }
        for role, path in files.items():
            os.link(path, lib._journal_path(role, str(path.relative_to(paths.data_dir))))
        contents = {role: path.read_bytes() for role, path in files.items()}
        short = lib._journal_path("original", item.stored_file)
        short.unlink()
        short.write_bytes(contents["original"][:100])  # a copy a kill cut short
    with Library.open(paths) as lib:
        assert lib.settled_on_open == 3
        assert list(paths.incoming.iterdir()) == []
        assert {role: path.read_bytes() for role, path in files.items()} == contents
        assert [i.id for i in lib.items()] == [item.id]
        assert lib.check().consistent
