"""Train the shipped general matching networks (stage one) for the compact backbone.

A build-time tool: it reproduces ``models/fashionnet-c-efficientnet-lite0.{npz,json}`` and
``models/fashionnet-b-efficientnet-lite0.{npz,json}`` and the figures of
``models/MODEL_CARD-fashionnet.md`` from ../shared/data/outfits-ccp. The program never imports it.

What it does:

1. features of every crop of outfits-ccp with the shipped efficientnet-lite0 ONNX file, plus four
   augmented versions of each crop (re-lit, re-scaled; cached under the home's features folder);
2. stage one of nets C and B on the train split (65 %) with leak-matched negatives, the
   checkpoint with the best validation mean NDCG (15 %) kept, for every seed asked;
3. the same net C on size statistics alone and on colour statistics alone, same negatives;
4. every model scored on the test split (20 %, outfits no model trained on), leak-matched and
   random negatives, with the random-ranking expectation beside them; optionally 5-fold
   cross-validation, where every outfit is a test outfit once;
5. the nets of ``--ship-seed`` written to ``--out`` (with their JSON configs: data, command,
   seed, date, metrics) and the model card's figures rewritten.

Usage (about 10 minutes a seed on a 2-core laptop):

    python models/train_general.py [--seeds 0,1,2] [--ship-seed 0] [--cv] [--home DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DATA = REPO.parent / "shared" / "data" / "outfits-ccp" / "outfits.json"
BACKBONE = "efficientnet-lite0"
CARD = "MODEL_CARD-fashionnet.md"
MODELS = ("C", "B", "size", "colour")  # "size" / "colour": net C on those statistics alone
FIGURES_START = "<!-- figures: written by models/train_general.py -->"
FIGURES_END = "<!-- end of figures -->"


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def with_folds(ds, fold: int, folds: int = 5):
    """The dataset re-split: fold ``fold`` of ``folds`` (by hashed id) for testing, about 15 % of
    all outfits for validation, the rest for training."""
    from stylist.learn.datasets import _stable_fraction

    outfits = []
    for o in ds.outfits:
        f = _stable_fraction(o.outfit_id) * folds
        # 15 % of all outfits for validation: 0.15 / 0.8 of those outside the test fold
        split = "test" if int(f) == fold else ("val" if (f % 1) < 0.1875 else "train")
        outfits.append(dataclasses.replace(o, split=split))
    return dataclasses.replace(ds, outfits=outfits)


def relit_colours(ds, crops):
    """(V, N, 32) colour statistics of every augmented view of every crop (view 0: as it is),
    the same augmented crops the cached features were computed from."""
    import numpy as np

    from stylist.learn.features import _view_rng, augment, colour_statistics
    from stylist.vision.preprocess import load_image

    views = crops.features.shape[0]
    out = np.zeros((views, len(crops.keys), 32), dtype=np.float32)
    for i, (key, digest) in enumerate(zip(crops.keys, crops.hashes, strict=True)):
        img = load_image(ds.crop_path(key))
        out[0, i] = colour_statistics(img)
        for v in range(1, views):
            out[v, i] = colour_statistics(augment(img, _view_rng(digest, v)))
    return out


def relit_score(trained, table, test, colours, seed: int) -> float:
    """Mean NDCG with every test crop replaced by its augmented (re-lit, re-scaled) versions,
    averaged over the views: crops of one photo no longer share their light or scale."""
    import numpy as np

    from stylist.learn import stages as st

    crops = table.crops
    scores = []
    for v in range(1, crops.features.shape[0]):
        feats = crops.features.copy()
        feats[0] = crops.features[v]
        moved = dataclasses.replace(crops, features=feats, colour=colours[v])
        scores.append(st.score(trained, dataclasses.replace(table, crops=moved), test, seed=seed))
    return float(np.mean([m.mean_ndcg for m in scores]))


def train_and_score(
    ds, table, model: str, seed: int, device: str, negatives: str = "matched", colours=None
):
    """Stage one of one model on the dataset's train split; its test figures."""
    from stylist.learn import stages as st
    from stylist.learn.data import ranked_lists

    users = ds.users()
    val = ranked_lists(ds, table, users, "val", mode=negatives, seed=seed)
    kind, inputs = (model, "cnn") if model in ("B", "C") else ("C", model)
    trained = st.stage_one(
        kind, ds, table, users, val, inputs=inputs, negatives=negatives, seed=seed, device=device
    )
    figures = {"best_val_mean_ndcg": trained.fit.best_val}
    for mode in ("matched", "random"):
        test = ranked_lists(ds, table, users, "test", mode=mode, seed=seed)
        m = st.score(trained, table, test, seed=seed)
        figures[f"test_{mode}"] = m.to_dict()
        if mode == "matched" and colours is not None and model != "size":
            figures["test_matched_relit_mean_ndcg"] = relit_score(
                trained, table, test, colours, seed
            )
    return trained, figures


