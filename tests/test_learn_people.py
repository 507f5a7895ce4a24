"""Stage two on people built from the shared street outfits: it learns a person's own taste.

Two "people" are made from outfits-ccp by garment label: one likes outfits with skirts and
rejected outfits with jeans, the other the reverse. Stage one pools both, so it cannot know
either taste; stage two (partial) trains each person's own net and must rank their test outfits
better. The same people drive ``fine_tune_partial``, the app's personal retraining.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from stylist.learn.train import TrainConfig

PER_SIDE = 30


def _bottom_label(outfit: dict) -> str:
    return next(g["label"] for g in outfit["garments"] if g["crop"] == outfit["bottom"])


# torch on one thread for these small nets (see conftest.one_torch_thread)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="session")
def people_dataset(tmp_path_factory, shared_data) -> Path:
    ccp = shared_data / "outfits-ccp"
    outfits = [
        o
        for o in json.loads((ccp / "outfits.json").read_text())
        if o["top"] and o["bottom"] and o["shoes"]
    ]
    skirts = [o for o in outfits if _bottom_label(o) == "skirt"]
    jeans = [o for o in outfits if _bottom_label(o) == "jeans"]
    n = PER_SIDE
    people = {
        "likes-skirts": (skirts[:n], jeans[:n]),
        "likes-jeans": (jeans[n : 2 * n], skirts[n : 2 * n]),
    }
    folder = tmp_path_factory.mktemp("people")
    rel = os.path.relpath(ccp, folder)  # crop paths are relative to the JSON's folder
    entries = []
    for user, (liked, rejected) in people.items():
        for label, group in ((1, liked), (0, rejected)):
            for o in group:
                entry = {slot: f"{rel}/{o[slot]}" for slot in ("top", "bottom", "shoes")}
                entry.update(outfit_id=f"{user}/{o['outfit_id']}", user_id=user, label=label)
                entries.append(entry)
    path = folder / "people.json"
    path.write_text(json.dumps(entries))
    return path


@pytest.fixture(scope="session")
def people_home(tmp_path_factory):
    from stylist.paths import for_home

    return for_home(tmp_path_factory.mktemp("people-home"))


@pytest.fixture(scope="session")
def people_eval(people_dataset, people_home):
    from stylist.learn.evaluate import run_eval

    return run_eval(
        people_dataset,
        paths=people_home,
        nets=("C",),
        stages=("initial", "one", "partial", "shipped"),
        baselines=False,
        augment_views=0,
        configs={"one": TrainConfig(epochs=8, lr=3e-4, optimizer="adam")},
    )


def test_stage_two_partial_learns_each_persons_taste(people_eval) -> None:
    one = people_eval.row("C", "one").metrics
    partial = people_eval.row("C", "partial").metrics
    assert people_eval.lists == 2  # each person ranked on their own test outfits
    assert partial.mean_ndcg > one.mean_ndcg + 0.05
    assert partial.mean_ndcg > people_eval.random.mean_ndcg + 0.1
    assert partial.positives_top_10 >= one.positives_top_10


def test_the_table_and_json(people_eval, tmp_path) -> None:
    from stylist.learn.evaluate import write_json

    text = people_eval.table()
    for label in ("Random ranking", "Initial", "Stage one", "Stage two, partial", "Shipped"):
        assert label in text
    write_json(people_eval, tmp_path / "eval.json")
    data = json.loads((tmp_path / "eval.json").read_text())
    stages = {(r["net"], r["stage"]) for r in data["rows"]}
    assert ("C", "partial") in stages
    assert data["test"]["lists"] == 2
    assert data["random"]["mean_ndcg"] == pytest.approx(people_eval.random.mean_ndcg)


@pytest.fixture(scope="session")
def person(people_dataset, people_home):
    """One person's wardrobe features, liked and rejected outfits as item ids."""
    from stylist.learn.data import item_table
    from stylist.learn.datasets import load_dataset
    from stylist.learn.features import crop_features

    ds = load_dataset(people_dataset)
    crops = crop_features(ds.root, ds.crops(), paths=people_home, cache_name=ds.path)
    table = item_table(ds, crops)
    mine = ds.select(user="likes-skirts")
    wardrobe: dict[str, dict[int, np.ndarray]] = {"top": {}, "bottom": {}, "shoes": {}}
    for o in mine:
        for slot, crop in zip(("top", "bottom", "shoes"), o.crops, strict=True):
            row = table.index[crop]
            wardrobe[slot][row] = crops.features[0, row]

    def ids(outfits):
        return [tuple(table.index[c] for c in o.crops) for o in outfits]

    train_likes = ids([o for o in mine if o.label == 1 and o.split != "test"])
    dislikes = ids([o for o in mine if o.label == 0 and o.split != "test"])
    test = ids([o for o in mine if o.split == "test"])
    labels = [o.label for o in mine if o.split == "test"]
    return wardrobe, train_likes, dislikes, test, np.array(labels), crops.backbone_sha256


