"""The wardrobe library: one SQLite database and the photo files it owns, behind one writer.

Every write goes through a ``Library`` object, serialised by its lock, and every write that must be
all-or-nothing is one transaction. Files follow a small journal protocol so that a crash or a kill
at any moment leaves a consistent library:

* adding: the three files are written into ``incoming/`` first, then the row is committed, then
  the files are renamed into place;
* removing: the files are moved into ``incoming/``, then the row is deleted, then the files go.

On open, whatever is left in ``incoming/`` is settled: files whose row exists are moved (back)
into place, the others are deleted. So every row has its files and no file is without its row.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from stylist.domain import Category, CategorySource, Item, Outfit, Verdict, is_holdout
from stylist.errors import StylistError, UsageError
from stylist.library import schema
from stylist.library.photos import PreparedPhoto, derived_files
from stylist.paths import Paths

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

    @property
    def consistent(self) -> bool:
        return self.database_ok and not self.missing_files and not self.orphans


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

    def __init__(self, paths: Paths, conn: sqlite3.Connection) -> None:
        self.paths = paths
        self._conn = conn
        self._lock = threading.RLock()
        self.settled_on_open = 0

    # ----------------------------------------------------------------- opening and closing
    @classmethod
    def open(cls, paths: Paths) -> Library:
        paths.ensure()
        try:
            conn = sqlite3.connect(
                paths.database, isolation_level=None, check_same_thread=False, timeout=30
            )
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            schema.migrate(conn)
        except sqlite3.DatabaseError as exc:
            raise StylistError(f"the library {paths.database} cannot be opened: {exc}") from None
        library = cls(paths, conn)
        library.settled_on_open = library._settle_journal()
        library._assign_holdout_flags()
        return library

    def close(self) -> None:
        with self._lock:
            self._conn.close()

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
        with self._lock:
            for entry in sorted(self.paths.incoming.iterdir()):
                parts = entry.name.split(".", 2)
                known = len(parts) == 3 and parts[1] in ROLES
                if known and self._has_sha(parts[0]):
                    target = self._final_path(parts[0], parts[1], parts[2])
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(entry, target)
                elif entry.is_dir():
                    continue
                else:
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
        "guess, guess_confidence"
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
        with self._lock:
            if self._has_sha(photo.sha256):
                return None
            journal = {role: self._journal_path(role, rel[role]) for role in ROLES}
            for role in ROLES:
                _write_file(journal[role], contents[role])
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
                        photo.source.name,
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
            except BaseException:
                for path in journal.values():
                    path.unlink(missing_ok=True)
                raise
            # Autocommit mode: the INSERT above is its own committed transaction.
            for role in ROLES:
                target = self.file_path(rel[role])
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(journal[role], target)
            item_id = cur.lastrowid
        return self.item(item_id)

    def remove_items(self, item_ids: Iterable[int]) -> list[int]:
        """Remove items, their files, features, verdicts and favourites. Returns removed ids."""
        removed = []
        with self._lock:
            for item_id in item_ids:
                row = self._conn.execute(
                    "SELECT stored_file, working_file, thumbnail_file FROM items WHERE id = ?",
                    (item_id,),
                ).fetchone()
                if row is None:
                    raise UsageError(f"there is no item {item_id} in the library")
                moved = []
                for role, relative in zip(ROLES, row, strict=True):
                    source = self.file_path(relative)
                    target = self._journal_path(role, relative)
                    if source.exists():
                        os.replace(source, target)
                        moved.append(target)
                self._conn.execute("DELETE FROM items WHERE id = ?", (item_id,))
                for path in moved:
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
        return True

    def set_guess(self, item_id: int, category: Category | None, confidence: float | None) -> None:
        """Keep the category head's guess beside the category, for the person to confirm."""
        with self._lock:
            self._update(
                item_id,
                "guess = ?, guess_confidence = ?",
                (Category(category).value if category else None, confidence),
            )

    def set_colours(self, item_id: int, colours: list[str]) -> None:
        with self._lock:
            self._update(item_id, "colours = ?", (json.dumps(list(colours)),))

    def set_notes(self, item_id: int, notes: str) -> None:
        with self._lock:
            self._update(item_id, "notes = ?", (notes,))

    def set_tags(self, item_id: int, tags: Iterable[str]) -> None:
        clean = sorted({t.strip() for t in tags if t.strip()})
        with self._lock:
            self.item(item_id)
            self._conn.execute("BEGIN")
            try:
                self._conn.execute("DELETE FROM item_tags WHERE item_id = ?", (item_id,))
                self._conn.executemany(
                    "INSERT INTO item_tags (item_id, tag) VALUES (?, ?)",
                    [(item_id, t) for t in clean],
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

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
        self, backbone_id: str, model_sha256: str, vectors: Mapping[int, np.ndarray]
    ) -> None:
        rows = []
        for item_id, vector in vectors.items():
            v = np.ascontiguousarray(vector, dtype=np.float32).ravel()
            rows.append((item_id, backbone_id, model_sha256, v.size, v.tobytes()))
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO features (item_id, backbone, model_sha256, dim, vector)"
                    " SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM items WHERE id = ?)",
                    [(*r, r[0]) for r in rows],
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def items_without_features(self, backbone_id: str, model_sha256: str) -> list[Item]:
        with self._lock:
            ids = [
                row[0]
                for row in self._conn.execute(
                    "SELECT id FROM items WHERE id NOT IN (SELECT item_id FROM features "
                    "WHERE backbone = ? AND model_sha256 = ?) ORDER BY id",
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
        for slot, item_id in zip(("top", "bottom", "shoes"), outfit.ids(), strict=True):
            row = self._conn.execute("SELECT 1 FROM items WHERE id = ?", (item_id,)).fetchone()
            if row is None:
                raise UsageError(f"there is no item {item_id} in the library (the {slot})")

    def add_verdict(self, outfit: Outfit, verdict: Verdict, source: str) -> int:
        """Record a verdict; it replaces any earlier verdict on the same outfit (the latest
        counts, once). Returns its id."""
        ids = outfit.ids()
        with self._lock:
            self._check_outfit(outfit)
            self._conn.execute("BEGIN")
            try:
                self._conn.execute(
                    "DELETE FROM feedback WHERE top_id IS ? AND bottom_id IS ? AND shoes_id IS ?",
                    ids,
                )
                verdict_id = self._conn.execute(
                    "INSERT INTO verdict_ids DEFAULT VALUES"
                ).lastrowid  # never handed out before, unlike a plain rowid
                self._conn.execute("DELETE FROM verdict_ids")
                self._conn.execute(
                    "INSERT INTO feedback (id, top_id, bottom_id, shoes_id, verdict, source, "
                    "created_at, holdout) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        verdict_id,
                        *ids,
                        Verdict(verdict).value,
                        source,
                        now_iso(),
                        int(is_holdout(ids)),
                    ),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            return verdict_id

    def add_wear(self, outfit: Outfit, verdict_id: int | None) -> int:
        """Record that the outfit was worn now (with the like it counts as, for undo)."""
        with self._lock:
            self._check_outfit(outfit)
            cur = self._conn.execute(
                "INSERT INTO wears (top_id, bottom_id, shoes_id, verdict_id, worn_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (*outfit.ids(), verdict_id, now_iso()),
            )
            return cur.lastrowid

    def remove_verdict(self, verdict_id: int) -> None:
        """Undo a verdict (and the wear recorded with it)."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                self._conn.execute("DELETE FROM feedback WHERE id = ?", (verdict_id,))
                self._conn.execute("DELETE FROM wears WHERE verdict_id = ?", (verdict_id,))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def verdicts(self) -> list[VerdictRow]:
        """One verdict per outfit, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, top_id, bottom_id, shoes_id, verdict, source, created_at, holdout "
                "FROM feedback ORDER BY id"
            ).fetchall()
        return [
            VerdictRow(r[0], Outfit(*r[1:4]), Verdict(r[4]), r[5], r[6], bool(r[7])) for r in rows
        ]

    def wears(self) -> list[WearRow]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, top_id, bottom_id, shoes_id, worn_at FROM wears ORDER BY id"
            ).fetchall()
        return [WearRow(r[0], Outfit(*r[1:4]), r[4]) for r in rows]

    def _assign_holdout_flags(self) -> None:
        """Verdicts recorded by an older Stylist get their validation flag once, here."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, top_id, bottom_id, shoes_id FROM feedback WHERE holdout IS NULL"
            ).fetchall()
            if not rows:
                return
            self._conn.execute("BEGIN")
            try:
                self._conn.executemany(
                    "UPDATE feedback SET holdout = ? WHERE id = ?",
                    [(int(is_holdout(tuple(r[1:4]))), r[0]) for r in rows],
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def add_favourite(self, outfit: Outfit) -> int:
        with self._lock:
            self._check_outfit(outfit)
            self._conn.execute(
                "INSERT OR IGNORE INTO favourites (top_id, bottom_id, shoes_id, created_at) "
                "VALUES (?, ?, ?, ?)",
                (*outfit.ids(), now_iso()),
            )
            return self._conn.execute(
                "SELECT id FROM favourites WHERE top_id = ? AND bottom_id = ? AND shoes_id = ?",
                outfit.ids(),
            ).fetchone()[0]

    def remove_favourite(self, favourite_id: int) -> None:
        with self._lock:
            cur = self._conn.execute("DELETE FROM favourites WHERE id = ?", (favourite_id,))
            if cur.rowcount == 0:
                raise UsageError(f"there is no favourite {favourite_id}")

    def favourites(self) -> list[FavouriteRow]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, top_id, bottom_id, shoes_id, created_at FROM favourites ORDER BY id"
            ).fetchall()
        return [FavouriteRow(r[0], Outfit(*r[1:4]), r[4]) for r in rows]

    # ----------------------------------------------------------------- personal model versions
    def add_model_version(
        self, backbone: str, net: str, file: str, config: dict, metrics: dict, active: bool
    ) -> int:
        with self._lock:
            self._conn.execute("BEGIN")
            try:
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
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
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
        with self._lock:
            found = [v for v in self.model_versions() if v.id == version_id]
            if not found:
                raise UsageError(f"there is no model version {version_id}")
            version = found[0]
            self._conn.execute("BEGIN")
            self._conn.execute(
                "UPDATE model_versions SET active = (id = ?) WHERE backbone = ? AND net = ?",
                (version_id, version.backbone, version.net),
            )
            self._conn.execute("COMMIT")
        version.active = True
        return version

    def use_general_model(self, backbone: str, net: str) -> None:
        """No personal version in use for this backbone and net: the general model ranks."""
        with self._lock:
            self._conn.execute(
                "UPDATE model_versions SET active = 0 WHERE backbone = ? AND net = ?",
                (backbone, net),
            )

    # ----------------------------------------------------------------- integrity
    def check(self, repair: bool = False) -> CheckReport:
        """Check the database and the stored files; with ``repair``, mend what can be mended:
        orphan files are removed, lost working copies and thumbnails are made again from the
        original, and rows whose original photo is gone are removed."""
        report = CheckReport(settled_on_open=self.settled_on_open)
        with self._lock:
            messages = [r[0] for r in self._conn.execute("PRAGMA integrity_check")]
            if messages != ["ok"]:
                report.database_ok = False
                report.database_messages.extend(messages)
            bad_keys = self._conn.execute("PRAGMA foreign_key_check").fetchall()
            if bad_keys:
                report.database_ok = False
                report.database_messages.append(f"{len(bad_keys)} rows with broken references")
            rows = self._conn.execute(
                "SELECT id, stored_file, working_file, thumbnail_file FROM items"
            ).fetchall()
            report.items = len(rows)
            referenced = set()
            lost_originals = []
            for item_id, *files in rows:
                for role, relative in zip(ROLES, files, strict=True):
                    referenced.add(relative)
                    if self.file_path(relative).is_file():
                        continue
                    report.missing_files.append(f"item {item_id}: {role} file {relative} missing")
                    if not repair:
                        continue
                    if role == "original":
                        lost_originals.append(item_id)
                    elif self.file_path(files[0]).is_file():
                        working, thumbnail = derived_files(self.file_path(files[0]).read_bytes())
                        data = working if role == "working" else thumbnail
                        _write_file(self.file_path(relative), data, atomic=True)
                        report.repaired.append(f"item {item_id}: {role} file made again")
            for folder in self.paths.stored_dirs():
                for path in sorted(folder.rglob("*")):
                    if path.is_file():
                        relative = path.relative_to(self.paths.data_dir).as_posix()
                        if relative not in referenced:
                            report.orphans.append(relative)
                            if repair:
                                path.unlink()
                                report.repaired.append(f"orphan {relative} removed")
            if repair and lost_originals:
                for item_id in sorted(set(lost_originals)):
                    self.remove_items([item_id])
                    report.repaired.append(f"item {item_id} removed: its photo is gone")
        return report


def _write_file(path: Path, data: bytes, atomic: bool = False) -> None:
    """Write bytes; with ``atomic``, under a temporary name renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target = path.with_name(path.name + ".tmp") if atomic else path
    with open(target, "wb") as handle:
        handle.write(data)
    if atomic:
        os.replace(target, path)
