"""The command line's style model commands: versions not yet validated say so; the general model
is one command away; automatic categories are only reviewed, moved on --accept."""

from __future__ import annotations

import json

import pytest

from stylist import paths as paths_mod
from stylist.cli import main
from stylist.domain import Category
from stylist.service import Stylist


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_model_list_and_going_back_to_the_general_model(capsys, stylist_home):
    with Stylist(paths_mod.for_home(stylist_home)) as stylist:
        backbone = stylist.settings.backbone
        checked = stylist.library.add_model_version(
            backbone,
            "C",
            "models/v1.npz",
            {},
            {"validated": True, "old_val_mean_ndcg": 0.4, "new_val_mean_ndcg": 0.5, "likes": 9},
            active=False,
        )
        unchecked = stylist.library.add_model_version(
            backbone, "C", "models/v2.npz", {}, {"validated": False, "likes": 4}, active=True
        )
    code, out, _ = run(capsys, "model", "list")
    assert code == 0
    lines = {
        line.replace("*", " ").split()[0]: line
        for line in out.splitlines()
        if line[:1] in "* " and line.strip()
    }
    assert "validation mean NDCG 0.400 -> 0.500" in lines[str(checked)]
    assert lines[str(unchecked)].startswith("*") and "not yet validated" in lines[str(unchecked)]
    code, out, _ = run(capsys, "model", "list", "--json")
    assert [v["validated"] for v in json.loads(out)] == [True, False]

    code, out, _ = run(capsys, "model", "use", "general")
    assert code == 0 and "general model is in use" in out
    code, out, _ = run(capsys, "model", "list")
    assert "the general model is in use" in out and not any(
        line.startswith("*") for line in out.splitlines()
    )
    code, out, _ = run(capsys, "model", "use", str(unchecked))
    assert code == 0 and "(not yet validated)" in out
    with pytest.raises(SystemExit) as stop:
        run(capsys, "model", "use", "newest")
    assert stop.value.code == 2
    assert "'newest' is neither a version number nor general" in capsys.readouterr().err


def test_review_categories_moves_only_on_accept(capsys, some_photos, stylist_home):
    code, out, _ = run(capsys, "import", str(some_photos[0].parent))
    assert code == 0
    with Stylist(paths_mod.for_home(stylist_home)) as stylist:
        guessed = [i for i in stylist.items() if i.category == Category.TOP][:3]
        for item in guessed:
            stylist.set_category(item.id, Category.ONE_PIECE)
        before = {i.id: i.category for i in stylist.items()}
        proposals = stylist.category_review()
    code, out, _ = run(capsys, "review-categories")
    assert code == 0
    with Stylist(paths_mod.for_home(stylist_home)) as stylist:
        assert {i.id: i.category for i in stylist.items()} == before
    if not proposals:
        assert "still agrees" in out
        return
    assert "Nothing moved" in out
    code, out, _ = run(capsys, "review-categories", "--accept")
    assert f"Moved {len(proposals)} item(s)." in out
    with Stylist(paths_mod.for_home(stylist_home)) as stylist:
        after = {i.id: i.category for i in stylist.items()}
    assert {i for i in after if after[i] != before[i]} == {p[0].id for p in proposals}