def _test_ndcg(arrays, config, wardrobe, test, labels) -> float:
    from stylist.learn.metrics import list_metrics
    from stylist.rank.matching import MatchingNet

    net = MatchingNet.from_arrays(arrays, config)
    feats = [
        np.stack([wardrobe[s][o[k]] for o in test])
        for k, s in enumerate(("top", "bottom", "shoes"))
    ]
    return list_metrics(net.score_outfits(*feats), labels).mean_ndcg


def _held(outfits):
    """Outfits split by their permanent validation flag, as the app splits verdicts."""
    from stylist.domain import is_holdout

    return [o for o in outfits if not is_holdout(o)], [o for o in outfits if is_holdout(o)]


def test_fine_tune_partial_from_an_untrained_net(person) -> None:
    from stylist.learn.personal import fine_tune_partial
    from stylist.rank.matching import MatchingNet

    wardrobe, likes, dislikes, test, labels, sha = person
    (train_likes, val_likes), (train_dislikes, val_dislikes) = _held(likes), _held(dislikes)
    result = fine_tune_partial(
        None,
        train_likes,
        train_dislikes,
        wardrobe,
        val_likes=val_likes,
        val_dislikes=val_dislikes,
        epochs=10,
        seed=0,
        backbone="efficientnet-lite0",
        backbone_sha256=sha,
    )
    m = result.metrics
    assert m["train_likes"] == len(train_likes) and m["val_likes"] == len(val_likes) >= 3
    assert m["train_dislikes"] == len(train_dislikes) and m["val_dislikes"] == len(val_dislikes)
    assert result.validated
    assert result.config["base"] == "untrained" and result.config["net"] == "C"
    assert result.config["backbone_sha256"] == sha
    old, new = result.old_val_mean_ndcg, result.new_val_mean_ndcg
    assert 0 < old <= 1 and 0 < new <= 1
    assert result.not_worse == (new >= old - 1e-9)
    MatchingNet.from_arrays(result.arrays, result.config)  # the ranker accepts it
    # It learnt the verdicts: liked outfits now come before disliked ones.
    judged = likes + dislikes
    verdicts = np.array([1] * len(likes) + [0] * len(dislikes))
    untrained = fine_tune_partial(
        None, likes, dislikes, wardrobe, epochs=0, backbone="x", backbone_sha256=sha
    )
    before = _test_ndcg(untrained.arrays, untrained.config, wardrobe, judged, verdicts)
    after = _test_ndcg(result.arrays, result.config, wardrobe, judged, verdicts)
    assert after > before + 0.1


def test_fine_tune_partial_continues_a_saved_net_and_can_be_cancelled(person, tmp_path) -> None:
    from stylist.learn.personal import fine_tune_partial

    wardrobe, likes, dislikes, test, labels, sha = person
    first = fine_tune_partial(
        None,
        likes[:5],
        [],
        wardrobe,
        epochs=2,
        seed=1,
        backbone="efficientnet-lite0",
        backbone_sha256=sha,
    )
    npz, _ = first.save(tmp_path / "mine")
    progress: list[tuple[int, int, str]] = []
    again = fine_tune_partial(
        npz,
        likes,
        dislikes,
        wardrobe,
        epochs=3,
        seed=1,
        progress=lambda d, t, label: progress.append((d, t, label)),
    )
    assert [p[0] for p in progress] == [1, 2, 3] and progress[-1][1] == 3
    assert again.config["base"] == str(npz)
    stop = threading.Event()
    stop.set()
    (train_likes, val_likes), _ = _held(likes), None
    cancelled = fine_tune_partial(
        npz, train_likes, dislikes, wardrobe, val_likes=val_likes, epochs=3, cancel=stop
    )
    assert cancelled.metrics["cancelled"] and cancelled.metrics["epochs_run"] == 0
    assert cancelled.new_val_mean_ndcg == pytest.approx(cancelled.old_val_mean_ndcg)


def test_fine_tune_partial_refuses_what_it_cannot_use(person) -> None:
    from stylist.learn.personal import FineTuneError, fine_tune_partial

    wardrobe, likes, _, _, _, _ = person
    with pytest.raises(FineTuneError, match="no liked outfit"):
        fine_tune_partial(None, [(-1, -2, -3)], [], wardrobe)
    with pytest.raises(FineTuneError, match="no shoes"):
        fine_tune_partial(None, likes, [], {**wardrobe, "shoes": {}})
    unknown = fine_tune_partial(None, [*likes, (-1, -2, -3)], [], wardrobe, epochs=1)
    assert unknown.metrics["skipped_outfits"] == 1
