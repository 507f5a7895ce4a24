"""Several processes on one library: a reader beside an import, two imports at once, fresh
homes opened by several processes at once, migrations applied once."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import subprocess
import sys

from stylist import paths as paths_mod
from stylist.library import Library, schema
from tests.test_kill import start_import, wait_for_progress


def test_reading_the_library_in_a_loop_during_imports_never_breaks_them(
    tmp_path, wardrobe_items, shared_data
):
    photos = [str(shared_data / "wardrobe-photos" / x["file"]) for x in wardrobe_items[:30]]
    for run in range(10):
        paths = paths_mod.for_home(tmp_path / f"home-{run}")
        env = {**os.environ, "STYLIST_HOME": str(paths.data_dir)}
        proc = start_import(photos, env, "--no-features")
        wait_for_progress(proc, "importing", 1)  # it is under way
        while proc.poll() is None:
            # what `stylist items` does: open (settling incoming/ when no writer is in it),
            # list, check the files it lists
            with Library.open(paths) as lib:
                for item in lib.items():
                    assert lib.file_path(item.stored_file).is_file()
                assert lib.check().consistent
        rest = proc.stderr.read()
        proc.stderr.close()
        assert proc.returncode == 0, rest
        assert "Traceback" not in rest
        with Library.open(paths) as lib:
            assert len(lib.items()) == len(photos)
            assert lib.check().consistent


def test_two_imports_of_the_same_photos_at_once_both_finish(paths, wardrobe_items, shared_data):
    photos = [str(shared_data / "wardrobe-photos" / x["file"]) for x in wardrobe_items[:40]]
    env = {**os.environ, "STYLIST_HOME": str(paths.data_dir)}
    procs = [start_import(photos, env, "--no-features") for _ in range(2)]
    for proc in procs:
        wait_for_progress(proc, "importing", len(photos))
    for proc in procs:
        rest = proc.stderr.read()
        proc.stderr.close()
        assert proc.wait() == 0, rest
    with Library.open(paths) as lib:
        assert len(lib.items()) == len(photos)
        assert lib.check().consistent


def _open_when_told(home: str, barrier, results) -> None:
    try:
        barrier.wait()
        with Library.open(paths_mod.for_home(home)) as lib:
            results.put(("ok", schema.version_of(lib._conn)))
    except BaseException as exc:  # noqa: BLE001 - the parent reports it
        results.put(("failed", repr(exc)))


def test_fresh_homes_opened_by_several_processes_at_once_all_open(tmp_path):
    context = multiprocessing.get_context("fork")
    for run in range(10):
        home = str(tmp_path / f"fresh-{run}")
        barrier, results = context.Barrier(4), context.Queue()
        procs = [
            context.Process(target=_open_when_told, args=(home, barrier, results)) for _ in range(4)
        ]
        for proc in procs:
            proc.start()
        outcomes = [results.get(timeout=120) for _ in procs]
        for proc in procs:
            proc.join()
        assert outcomes == [("ok", schema.SCHEMA_VERSION)] * 4, outcomes


def test_a_migration_rereads_the_version_inside_its_transaction(paths):
    """Two connections that both read an old version: the second finds the work done."""
    paths.ensure()
    first = sqlite3.connect(paths.database, isolation_level=None)
    second = sqlite3.connect(paths.database, isolation_level=None)
    assert schema.version_of(first) == schema.version_of(second) == 0
    assert schema.migrate(first) == list(range(1, schema.SCHEMA_VERSION + 1))
    assert schema.migrate(second) == []  # no "table items already exists"
    assert schema.version_of(second) == schema.SCHEMA_VERSION
    first.close()
    second.close()


def test_the_lock_is_shared_for_readers_and_exclusive_for_writers(paths):
    from stylist.library.lock import LOCK_NAME, LibraryLock

    paths.ensure()
    script = (
        "import sys; from stylist.library.lock import LibraryLock; "
        "lock = LibraryLock(sys.argv[1]); "
        "print(lock.acquire(sys.argv[2] == 'x', wait=False))"
    )

    def other(mode: str) -> str:
        out = subprocess.run(
            [sys.executable, "-c", script, str(paths.data_dir / LOCK_NAME), mode],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    lock = LibraryLock(paths.data_dir / LOCK_NAME)
    with lock.shared():
        assert (other("s"), other("x")) == ("True", "False")
        with lock.exclusive():  # upgraded inside a shared hold
            assert other("s") == "False"
        assert other("s") == "True"
    with lock.exclusive():
        assert other("s") == "False"
    assert other("x") == "True"
    lock.close()
