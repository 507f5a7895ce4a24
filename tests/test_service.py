"""The front door on the demo wardrobe: analysis, suggestions, verdicts, favourites, export."""

from __future__ import annotations

import json
import os

import pytest
from PIL import Image

from stylist import paths as paths_mod
from stylist.cli import main
from stylist.domain import Category, Outfit, Verdict
from stylist.errors import UsageError
from stylist.service import Stylist


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    """The demo wardrobe loaded and analysed once for this module; tests copy nothing back."""
    base = paths_mod.for_home(tmp_path_factory.mktemp("base"))
    demo, report = Stylist.open_demo(base)
    assert report is not None and not report.failed
    features = demo.extract_features()
    assert features.computed == 38 and not features.failed
    demo.close()
    return base.demo_home


@pytest.fixture
def demo(demo_home):
    with Stylist(paths_mod.for_home(demo_home)) as stylist:
        yield stylist


def test_analysis_keeps_folder_categories_and_finds_colours(demo):
    items = demo.items()
    assert all(i.category != Category.UNSORTED for i in items)  # the folders said so
    assert sum(1 for i in items if i.colours) >= 36
    assert all(c.startswith("#") and len(c) == 7 for i in items for c in i.colours)


def test_suggestions_are_whole_outfits_with_explanations(demo):
    outfits = demo.suggest(10, explain=True, exploration=0.0, max_per_item=3)
    assert len(outfits) == 10
    by_id = {i.id: i for i in demo.items()}
    for o in outfits:
        want = (Category.ONE_PIECE, Category.SHOES)  # a dress and shoes, where the net can
        pairs = {"one_piece_shoes"}
        if o.one_piece is None:
            want = (Category.TOP, Category.BOTTOM, Category.SHOES)
            pairs = {"top_bottom", "top_shoes", "bottom_shoes"}
        assert tuple(by_id[i].category for i in o.ids()) == want
        assert 0.0 <= o.score <= 1.0  # the mean pair probability
        assert set(o.pair_scores) == pairs
        assert o.explanation is not None
        assert o.explanation.weakest_pair == min(o.pair_scores, key=o.pair_scores.get)
    assert [o.score for o in outfits] == sorted((o.score for o in outfits), reverse=True)
    counts: dict[int, int] = {}
    for o in outfits:
        for item_id in o.ids():
            counts[item_id] = counts.get(item_id, 0) + 1
    assert max(counts.values()) <= 3


def test_the_next_run_ranks_from_the_pair_matrices_kept_on_disk(demo, monkeypatch):
    want = [(o.top, o.bottom, o.shoes) for o in demo.suggest(5, exploration=0.0, explain=False)]
    assert list(demo.paths.cache.glob("pairs-*.npz"))
    from stylist.rank.matching import MatchingNet

    def refuse(*args, **kwargs):
        raise AssertionError("pair matrices recomputed although they were kept")

    monkeypatch.setattr(MatchingNet, "pair_matrix", refuse)
    with Stylist(demo.paths) as again:  # another run on the same library
        got = again.suggest(5, exploration=0.0, explain=False)
        assert [(o.top, o.bottom, o.shoes) for o in got] == want


def test_with_and_without_items(demo):
    jeans = demo.items(Category.BOTTOM)[0].id
    shoes = demo.items(Category.SHOES)[0].id
    with_jeans = demo.suggest(5, with_items=[jeans], max_per_item=None)
    assert with_jeans and all(o.bottom == jeans for o in with_jeans)
    without = demo.suggest(20, without_items=[shoes], max_per_item=None)
    assert all(o.shoes != shoes for o in without)


def test_verdicts_favourites_and_export(demo, tmp_path):
    best = [o for o in demo.suggest(10, exploration=0.0) if o.one_piece is None][:3]
    outfit = best[0].outfit()
    like = demo.rate(outfit, Verdict.LIKE)
    demo.wore(best[1].outfit())
    assert [v.source for v in demo.library.verdicts()][-2:] == ["suggestion", "wore"]
    worn = demo.recently_worn(7)
    assert set(best[1].outfit().ids()) <= worn
    assert all(best[1].top != o.top for o in demo.suggest(10, not_worn_days=7, max_per_item=None))
    demo.undo_verdict(like)
    assert like not in [v.id for v in demo.library.verdicts()]

    with pytest.raises(UsageError, match="not top"):
        demo.rate(Outfit(outfit.bottom, outfit.top, outfit.shoes), Verdict.DISLIKE)

    fav = demo.add_favourite(outfit)
    demo.add_favourite(best[2].outfit())
    png = demo.export_favourites(tmp_path / "favs.png")
    with Image.open(png) as im:
        assert im.format == "PNG"
    js = demo.export_favourites(tmp_path / "favs.json", ids=[fav])
    data = json.loads(js.read_text())
    assert len(data["outfits"]) == 1 and data["outfits"][0]["score"] is not None


