"""The wardrobe library: one SQLite database and the photo files it owns, behind one writer.

Every write goes through a ``Library`` object, serialised by its lock, and every write that must be
all-or-nothing is one transaction. Files follow a small journal protocol so that a crash or a kill
at any moment leaves a consistent library:

* adding: the three files are written into ``incoming/`` first and given their place as a second
  name (a hard link, a copy where links are not supported), then the row is committed, then the
  journal names go;
* removing: each file gets a second name in ``incoming/``, then the row is deleted, then the files
  go.

Either way a row is only ever visible while its files are in place, to readers in any process.
On open, whatever is left in ``incoming/`` is settled: files whose row exists are put back in
place where their place is empty (else they are only a second name, or a copy, and go), the
others are deleted together with their place. So every row has its files and no file
is without its row.

Several processes may share a library (see ``library.lock``): every write that touches stored
files holds the library's lock exclusively, so ``incoming/`` is only ever settled while no writer
is between its steps, and a check never sees an add half done.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from stylist.domain import Category, CategorySource, Item, Outfit, Verdict, is_holdout
from stylist.errors import DiskFull, StylistError, UsageError
from stylist.library import backups, schema
from stylist.library.lock import LOCK_NAME, LibraryLock
from stylist.library.photos import PreparedPhoto
from stylist.library.repair import stored_sha
from stylist.naming import base_name, clean_name, numbered
from stylist.paths import Paths, printable

# An outfit's columns in the feedback and favourites tables, in ``Outfit`` field order.
_OUTFIT_COLUMNS = "top_id, bottom_id, shoes_id, one_piece_id"


def _outfit_row(outfit: Outfit) -> tuple[int | None, ...]:
    return (outfit.top, outfit.bottom, outfit.shoes, outfit.one_piece)


# File roles: the folder each lives in, and how its journal name in incoming/ is spelled.
ROLES = ("original", "working", "thumbnail")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class CheckReport:
    """What ``Library.check`` found (and, with repair, mended)."""

    items: int = 0
    database_ok: bool = True
    database_messages: list[str] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)  # "item 12: working copy missing"
    orphans: list[str] = field(default_factory=list)  # stored files without a row
    settled_on_open: int = 0  # journal files settled when the library was opened
    repaired: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)  # files that do not decode, load or hash
    unregistered: list[str] = field(default_factory=list)  # stored originals without a row
    planned: list[str] = field(default_factory=list)  # what a repair would do (check alone)
    kept: list[str] = field(default_factory=list)  # what a repair left as it is, and why
    recovered: list[str] = field(default_factory=list)  # database recovery done on open

    @property
    def database_lost(self) -> bool:
        """The database knows no item while stored originals of ours are there: it was lost or
        replaced, and the library can be rebuilt from the originals."""
        return self.items == 0 and bool(self.unregistered)

    @property
    def consistent(self) -> bool:
        return (
            self.database_ok
            and not self.missing_files
            and not self.orphans
            and not self.damaged
            and not self.unregistered
        )


def _foreign_content(paths: Paths) -> str | None:
    """What, in a folder that holds no library (no database, no backup, no stored photo), a
    new library would take for its own: anything in the folders it keeps photos, cut-outs and
    journals in, or in lost+found/, or a demo folder that is not a library. None when there is
    nothing of the kind. A library that lost its database keeps its photos: a check rebuilds
    its items from them."""
    if not paths.data_dir.is_dir() or paths.database.exists() or backups.list_backups(paths):
        return None
    if any(stored_sha(paths.originals, p) for p in paths.originals.glob("??/*")):
        return None  # a library's photos, stored by their content hash: its database was lost
    hashed = (paths.originals, paths.working, paths.thumbnails)
    # features/, cache/ and models/ are left out: backbones and feature caches are put there
    # before any library exists (a build's home, an installed backbone)
    for folder in (*hashed, paths.cutouts, paths.incoming, paths.lost_found, paths.demo_home):
        if not folder.exists() and not folder.is_symlink():
            continue
        if not folder.is_dir() or folder.is_symlink():
            return printable(folder.name)
        if folder == paths.demo_home and (folder / paths.database.name).exists():
            continue  # the demo wardrobe's own library
        for entry in sorted(folder.iterdir()):
            if folder in hashed and entry.is_dir() and len(entry.name) == 2:
                continue  # photos of a library, stored by their content hash
            return printable(entry.relative_to(paths.data_dir))
    return None


@dataclass
class FavouriteRow:
    id: int
    outfit: Outfit
    created_at: str


@dataclass
class VerdictRow:
    id: int
    outfit: Outfit
    verdict: Verdict
    source: str
    created_at: str
    holdout: bool = False  # a validation verdict: no personal version trains on it


@dataclass
class WearRow:
    id: int
    outfit: Outfit
    worn_at: str


@dataclass
class ModelVersion:
    id: int
    backbone: str
    net: str
    file: str  # relative to the data folder
    config: dict
    metrics: dict
    created_at: str
    active: bool


class Library:
    """The one owner of the database and the stored photos of one Stylist home."""

    def __init__(
        self, paths: Paths, conn: sqlite3.Connection, lock: LibraryLock | None = None
    ) -> None:
        self.paths = paths
        self._conn = conn
        self._lock = threading.RLock()
        self.settled_on_open = 0
        self.recovered: list[str] = []  # what opening did to mend a damaged database
        self.process_lock = lock or LibraryLock(paths.data_dir / LOCK_NAME)

    # ----------------------------------------------------------------- opening and closing
    @classmethod
    def open(cls, paths: Paths) -> Library:
        """Open (creating, migrating or recovering as needed) the library of ``paths``.

        Opening holds the library's lock exclusively for a moment: migrations, the recovery of
        a damaged database and the settling of ``incoming/`` never run beside a writer."""
        foreign = _foreign_content(paths)
        if foreign is not None:
            raise UsageError(
                f"{paths.data_dir} is not a Stylist library, and {foreign} in it is not "
                "Stylist's: a new library needs a folder of its own (checks and repairs move "
                "what does not belong in its folders), so choose an empty or a new folder"
            )
        try:
            paths.ensure()
        except OSError as exc:
            raise StylistError(
                f"the library folder {paths.data_dir} cannot be used: {exc}"
            ) from None
        lock = LibraryLock(paths.data_dir / LOCK_NAME)
        try:
            with lock.exclusive():
                conn, recovered = cls._connect(paths)
                library = cls(paths, conn, lock)
                library.recovered = recovered
                library.settled_on_open = library._settle_journal()
                library._assign_holdout_flags()
                library._assign_names()
                if recovered:
                    library.recovered.extend(library._adopt_after_recovery())
                backups.rolling_backup(conn, paths)
        except OSError as exc:
            lock.close()
            raise StylistError(
                f"the library in {paths.data_dir} cannot be opened: {exc.strerror or exc}"
            ) from None
        except BaseException:
            lock.close()
            raise
        return library

    @staticmethod
    def _connect(paths: Paths) -> tuple[sqlite3.Connection, list[str]]:
        """A connection to a sound, current database; a damaged one is first set aside and
        replaced by its newest good backup with every row that could be salvaged."""
        recovered: list[str] = []
        for attempt in range(2):
            conn = None
            try:
                conn = sqlite3.connect(
                    paths.database, isolation_level=None, check_same_thread=False, timeout=30
                )
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA foreign_keys = ON")
                problems = backups.damage(conn)
                if problems is None:
                    schema.migrate(conn)
                    return conn, recovered
                reason = "; ".join(problems[:3])
            except sqlite3.DatabaseError as exc:
                if conn is not None:
                    conn.close()
                if not backups.is_damage(exc):
                    # busy, locked, unreadable: not damage, and nothing is set aside for it
                    raise StylistError(
                        f"the library {paths.database} cannot be opened: {exc}"
                    ) from None
                conn, reason = None, str(exc)
            if conn is not None:
                conn.close()
            if attempt:
                break
            recovered.extend(backups.recover(paths, reason))
        raise StylistError(
            f"the library {paths.database} cannot be opened: {reason}. Your photos are safe in "
            f"{paths.originals}"
        )

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            self.process_lock.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def backup_to(self, target: Path) -> None:
        """A consistent copy of the database at ``target`` (SQLite's online backup)."""
        with self._lock:
            copy = sqlite3.connect(target)
            try:
                self._conn.backup(copy)
            finally:
                copy.close()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """This thread and this process alone write (the library's lock, held exclusively)."""
        with self._lock, self.process_lock.exclusive():
            yield

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One all-or-nothing write on this library's connection (see ``schema.transaction``)."""
        with self._lock, schema.transaction(self._conn) as conn:
            yield conn

    @contextmanager
    def reading_files(self) -> Iterator[None]:
        """No writer is between its steps while the stored files are read (a shared hold)."""
        with self._lock, self.process_lock.shared():
            yield

    def change_stamp(self) -> tuple[int, int]:
        """A cheap stamp that changes whenever the database does: the rows this connection
        changed, and SQLite's count of commits made by other connections (other processes)."""
        with self._lock:
            other = self._conn.execute("PRAGMA data_version").fetchone()[0]
            return self._conn.total_changes, other

    # ----------------------------------------------------------------- file layout
    def file_path(self, relative: str) -> Path:
        return self.paths.data_dir / relative

    def _relative_paths(self, sha256: str, suffix: str) -> dict[str, str]:
        shard = sha256[:2]
        return {
            "original": f"{self.paths.originals.name}/{shard}/{sha256}{suffix}",
            "working": f"{self.paths.working.name}/{shard}/{sha256}.jpg",
            "thumbnail": f"{self.paths.thumbnails.name}/{shard}/{sha256}.jpg",
        }

    def _journal_path(self, role: str, relative: str) -> Path:
        # incoming/<sha>.<role><suffix>: enough to find the row and the final place again.
        name = Path(relative).name
        sha, suffix = name.split(".", 1)
        return self.paths.incoming / f"{sha}.{role}.{suffix}"

    def _final_path(self, sha: str, role: str, suffix: str) -> Path:
        folder = {
            "original": self.paths.originals,
            "working": self.paths.working,
            "thumbnail": self.paths.thumbnails,
        }[role]
        return folder / sha[:2] / f"{sha}.{suffix}"

    def _settle_journal(self) -> int:
        """Finish or undo whatever a crash left in incoming/ (see the module docstring)."""
        settled = 0
        with self.writing():
            for entry in sorted(self.paths.incoming.iterdir()):
                parts = entry.name.split(".", 2)
                known = len(parts) == 3 and parts[1] in ROLES
                if known and self._has_sha(parts[0]):
                    target = self._final_path(parts[0], parts[1], parts[2])
                    if target.exists():
                        # whole before its row was committed, and never written since: the
                        # entry is a second name of it (a hard link, which a rename onto its
                        # twin would leave in place) or a copy a kill may have cut short
                        entry.unlink()
                    else:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        os.replace(entry, target)
                elif entry.is_dir():
                    continue
                else:
                    if known:  # an add that never committed, or a removal that did
                        self._final_path(parts[0], parts[1], parts[2]).unlink(missing_ok=True)
                    entry.unlink()
                settled += 1
        return settled

    def _has_sha(self, sha: str) -> bool:
        row = self._conn.execute("SELECT 1 FROM items WHERE sha256 = ?", (sha,)).fetchone()
        return row is not None

    # ----------------------------------------------------------------- items: reading
    _ITEM_COLUMNS = (
        "id, sha256, original_name, stored_file, working_file, thumbnail_file, category, "
        "category_source, category_confidence, width, height, added_at, colours, notes, "
        "guess, guess_confidence, cutout, cutout_version, cutout_off, name, name_source"
    )

    def _item_from_row(self, row: tuple, tags: list[str]) -> Item:
        item = Item(
            id=row[0],
            sha256=row[1],
            original_name=row[2],
            stored_file=row[3],
            working_file=row[4],
            thumbnail_file=row[5],
            category=Category(row[6]),
            category_source=CategorySource(row[7]) if row[7] else None,
            category_confidence=row[8],
            width=row[9],
            height=row[10],
            added_at=row[11],
            colours=json.loads(row[12]),
            tags=tags,
            notes=row[13],
            guess=Category(row[14]) if row[14] else None,
            guess_confidence=row[15],
            cutout=row[16],
            cutout_version=row[17],
            cutout_off=bool(row[18]),
            name=row[19] or f"Item {row[0]}",
            named_by_person=row[20] == "user",
        )
        return item

    def _tags_by_item(self) -> dict[int, list[str]]:
        tags: dict[int, list[str]] = {}
        for item_id, tag in self._conn.execute(
            "SELECT item_id, tag FROM item_tags ORDER BY item_id, tag"
        ):
            tags.setdefault(item_id, []).append(tag)
        return tags

    def items(
        self,
        category: Category | None = None,
        *,
        tag: str | None = None,
        ids: Iterable[int] | None = None,
    ) -> list[Item]:
        """Items in the order they were added, optionally of one category or tag, or by id."""
        query = f"SELECT {self._ITEM_COLUMNS} FROM items"
        where, args = [], []
        if category is not None:
            where.append("category = ?")
            args.append(Category(category).value)
        if tag is not None:
            where.append("id IN (SELECT item_id FROM item_tags WHERE tag = ?)")
            args.append(tag)
        if ids is not None:
            wanted = list(ids)
            where.append(f"id IN ({','.join('?' * len(wanted))})" if wanted else "0")
            args.extend(wanted)
        if where:
            query += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY id", args).fetchall()
            tags = self._tags_by_item()
        return [self._item_from_row(row, tags.get(row[0], [])) for row in rows]

    def item(self, item_id: int) -> Item:
        found = self.items(ids=[item_id])
        if not found:
            raise UsageError(f"there is no item {item_id} in the library")
        return found[0]

    def item_by_sha(self, sha256: str) -> Item | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {self._ITEM_COLUMNS} FROM items WHERE sha256 = ?", (sha256,)
            ).fetchone()
        return self._item_from_row(row, []) if row else None

    def known_hashes(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._conn.execute("SELECT sha256 FROM items")}

    def counts(self) -> dict[str, int]:
        """Items per category, every category present (zero where empty)."""
        counts = {c.value: 0 for c in Category}
        with self._lock:
            for category, n in self._conn.execute(
                "SELECT category, COUNT(*) FROM items GROUP BY category"
            ):
                counts[category] = n
        return counts

    # ----------------------------------------------------------------- items: writing
    def add_item(
        self,
        photo: PreparedPhoto,
        category: Category = Category.UNSORTED,
        source: CategorySource | None = None,
    ) -> Item | None:
        """Store one prepared photo; None when the same photo is already in the library."""
        rel = self._relative_paths(photo.sha256, photo.suffix)
        contents = {
            "original": photo.original,
            "working": photo.working_jpeg,
            "thumbnail": photo.thumbnail_jpeg,
        }
        with self.writing():
            if self._has_sha(photo.sha256):
                return None
            journal = {role: self._journal_path(role, rel[role]) for role in ROLES}
            targets = {role: self.file_path(rel[role]) for role in ROLES}
            there = {role for role in ROLES if targets[role].exists()}  # e.g. a lost row's
            try:
                for role in ROLES:
                    _write_file(journal[role], contents[role])
                for role in ROLES:  # in place before the row is: a reader never misses a file
                    _second_name(journal[role], targets[role])
            except OSError as exc:
                # nothing of this photo stays half-written: no row names its files (none has
                # its hash), and the writing lock keeps every other writer out meanwhile; files
                # that were in place before are left to the next check
                for role in ROLES:
                    if role not in there:
                        targets[role].unlink(missing_ok=True)
                    journal[role].unlink(missing_ok=True)
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise DiskFull(
                        f"the disk holding the library ({self.paths.data_dir}) is full"
                    ) from None
                raise StylistError(
                    f"{photo.source.name}: cannot be stored in the library: {exc.strerror or exc}"
                ) from None
            category = Category(category)
            if category == Category.UNSORTED:
                source = None
            elif source is None:
                source = CategorySource.USER
            try:
                cur = self._conn.execute(
                    "INSERT INTO items (sha256, original_name, stored_file, working_file, "
                    "thumbnail_file, category, category_source, width, height, added_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        photo.sha256,
                        printable(photo.source.name),
                        rel["original"],
                        rel["working"],
                        rel["thumbnail"],
                        category.value,
                        source.value if source else None,
                        photo.width,
                        photo.height,
                        now_iso(),
                    ),
                )
            except sqlite3.IntegrityError:
                # the same photo, added by another process since the check above: the files in
                # place are its (the same bytes)
                for path in journal.values():
                    path.unlink(missing_ok=True)
                return None
            except BaseException:
                # no row: nothing may stay in place; where that cannot be told, the journal stays
                # and the next opening settles it
                if not self._has_sha(photo.sha256):
                    for role in ROLES:
                        targets[role].unlink(missing_ok=True)
                        journal[role].unlink(missing_ok=True)
                raise
            # Autocommit mode: the INSERT above is its own committed transaction.
            for path in journal.values():
                path.unlink(missing_ok=True)
            item_id = cur.lastrowid
            self._refresh_name(item_id)
        return self.item(item_id)

    def remove_items(self, item_ids: Iterable[int]) -> list[int]:
        """Remove items, their files, features, verdicts and favourites. Returns removed ids."""
        removed = []
        with self.writing():
            for item_id in item_ids:
                row = self._conn.execute(
                    "SELECT stored_file, working_file, thumbnail_file FROM items WHERE id = ?",
                    (item_id,),
                ).fetchone()
                if row is None:
                    raise UsageError(f"there is no item {item_id} in the library")
                placed, journal = [], []
                for role, relative in zip(ROLES, row, strict=True):
                    source = self.file_path(relative)
                    target = self._journal_path(role, relative)
                    if source.exists():
                        _second_name(source, target)
                        placed.append(source)
                        journal.append(target)
                self._conn.execute("DELETE FROM items WHERE id = ?", (item_id,))
                for path in placed + journal:  # the row is gone: now the files
                    path.unlink(missing_ok=True)
                removed.append(item_id)
        return removed

    def set_category(
        self,
        item_id: int,
        category: Category,
        source: CategorySource,
        confidence: float | None = None,
    ) -> bool:
        """Set an item's category. A guess (AUTO) never overwrites what the person said (USER)."""
        category = Category(category)
        source = CategorySource(source)
        with self._lock:
            current = self._conn.execute(
                "SELECT category_source FROM items WHERE id = ?", (item_id,)
            ).fetchone()
            if current is None:
                raise UsageError(f"there is no item {item_id} in the library")
            if source == CategorySource.AUTO and current[0] == CategorySource.USER.value:
                return False
            self._conn.execute(
                "UPDATE items SET category = ?, category_source = ?, category_confidence = ? "
                "WHERE id = ?",
                (
                    category.value,
                    None if category == Category.UNSORTED else source.value,
                    confidence,
                    item_id,
                ),
            )
            self._refresh_name(item_id)
        return True

    def set_guess(self, item_id: int, category: Category | None, confidence: float | None) -> None:
        """Keep the category head's guess beside the category, for the person to confirm."""
        with self._lock:
            self._update(
                item_id,
                "guess = ?, guess_confidence = ?",
                (Category(category).value if category else None, confidence),
            )
            self._refresh_name(item_id)

    def set_colours(self, item_id: int, colours: list[str]) -> None:
        with self._lock:
            self._update(item_id, "colours = ?", (json.dumps(list(colours)),))
            self._refresh_name(item_id)

    def rename(self, item_id: int, name: str) -> Item:
        """Give an item the person's own name; an empty name lets Stylist name it again."""
        clean = clean_name(name)
        with self._lock:
            if clean:
                self._update(item_id, "name = ?, name_source = 'user'", (clean,))
            else:
                self._update(item_id, "name_source = NULL", ())
                self._refresh_name(item_id)
        return self.item(item_id)

    def _refresh_name(self, item_id: int) -> None:
        """Name an item from its colour and category, unless the person has named it."""
        row = self._conn.execute(
            "SELECT category, colours, guess, name, name_source FROM items WHERE id = ?",
            (item_id,),
        ).fetchone()
        if row is None or row[4] == "user":
            return
        base = base_name(Category(row[0]), json.loads(row[1]), Category(row[2]) if row[2] else None)
        current = row[3]
        if current == base or (
            current.startswith(base + " ") and current[len(base) + 1 :].isdigit()
        ):
            return  # already this name (or this name numbered): keep it steady
        taken = [
            r[0]
            for r in self._conn.execute(
                "SELECT name FROM items WHERE id != ? AND (name = ? OR name LIKE ?)",
                (item_id, base, base + " %"),
            )
        ]
        self._conn.execute(
            "UPDATE items SET name = ?, name_source = 'auto' WHERE id = ?",
            (numbered(base, taken), item_id),
        )

    def _assign_names(self) -> None:
        """Name every item that has no name yet (items from before names existed)."""
        with self._lock:
            ids = [
                r[0] for r in self._conn.execute("SELECT id FROM items WHERE name = '' ORDER BY id")
            ]
            if ids:
                with self._transaction():
                    for item_id in ids:
                        self._refresh_name(item_id)

    def set_notes(self, item_id: int, notes: str) -> None:
        with self._lock:
            self._update(item_id, "notes = ?", (notes,))

    def set_tags(self, item_id: int, tags: Iterable[str]) -> None:
        clean = sorted({t.strip() for t in tags if t.strip()})
        with self._lock:
            self.item(item_id)
            with self._transaction():
                self._conn.execute("DELETE FROM item_tags WHERE item_id = ?", (item_id,))
                self._conn.executemany(
                    "INSERT INTO item_tags (item_id, tag) VALUES (?, ?)",
                    [(item_id, t) for t in clean],
                )

    def _update(self, item_id: int, assignments: str, args: tuple) -> None:
        cur = self._conn.execute(f"UPDATE items SET {assignments} WHERE id = ?", (*args, item_id))
        if cur.rowcount == 0:
            raise UsageError(f"there is no item {item_id} in the library")

    # ----------------------------------------------------------------- features
    def features(self, backbone_id: str, model_sha256: str) -> dict[int, np.ndarray]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT item_id, vector FROM features WHERE backbone = ? AND model_sha256 = ?",
                (backbone_id, model_sha256),
            ).fetchall()
        return {item_id: np.frombuffer(blob, dtype=np.float32) for item_id, blob in rows}

    def put_features(
        self,
        backbone_id: str,
        model_sha256: str,
        vectors: Mapping[int, np.ndarray],
        mask_keys: Mapping[int, int] | None = None,
    ) -> None:
        """Store features; ``mask_keys`` names what each was computed on (``Item.mask_key``,
        the working copy when absent), so that features of a changed cut-out count as missing."""
        rows = []
        for item_id, vector in vectors.items():
            v = np.ascontiguousarray(vector, dtype=np.float32).ravel()
            key = (mask_keys or {}).get(item_id, 0)
            rows.append((item_id, backbone_id, model_sha256, v.size, v.tobytes(), key))
        with self.writing(), self._transaction():
            self._conn.executemany(
                "INSERT OR REPLACE INTO features (item_id, backbone, model_sha256, dim, vector,"
                " mask_version) SELECT ?, ?, ?, ?, ?, ?"
                " WHERE EXISTS (SELECT 1 FROM items WHERE id = ?)",
                [(*r, r[0]) for r in rows],
            )

    def items_without_features(self, backbone_id: str, model_sha256: str) -> list[Item]:
        with self._lock:
            ids = [
                row[0]
                for row in self._conn.execute(
                    "SELECT id FROM items WHERE id NOT IN (SELECT item_id FROM features "
                    "WHERE backbone = ? AND model_sha256 = ? AND mask_version = "
                    # the features of what the models see now (Item.mask_key)
                    "(CASE WHEN items.cutout IN ('auto', 'edited') AND NOT items.cutout_off "
                    "THEN items.cutout_version ELSE 0 END)) ORDER BY id",
                    (backbone_id, model_sha256),
                )
            ]
        return self.items(ids=ids)

    def drop_features(self, backbone_id: str | None = None) -> None:
        with self._lock:
            if backbone_id is None:
                self._conn.execute("DELETE FROM features")
            else:
                self._conn.execute("DELETE FROM features WHERE backbone = ?", (backbone_id,))

    # ----------------------------------------------------------------- verdicts and favourites
    def _check_outfit(self, outfit: Outfit) -> None:
        for slot, item_id in zip(outfit.slots(), outfit.ids(), strict=True):
            row = self._conn.execute("SELECT 1 FROM items WHERE id = ?", (item_id,)).fetchone()
            if row is None:
                what = slot.replace("_", "-")
                raise UsageError(f"there is no item {item_id} in the library (the {what})")

    def add_verdict(self, outfit: Outfit, verdict: Verdict, source: str) -> int:
        """Record a verdict; it replaces any earlier verdict on the same outfit (the latest
        counts, once). Returns its id."""
        row = _outfit_row(outfit)
        with self.writing():
            self._check_outfit(outfit)
            with self._transaction():
                self._conn.execute(
                    "DELETE FROM feedback WHERE top_id IS ? AND bottom_id IS ? AND shoes_id IS ? "
                    "AND one_piece_id IS ?",
                    row,
                )
                verdict_id = self._conn.execute(
                    "INSERT INTO verdict_ids DEFAULT VALUES"
                ).lastrowid  # never handed out before, unlike a plain rowid
                self._conn.execute("DELETE FROM verdict_ids")
                self._conn.execute(
                    f"INSERT INTO feedback (id, {_OUTFIT_COLUMNS}, verdict, source, created_at, "
                    "holdout) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        verdict_id,
                        *row,
                        Verdict(verdict).value,
                        source,
                        now_iso(),
                        int(is_holdout(outfit.ids())),
                    ),
                )
            return verdict_id

    def add_wear(self, outfit: Outfit, verdict_id: int | None) -> int:
        """Record that the outfit was worn now (with the like it counts as, for undo)."""
        with self.writing():
            self._check_outfit(outfit)
            cur = self._conn.execute(
                f"INSERT INTO wears ({_OUTFIT_COLUMNS}, verdict_id, worn_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (*_outfit_row(outfit), verdict_id, now_iso()),
            )
            return cur.lastrowid

    def remove_verdict(self, verdict_id: int) -> None:
        """Undo a verdict (and the wear recorded with it)."""
        with self.writing(), self._transaction():
            self._conn.execute("DELETE FROM feedback WHERE id = ?", (verdict_id,))
            self._conn.execute("DELETE FROM wears WHERE verdict_id = ?", (verdict_id,))

    def verdicts(self) -> list[VerdictRow]:
        """One verdict per outfit, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT id, {_OUTFIT_COLUMNS}, verdict, source, created_at, holdout "
                "FROM feedback ORDER BY id"
            ).fetchall()
        return [
            VerdictRow(r[0], Outfit(*r[1:5]), Verdict(r[5]), r[6], r[7], bool(r[8])) for r in rows
        ]

    def wears(self) -> list[WearRow]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT id, {_OUTFIT_COLUMNS}, worn_at FROM wears ORDER BY id"
            ).fetchall()
        return [WearRow(r[0], Outfit(*r[1:5]), r[5]) for r in rows]

    def _assign_holdout_flags(self) -> None:
        """Verdicts recorded by an older Stylist get their validation flag once (on open, under
        the library's exclusive lock)."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT id, {_OUTFIT_COLUMNS} FROM feedback WHERE holdout IS NULL"
            ).fetchall()
            if not rows:
                return
            with self._transaction():
                self._conn.executemany(
                    "UPDATE feedback SET holdout = ? WHERE id = ?",
                    [(int(is_holdout(Outfit(*r[1:5]).ids())), r[0]) for r in rows],
                )

    def add_favourite(self, outfit: Outfit) -> int:
        with self.writing():
            self._check_outfit(outfit)
            self._conn.execute(
                f"INSERT OR IGNORE INTO favourites ({_OUTFIT_COLUMNS}, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (*_outfit_row(outfit), now_iso()),
            )
            return self._conn.execute(
                "SELECT id FROM favourites WHERE top_id IS ? AND bottom_id IS ? AND shoes_id = ? "
                "AND one_piece_id IS ?",
                _outfit_row(outfit),
            ).fetchone()[0]

    def remove_favourite(self, favourite_id: int) -> None:
        with self.writing():
            cur = self._conn.execute("DELETE FROM favourites WHERE id = ?", (favourite_id,))
            if cur.rowcount == 0:
                raise UsageError(f"there is no favourite {favourite_id}")

    def favourites(self) -> list[FavouriteRow]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT id, {_OUTFIT_COLUMNS}, created_at FROM favourites ORDER BY id"
            ).fetchall()
        return [FavouriteRow(r[0], Outfit(*r[1:5]), r[5]) for r in rows]

    # ----------------------------------------------------------------- personal model versions
    def add_model_version(
        self, backbone: str, net: str, file: str, config: dict, metrics: dict, active: bool
    ) -> int:
        with self.writing():
            with self._transaction():
                if active:
                    self._conn.execute(
                        "UPDATE model_versions SET active = 0 WHERE backbone = ? AND net = ?",
                        (backbone, net),
                    )
                cur = self._conn.execute(
                    "INSERT INTO model_versions (backbone, net, file, config, metrics, created_at,"
                    " active) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        backbone,
                        net,
                        file,
                        json.dumps(config),
                        json.dumps(metrics),
                        now_iso(),
                        int(active),
                    ),
                )
            return cur.lastrowid

    def model_versions(self, backbone: str | None = None) -> list[ModelVersion]:
        query = (
            "SELECT id, backbone, net, file, config, metrics, created_at, active "
            "FROM model_versions"
        )
        args: tuple = ()
        if backbone is not None:
            query += " WHERE backbone = ?"
            args = (backbone,)
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY id", args).fetchall()
        return [
            ModelVersion(
                r[0], r[1], r[2], r[3], json.loads(r[4]), json.loads(r[5]), r[6], bool(r[7])
            )
            for r in rows
        ]

    def use_model_version(self, version_id: int) -> ModelVersion:
        with self.writing():
            found = [v for v in self.model_versions() if v.id == version_id]
            if not found:
                raise UsageError(f"there is no model version {version_id}")
            version = found[0]
            with self._transaction():
                self._conn.execute(
                    "UPDATE model_versions SET active = (id = ?) WHERE backbone = ? AND net = ?",
                    (version_id, version.backbone, version.net),
                )
        version.active = True
        return version

    def set_aside_model_version(self, version_id: int) -> None:
        """Stop using a version (its files stay): the general model ranks instead."""
        with self.writing():
            self._conn.execute("UPDATE model_versions SET active = 0 WHERE id = ?", (version_id,))

    def use_general_model(self, backbone: str, net: str = "C") -> int:
        """Use the general model again: no personal version of ``net`` is active. Returns how
        many were set aside (0 when the general model was in use already)."""
        with self.writing():
            cur = self._conn.execute(
                "UPDATE model_versions SET active = 0 WHERE backbone = ? AND net = ? AND active",
                (backbone, net),
            )
            return cur.rowcount

    # ----------------------------------------------------------------- integrity
    def check(self, repair: bool = False, deep: bool = False) -> CheckReport:
        """Check the database and every stored file and say what a repair would do; with
        ``repair``, mend what can be mended without destroying anything (see
        ``library.repair``). ``deep`` also hashes every original against its name."""
        from stylist.library.repair import check_library

        report = CheckReport(settled_on_open=self.settled_on_open, recovered=list(self.recovered))
        hold = self.writing() if repair else self.reading_files()
        with hold:
            check_library(self, report, repair=repair, deep=deep)
        return report

    def _adopt_after_recovery(self) -> list[str]:
        """After a database was restored from a backup: items again for the photos stored
        since (their originals are in photos/, named by their content hash)."""
        from stylist.library.repair import adopt_stored, unregistered_originals

        return adopt_stored(self, unregistered_originals(self))

    def backup(self) -> Path:
        """A backup of the database now (the rolling backups are made on open, once a day)."""
        with self._lock:
            return backups.backup_now(self._conn, self.paths)


def _second_name(source: Path, target: Path) -> None:
    """Give ``source`` a second name ``target`` (replacing what is there): a hard link, or a copy
    where the file system has no links. A copy cut short is settled like any journal entry."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _write_file(path: Path, data: bytes) -> None:
    """Write a journal file (``incoming/`` is settled on open, so no temporary name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
