"""Item names people read: made from colour and category, numbered when repeated, renamed by
the person (CLI and library), given to items of libraries made before names existed."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from stylist.cli import main
from stylist.domain import Category, CategorySource
from stylist.library import schema
from stylist.naming import base_name, clean_name, numbered
from stylist.service import Stylist


def test_base_names_come_from_colour_and_category():
    assert base_name(Category.TOP, ["#101830"]) == "Navy top"
    assert base_name(Category.SHOES, ["#111111", "#ffffff"]) == "Black shoes"
    assert base_name(Category.UNSORTED, []) == "Item"
    assert base_name(Category.UNSORTED, ["#f5f5f5"], guess=Category.BOTTOM) == "White bottom"
    assert numbered("Black shoes", ["black shoes", "Black shoes 2"]) == "Black shoes 3"
    assert numbered("Navy top", ["Navy top 2"]) == "Navy top"
    assert clean_name("  Grandma's\n cardigan\t ") == "Grandma's cardigan"


def _photo_stems(photos: list[Path]) -> set[str]:
    return {p.stem.lower() for p in photos}


def test_imported_items_are_named_from_what_stylist_knows_never_the_file(some_photos, paths):
    with Stylist(paths) as stylist:
        stylist.import_photos([some_photos[0].parent], Category.TOP)
        stylist.analyse_colours()
        items = stylist.items()
    names = [i.name for i in items]
    assert len(set(names)) == len(names), names  # repeats are numbered
    assert all(n.split()[0] != "Item" for n in names)
    for item in items:
        assert item.name.lower() not in _photo_stems(some_photos)
        assert not any(stem in item.name.lower() for stem in _photo_stems(some_photos))
        assert " top" in item.name, item.name
        assert not item.named_by_person


def test_a_persons_name_stays_through_new_colours_and_categories(some_photos, paths):
    with Stylist(paths) as stylist:
        stylist.import_photos(some_photos[:2])
        first, second = stylist.items()
        assert first.name == "Item" and second.name == "Item 2"
        stylist.rename(first.id, "  Grandma's  cardigan ")
        stylist.library.set_colours(first.id, ["#101830"])
        stylist.library.set_category(second.id, Category.SHOES, CategorySource.AUTO)
        first, second = stylist.items()
        assert first.name == "Grandma's cardigan" and first.named_by_person
        assert second.name == "Shoes" and not second.named_by_person
        # an empty name hands the naming back to Stylist
        again = stylist.rename(first.id, "")
        assert again.name == "Navy item" and not again.named_by_person


def test_cli_rename_shows_in_items_and_json(capsys, some_photos):
    assert main(["import", str(some_photos[0]), "--no-features"]) == 0
    capsys.readouterr()
    assert main(["rename", "1", "Blue linen shirt"]) == 0
    assert "Blue linen shirt" in capsys.readouterr().out
    assert main(["items"]) == 0
    assert "Blue linen shirt" in capsys.readouterr().out
    assert main(["items", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)[0]
    assert record["name"] == "Blue linen shirt" and record["named_by_person"] is True
    assert record["original_name"] == some_photos[0].name


def test_items_of_an_older_library_get_names_on_migration(some_photos, paths):
    with Stylist(paths) as stylist:
        stylist.import_photos(some_photos[:6], Category.SHOES)
        stylist.analyse_colours()
        expected = {i.id: i.name for i in stylist.items()}
    # Take the database back to the schema before names: the columns gone, the version lowered.
    names_version = next(
        n + 1 for n, script in enumerate(schema.MIGRATIONS) if "ADD COLUMN name TEXT" in script
    )
    conn = sqlite3.connect(paths.database)
    assert schema.version_of(conn) == schema.SCHEMA_VERSION
    conn.execute("ALTER TABLE items DROP COLUMN name_source")
    conn.execute("ALTER TABLE items DROP COLUMN name")
    # the columns of later migrations go too, so that lowering the version replays them
    for script in schema.MIGRATIONS[names_version:]:
        for table, column in re.findall(r"ALTER TABLE (\w+) ADD COLUMN (\w+)", script):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    conn.execute(f"PRAGMA user_version = {names_version - 1}")
    conn.commit()
    conn.close()
    with Stylist(paths) as stylist:
        items = stylist.items()
    assert {i.id: i.name for i in items} == expected
    assert all(" shoes" in i.name.lower() or i.name.startswith("Shoes") for i in items)


def test_renaming_a_missing_item_is_a_usage_error(capsys):
    assert main(["rename", "999", "Anything"]) == 2
    assert "no item 999" in capsys.readouterr().err