def random_figures(ds, table, seed: int) -> dict:
    from stylist.learn.data import ranked_lists
    from stylist.learn.metrics import random_ranking

    ((_, labels),) = ranked_lists(ds, table, ds.users(), "test", mode="matched", seed=seed)
    return random_ranking(int(labels.sum()), int((labels == 0).sum())).to_dict()


def mean_sd(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def figures_markdown(
    runs: dict, cv: dict | None, rnd: dict, seeds: list[int], meta: dict, leak: dict | None = None
) -> str:
    names = {
        "C": "net C (shipped)",
        "B": "net B (shipped)",
        "size": "net C on size statistics",
        "colour": "net C on colour statistics",
    }
    lines = [
        FIGURES_START,
        "",
        f"Trained {meta['date']} with `{meta['command']}` ({meta['seconds'] / 60:.0f} min on "
        f"{meta['device']}).",
        "",
        f"**Test split** (outfits never trained on: {meta['test_positives']} liked outfits, six "
        f"negatives each), seeds {', '.join(map(str, seeds))}, mean ± standard deviation over "
        "seeds:",
        "",
        "| model | mean NDCG, leak-matched negatives | NDCG@10 | positives in top 10 | "
        "mean NDCG, leak-matched, re-lit test crops | mean NDCG, random negatives |",
        "|---|---|---|---|---|---|",
        f"| random ranking | {rnd['mean_ndcg']:.3f} | {rnd['ndcg_at_10']:.3f} | "
        f"{rnd['positives_top_10']:.2f} | {rnd['mean_ndcg']:.3f} | {rnd['mean_ndcg']:.3f} |",
    ]
    for model in MODELS:
        rows = [runs[s][model] for s in seeds]
        m = [r["test_matched"]["mean_ndcg"] for r in rows]
        at10 = [r["test_matched"]["ndcg_at_10"] for r in rows]
        top = [r["test_matched"]["positives_top_10"] for r in rows]
        rand = [r["test_random"]["mean_ndcg"] for r in rows]
        relit = [
            r["test_matched_relit_mean_ndcg"] for r in rows if "test_matched_relit_mean_ndcg" in r
        ]
        lines.append(
            f"| {names[model]} | {mean_sd(m)} | {mean_sd(at10)} | {mean_sd(top)} | "
            f"{mean_sd(relit) if relit else '—'} | {mean_sd(rand)} |"
        )
    if cv:
        lines += [
            "",
            f"**5-fold cross-validation** (seed {cv['seed']}; every outfit is a test outfit once; "
            "leak-matched negatives), mean NDCG per fold and their mean:",
            "",
            "| model | " + " | ".join(f"fold {f}" for f in range(5)) + " | mean |",
            "|---|" + "---|" * 6,
        ]
        for model in MODELS:
            per = [cv["folds"][f][model]["test_matched"]["mean_ndcg"] for f in range(5)]
            cells = " | ".join(f"{v:.3f}" for v in per)
            lines.append(f"| {names[model]} | {cells} | {statistics.mean(per):.3f} |")
        rnds = [cv["random"][f]["mean_ndcg"] for f in range(5)]
        lines.append(
            "| random ranking | "
            + " | ".join(f"{v:.3f}" for v in rnds)
            + f" | {statistics.mean(rnds):.3f} |"
        )
        lines += [
            "",
            "The same folds with every test crop re-lit and re-scaled independently (four "
            "augmented versions, averaged), so that crops of one photo no longer share their "
            "light or scale:",
            "",
            "| model | " + " | ".join(f"fold {f}" for f in range(5)) + " | mean |",
            "|---|" + "---|" * 6,
        ]
        for model in ("C", "B", "colour"):
            per = [cv["folds"][f][model]["test_matched_relit_mean_ndcg"] for f in range(5)]
            cells = " | ".join(f"{v:.3f}" for v in per)
            lines.append(f"| {names[model]} | {cells} | {statistics.mean(per):.3f} |")
    if leak:
        lines += [
            "",
            f"**The leak** (seed {meta['ship_seed']}): trained with the paper's random negatives "
            "instead, mean NDCG on the test split:",
            "",
            "| model trained on random negatives | random negatives | leak-matched negatives |",
            "|---|---|---|",
        ]
        leak_names = {"C": "net C on backbone features", "size": names["size"]}
        for model in ("C", "size"):
            f = leak[model]
            lines.append(
                f"| {leak_names[model]} | {f['test_random']['mean_ndcg']:.3f} | "
                f"{f['test_matched']['mean_ndcg']:.3f} |"
            )
    lines += ["", FIGURES_END]
    return "\n".join(lines)


def write_card(out: Path, figures: str) -> None:
    card = out / CARD
    text = card.read_text(encoding="utf-8") if card.is_file() else ""
    if FIGURES_START in text and FIGURES_END in text:
        head, rest = text.split(FIGURES_START, 1)
        _, tail = rest.split(FIGURES_END, 1)
        text = head + figures + tail
    else:
        text = text + "\n\n## Figures\n\n" + figures + "\n"
    card.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds")
    parser.add_argument("--ship-seed", type=int, default=0, help="the seed whose nets are shipped")
    parser.add_argument("--cv", action="store_true", help="also run 5-fold cross-validation")
    parser.add_argument(
        "--leak-demo",
        action="store_true",
        help="also train net C and the size net with the paper's random negatives, to show the "
        "leak they learn",
    )
    parser.add_argument("--home", type=Path, help="Stylist home for the feature cache")
    parser.add_argument("--out", type=Path, default=REPO / "models")
    parser.add_argument("--device", default="cpu", help="where torch trains: cpu or cuda")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's own)")
    args = parser.parse_args(argv)

    import torch

    from stylist.learn.data import item_table
    from stylist.learn.datasets import load_dataset
    from stylist.learn.evaluate import AUGMENT_VIEWS
    from stylist.learn.features import crop_features
    from stylist.learn.io import make_config, net_arrays, save_matching_net
    from stylist.learn.stages import STAGE_ONE, STAGE_ONE_REDUCE
    from stylist.paths import for_home, resolve

    if args.threads:
        torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.ship_seed not in seeds:
        parser.error("--ship-seed must be one of --seeds")
    started = time.perf_counter()
    paths = for_home(args.home) if args.home else resolve()
    ds = load_dataset(args.data)
    log(f"{len(ds.outfits)} outfits, {len(ds.crops())} crops; extracting features (cached)")
    crops = crop_features(
        ds.root,
        ds.crops(),
        paths=paths,
        backbone=BACKBONE,
        views=1 + AUGMENT_VIEWS,
        cache_name=ds.path,
    )
    table = item_table(ds, crops)
    log("colour statistics of the augmented crops (for the re-lit test)")
    colours = relit_colours(ds, crops)

    runs: dict[int, dict] = {}
    shipped: dict[str, object] = {}
    for seed in seeds:
        runs[seed] = {}
        for model in MODELS:
            trained, figures = train_and_score(ds, table, model, seed, args.device, colours=colours)
            runs[seed][model] = figures
            log(
                f"seed {seed} {model}: validation {figures['best_val_mean_ndcg']:.3f}, test "
                f"{figures['test_matched']['mean_ndcg']:.3f} (leak-matched), "
                f"{figures['test_random']['mean_ndcg']:.3f} (random negatives)"
            )
            if seed == args.ship_seed and model in ("B", "C"):
                shipped[model] = (trained, figures)
    rnd = random_figures(ds, table, args.ship_seed)

    leak = None
    if args.leak_demo:
        leak = {}
        for model in ("C", "size"):
            _, figures = train_and_score(ds, table, model, args.ship_seed, args.device, "random")
            leak[model] = figures
            log(
                f"{model} trained on random negatives: test "
                f"{figures['test_random']['mean_ndcg']:.3f} (random negatives), "
                f"{figures['test_matched']['mean_ndcg']:.3f} (leak-matched)"
            )

    cv = None
    if args.cv:
        cv = {"seed": args.ship_seed, "folds": [], "random": []}
        for fold in range(5):
            fds = with_folds(ds, fold)
            cv["folds"].append({})
            for model in MODELS:
                _, figures = train_and_score(
                    fds, table, model, args.ship_seed, args.device, colours=colours
                )
                cv["folds"][fold][model] = figures
                log(f"fold {fold} {model}: test {figures['test_matched']['mean_ndcg']:.3f}")
            cv["random"].append(random_figures(fds, table, args.ship_seed))

    command = "python models/train_general.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    date = dt.date.today().isoformat()
    recipe = {
        "negatives": "leak-matched (width, height, background share), six per positive",
        "augmented_views": AUGMENT_VIEWS,
        "reduce": f"{STAGE_ONE_REDUCE} whitened principal components, folded into fc1",
        "optimizer": STAGE_ONE.optimizer,
        "lr": STAGE_ONE.lr,
        "weight_decay": STAGE_ONE.weight_decay,
        "epochs": STAGE_ONE.epochs,
        "pairs_per_batch": STAGE_ONE.pairs_per_batch,
        "init": "PyTorch default (Kaiming-uniform)",
        "checkpoint": "best validation mean NDCG (leak-matched negatives)",
    }
    for kind, (trained, figures) in shipped.items():
        name = f"fashionnet-{kind.lower()}-{BACKBONE}"
        seeds_summary = {
            "seeds": seeds,
            "test_mean_ndcg_matched": [runs[s][kind]["test_matched"]["mean_ndcg"] for s in seeds],
        }
        metrics = {
            **figures,
            "random_ranking": rnd,
            "over_seeds": seeds_summary,
            "baselines_test_mean_ndcg_matched": {
                m: [runs[s][m]["test_matched"]["mean_ndcg"] for s in seeds]
                for m in ("size", "colour")
            },
        }
        config = make_config(
            kind,
            backbone=BACKBONE,
            backbone_sha256=crops.backbone_sha256,
            feature_dim=int(crops.features.shape[-1]),
            trained_on=(
                f"outfits-ccp ({len(ds.outfits)} outfits with a top, bottom and shoes; "
                "train split 65 %, validation 15 %, test 20 %)"
            ),
            metrics=metrics,
            stage="one",
            seed=args.ship_seed,
            command=command,
            data="../shared/data/outfits-ccp/outfits.json (Clothing Co-Parsing street photos)",
            training=recipe,
            model_card=CARD,
        )
        config["created"] = date
        npz, _ = save_matching_net(
            args.out / name, net_arrays(trained.net, trained.mean, trained.std), config
        )
        log(f"wrote {npz}")
    meta = {
        "date": date,
        "command": command,
        "seconds": time.perf_counter() - started,
        "device": args.device,
        "ship_seed": args.ship_seed,
        "test_positives": sum(1 for o in ds.outfits if o.split == "test" and o.label == 1),
    }
    write_card(args.out, figures_markdown(runs, cv, rnd, seeds, meta, leak))
    print(json.dumps({"runs": runs, "cv": cv, "random": rnd, "leak": leak}, indent=1))
    log(f"done in {(time.perf_counter() - started) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
