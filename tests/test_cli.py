"""The command line, run as a person would: exit codes, JSON, messages without tracebacks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from stylist.cli import main
from tests.test_import import make_broken_folder


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_items_set_category_remove_info(capsys, some_photos, stylist_home):
    code, out, _ = run(capsys, "import", str(some_photos[0].parent), "--category", "tops")
    assert code == 0 and "Imported 12 photo(s)" in out

    code, out, _ = run(capsys, "items", "--json")
    items = json.loads(out)
    assert len(items) == 12
    first = items[0]
    assert {"id", "category", "original_name", "file"} <= set(first)
    assert first["category"] == "top"
    assert first["file"].startswith(str(stylist_home.resolve()))
    original = some_photos[0].parent / first["original_name"]
    assert original.read_bytes() == Path(first["file"]).read_bytes()

    code, out, _ = run(capsys, "set-category", str(first["id"]), "shoes")
    assert code == 0
    code, out, _ = run(capsys, "items", "--category", "shoes", "--json")
    assert [i["id"] for i in json.loads(out)] == [first["id"]]

    code, out, _ = run(capsys, "remove", str(first["id"]), str(items[1]["id"]))
    assert code == 0 and "Removed 2" in out
    assert not shutil.os.path.exists(first["file"])

    code, out, _ = run(capsys, "info", "--json")
    info = json.loads(out)
    assert info["total"] == 10 and info["counts"]["top"] == 10
    assert info["database_bytes"] > 0
    code, out, _ = run(capsys, "check")
    assert code == 0 and "consistent" in out


def test_remove_says_which_favourites_and_verdicts_went_with_the_items(capsys, some_photos):
    folder = some_photos[0].parent
    ids = {}
    for n, slot in enumerate(("top", "bottom", "shoes")):
        one = folder / slot
        one.mkdir()
        shutil.move(some_photos[4 * n], one / some_photos[4 * n].name)
        code, _, _ = run(capsys, "import", str(one), "--category", slot, "--no-features")
        code, out, _ = run(capsys, "items", "--category", slot, "--json")
        ids[slot] = str(json.loads(out)[0]["id"])
    outfit = (ids["top"], ids["bottom"], ids["shoes"])
    assert run(capsys, "like", *outfit)[0] == 0
    assert run(capsys, "favourite", "add", *outfit)[0] == 0

    code, out, _ = run(capsys, "remove", ids["shoes"])
    assert code == 0
    assert "Removed 1 item(s) and their files, with the 1 favourite and 1 verdict" in out
    code, out, _ = run(capsys, "remove", ids["top"])
    assert code == 0 and out.strip() == "Removed 1 item(s) and their files."


def test_the_library_never_imports_its_own_folder(capsys, some_photos, stylist_home):
    """Its working copies and thumbnails are not photos of their own: a library's folder is
    refused whole (named with the reason), inside another folder too, and the rest goes on."""
    assert run(capsys, "import", str(some_photos[0].parent), "--no-features")[0] == 0
    for source in (stylist_home, stylist_home / "working"):
        code, out, err = run(capsys, "import", str(source), "--no-features")
        assert code == 1 and "Imported 0 photo(s)" in out
        assert f"{source}: a Stylist library's folder" in err + out
    around = stylist_home.parent / "around"
    around.mkdir()
    shutil.copytree(stylist_home, around / "old-library")
    shutil.copyfile(some_photos[0], around / "new.jpg")
    Image.open(some_photos[0]).rotate(90, expand=True).save(around / "turned.jpg")
    code, out, err = run(capsys, "import", str(around), "--no-features")
    assert code == 1 and "Imported 1 photo(s); 1 already in the library" in out
    assert "old-library: a Stylist library's folder" in err + out
    code, out, _ = run(capsys, "info", "--json")
    assert json.loads(out)["total"] == 13


def test_a_folder_of_broken_files_exits_1_with_reasons_and_no_traceback(
    capsys, some_photos, tmp_path
):
    folder = tmp_path / "broken"
    bad = make_broken_folder(folder, some_photos[:2])
    code, out, err = run(capsys, "import", str(folder), str(tmp_path / "missing.jpg"))
    assert code == 1
    assert "Imported 2 photo(s)" in out
    for name, word in bad.items():
        line = next(line for line in err.splitlines() if name in line)
        assert word in line
    assert "missing.jpg: no such file" in err
    assert "Traceback" not in out + err


@pytest.mark.parametrize(
    "args, message",
    [
        (("set-category", "999", "top"), "no item 999"),
        (("remove", "999"), "no item 999"),
        (("set-category", "1", "hats"), "unknown category"),
        (("items", "--category", "socks"), "unknown category"),
    ],
)
def test_usage_errors_exit_2(capsys, args, message):
    with pytest.raises(SystemExit) as stop:
        code = main(list(args))
        raise SystemExit(code)
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def test_check_repair_moves_stray_files_to_lost_and_found(capsys, some_photos, stylist_home):
    run(capsys, "import", str(some_photos[0]))
    orphan = stylist_home / "thumbnails" / "00" / "stray.jpg"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"x")
    code, out, _ = run(capsys, "check")
    assert code == 1 and "not the library's: thumbnails/00/stray.jpg" in out
    assert "- thumbnails/00/stray.jpg moved to lost+found/" in out
    code, out, _ = run(capsys, "check", "--repair")
    assert code == 0 and not orphan.exists()
    assert (stylist_home / "lost+found" / "thumbnails" / "00" / "stray.jpg").read_bytes() == b"x"


def test_home_option_moves_the_library(capsys, some_photos, tmp_path, stylist_home):
    other = tmp_path / "other-home"
    run(capsys, "--home", str(other), "import", str(some_photos[0]))
    assert (other / "library.sqlite3").is_file()
    assert not (stylist_home / "library.sqlite3").exists()


def test_demo_wardrobe_loads_into_its_own_home(capsys, stylist_home):
    code, out, _ = run(capsys, "demo")
    assert code == 0 and "Loaded the demo wardrobe" in out
    code, out, _ = run(capsys, "--demo", "info", "--json")
    info = json.loads(out)
    assert info["data_dir"] == str((stylist_home / "demo").resolve())
    counts = info["counts"]
    assert counts["top"] >= 10 and counts["bottom"] >= 8 and counts["shoes"] >= 8
    assert counts["unsorted"] == 0
    code, out, _ = run(capsys, "info", "--json")
    assert json.loads(out)["total"] == 0  # the person's own library is untouched


def test_make_run_opens_the_demo_only_while_the_library_is_empty(monkeypatch, capsys, some_photos):
    import stylist.cli as cli

    opened = []
    monkeypatch.setattr(cli, "open_app", lambda args: opened.append(args.demo) or 0)
    assert main(["--demo-if-empty"]) == 0
    run(capsys, "import", "--no-features", str(some_photos[0]))
    assert main(["--demo-if-empty"]) == 0
    assert opened == [True, False]


def test_a_reader_that_goes_away_is_no_error(stylist_home):
    """``stylist items | head``: the reader leaves early; no traceback, exit status 0."""
    import subprocess
    import sys

    assert main(["--home", str(stylist_home), "info"]) == 0
    child = subprocess.Popen(
        [sys.executable, "-m", "stylist", "--home", str(stylist_home), "info"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    child.stdout.close()  # gone before the first line is written
    assert child.wait(timeout=120) == 0
    assert child.stderr.read() == b""