def test_an_export_never_lands_in_the_library_folder(demo, tmp_path):
    """Exporting onto the database (or anywhere in the library folder, also through a link)
    is refused before anything is written: the database and the favourites stay as they were."""
    fav = demo.add_favourite(demo.suggest(1)[0].outfit())
    favourites = [f.id for f in demo.favourites()]
    home = demo.paths.data_dir
    elsewhere = tmp_path / "elsewhere"
    elsewhere.symlink_to(home, target_is_directory=True)
    targets = [
        demo.paths.database,
        home / "favourites.json",
        demo.paths.originals / "favourites.png",
        demo.paths.config_dir / "settings.json",
        elsewhere / "favourites.pdf",
    ]
    for target in targets:
        with pytest.raises(UsageError, match="inside the library folder"):
            demo.export_favourites(target, "json")
    around = Stylist.open_demo(paths_mod.for_home(tmp_path / "person"))[0]  # a demo in a library
    try:
        for target in (tmp_path / "person" / "library.sqlite3", around.paths.database):
            with pytest.raises(UsageError, match="inside the library folder"):
                around.export_favourites(target, "json")
    finally:
        around.close()
    assert demo.paths.database.read_bytes()[:16] == b"SQLite format 3\x00"
    assert not (home / "favourites_photos").exists()
    assert [f.id for f in demo.favourites()] == favourites
    demo.remove_favourite(fav)


def test_a_json_export_never_writes_through_a_link_to_another_file(demo, tmp_path):
    outfit = demo.suggest(1)[0].outfit()
    fav = demo.add_favourite(outfit)
    mine = tmp_path / "my-own-photo.jpg"
    mine.write_bytes(b"a photo of my own")
    photos = tmp_path / "out" / "favs_photos"
    photos.mkdir(parents=True)
    os.link(mine, photos / f"item-{outfit.top}.jpg")  # a second name from some earlier work
    demo.export_favourites(tmp_path / "out" / "favs.json", ids=[fav])
    assert mine.read_bytes() == b"a photo of my own"
    with Image.open(photos / f"item-{outfit.top}.jpg") as im:
        assert im.format == "JPEG"
    demo.remove_favourite(fav)


def test_cli_eval_refuses_to_write_its_figures_into_the_library(tmp_path, capsys):
    home = tmp_path / "home"
    code = main(["--home", str(home), "eval", "outfits.json", "--json", str(home / "x.json")])
    assert code == 2
    assert "inside the library folder" in capsys.readouterr().err
    assert not (home / "x.json").exists()


def test_suggest_reports_the_ranker_build_and_can_be_cancelled_in_it(demo):
    import threading

    from stylist.tasks import Cancelled

    cancel, seen = threading.Event(), []

    def progress(done, total, label):
        seen.append((done, total, label))
        if done == 1:
            cancel.set()  # after the first pair matrix, while the ranker is being built

    with pytest.raises(Cancelled, match="finding outfits was cancelled"):
        demo.suggest(5, exploration=0.0, progress=progress, cancel=cancel)
    assert seen[0][:2] == (0, seen[0][1]) and seen[0][2] == "top_bottom"
    steps = []
    first = demo.suggest(5, exploration=0.0, progress=lambda *a: steps.append(a))
    assert steps[-1][0] == steps[-1][1] and len(steps) == steps[-1][1] + 1  # every pair, then done
    assert demo.suggest(5, exploration=0.0) == first  # the finished ranker is kept


def test_four_threads_suggest_at_once_on_one_stylist_and_agree(demo):
    import threading

    start = threading.Barrier(4)
    results: dict[int, list] = {}
    built_by: set[int] = set()
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            start.wait()
            results[n] = demo.suggest(
                8, exploration=0.0, explain=True, progress=lambda *a: built_by.add(n)
            )
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(built_by) == 1  # one thread built the ranker, the others waited for it
    alone = demo.suggest(8, exploration=0.0, explain=True)
    assert len(alone) == 8 and all(results[n] == alone for n in range(4))


def test_the_ranker_is_kept_until_the_library_or_the_model_changes(demo):
    first = demo.ranker()
    assert demo.ranker() is first  # nothing changed: not even the nets are read again
    outfit = demo.suggest(1, exploration=0.0)[0].outfit()
    demo.rate(outfit, Verdict.LIKE)
    assert demo.ranker() is first  # a verdict changes the library, not the outfits
    shoes = next(i for i in demo.items() if i.category == Category.SHOES)
    demo.set_category(shoes.id, Category.OTHER)
    changed = demo.ranker()
    assert changed is not first and shoes.id not in changed.ids[2]


def test_cli_suggest_json_on_the_demo(demo_home, capsys):
    code = main(["--home", str(demo_home), "suggest", "-k", "5", "--explain", "--json"])
    assert code == 0
    outfits = json.loads(capsys.readouterr().out)
    assert len(outfits) == 5
    for o in outfits:
        assert {"top", "bottom", "shoes", "score", "pair_scores", "weakest_pair"} <= set(o)
