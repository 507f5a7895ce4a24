"""Every net and stage end to end on a tiny dataset: A through the CNN, B/C whole and direct."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

from stylist.learn.train import TrainConfig

# torch on one thread for these small nets (see conftest.one_torch_thread)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, shared_data):
    ccp = shared_data / "outfits-ccp"
    outfits = [
        o
        for o in json.loads((ccp / "outfits.json").read_text())
        if o["top"] and o["bottom"] and o["shoes"]
    ][:24]
    folder = tmp_path_factory.mktemp("tiny")
    rel = os.path.relpath(ccp, folder)
    entries = []
    for n, o in enumerate(outfits):
        entry = {slot: f"{rel}/{o[slot]}" for slot in ("top", "bottom", "shoes")}
        entry.update(outfit_id=o["outfit_id"], user_id=f"person-{n % 2}")
        entries.append(entry)
    path = folder / "tiny.json"
    path.write_text(json.dumps(entries))
    return path


def test_all_nets_and_stages_run(tiny, paths) -> None:
    from stylist.learn.evaluate import run_eval

    quick = TrainConfig(epochs=1, lr=1e-3, optimizer="adam")
    progress = []
    report = run_eval(
        tiny,
        paths=paths,
        nets="A,B,C",
        stages="initial,one,partial,whole,direct,shipped",
        baselines=True,
        augment_views=1,
        image_size=64,  # the CNNs pool globally; small crops keep this test quick
        configs={"one": quick, "two": quick, "cnn": TrainConfig(epochs=1, lr=1e-3)},
        progress=lambda d, t, label: progress.append((d, t, label)),
    )
    assert report.lists == 2 and report.positives > 0
    for net in "ABC":
        for stage in ("initial", "one", "direct"):
            assert report.row(net, stage).metrics is not None, (net, stage)
    for net in "BC":
        assert report.row(net, "partial").metrics is not None
        assert report.row(net, "whole").metrics is not None
    assert report.row("A", "partial").metrics is None  # as in the paper: no separate layers
    assert "no shipped net A" in report.row("A", "shipped").note
    assert report.row("size", "one").metrics is not None
    assert report.row("colour", "one").metrics is not None
    # Feature nets are also scored on re-lit crops; nets on images and sizes are not.
    for net, stage in (("B", "one"), ("C", "one"), ("C", "shipped"), ("colour", "one")):
        assert report.row(net, stage).relit is not None, (net, stage)
    for net, stage in (("A", "one"), ("size", "one"), ("C", "partial")):
        assert report.row(net, stage).relit is None, (net, stage)
    assert progress[-1][0] == progress[-1][1]  # finished
    table = report.table()
    assert "on these statistics alone" in table and "Direct" in table
    assert "re-lit and re-scaled on its own" in table
    assert report.to_json()["rows"][0].keys() >= {"metrics", "relit"}


def test_relit_score_is_the_plain_score_when_views_do_not_differ(tiny, paths) -> None:
    import dataclasses

    from stylist.learn import stages as st
    from stylist.learn.data import item_table, ranked_lists
    from stylist.learn.datasets import load_dataset
    from stylist.learn.features import crop_features

    ds = load_dataset(tiny)
    crops = crop_features(ds.root, ds.crops(), paths=paths, views=2, cache_name=ds.path)
    table = item_table(ds, crops)
    lists = ranked_lists(ds, table, ds.users(), "test", seed=0)
    model = st.untrained("C", table, seed=0)
    relit = st.score_relit(model, table, lists)
    assert relit is not None and relit.lists == len(lists)
    same = dataclasses.replace(
        crops,
        features=np.repeat(crops.features[:1], 2, axis=0),
        colour=np.repeat(crops.colour[:1], 2, axis=0),
    )
    flat = dataclasses.replace(table, crops=same)
    assert st.score_relit(model, flat, lists) == st.score(model, flat, lists)
    assert st.score_relit(model, st.as_they_are(table), lists) is None  # no augmented views


def test_unknown_nets_and_stages_are_refused(tiny, paths) -> None:
    from stylist.learn.evaluate import EvalError, run_eval

    with pytest.raises(EvalError, match="unknown net 'D'"):
        run_eval(tiny, paths=paths, nets="C,D")
    with pytest.raises(EvalError, match="unknown stage 'three'"):
        run_eval(tiny, paths=paths, stages="one,three")


def test_stage_two_starts_from_the_shipped_model_without_stage_one(tiny, paths) -> None:
    from stylist.learn.evaluate import run_eval, shipped_net_path

    if not shipped_net_path("C", "efficientnet-lite0").with_suffix(".npz").is_file():
        pytest.fail("the shipped general net C is missing from models/")
    report = run_eval(
        tiny,
        paths=paths,
        nets="C",
        stages="partial,shipped",
        configs={"two": TrainConfig(epochs=1, lr=1e-4, optimizer="adam")},
    )
    partial = report.row("C", "partial")
    assert partial.metrics is not None
    assert partial.details["start"] == "shipped general model"
    assert report.row("C", "shipped").metrics is not None


def test_eval_command_prints_the_table_and_writes_json(tiny, stylist_home, tmp_path, capsys):
    from stylist.cli import main

    out_json = tmp_path / "figures.json"
    code = main(
        [
            "eval",
            str(tiny),
            "--nets",
            "C",
            "--stages",
            "initial,shipped",
            "--augment-views",
            "1",
            "--no-baselines",
            "--device",
            "auto",
            "--json",
            str(out_json),
        ]
    )
    out, _ = capsys.readouterr()
    assert code == 0
    assert "Shipped general model" in out and "re-lit and re-scaled on its own" in out
    assert "statistics alone" not in out  # --no-baselines
    figures = json.loads(out_json.read_text())
    shipped = [r for r in figures["rows"] if r["stage"] == "shipped"][0]
    assert 0 < shipped["metrics"]["mean_ndcg"] <= 1 and 0 < shipped["relit"]["mean_ndcg"] <= 1

    with pytest.raises(SystemExit) as stop:
        main(["eval", str(tiny), "--augment-views", "-1"])
    assert stop.value.code == 2 and "-1 is below 0" in capsys.readouterr().err


def test_partial_training_is_the_same_whatever_it_is_scored_on_later(tiny, paths) -> None:
    """The basis fc1's change is learnt in comes from training items only: with the real
    optimiser (Adam with weight decay, where the basis shapes every step), handing stage two the
    test lists changes nothing it learns."""
    from stylist.learn.data import item_table, ranked_lists
    from stylist.learn.datasets import load_dataset
    from stylist.learn.evaluate import load_shipped
    from stylist.learn.features import crop_features
    from stylist.learn.stages import STAGE_TWO, score, stage_two

    ds = load_dataset(tiny)
    crops = crop_features(ds.root, ds.crops(), paths=paths, cache_name=ds.path)
    table = item_table(ds, crops)
    start = load_shipped("C", "efficientnet-lite0", table)
    assert STAGE_TWO.optimizer == "adam" and STAGE_TWO.weight_decay > 0
    cfg = dataclasses.replace(STAGE_TWO, epochs=3)
    user = next(u for u in ("person-0", "person-1") if ranked_lists(ds, table, [u], "test", seed=0))
    val = ranked_lists(ds, table, [user], "val", seed=0)
    test = ranked_lists(ds, table, [user], "test", seed=0)
    blind = stage_two("partial", start, ds, table, user, val, (), cfg=cfg, seed=0)
    told = stage_two("partial", start, ds, table, user, val, test, cfg=cfg, seed=0)
    moved = False
    for name, pair in blind.net.pairs.items():
        w_blind = pair.fc1.weight.detach().numpy()
        np.testing.assert_allclose(w_blind, told.net.pairs[name].fc1.weight.detach().numpy())
        moved |= not np.allclose(w_blind, start.net.pairs[name].fc1.weight.detach().numpy())
    assert moved  # the optimiser did train
    assert score(blind, table, test, seed=0).mean_ndcg == score(told, table, test, seed=0).mean_ndcg
