"""Rolling copies of the library's database, and the recovery of a damaged one.

Once a day at most, opening the library copies its database with SQLite's online backup API into
``<data>/backups/`` (the newest few are kept). A database that SQLite finds damaged is never
deleted: it is set aside in ``backups/`` as ``damaged-<time>.sqlite3``, the newest sound backup
takes its place, and every row that can still be read from the damaged file (through the
``sqlite3`` shell's ``.recover`` where that is installed, else row by row) is copied over it, so
what happened since the backup is kept as far as the damage allows. Photos stored since then are
found again from their originals by the library itself (see ``Library.open``).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from stylist.library import schema
from stylist.paths import Paths

BACKUP_EVERY = timedelta(days=1)
KEEP = 5
PREFIX, DAMAGED = "library-", "damaged-"
# Tables copied from a damaged database, parents first; features are included so that a recovered
# library need not analyse its photos again.
SALVAGED_TABLES = ("items", "item_tags", "features", "feedback", "favourites", "model_versions")


def backups_dir(paths: Paths) -> Path:
    return paths.data_dir / "backups"


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")


_CORRUPT, _NOTADB = 11, 26  # SQLite's primary result codes for a damaged file
_FULL = 13  # ... and for a disk with no room left


def is_damage(exc: sqlite3.Error) -> bool:
    """The error says the file is damaged (not busy, locked or unreadable for a while)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_CORRUPT, _NOTADB)
    text = str(exc)
    return "malformed" in text or "not a database" in text


