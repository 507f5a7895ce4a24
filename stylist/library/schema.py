"""The library's SQLite schema and its migrations.

The schema version is SQLite's ``user_version``. Each migration moves the database one version up
inside one transaction, so a database made by any older Stylist opens and is upgraded in place;
a database made by a newer Stylist is refused rather than damaged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from stylist.errors import StylistError

# Migration N (index N - 1) takes a database from version N - 1 to version N.
MIGRATIONS: tuple[str, ...] = (
    # 1: items and their features.
    """
    CREATE TABLE items (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        original_name TEXT NOT NULL,
        stored_file TEXT NOT NULL,
        working_file TEXT NOT NULL,
        thumbnail_file TEXT NOT NULL,
        category TEXT NOT NULL DEFAULT 'unsorted'
            CHECK (category IN ('top', 'bottom', 'shoes', 'one-piece', 'other', 'unsorted')),
        category_source TEXT CHECK (category_source IN ('user', 'auto')),
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        added_at TEXT NOT NULL
    );
    CREATE INDEX items_category ON items (category);
    CREATE TABLE features (
        item_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
        backbone TEXT NOT NULL,
        model_sha256 TEXT NOT NULL,
        dim INTEGER NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (item_id, backbone, model_sha256)
    );
    """,
    # 2: what the person says: tags, notes, colours, confidence; verdicts, favourites, models.
    """
    ALTER TABLE items ADD COLUMN category_confidence REAL;
    ALTER TABLE items ADD COLUMN colours TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE items ADD COLUMN notes TEXT NOT NULL DEFAULT '';
    CREATE TABLE item_tags (
        item_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
        tag TEXT NOT NULL,
        PRIMARY KEY (item_id, tag)
    );
    CREATE INDEX item_tags_tag ON item_tags (tag);
    CREATE TABLE feedback (
        id INTEGER PRIMARY KEY,
        top_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
        bottom_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
        shoes_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
        verdict TEXT NOT NULL CHECK (verdict IN ('like', 'dislike')),
        source TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX feedback_created ON feedback (created_at);
    CREATE TABLE favourites (
        id INTEGER PRIMARY KEY,
        top_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
        bottom_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
        shoes_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
        created_at TEXT NOT NULL,
        UNIQUE (top_id, bottom_id, shoes_id)
    );
    CREATE TABLE model_versions (
        id INTEGER PRIMARY KEY,
        backbone TEXT NOT NULL,
        net TEXT NOT NULL,
        file TEXT NOT NULL,
        config TEXT NOT NULL DEFAULT '{}',
        metrics TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 0
    );
    """,
    # 3: the category head's guess is kept beside the category, so a person can confirm it.
    """
    ALTER TABLE items ADD COLUMN guess TEXT;
    ALTER TABLE items ADD COLUMN guess_confidence REAL;
    """,
    # 4: one-piece outfits (a one-piece and shoes) in verdicts and favourites. SQLite cannot drop
    # NOT NULL from a column, so both tables are rebuilt; rows and their ids are kept.
    """
    CREATE TABLE feedback_new (
        id INTEGER PRIMARY KEY,
        top_id INTEGER REFERENCES items (id) ON DELETE CASCADE,
        bottom_id INTEGER REFERENCES items (id) ON DELETE CASCADE,
        shoes_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
        one_piece_id INTEGER REFERENCES items (id) ON DELETE CASCADE,
        verdict TEXT NOT NULL CHECK (verdict IN ('like', 'dislike')),
        source TEXT NOT NULL,
        created_at TEXT NOT NULL,
        CHECK ((top_id IS NOT NULL AND bottom_id IS NOT NULL AND one_piece_id IS NULL)
            OR (top_id IS NULL AND bottom_id IS NULL AND one_piece_id IS NOT NULL))
    );
    INSERT INTO feedback_new (id, top_id, bottom_id, shoes_id, verdict, source, created_at)
        SELECT id, top_id, bottom_id, shoes_id, verdict, source, created_at FROM feedback;
    DROP TABLE feedback;
    ALTER TABLE feedback_new RENAME TO feedback;
    CREATE INDEX feedback_created ON feedback (created_at);
    CREATE TABLE favourites_new (
        id INTEGER PRIMARY KEY,
        top_id INTEGER REFERENCES items (id) ON DELETE CASCADE,
        bottom_id INTEGER REFERENCES items (id) ON DELETE CASCADE,
        shoes_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
        one_piece_id INTEGER REFERENCES items (id) ON DELETE CASCADE,
        created_at TEXT NOT NULL,
        CHECK ((top_id IS NOT NULL AND bottom_id IS NOT NULL AND one_piece_id IS NULL)
            OR (top_id IS NULL AND bottom_id IS NULL AND one_piece_id IS NOT NULL))
    );
    INSERT INTO favourites_new (id, top_id, bottom_id, shoes_id, created_at)
        SELECT id, top_id, bottom_id, shoes_id, created_at FROM favourites;
    DROP TABLE favourites;
    ALTER TABLE favourites_new RENAME TO favourites;
    -- NULLs are distinct in a UNIQUE constraint, so one-piece favourites are made unique on
    -- the ids with NULL read as 0 (no item has id 0).
    CREATE UNIQUE INDEX favourites_outfit ON favourites
        (IFNULL(top_id, 0), IFNULL(bottom_id, 0), shoes_id, IFNULL(one_piece_id, 0));
    """,
    # 5: verdicts as clean data: one per outfit (the latest), a permanent validation flag each
    # (NULL until the library assigns it on open), wears apart from likes, and verdict ids that
    # are never used twice (a new verdict is newer than every training, even after an undo).
    """
    ALTER TABLE feedback ADD COLUMN holdout INTEGER;
    CREATE TABLE wears (
        id INTEGER PRIMARY KEY,
        top_id INTEGER REFERENCES items (id) ON DELETE CASCADE,
        bottom_id INTEGER REFERENCES items (id) ON DELETE CASCADE,
        shoes_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
        one_piece_id INTEGER REFERENCES items (id) ON DELETE CASCADE,
        verdict_id INTEGER,
        worn_at TEXT NOT NULL
    );
    CREATE INDEX wears_worn_at ON wears (worn_at);
    INSERT INTO wears (top_id, bottom_id, shoes_id, one_piece_id, verdict_id, worn_at)
        SELECT top_id, bottom_id, shoes_id, one_piece_id, id, created_at
        FROM feedback WHERE source = 'wore';
    DELETE FROM feedback WHERE id NOT IN (
        SELECT MAX(id) FROM feedback GROUP BY top_id, bottom_id, shoes_id, one_piece_id
    );
    CREATE INDEX feedback_outfit ON feedback (top_id, bottom_id, shoes_id, one_piece_id);
    CREATE TABLE verdict_ids (id INTEGER PRIMARY KEY AUTOINCREMENT);
    INSERT INTO verdict_ids (id) SELECT MAX(id) FROM feedback;
    DELETE FROM verdict_ids;
    """,
    # garments cut out of their background: the mask's state and version per item, and the
    # version features were computed on (0: the working copy as it is).
    """
    ALTER TABLE items ADD COLUMN cutout TEXT CHECK (cutout IN ('auto', 'edited', 'rejected'));
    ALTER TABLE items ADD COLUMN cutout_version INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE items ADD COLUMN cutout_off INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE features ADD COLUMN mask_version INTEGER NOT NULL DEFAULT 0;
    """,
    # a display name per item ("Navy top"), given by the person ('user') or made by Stylist
    # from colour and category ('auto'); the library names every unnamed item when it opens.
    """
    ALTER TABLE items ADD COLUMN name TEXT NOT NULL DEFAULT '';
    ALTER TABLE items ADD COLUMN name_source TEXT CHECK (name_source IN ('user', 'auto'));
    """,
    # the cut-out recipe (vision.cutout.MASK_VERSION) each item's cut-out was made with, so that
    # a better recipe makes the automatic masks again (0: before recipes were recorded).
    """
    ALTER TABLE items ADD COLUMN cutout_recipe INTEGER NOT NULL DEFAULT 0;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


@contextmanager
def transaction(conn: sqlite3.Connection, mode: str = "") -> Iterator[sqlite3.Connection]:
    """One all-or-nothing transaction on an autocommit connection: committed when the block
    ends, rolled back when it raises (so no error leaves the connection inside a transaction).
    ``mode`` is SQLite's ``DEFERRED``, ``IMMEDIATE`` or ``EXCLUSIVE``."""
    conn.execute(f"BEGIN {mode}".rstrip())
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def version_of(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> list[int]:
    """Bring the database up to ``target``; returns the versions applied.

    Each step runs under ``BEGIN IMMEDIATE`` (the database's write lock) and reads the version
    again inside it, so two processes opening a fresh or older library at once apply each
    migration exactly once: the second finds the work done and moves on."""
    current = version_of(conn)
    _refuse_newer(current)
    applied = []
    for version in range(current + 1, target + 1):
        # executescript would commit on its own; run each statement inside one transaction.
        with transaction(conn, "IMMEDIATE"):
            inside = version_of(conn)
            _refuse_newer(inside)
            if inside >= version:
                continue
            for statement in _statements(MIGRATIONS[version - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
        applied.append(version)
    return applied


def _refuse_newer(version: int) -> None:
    if version > SCHEMA_VERSION:
        raise StylistError(
            f"the library was written by a newer Stylist (schema {version}, this one knows "
            f"{SCHEMA_VERSION}); update Stylist to open it"
        )


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
