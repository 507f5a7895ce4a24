"""How far a backbone's features can carry the general model: the outfit memory scored directly.

A build-time probe beside ``train_general.py``. The shipped net C's three-piece pairs are
distilled from an outfit memory (``stylist.learn.memory``) and on new products score a little
below it, so the memory itself, scored on the test lists, is what the features allow this
recipe at best. This probe scores it in the product-disjoint cross-validation that
``train_general.py --cv`` runs (the same five folds, same-collection negatives, the same lists
per seed), in seconds per fold instead of the hour the nets take, for any installed backbone, any
number of principal components and kernel sharpness, beside the same memory over the colour
statistics of the photos and random ranking:

    python models/probe_memory.py [--backbone efficientnet-lite0] [--components 8,16,32]
        [--beta 10] [--seeds 0,1,2] [--home DIR]

(five folds per seed, the folds and lists of ``train_general.py --cv --cv-seeds``).

A backbone worth fine-tuning or adopting is one that raises the memory's row: a backbone that
does not cannot raise the net distilled from it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DATA = REPO.parent / "shared" / "data" / "outfits-mango" / "outfits.json"


def _standardised(x, train):
    x = x.astype("float64")
    return (x - x[train].mean(0)) / (x[train].std(0) + 1e-6)


def _unit(x):
    import numpy as np

    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)


def memory_rows(args) -> dict[str, list[float]]:
    """Mean NDCG of every probed memory on every (seed, fold) test split, in run order."""
    import numpy as np

    from stylist.learn.data import group_split, item_table, ranked_lists
    from stylist.learn.datasets import load_dataset
    from stylist.learn.features import crop_features
    from stylist.learn.memory import OutfitMemory
    from stylist.learn.metrics import average, mean_ndcg, random_ranking, rank_labels
    from stylist.learn.nets import PAIRS
    from stylist.learn.stages import whitening
    from stylist.paths import for_home, resolve

    paths = for_home(args.home) if args.home else resolve()
    # The crops and folds train_general.py reads (both families, the fixed split and the five
    # folds), so that the same seed draws the same negatives into the same lists.
    folds = [load_dataset(DATA, family="three", folds=5, fold=k) for k in range(5)]
    every = [load_dataset(DATA, family=f) for f in ("three", "one_piece")]
    every += [load_dataset(DATA, family="one_piece", folds=5, fold=k) for k in range(5)]
    keys = sorted({c for ds in [*folds, *every] for c in ds.crops()})
    crops = crop_features(folds[0].root, keys, paths=paths, backbone=args.backbone, cache_name=DATA)
    rows: dict[str, list[float]] = {}
    for seed in args.seeds:
        for fold, ds in enumerate(folds):
            started = time.time()
            table = item_table(ds, crops)
            users = ds.users()
            lists = ranked_lists(ds, table, users, "test", mode="collection", seed=seed)
            positives = np.concatenate(
                [group_split(ds, table, u, "train").positives for u in users]
            )
            train = np.unique(positives)

            cnn = _standardised(crops.features[0], train)
            colour = _standardised(crops.colour[0], train)
            runs = {
                f"{args.backbone}, {k} components": cnn @ whitening(cnn[train], k)
                for k in args.components
            }
            runs["colour statistics (32)"] = colour
            for name, vectors in runs.items():
                memory = OutfitMemory(outfits=positives, vectors=_unit(vectors), beta=args.beta)
                scored = [mean_ndcg(rank_labels(memory.scores(t, PAIRS), y)) for t, y in lists]
                rows.setdefault(name, []).append(float(np.mean(scored)))
            randoms = [random_ranking(int(y.sum()), int((y == 0).sum())) for _, y in lists]
            rows.setdefault("random ranking (expected)", []).append(average(randoms).mean_ndcg)
            print(
                f"seed {seed} fold {fold}: "
                + ", ".join(f"{n} {v[-1]:.3f}" for n, v in rows.items())
                + f" [{time.time() - started:.0f} s]",
                flush=True,
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="efficientnet-lite0")
    parser.add_argument("--components", default="8,16,32", help="comma-separated counts")
    parser.add_argument("--beta", type=float, default=10.0, help="kernel sharpness")
    parser.add_argument("--seeds", default="0,1,2", help="seeds, as train_general --cv-seeds")
    parser.add_argument("--home", type=Path, default=None, help="home holding the feature cache")
    args = parser.parse_args(argv)
    args.components = [int(k) for k in args.components.split(",")]
    args.seeds = [int(s) for s in args.seeds.split(",")]
    rows = memory_rows(args)
    print(f"\nmean NDCG, three-piece test lists, {len(args.seeds)} seeds x 5 folds:")
    width = max(len(n) for n in rows)
    for name, values in rows.items():
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"  {name:<{width}}  {statistics.mean(values):.3f} ± {sd:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