def is_full(exc: sqlite3.Error) -> bool:
    """The error says the disk holding the database has no room left."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF == _FULL
    return "disk is full" in str(exc)


def damage(conn: sqlite3.Connection) -> list[str] | None:
    """What SQLite finds wrong with the database (its quick check), or None when it is sound."""
    messages = [row[0] for row in conn.execute("PRAGMA quick_check")]
    return None if messages == ["ok"] else messages


def _has_content(conn: sqlite3.Connection) -> bool:
    if schema.version_of(conn) == 0:
        return False
    return any(
        conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone()
        for table in ("items", "feedback", "favourites")
    )


def list_backups(paths: Paths) -> list[Path]:
    """The rolling backups, newest first."""
    folder = backups_dir(paths)
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"{PREFIX}*.sqlite3"), reverse=True)


def backup_now(conn: sqlite3.Connection, paths: Paths) -> Path:
    """A copy of the database as it is now, under a temporary name renamed into place; the
    oldest copies beyond ``KEEP`` are removed."""
    folder = backups_dir(paths)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{PREFIX}{_stamp()}.sqlite3"
    tmp = target.with_name(target.name + ".tmp")
    copy = sqlite3.connect(tmp)
    try:
        conn.backup(copy)
    finally:
        copy.close()
    os.replace(tmp, target)
    for old in list_backups(paths)[KEEP:]:
        old.unlink(missing_ok=True)
    return target


def rolling_backup(conn: sqlite3.Connection, paths: Paths, every: timedelta = BACKUP_EVERY):
    """A new backup when the newest one is older than ``every`` (and there is something to keep).
    A failure to write one never stops the library from opening."""
    newest = list_backups(paths)[:1]
    if newest:
        age = datetime.now().timestamp() - newest[0].stat().st_mtime
        if age < every.total_seconds():
            return None
    try:
        if not _has_content(conn):
            return None
        return backup_now(conn, paths)
    except (OSError, sqlite3.Error):
        return None


def _sound(path: Path) -> bool:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return damage(conn) is None and schema.version_of(conn) <= schema.SCHEMA_VERSION
        finally:
            conn.close()
    except sqlite3.Error:
        return False


def recover(paths: Paths, reason: str) -> list[str]:
    """Set the damaged database aside, put the newest sound backup in its place and salvage what
    can be read from the damaged one. Returns what was done, for the person to read."""
    folder = backups_dir(paths)
    folder.mkdir(parents=True, exist_ok=True)
    damaged = folder / f"{DAMAGED}{_stamp()}.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        source = Path(str(paths.database) + suffix)
        if source.exists():
            os.replace(source, Path(str(damaged) + suffix))
    messages = [f"the database was damaged ({reason}); it was kept as {damaged}"]
    restored = next((b for b in list_backups(paths) if _sound(b)), None)
    target = sqlite3.connect(paths.database, isolation_level=None)
    try:
        if restored is not None:
            source = sqlite3.connect(f"file:{restored}?mode=ro", uri=True)
            try:
                source.backup(target)
            finally:
                source.close()
            messages.append(f"restored from the backup {restored.name}")
        else:
            messages.append("no sound backup was found: the library is rebuilt")
        target.execute("PRAGMA journal_mode = WAL")
        schema.migrate(target)
        counts = salvage(damaged, target)
        if counts:
            found = ", ".join(f"{n} {table}" for table, n in counts.items() if n)
            messages.append(f"salvaged from the damaged database: {found or 'nothing new'}")
    finally:
        target.close()
    return messages


def _recovered_copy(damaged: Path, workdir: Path) -> Path | None:
    """What the sqlite3 shell's ``.recover`` reads out of a damaged file, as a new database."""
    shell = shutil.which("sqlite3")
    if shell is None:
        return None
    out = workdir / "recovered.sqlite3"
    try:
        dump = subprocess.run(
            [shell, str(damaged), ".recover --ignore-freelist"],
            capture_output=True,
            timeout=300,
            check=False,
        )
        if dump.returncode != 0 or not dump.stdout:
            return None  # a shell built without what .recover needs says so and stops
        subprocess.run(
            [shell, str(out)], input=dump.stdout, capture_output=True, timeout=300, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if not (out.is_file() and _sound(out)):
        return None
    conn = sqlite3.connect(f"file:{out}?mode=ro", uri=True)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    finally:
        conn.close()
    return out if "items" in tables else None


def salvage(damaged: Path, target: sqlite3.Connection) -> dict[str, int]:
    """Copy every readable row of the damaged database into ``target``; a salvaged row replaces
    the backup's row of the same id (it is the newer one). Returns rows copied per table."""
    with tempfile.TemporaryDirectory(prefix="stylist-salvage-") as workdir:
        source_path = _recovered_copy(damaged, Path(workdir)) or damaged
        try:
            source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
        except sqlite3.Error:
            return {}
        counts: dict[str, int] = {}
        target.execute("PRAGMA foreign_keys = OFF")
        try:
            for table in SALVAGED_TABLES:
                counts[table] = _copy_table(source, target, table)
        finally:
            source.close()
        return counts


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    try:
        return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
    except sqlite3.Error:
        return []


def _copy_table(source: sqlite3.Connection, target: sqlite3.Connection, table: str) -> int:
    columns = [c for c in _columns(source, table) if c in set(_columns(target, table))]
    if not columns:
        return 0
    names = ", ".join(columns)
    insert = f"INSERT OR REPLACE INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
    try:
        rows = source.execute(f"SELECT {names} FROM {table}").fetchall()
    except sqlite3.Error:
        rows = _rows_one_by_one(source, table, names)
    copied = 0
    with schema.transaction(target):
        for row in rows:
            try:
                target.execute(insert, row)
                copied += 1
            except sqlite3.Error:
                continue  # a row that breaks a constraint of the sound copy stays behind
    return copied


def _rows_one_by_one(source: sqlite3.Connection, table: str, names: str) -> list[tuple]:
    """The rows that can still be read, one rowid at a time, around damaged pages."""
    try:
        last = source.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
    except sqlite3.Error:
        last = 100_000
    rows = []
    for rowid in range(1, last + 1):
        try:
            row = source.execute(f"SELECT {names} FROM {table} WHERE rowid = ?", (rowid,))
            found = row.fetchone()
        except sqlite3.Error:
            continue
        if found is not None:
            rows.append(found)
    return rows
