"""One-piece outfits end to end: the Outfit value, the store and its migration, and the demo
wardrobe with dresses added, ranked by a small four-pair net through the service, the command
line (suggest --json, verdicts, favourites) and every export format."""

from __future__ import annotations

import json
import sqlite3

import pytest
from PIL import Image

from stylist import paths as paths_mod
from stylist.cli import main
from stylist.domain import Category, Outfit, Verdict
from stylist.errors import UsageError
from stylist.library import Library, schema
from stylist.service import Stylist
from tests.one_piece import add_dresses, four_pair_net, use_net


# ---------------------------------------------------------------- the value
def test_an_outfit_is_exactly_one_family():
    three, one = Outfit(1, 2, 3), Outfit(None, None, 3, 4)
    assert three.ids() == (1, 2, 3) and three.slots() == ("top", "bottom", "shoes")
    assert one.ids() == (4, 3) and one.slots() == ("one_piece", "shoes") and one.is_one_piece
    assert Outfit.of([4, 3]) == one and Outfit.of((1, 2, 3)) == three
    assert len({three, one, Outfit(1, 2, 3)}) == 2
    assert one.to_dict() == {"top": None, "bottom": None, "shoes": 3, "one_piece": 4}
    for bad in ((1, None, 3, None), (1, 2, 3, 4), (None, None, 3, None), (None, 2, 3, 4)):
        with pytest.raises(ValueError, match="an outfit is"):
            Outfit(*bad)
    with pytest.raises(ValueError, match="not 4"):
        Outfit.of([1, 2, 3, 4])


# ---------------------------------------------------------------- the store
def one_piece_migration() -> int:
    """The schema version that brings one-piece outfits (whatever its number at merge)."""
    return 1 + next(i for i, m in enumerate(schema.MIGRATIONS) if "one_piece_id" in m)


def test_the_migration_keeps_every_verdict_and_favourite_with_its_id(paths):
    # A library as the version before wrote it, with verdicts and favourites.
    paths.ensure()
    conn = sqlite3.connect(paths.database, isolation_level=None)
    schema.migrate(conn, target=one_piece_migration() - 1)
    for n, category in enumerate(("top", "top", "bottom", "bottom", "shoes", "shoes"), start=1):
        conn.execute(
            "INSERT INTO items (id, sha256, original_name, stored_file, working_file, "
            "thumbnail_file, category, width, height, added_at) "
            "VALUES (?, ?, ?, '', '', '', ?, 1, 1, '2026-01-01T00:00:00+00:00')",
            (n, f"{n:064x}", f"{category}-{n}.jpg", category),
        )
    conn.execute(
        "INSERT INTO feedback VALUES (7, 1, 3, 5, 'like', 'cli', '2026-01-01T00:00:00+00:00')"
    )
    conn.execute(
        "INSERT INTO feedback VALUES (8, 2, 4, 6, 'dislike', 'suggestion', "
        "'2026-01-02T00:00:00+00:00')"
    )
    conn.execute("INSERT INTO favourites VALUES (12, 1, 3, 5, '2026-01-03T00:00:00+00:00')")
    conn.close()

    with Library.open(paths) as library:
        assert schema.version_of(library._conn) == schema.SCHEMA_VERSION
        got = [(v.id, v.outfit, v.verdict, v.source) for v in library.verdicts()]
        assert got == [
            (7, Outfit(1, 3, 5), Verdict.LIKE, "cli"),
            (8, Outfit(2, 4, 6), Verdict.DISLIKE, "suggestion"),
        ]
        assert [(f.id, f.outfit) for f in library.favourites()] == [(12, Outfit(1, 3, 5))]
        # The same three-piece favourite is still kept once; verdicts keep counting on.
        assert library.add_favourite(Outfit(1, 3, 5)) == 12
        assert library.add_verdict(Outfit(2, 3, 6), Verdict.LIKE, "cli") == 9
        # Deleting an item still takes its verdicts and favourites with it.
        library._conn.execute("DELETE FROM items WHERE id = 5")
        assert [v.id for v in library.verdicts()] == [8, 9] and library.favourites() == []


