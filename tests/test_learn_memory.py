"""The outfit memory (a kernel estimate of which items go together) and net C distilled from it."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from stylist.learn.memory import OutfitMemory

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _memory(outfits, vectors, beta=10.0) -> OutfitMemory:
    v = np.asarray(vectors, dtype=np.float64)
    return OutfitMemory(np.asarray(outfits), v / np.linalg.norm(v, axis=1, keepdims=True), beta)


# Items 0-3 are tops, 4-7 bottoms, 8 a pair of shoes; each one a direction of its own.
VECTORS = np.eye(9) + 0.05


def test_items_worn_together_score_above_items_never_worn_together() -> None:
    memory = _memory([(0, 4, 8), (0, 4, 8), (1, 5, 8), (2, 6, 8)], VECTORS)
    scores = memory.pair_scores(0, 1, np.array([0, 0, 1]), np.array([4, 5, 5]))
    assert scores[0] > scores[1] and scores[2] > scores[1]


def test_a_popular_item_gains_nothing_by_being_popular() -> None:
    # bottom 4 is worn with every top; bottom 5 only, and always, with top 1
    outfits = [(0, 4, 8), (1, 4, 8), (2, 4, 8), (3, 4, 8), (1, 5, 8), (1, 5, 8)]
    memory = _memory(outfits, VECTORS)
    popular, faithful = memory.pair_scores(0, 1, np.array([1, 1]), np.array([4, 5]))
    assert faithful > popular


def test_leaving_out_forgets_the_outfits_that_hold_the_pair_itself() -> None:
    memory = _memory([(0, 4, 8), (1, 5, 8), (2, 6, 8)], VECTORS)
    a, b = np.array([0]), np.array([4])
    kept = memory.pair_scores(0, 1, a, b)[0]
    left_out = memory.pair_scores(0, 1, a, b, leave_out=True)[0]
    never_seen = memory.pair_scores(0, 1, np.array([3]), np.array([7]))[0]
    # with the pair's own outfit forgotten, it is a pair like any never seen: no evidence
    assert kept > 0.5 and abs(left_out) < 1e-6 and abs(never_seen) < 1e-6


def test_outfit_scores_are_the_sum_of_their_pairs() -> None:
    memory = _memory([(0, 4, 8), (1, 5, 8), (2, 6, 8)], VECTORS)
    triples = np.array([[0, 4, 8], [1, 6, 8]])
    pairs = (("top_bottom", 0, 1), ("top_shoes", 0, 2), ("bottom_shoes", 1, 2))
    expected = sum(memory.pair_scores(i, j, triples[:, i], triples[:, j]) for _, i, j in pairs)
    assert np.allclose(memory.scores(triples, pairs), expected)
    assert memory.scores(triples, pairs)[0] > memory.scores(triples, pairs)[1]


@pytest.fixture(scope="module")
def street(tmp_path_factory, shared_data):
    """30 street-photo outfits with real backbone features (photo and one augmented view)."""
    from stylist.learn.data import item_table
    from stylist.learn.datasets import load_dataset
    from stylist.learn.features import crop_features
    from stylist.paths import for_home

    ccp = shared_data / "outfits-ccp"
    outfits = [
        o
        for o in json.loads((ccp / "outfits.json").read_text())
        if o["top"] and o["bottom"] and o["shoes"]
    ][:30]
    folder = tmp_path_factory.mktemp("street")
    rel = os.path.relpath(ccp, folder)
    entries = [
        {**{s: f"{rel}/{o[s]}" for s in ("top", "bottom", "shoes")}, "outfit_id": o["outfit_id"]}
        for o in outfits
    ]
    path = folder / "street.json"
    path.write_text(json.dumps(entries))
    ds = load_dataset(path)
    paths = for_home(tmp_path_factory.mktemp("home"))
    crops = crop_features(ds.root, ds.crops(), paths=paths, views=2, cache_name=path)
    return ds, item_table(ds, crops)


def test_distilled_net_c_reproduces_its_teacher_and_takes_the_backbone_features(street) -> None:
    from stylist.learn import stages as st
    from stylist.learn.data import training_task
    from stylist.learn.memory import memory_of, stage_one_memory

    ds, table = street
    users = ds.users()
    model = stage_one_memory(ds, table, users, sampled_pairs=2000, epochs=8, seed=0)
    assert model.kind == "C" and model.projection is None  # folded: full features in
    assert model.net.feature_dim == table.features.shape[-1]
    assert set(model.info["distillation_loss"]) == {"top_bottom", "top_shoes", "bottom_shoes"}

    # the teacher again, in the same space, on pairs of training items it can score
    positives = training_task(ds, table, users, mode="random").positives
    unfolded = st.untrained(
        "C", table, train_items=positives, reduce=model.info["components"], init="torch"
    )
    memory = memory_of(unfolded, table, positives, model.info["beta"])
    rng = np.random.default_rng(1)
    a = rng.choice(np.unique(positives[:, 0]), 400)
    b = rng.choice(np.unique(positives[:, 1]), 400)
    teacher = memory.pair_scores(0, 1, a, b, leave_out=True)
    x = st.model_inputs(model, table)[0]
    import torch

    with torch.no_grad():
        logits = model.net.pairs["top_bottom"](torch.as_tensor(np.concatenate([x[a], x[b]], 1)))
    student = (logits[:, 1] - logits[:, 0]).numpy()
    rank = lambda v: np.argsort(np.argsort(v))  # noqa: E731
    rho = np.corrcoef(rank(teacher), rank(student))[0, 1]
    assert rho > 0.6, rho
