"""The feedback loop as a person lives it: verdicts arrive, the app retrains every few, keeps a
version only when it validates no worse on held-out verdicts, and ranks the later verdicts.

People are built from outfits-ccp by garment label, as in tests/test_learn_people.py: each likes
the outfits with one kind of garment and rejects those with another. Four have a taste; one has
none (likes at random). Each person's wardrobe is the items of their outfits, and every ccp
outfit their taste speaks of gets a verdict. The verdicts come in a random order; after every
``TRAIN_EVERY`` the app's retraining runs as the service runs it (from the general model, on the
training verdicts only, the validation ones apart by their permanent flag; adopted when not
worse than the version in use and the general model, or when not yet validated; the general
model back in use when it validates better than both). After ``LEARN`` verdicts the general
model (shipped net C) and the adopted personal model rank the person's later verdicts (liked 1,
rejected 0); mean NDCG of both is printed, with how often a version was adopted.

Targets: the tasteful people gain (≥ +0.25 mean NDCG after 40 verdicts); the taste-free person's
adopted model is not worse than the general model on average.

Run: python -m tests.benchmarks feedback   (features are cached in $STYLIST_BENCH_HOME, default a
folder in the temporary directory)
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
CCP = REPO.parent / "shared" / "data" / "outfits-ccp"
TRAIN_EVERY = 5
LEARN = 40  # verdicts given before the later ones are ranked
SEEDS = (0, 1, 2)
# Settings (rate, pull, epochs, the adoption rule) are chosen on other people and seeds than the
# figures reported: `STYLIST_BENCH_PEOPLE=development` runs these instead.
DEVELOPMENT_SEEDS = (10, 11)
DEVELOPMENT_TASTE_FREE_SEED = 7

# name: (slot, labels liked, labels rejected)
PEOPLE = {
    "likes-skirts": ("bottom", {"skirt"}, {"jeans"}),
    "likes-jeans": ("bottom", {"jeans"}, {"skirt"}),
    "likes-coats": ("top", {"coat"}, {"blouse", "t-shirt", "shirt"}),
    "likes-tailored": ("top", {"suit", "blazer"}, {"sweater", "t-shirt", "jacket"}),
}
DEVELOPMENT_PEOPLE = {
    "likes-pants": ("bottom", {"pants"}, {"skirt", "shorts"}),
    "likes-shorts": ("bottom", {"shorts", "leggings"}, {"pants", "jeans"}),
    "likes-knits": ("top", {"sweater", "jumper", "vest", "t-shirt"}, {"suit", "blazer", "coat"}),
    "likes-blouses": ("top", {"blouse", "shirt"}, {"coat", "jacket"}),
}
SLOTS = ("top", "bottom", "shoes")


def _label(outfit: dict, slot: str) -> str:
    return next(g["label"] for g in outfit["garments"] if g["crop"] == outfit[slot])


def people(
    outfits: list[dict], tastes: dict = PEOPLE, taste_free_seed: int = 99
) -> dict[str, list[tuple[dict, int]]]:
    """Each person's outfits with their verdict (1 like, 0 reject): every outfit of ccp their
    taste has a verdict on (the taste-free person: a random half of all, liked at random)."""
    out = {}
    for name, (slot, liked, rejected) in tastes.items():
        out[name] = [
            (o, int(_label(o, slot) in liked))
            for o in outfits
            if _label(o, slot) in liked | rejected
        ]
    rng = np.random.default_rng(taste_free_seed)
    chosen = [outfits[i] for i in rng.permutation(len(outfits))[: len(outfits) // 2]]
    out["no-taste"] = [(o, int(rng.random() < 0.5)) for o in chosen]
    return out


def simulate(person, features, index, general, seed: int) -> dict:
    """One person's verdict stream with the app's retraining; NDCG on the later verdicts."""
    from stylist.domain import is_holdout
    from stylist.learn.metrics import list_metrics
    from stylist.rank.matching import MatchingNet
    from stylist.service import personal_epochs
    from stylist.tune import fine_tune_partial

    rng = np.random.default_rng(seed)
    stream = [person[i] for i in rng.permutation(len(person))]
    triples = [tuple(index[o[s]] for s in SLOTS) for o, _ in stream]
    wardrobe = {s: {} for s in SLOTS}
    for t in triples:
        for s, row in zip(SLOTS, t, strict=True):
            wardrobe[s][row] = features[row]
    current = general
    trained = adopted = validated = 0
    for n in range(TRAIN_EVERY, LEARN + 1, TRAIN_EVERY):
        seen = list(zip(triples[:n], (v for _, v in stream[:n]), strict=True))
        train = [(t, v) for t, v in seen if not is_holdout(t)]
        held = [(t, v) for t, v in seen if is_holdout(t)]
        likes = [t for t, v in train if v]
        if not likes:
            continue
        dislikes = [t for t, v in train if not v]
        result = fine_tune_partial(
            general,  # every version afresh from the general model, as the app trains
            likes,
            dislikes,
            wardrobe,
            val_likes=[t for t, v in held if v],
            val_dislikes=[t for t, v in held if not v],
            epochs=personal_epochs(len(likes) + len(dislikes)),
            seed=seed,
            incumbent=current,
        )
        trained += 1
        validated += result.validated
        if result.not_worse:
            adopted += 1
            current = (result.arrays, result.config)
        elif result.base_is_best:
            current = general  # as the service goes back to the general model

    later = triples[LEARN:]
    labels = np.array([v for _, v in stream[LEARN:]])

    def ndcg(net) -> float:
        model = MatchingNet.from_arrays(*net)
        feats = [np.stack([features[t[k]] for t in later]) for k in range(3)]
        return list_metrics(model.score_outfits(*feats), labels, np.random.default_rng(0)).mean_ndcg

    return {
        "general": ndcg(general),
        "personal": ndcg(current),
        "trained": trained,
        "adopted": adopted,
        "validated": validated,
    }


def main() -> None:
    import torch

    from stylist.learn.features import crop_features
    from stylist.learn.io import load_matching_net
    from stylist.paths import for_home

    torch.set_num_threads(1)
    outfits = [
        o for o in json.loads((CCP / "outfits.json").read_text()) if all(o.get(s) for s in SLOTS)
    ]
    development = os.environ.get("STYLIST_BENCH_PEOPLE") == "development"
    if development:
        everyone = people(outfits, DEVELOPMENT_PEOPLE, DEVELOPMENT_TASTE_FREE_SEED)
        seeds = DEVELOPMENT_SEEDS
    else:
        everyone, seeds = people(outfits), SEEDS
    keys = sorted({o[s] for p in everyone.values() for o, _ in p for s in SLOTS})
    home = Path(os.environ.get("STYLIST_BENCH_HOME", Path(tempfile.gettempdir()) / "stylist-bench"))
    started = time.perf_counter()
    crops = crop_features(CCP, keys, paths=for_home(home), cache_name=CCP / "outfits.json")
    print(f"{len(keys)} crops' features in {time.perf_counter() - started:.0f} s")
    features = crops.features[0]
    index = crops.index()
    general = load_matching_net(REPO / "models" / "fashionnet-c-efficientnet-lite0.npz")
    print(
        f"{LEARN} verdicts learned from (retraining every {TRAIN_EVERY}), then every later "
        f"verdict of the person ranked; mean over seeds {seeds}"
    )
    print(f"{'person':<16}{'general':>9}{'personal':>10}{'gain':>8}{'adopted':>10}{'valid.':>8}")
    gains = []
    for name, person in everyone.items():
        runs = [simulate(person, features, index, general, s) for s in seeds]
        g = float(np.mean([r["general"] for r in runs]))
        p = float(np.mean([r["personal"] for r in runs]))
        trained = sum(r["trained"] for r in runs)
        adopted = sum(r["adopted"] for r in runs)
        valid = sum(r["validated"] for r in runs)
        print(
            f"{name:<16}{g:9.3f}{p:10.3f}{p - g:+8.3f}{adopted:>6}/{trained:<3}{valid:>5}/{trained}"
        )
        if name != "no-taste":
            gains.append(p - g)
    print(f"mean gain of the four people with a taste: {np.mean(gains):+.3f} (target ≥ +0.25)")
    print(f"{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