def test_one_piece_verdicts_and_favourites_are_stored_and_removed_with_their_items(
    paths, some_photos
):
    from stylist.library.importer import import_photos

    with Library.open(paths) as library:
        import_photos(library, some_photos[:1], Category.ONE_PIECE)
        import_photos(library, some_photos[8:], Category.SHOES)
        dress = library.items(Category.ONE_PIECE)[0].id
        shoes = [i.id for i in library.items(Category.SHOES)]
        outfit = Outfit(None, None, shoes[0], dress)
        like = library.add_verdict(outfit, Verdict.LIKE, "cli")
        library.add_verdict(Outfit(None, None, shoes[1], dress), Verdict.DISLIKE, "cli")
        fav = library.add_favourite(outfit)
        assert library.add_favourite(outfit) == fav  # unique over the four ids, NULLs included
        other = library.add_favourite(Outfit(None, None, shoes[1], dress))
        assert other != fav
        assert [v.outfit for v in library.verdicts()][0] == outfit
        assert library.verdicts()[0].id == like
        assert [f.outfit for f in library.favourites()] == [
            outfit,
            Outfit(None, None, shoes[1], dress),
        ]
        with pytest.raises(UsageError, match="no item 999 in the library \\(the one-piece\\)"):
            library.add_favourite(Outfit(None, None, shoes[0], 999))
        library.remove_items([dress])
        assert library.verdicts() == [] and library.favourites() == []


# ---------------------------------------------------------------- the demo with dresses
@pytest.fixture(scope="module")
def dress_home(tmp_path_factory, shared_data):
    """The demo wardrobe (one dress) with four more dresses, analysed, ranked by a four-pair net
    whose one-piece outfits share the top of the ranking with three-piece ones."""
    base = paths_mod.for_home(tmp_path_factory.mktemp("base"))
    demo, report = Stylist.open_demo(base)
    assert report is not None and not report.failed
    demo.extract_features()
    dresses = add_dresses(demo, shared_data, tmp_path_factory.mktemp("dresses"), 4)
    assert len(dresses) == 5  # the demo's own dress and the four added
    spec = demo.backbone()
    import numpy as np

    feats = demo.library.features(spec.id, spec.sha256)
    like = np.stack([np.asarray(v, np.float32) for v in feats.values()])
    use_net(demo, four_pair_net(spec.feature_dim, seed=2, one_piece_bias=-2.0, like=like))
    demo.close()
    return base.demo_home


@pytest.fixture
def demo(dress_home):
    with Stylist(paths_mod.for_home(dress_home)) as stylist:
        yield stylist
        for v in stylist.library.verdicts():
            stylist.undo_verdict(v.id)
        for f in stylist.favourites():
            stylist.remove_favourite(f.id)


def test_both_families_are_suggested_on_one_scale(demo):
    got = demo.suggest(20, explain=True, exploration=0.0, max_per_item=None)
    ones = [o for o in got if o.one_piece is not None]
    assert ones and len(ones) < len(got)  # both families reach the top 20
    by_id = {i.id: i for i in demo.items()}
    for o in ones:
        assert o.top is None and o.bottom is None
        assert by_id[o.one_piece].category == Category.ONE_PIECE
        assert by_id[o.shoes].category == Category.SHOES
        assert (
            set(o.pair_scores) == {"one_piece_shoes"}
            and o.score == o.pair_scores["one_piece_shoes"]
        )
        assert o.explanation.weakest_pair == "one_piece_shoes"
        swap = o.explanation.best_swap
        assert swap is None or swap.slot in ("one_piece", "shoes")
    assert [o.score for o in got] == sorted((o.score for o in got), reverse=True)
    assert all(0.0 <= o.score <= 1.0 for o in got)
    assert len({round(o.score, 6) for o in got}) >= 10  # no page of ties


