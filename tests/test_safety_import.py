"""Hostile files in an import: pipes, devices, huge sparse files and names that are not valid
text each get a reason, and the photos beside them import."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from stylist.library import Library
from stylist.library.importer import import_photos
from stylist.library.photos import MAX_FILE_BYTES

BAD_NAME = os.fsdecode(b"\xff\xfe-shirt.jpg")  # not valid UTF-8


@pytest.fixture
def hostile(tmp_path, some_photos):
    folder = tmp_path / "hostile"
    folder.mkdir()
    for photo in some_photos[:3]:
        shutil.copyfile(photo, folder / photo.name)
    os.mkfifo(folder / "fifo.jpg")
    os.symlink("/dev/zero", folder / "zero.jpg")
    with open(folder / "sparse.jpg", "wb") as handle:
        handle.write(b"\xff\xd8\xff\xe0")
        handle.truncate(2 * 1024**3)  # 2 GB on paper, a few bytes on disk
    shutil.copyfile(some_photos[5], folder / BAD_NAME)
    (folder / os.fsdecode(b"\xfflist.jpg")).write_text("a shopping list")
    return folder


def test_hostile_files_get_reasons_and_their_neighbours_import(paths, hostile):
    with Library.open(paths) as lib:
        report = import_photos(lib, [hostile])
        reasons = {path.name: reason for path, reason in report.failed}
        assert "named pipe" in reasons["fifo.jpg"]
        assert "device" in reasons["zero.jpg"]
        assert "file too large" in reasons["sparse.jpg"]
        assert f"the limit is {MAX_FILE_BYTES / 1e6:.0f} MB" in reasons["sparse.jpg"]
        assert "not an image" in reasons[os.fsdecode(b"\xfflist.jpg")]
        assert len(reasons) == 4
        names = sorted(item.original_name for item in lib.items())
        assert len(names) == 4 and "\ufffd\ufffd-shirt.jpg" in names
        assert lib.check().consistent


def test_the_command_line_reports_hostile_files_without_a_traceback(paths, hostile):
    env = {**os.environ, "STYLIST_HOME": str(paths.data_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "stylist", "import", "--no-features", "--json", str(hostile)],
        env=env,
        capture_output=True,
        timeout=300,  # a pipe that hung the import would end here, failing the test
    )
    assert done.returncode == 1, done.stderr
    assert b"Traceback" not in done.stderr
    result = json.loads(done.stdout)
    assert len(result["added"]) == 4 and len(result["failed"]) == 4
    assert any(f["path"].endswith("\ufffdlist.jpg") for f in result["failed"])


def test_a_full_disk_stops_the_import_with_what_was_stored_kept_whole(
    paths, some_photos, monkeypatch
):
    """The disk fills up while the seventh photo is written: the six before stay, the seventh
    leaves no file behind, the import stops with a message that says so, and importing again
    once there is room adds the rest."""
    import errno

    from stylist.errors import DiskFull
    from stylist.library import store

    real_write, writes = store._write_file, []

    def filling_up(path, data):
        writes.append(path)
        if len(writes) > 6 * 3 + 1:  # three files a photo; the seventh's second one fails
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(store, "_write_file", filling_up)
    with Library.open(paths) as lib:
        with pytest.raises(DiskFull, match=r"is full: 6 photo\(s\) of this import were stored"):
            import_photos(lib, some_photos, workers=1)
        assert len(lib.items()) == 6
        report = lib.check(deep=True)
        assert report.consistent, report
    assert not any(paths.incoming.iterdir())
    stored = [p for p in paths.data_dir.rglob("*") if p.is_file() and p.suffix == ".jpg"]
    assert len([p for p in stored if p.is_relative_to(paths.originals)]) == 6

    monkeypatch.setattr(store, "_write_file", real_write)
    with Library.open(paths) as lib:
        again = import_photos(lib, some_photos)
        assert len(again.added) == 6 and len(again.duplicates) == 6
        assert len(lib.items()) == 12 and lib.check().consistent
