"""Checking a library and mending it without ever destroying what the person gave it.

``check`` reads everything and changes nothing; it also says what a repair would do. A repair:

* remakes lost or damaged working copies and thumbnails (from the original, else the thumbnail
  from the working copy);
* keeps an item whose original is gone as long as its working copy survives; only an item with
  neither is removed, and the verdicts and favourites that go with it are counted and reported;
* never deletes a stored file: files in ``photos/``, ``working/``, ``thumbnails/``,
  ``cutouts/`` and ``models/personal/`` that no row names move to ``lost+found/``
  (``check --adopt`` imports the photos there again), except originals named by their own
  content hash as Stylist names them: those are the person's photos whose rows were lost,
  and the library is rebuilt from them;
* reports a missing or damaged cut-out (a damaged one moves to ``lost+found/``): the next
  analysis cuts it out again;
* sets aside a personal model version that no longer loads, so the general model is used.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from stylist.domain import Category
from stylist.errors import PhotoError, StylistError
from stylist.files import atomic_write
from stylist.library.photos import SUPPORTED_FORMATS, derived_files, prepare

if TYPE_CHECKING:
    from stylist.library.store import CheckReport, Library

ROLES = ("original", "working", "thumbnail")
_OURS = re.compile(r"^([0-9a-f]{2})/(([0-9a-f]{64})(\.[a-z]+))$")
ORIGINAL_SUFFIXES = frozenset(SUPPORTED_FORMATS.values())


def stored_sha(folder: Path, path: Path) -> str | None:
    """The content hash a stored file is named by (``ab/ab12…ef.jpg``), or None when the file is
    not named the way Stylist names its files."""
    try:
        relative = path.relative_to(folder).as_posix()
    except ValueError:
        return None
    match = _OURS.match(relative)
    if match is None or match.group(3)[:2] != match.group(1):
        return None
    return match.group(3)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def decode_error(path: Path) -> str | None:
    """Why a stored JPEG (working copy or thumbnail) does not decode, or None when it does."""
    try:
        with Image.open(path) as image:
            image.draft("RGB", (64, 64))  # a reduced decode still reads every block
            image.load()
    except Exception as exc:  # noqa: BLE001 - any failure to decode is the finding itself
        return f"{type(exc).__name__}: {exc}"
    return None


def move_to_lost_found(library: Library, path: Path) -> str:
    """Move a file under ``lost+found/`` keeping its place in the library; returns where to."""
    relative = path.relative_to(library.paths.data_dir)
    target = library.paths.lost_found / relative
    n = 0
    while target.exists() or target.is_symlink():
        n += 1
        target = library.paths.lost_found / relative.with_name(f"{relative.name}.{n}")
    target.parent.mkdir(parents=True, exist_ok=True)
    path.replace(target)
    return target.relative_to(library.paths.data_dir).as_posix()


def _outfits_with(conn: sqlite3.Connection, item_id: int) -> tuple[int, int]:
    """Verdicts and favourites that name the item (in any slot)."""
    counts = []
    for table in ("feedback", "favourites"):
        slots = [
            row[1]
            for row in conn.execute(f"PRAGMA table_info({table})")
            if row[1].endswith("_id") and row[1] != "id"
        ]
        where = " OR ".join(f"{slot} = :id" for slot in slots) or "0"
        counts.append(conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", {"id": item_id}))
    return tuple(c.fetchone()[0] for c in counts)


def check_library(library: Library, report: CheckReport, repair: bool, deep: bool) -> None:
    """Fill ``report`` (see the module doc); with ``repair``, mend as described there."""
    conn = library._conn
    try:
        messages = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if messages != ["ok"]:
            report.database_ok = False
            report.database_messages.extend(messages)
        bad_keys = conn.execute("PRAGMA foreign_key_check").fetchall()
        if bad_keys:
            report.database_ok = False
            report.database_messages.append(f"{len(bad_keys)} rows with broken references")
        rows = conn.execute(
            "SELECT id, sha256, stored_file, working_file, thumbnail_file FROM items ORDER BY id"
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        report.database_ok = False
        report.database_messages.append(str(exc))
        return
    report.items = len(rows)
    referenced: set[str] = set()
    for item_id, sha, *files in rows:
        referenced.update(files)
        _check_item(library, report, repair, deep, item_id, sha, files)
    adopted = _check_stored_files(library, report, repair, referenced)
    _check_cutouts(library, report, repair)
    _check_models(library, report, repair)
    _check_cache(library, report, repair)
    if repair and adopted:
        report.repaired.extend(adopt_stored(library, adopted))


def _check_item(library, report, repair, deep, item_id, sha, files) -> None:
    paths = dict(zip(ROLES, (library.file_path(f) for f in files), strict=True))
    names = dict(zip(ROLES, files, strict=True))
    exists = {role: paths[role].is_file() for role in ROLES}
    for role in ROLES:
        if not exists[role]:
            report.missing_files.append(f"item {item_id}: {role} file {names[role]} missing")
    original_ok = exists["original"]
    if original_ok and deep and sha256_of(paths["original"]) != sha:
        original_ok = False
        report.damaged.append(
            f"item {item_id}: the original {names['original']} no longer matches its hash "
            "(changed on disk); it is left as it is"
        )
    sound = {"original": original_ok}
    for role in ("working", "thumbnail"):
        error = decode_error(paths[role]) if exists[role] else "missing"
        sound[role] = error is None
        if exists[role] and error is not None:
            report.damaged.append(f"item {item_id}: {role} file {names[role]} is damaged ({error})")
    if not exists["original"] and sound["working"]:
        report.kept.append(f"item {item_id}: its original is gone; kept, its working copy survives")
    if not exists["original"] and not sound["working"]:
        verdicts, favourites = _outfits_with(library._conn, item_id)
        what = (
            f"item {item_id} removed: its photo and working copy are gone "
            f"({verdicts} verdict(s) and {favourites} favourite(s) go with it)"
        )
        if not repair:
            report.planned.append(what)
            return
        for role in ("working", "thumbnail"):
            if exists[role]:
                moved = move_to_lost_found(library, paths[role])
                report.repaired.append(f"item {item_id}: {names[role]} moved to {moved}")
        library.remove_items([item_id])
        report.repaired.append(what)
        return
    for role in ("working", "thumbnail"):
        if sound[role]:
            continue
        source = "original" if sound["original"] else "working copy"
        if role == "working" and not sound["original"]:
            continue  # cannot happen here: handled above (no original, no working copy)
        if not repair:
            report.planned.append(f"item {item_id}: {role} file made again from its {source}")
            continue
        try:
            data = _remade(paths, role, sound["original"])
        except PhotoError as exc:
            report.kept.append(f"item {item_id}: {role} file could not be made again ({exc})")
            continue
        atomic_write(paths[role], data)
        report.repaired.append(f"item {item_id}: {role} file made again from its {source}")


def _remade(paths: dict[str, Path], role: str, from_original: bool) -> bytes:
    if from_original:
        working, thumbnail = derived_files(paths["original"].read_bytes())
        return working if role == "working" else thumbnail
    _, thumbnail = derived_files(paths["working"].read_bytes())
    return thumbnail


def _stored_originals(library, referenced: set[str]) -> tuple[dict[str, Path], list[Path]]:
    """Files in photos/ that no row names: originals of ours (named by their content hash, which
    they still match), and the rest."""
    data_dir = library.paths.data_dir
    ours: dict[str, Path] = {}
    strays: list[Path] = []
    for path in sorted(library.paths.originals.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        if path.relative_to(data_dir).as_posix() in referenced:
            continue
        sha = stored_sha(library.paths.originals, path)
        if (
            sha is not None
            and path.suffix in ORIGINAL_SUFFIXES
            and path.is_file()
            and not path.is_symlink()
            and sha256_of(path) == sha
            and not library._has_sha(sha)
        ):
            ours[sha] = path
        else:
            strays.append(path)
    return ours, strays


def unregistered_originals(library) -> dict[str, Path]:
    """Stored originals of ours that no row names (see ``_stored_originals``)."""
    referenced = {row[0] for row in library._conn.execute("SELECT stored_file FROM items")}
    return _stored_originals(library, referenced)[0]


def _check_stored_files(library, report, repair, referenced: set[str]) -> dict[str, Path]:
    """Files in the stored folders that no row names. Returns the originals of ours that a repair
    rebuilds items from; the other files move to lost+found/ on repair."""
    data_dir = library.paths.data_dir
    ours, strays = _stored_originals(library, referenced)
    for folder in (library.paths.working, library.paths.thumbnails):
        for path in sorted(folder.rglob("*")):
            if path.is_dir() and not path.is_symlink():
                continue
            if path.relative_to(data_dir).as_posix() in referenced:
                continue
            if stored_sha(folder, path) in ours:
                continue  # made again when its original's item is rebuilt
            strays.append(path)
    for path in ours.values():
        relative = path.relative_to(data_dir).as_posix()
        report.unregistered.append(relative)
        if not repair:
            report.planned.append(f"item rebuilt from the stored photo {relative}")
    for path in strays:
        relative = path.relative_to(data_dir).as_posix()
        report.orphans.append(relative)
        if repair:
            report.repaired.append(f"{relative} moved to {move_to_lost_found(library, path)}")
        else:
            report.planned.append(f"{relative} moved to lost+found/")
    return ours


def _check_cutouts(library, report, repair) -> None:
    """The cut-out files in ``cutouts/``: each item's current mask and twin must be there and
    decode (a missing or damaged one is made again by the next analysis; a damaged one moves
    to lost+found/ on repair so that it does), and no other file belongs there."""
    from stylist.library.cutouts import mask_relative, twin_relative

    data_dir = library.paths.data_dir
    expected: set[str] = set()
    rows = library._conn.execute(
        "SELECT id, sha256, cutout_version FROM items WHERE cutout IS NOT NULL ORDER BY id"
    ).fetchall()
    for item_id, sha, version in rows:
        for what, relative in (
            ("cut-out mask", mask_relative(sha, version)),
            ("cut-out twin", twin_relative(sha, version)),
        ):
            expected.add(relative)
            path = library.file_path(relative)
            if not path.is_file():
                report.missing_files.append(
                    f"item {item_id}: {what} {relative} missing (made again by the next analysis)"
                )
                continue
            error = decode_error(path)
            if error is None:
                continue
            report.damaged.append(f"item {item_id}: {what} {relative} is damaged ({error})")
            if repair:
                moved = move_to_lost_found(library, path)
                report.repaired.append(
                    f"item {item_id}: {relative} moved to {moved} (made again by the next analysis)"
                )
            else:
                report.planned.append(f"{relative} moved to lost+found/, made again")
    folder = library.paths.cutouts
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        relative = path.relative_to(data_dir).as_posix()
        if relative in expected:
            continue
        report.orphans.append(relative)
        if repair:
            report.repaired.append(f"{relative} moved to {move_to_lost_found(library, path)}")
        else:
            report.planned.append(f"{relative} moved to lost+found/")


def adopt_stored(library: Library, originals: dict[str, Path]) -> list[str]:
    """Items again for stored originals whose rows were lost (unsorted, named by their file)."""
    done = []
    # in the order they were stored, so that rebuilt items get back the order they were added in
    for sha, path in sorted(originals.items(), key=lambda e: (e[1].stat().st_mtime_ns, e[0])):
        relative = path.relative_to(library.paths.data_dir).as_posix()
        try:
            photo = prepare(path)
        except PhotoError as exc:
            moved = move_to_lost_found(library, path)
            done.append(f"{relative} could not be read ({exc}); moved to {moved}")
            continue
        if photo.sha256 != sha:
            continue
        item = library.add_item(photo, Category.UNSORTED, None)
        if item is not None:
            done.append(f"item {item.id} rebuilt from the stored photo {relative}")
    return done


def _check_models(library, report, repair) -> None:
    """Personal model versions load; no file under models/personal/ is without its version."""
    from stylist.rank.matching import MatchingNet

    referenced = set()
    for version in library.model_versions():
        npz = Path(version.file).with_suffix(".npz").as_posix()
        referenced.update({npz, Path(version.file).with_suffix(".json").as_posix()})
        try:
            MatchingNet.load(library.file_path(version.file))
        except StylistError as exc:
            state = "in use" if version.active else "not in use"
            report.damaged.append(f"model version {version.id} ({state}) does not load: {exc}")
            if version.active and repair:
                library.set_aside_model_version(version.id)
                report.repaired.append(
                    f"model version {version.id} set aside: the general model is used instead"
                )
            elif version.active:
                report.planned.append(
                    f"model version {version.id} set aside; the general model is used instead"
                )
    personal = library.paths.models / "personal"
    if not personal.is_dir():
        return
    for path in sorted(personal.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        relative = path.relative_to(library.paths.data_dir).as_posix()
        if relative in referenced:
            continue
        report.orphans.append(relative)
        if repair:
            report.repaired.append(f"{relative} moved to {move_to_lost_found(library, path)}")
        else:
            report.planned.append(f"{relative} moved to lost+found/")


def _check_cache(library, report, repair) -> None:
    """The cache holds only the ranking's pair matrices, which can be made again at any time."""
    cache = library.paths.cache
    if not cache.exists() and not cache.is_symlink():
        return
    if not cache.is_dir() or cache.is_symlink():
        report.damaged.append("cache is not a folder")
        if repair:
            report.repaired.append(f"cache moved to {move_to_lost_found(library, cache)}")
        return
    for path in sorted(cache.iterdir()):
        if path.is_file() and re.fullmatch(r"pairs-[0-9a-f]+\.npz", path.name):
            continue
        relative = path.relative_to(library.paths.data_dir).as_posix()
        report.orphans.append(relative)
        if repair:
            _remove(path)
            report.repaired.append(f"{relative} removed (the cache is made again when needed)")


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
