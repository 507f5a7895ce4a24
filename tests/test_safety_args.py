"""Arguments are checked before anything runs: clear messages and exit status 2, no tracebacks,
no quiet fall-back to the default library, no request that only costs time."""

from __future__ import annotations

import pytest

from stylist import paths as paths_mod
from stylist.cli import build_parser, main
from stylist.service import Stylist, most_outfits
from tests.test_service import demo_home  # noqa: F401 - the analysed demo wardrobe


def run(capsys, *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as stop:  # argparse refuses before anything opens
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--home", "", "items"], "an empty folder name"),
        (["--home", "/dev/null", "items"], "/dev/null is not a folder"),
        (["suggest", "-k", "-1"], "-1 is below 1"),
        (["suggest", "-k", "0"], "0 is below 1"),
        (["suggest", "--not-worn-days", "-3"], "-3 is below 1"),
        (["suggest", "--not-worn-days", "100000000"], "100000000 is above 36500"),
        (["suggest", "--max-per-item", "0"], "0 is below 1"),
        (["suggest", "--explore", "2"], "not a share between 0 and 1"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(capsys, args, message):
    code, _, err = run(capsys, *args)
    assert code == 2 and message in err, err
    assert "Traceback" not in err


def test_home_pointing_at_a_file_is_refused_and_the_default_library_is_untouched(capsys, tmp_path):
    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    code, _, err = run(capsys, "--home", str(afile), "items")
    assert code == 2 and "is not a folder" in err
    code, _, err = run(capsys, "--home", str(afile / "below"), "items")
    assert code == 1 and "cannot be used" in err and "Traceback" not in err


@pytest.fixture
def demo(demo_home):  # noqa: F811
    with Stylist(paths_mod.for_home(demo_home)) as stylist:
        yield stylist


def test_k_is_capped_at_the_outfits_the_wardrobe_makes(demo):
    ranker = demo.ranker()
    every = most_outfits(ranker, None)
    tops, bottoms, shoes = (len(ids) for ids in ranker.ids)
    one_pieces = len(ranker.one_piece_ids) if ranker.matrices.one_piece_shoes is not None else 0
    assert every == tops * bottoms * shoes + one_pieces * shoes
    assert len(demo.suggest(1_000_000, max_per_item=None, explain=False)) == every
    capped = most_outfits(ranker, 1)
    assert capped == shoes  # every outfit has a pair of shoes
    assert len(demo.suggest(1_000_000, max_per_item=1, explain=False)) <= capped


def test_a_favourite_with_an_item_in_the_wrong_slot_is_refused(capsys, demo_home):  # noqa: F811
    with Stylist(paths_mod.for_home(demo_home)) as stylist:
        by_category = {}
        for item in stylist.items():
            by_category.setdefault(item.category.value, item.id)
        before = len(stylist.favourites())
    top, bottom, shoes = by_category["top"], by_category["bottom"], by_category["shoes"]
    code, _, err = run(
        capsys, "--home", str(demo_home), "favourite", "add", str(bottom), str(top), str(shoes)
    )
    assert code == 2 and f"item {bottom} is bottom, not top" in err
    with Stylist(paths_mod.for_home(demo_home)) as stylist:
        assert len(stylist.favourites()) == before


def test_export_to_a_folder_or_an_unwritable_place_says_so(capsys, demo_home, tmp_path):  # noqa: F811
    with Stylist(paths_mod.for_home(demo_home)) as stylist:
        suggestion = stylist.suggest(1, explain=False)[0]
        from stylist.domain import Outfit

        stylist.add_favourite(Outfit(suggestion.top, suggestion.bottom, suggestion.shoes))
    home = ["--home", str(demo_home)]
    code, _, err = run(capsys, *home, "export", "favourites", str(tmp_path))
    assert code == 2 and "is a folder" in err
    code, _, err = run(capsys, *home, "export", "favourites", "/proc/stylist-test.png")
    assert code == 1 and "cannot export to /proc/stylist-test.png" in err
    assert "Traceback" not in err


def test_the_background_trainer_is_given_the_data_and_the_config_folders(monkeypatch, tmp_path):
    import subprocess

    from stylist import cli

    started = []
    monkeypatch.setattr(subprocess, "Popen", lambda argv, **kw: started.append(argv))
    chosen = paths_mod.Paths(data_dir=tmp_path / "data", config_dir=tmp_path / "settings")

    class Fake:
        paths = chosen

    cli._train_in_background(Fake())
    args = build_parser().parse_args(started[0][3:])
    assert paths_mod.resolve(args.home, config=args.config) == chosen
    assert args.command == "train" and args.wait
