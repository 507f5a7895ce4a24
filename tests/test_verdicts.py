"""Verdicts as data: one per outfit, wears apart, a permanent validation flag, never trained on."""

from __future__ import annotations

import sqlite3

import numpy as np

from stylist.domain import HOLDOUT_SHARE, Category, Outfit, Verdict, is_holdout
from stylist.library import Library, schema
from stylist.service import Stylist


def _outfits(stylist: Stylist) -> list[Outfit]:
    tops, bottoms, shoes = (
        [i.id for i in stylist.items(c)] for c in (Category.TOP, Category.BOTTOM, Category.SHOES)
    )
    return [Outfit(t, b, s) for t in tops for b in bottoms for s in shoes]


def test_the_validation_flag_is_a_stable_fifth():
    outfits = [(t, b, s) for t in range(30) for b in range(30, 50) for s in range(50, 60)]
    flags = [is_holdout(o) for o in outfits]
    assert abs(np.mean(flags) - HOLDOUT_SHARE) < 0.02
    assert flags == [is_holdout(o) for o in outfits]  # the same outfit, the same side


def test_one_verdict_per_outfit_the_latest_counts(demo):
    a, b = _outfits(demo)[:2]
    demo.rate(a, Verdict.LIKE)
    demo.rate(a, Verdict.LIKE)
    last = demo.rate(a, Verdict.DISLIKE)  # liked, then disliked: a dislike, once
    demo.rate(b, Verdict.LIKE)
    rows = demo.library.verdicts()
    assert [(r.outfit, r.verdict) for r in rows] == [(a, Verdict.DISLIKE), (b, Verdict.LIKE)]
    assert rows[0].id == last
    assert [r.holdout for r in rows] == [is_holdout(a.ids()), is_holdout(b.ids())]
    demo.undo_verdict(last)
    assert [r.outfit for r in demo.library.verdicts()] == [b]


def test_wearing_records_wears_and_at_most_one_like(demo):
    a = _outfits(demo)[0]
    demo.rate(a, Verdict.DISLIKE)
    demo.wore(a)
    second = demo.wore(a)
    rows = demo.library.verdicts()
    assert [(r.verdict, r.source) for r in rows] == [(Verdict.LIKE, "wore")]
    assert len(demo.library.wears()) == 2
    assert set(a.ids()) <= demo.recently_worn(1)
    demo.undo_verdict(second)  # undo the last "wore it": its like and its wear go
    assert demo.library.verdicts() == [] and len(demo.library.wears()) == 1


def test_an_older_library_is_cleaned_on_upgrade(paths):
    """Duplicates and "wore" likes of a library written before verdicts were kept clean."""
    mine = next(n for n, m in enumerate(schema.MIGRATIONS) if "CREATE TABLE wears" in m)
    paths.data_dir.mkdir(parents=True)
    conn = sqlite3.connect(paths.database, isolation_level=None)
    schema.migrate(conn, target=mine)  # the database as the Stylist before this change left it
    conn.execute(
        "INSERT INTO items (id, sha256, original_name, stored_file, working_file, "
        "thumbnail_file, category, width, height, added_at) VALUES "
        "(1, 'a', 'a', 'a', 'a', 'a', 'top', 1, 1, ''), "
        "(2, 'b', 'b', 'b', 'b', 'b', 'bottom', 1, 1, ''), "
        "(3, 'c', 'c', 'c', 'c', 'c', 'shoes', 1, 1, '')"
    )
    conn.executemany(
        "INSERT INTO feedback (top_id, bottom_id, shoes_id, verdict, source, created_at) "
        "VALUES (1, 2, 3, ?, ?, ?)",
        [
            ("like", "suggestion", "2026-01-01T00:00:00+00:00"),
            ("like", "wore", "2026-01-02T00:00:00+00:00"),
            ("dislike", "suggestion", "2026-01-03T00:00:00+00:00"),
        ],
    )
    conn.close()
    with Library.open(paths) as library:
        rows = library.verdicts()
        assert [(r.outfit, r.verdict) for r in rows] == [(Outfit(1, 2, 3), Verdict.DISLIKE)]
        assert rows[0].holdout == is_holdout((1, 2, 3))
        assert [w.worn_at[:10] for w in library.wears()] == ["2026-01-02"]


def test_no_version_trains_on_a_validation_verdict(demo, monkeypatch):
    """Asserted on the very arrays handed to the optimiser's loop."""
    import stylist.tune as tune

    made: list = []

    class Items(tune._Items):
        def __init__(self, wardrobe):
            super().__init__(wardrobe)
            made.append(self)

    trained_on: list[set] = []
    real_fit = tune.fit

    def fit(scorer, positives, negatives, epochs, schedule, **kwargs):
        rows = {tuple(int(x) for x in t) for t in positives}

        def drawn_negatives(rng):
            drawn = negatives(rng)
            rows.update(tuple(int(x) for x in t) for t in drawn.reshape(-1, 3))
            return drawn

        result = real_fit(scorer, positives, drawn_negatives, epochs, schedule, **kwargs)
        trained_on.append(rows)
        return result

    monkeypatch.setattr(tune, "_Items", Items)
    monkeypatch.setattr(tune, "fit", fit)
    outfits = _outfits(demo)
    rng = np.random.default_rng(5)
    chosen = [outfits[i] for i in rng.choice(len(outfits), 60, replace=False)]
    for n, outfit in enumerate(chosen):
        demo.rate(outfit, Verdict.LIKE if n % 3 else Verdict.DISLIKE)
    held = {r.outfit.ids() for r in demo.library.verdicts() if r.holdout}
    assert 5 <= len(held) <= 20
    report = demo.train()
    assert report.metrics["val_likes"] + report.metrics["val_dislikes"] == len(held)
    assert report.metrics["validated"] is True

    items = made[-1]
    by_row = {row: item_id for (slot, item_id), row in items.ids.items()}
    seen = {tuple(by_row[r] for r in t) for t in trained_on[-1]}
    assert len(seen) > len(chosen)  # liked outfits, disliked ones and random negatives
    assert not held & seen
    judged_training = {r.outfit.ids() for r in demo.library.verdicts() if not r.holdout}
    assert {o for o in judged_training} <= seen


def test_verdict_ids_are_never_used_twice(demo):
    a, b = _outfits(demo)[:2]
    first = demo.rate(a, Verdict.LIKE)
    demo.undo_verdict(first)
    second = demo.rate(a, Verdict.LIKE)
    third = demo.rate(a, Verdict.DISLIKE)
    assert first < second < third
    demo.close()
    reopened = Stylist(demo.paths)
    try:
        assert reopened.rate(b, Verdict.LIKE) > third
    finally:
        reopened.close()
    demo.library = Library.open(demo.paths)  # for the fixture's close