def test_more_with_this_dress_and_tags_over_both_families(demo):
    dress = demo.items(Category.ONE_PIECE)[0].id
    with_dress = demo.suggest(10, with_items=[dress], max_per_item=None, exploration=0.0)
    n_shoes = len(demo.items(Category.SHOES))
    assert len(with_dress) == min(10, n_shoes)
    assert all(o.one_piece == dress for o in with_dress)
    demo.set_tags(dress, ["summer"])
    for shoes in demo.items(Category.SHOES)[:2]:
        demo.set_tags(shoes.id, ["summer"])
    tagged = demo.suggest(10, tags=["summer"], max_per_item=None, exploration=0.0)
    assert len(tagged) == 2 and all(o.one_piece == dress for o in tagged)
    demo.set_tags(dress, [])


def test_verdicts_recently_worn_and_favourites_of_one_piece_outfits(demo, tmp_path):
    best = next(o for o in demo.suggest(20, exploration=0.0) if o.one_piece is not None)
    outfit = best.outfit()
    demo.wore(outfit)
    assert {outfit.one_piece, outfit.shoes} <= demo.recently_worn(7)
    assert all(
        o.one_piece != outfit.one_piece
        for o in demo.suggest(20, not_worn_days=7, max_per_item=None)
    )
    with pytest.raises(UsageError, match="not one-piece"):
        demo.rate(Outfit(None, None, outfit.shoes, demo.items(Category.TOP)[0].id), Verdict.LIKE)
    rated = demo.score_outfit(outfit)
    assert rated.score == pytest.approx(best.score) and rated.one_piece == outfit.one_piece

    three = next(o for o in demo.suggest(20, exploration=0.0) if o.one_piece is None)
    fav = demo.add_favourite(outfit)
    demo.add_favourite(three.outfit())
    png = demo.export_favourites(tmp_path / "favs.png")
    with Image.open(png) as im:
        assert im.format == "PNG"
    pdf = demo.export_favourites(tmp_path / "favs.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and b"/Count 2" in data  # one page per outfit
    js = demo.export_favourites(tmp_path / "favs.json")
    records = json.loads(js.read_text())["outfits"]
    one = next(r for r in records if r["one_piece"] is not None)
    assert one["top"] is None and one["bottom"] is None
    assert one["one_piece"]["id"] == outfit.one_piece and one["shoes"]["id"] == outfit.shoes
    assert one["score"] == pytest.approx(best.score)
    assert (tmp_path / one["one_piece"]["file"]).is_file()
    assert demo.export_favourites(tmp_path / "one.json", ids=[fav]).is_file()


def test_the_command_line_speaks_both_families(dress_home, capsys):
    home = ["--home", str(dress_home)]
    assert main([*home, "suggest", "-k", "20", "--explain", "--json", "--max-per-item", "9"]) == 0
    outfits = json.loads(capsys.readouterr().out)
    one = next(o for o in outfits if o["one_piece"] is not None)
    assert one["top"] is None and one["bottom"] is None and isinstance(one["shoes"], int)
    assert set(one["pair_scores"]) == {"one_piece_shoes"}
    three = next(o for o in outfits if o["one_piece"] is None)
    assert None not in (three["top"], three["bottom"], three["shoes"])

    assert main([*home, "like", str(one["one_piece"]), str(one["shoes"])]) == 0
    assert "one-piece" in capsys.readouterr().out
    assert main([*home, "favourite", "add", str(one["one_piece"]), str(one["shoes"])]) == 0
    capsys.readouterr()
    assert main([*home, "favourite", "list", "--json"]) == 0
    favs = json.loads(capsys.readouterr().out)
    assert [(f["one_piece"], f["shoes"], f["top"]) for f in favs] == [
        (one["one_piece"], one["shoes"], None)
    ]
    assert main([*home, "suggest", "-k", "3"]) == 0
    assert main([*home, "dislike", "1", "2", "3", "4"]) == 2
    assert "ONE_PIECE SHOES" in capsys.readouterr().err
    with Stylist(paths_mod.for_home(dress_home)) as s:
        outfit = Outfit(None, None, one["shoes"], one["one_piece"])
        assert [v.outfit for v in s.library.verdicts()] == [outfit]
        s.undo_verdict(s.library.verdicts()[0].id)
        s.remove_favourite(s.favourites()[0].id)
