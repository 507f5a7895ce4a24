"""Train the shipped general matching networks (stage one) for the compact backbone.

A build-time tool: it reproduces ``models/fashionnet-c-efficientnet-lite0.{npz,json}`` and
``models/fashionnet-b-efficientnet-lite0.{npz,json}`` and the figures of
``models/MODEL_CARD-fashionnet.md`` from ../shared/data/outfits-ccp. The program never imports it.

What it does:

1. features and colour statistics of every crop of outfits-ccp with the shipped
   efficientnet-lite0 ONNX file, plus four augmented versions of each crop (re-lit, re-scaled;
   cached under the home's features folder);
2. stage one of nets C and B on the train split (65 %) with leak-matched negatives, the
   checkpoint with the best validation mean NDCG (15 %) kept, for every seed asked;
3. the same net C, same recipe, on size statistics alone and on colour statistics alone;
4. every model scored on the test split (20 %, outfits no model trained on): leak-matched
   negatives with the crops as they are and with every crop re-lit on its own, and random
   negatives, with the random-ranking expectation beside them; optionally 5-fold
   cross-validation for every seed, where every outfit is a test outfit once;
5. optionally (``--leak-demo``) the models that learn the leaks: net C and the size net trained
   with the paper's random negatives, the colour net trained on the crops as they are;
6. the nets of ``--ship-seed`` written to ``--out`` (with their JSON configs: data, command,
   seed, date, metrics) and the model card's figures rewritten.

Usage (about 10 minutes a seed on a 2-core laptop):

    python models/train_general.py [--seeds 0,1,2] [--ship-seed 0] [--cv] [--home DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
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


def train_and_score(
    ds, table, model: str, seed: int, device: str, negatives: str = "matched", plain=False
):
    """Stage one of one model on the dataset's train split; its test figures.

    ``plain``: train on the crops as they are only, without their augmented versions.
    """
    from stylist.learn import stages as st
    from stylist.learn.data import ranked_lists

    users = ds.users()
    val = ranked_lists(ds, table, users, "val", mode=negatives, seed=seed)
    kind, inputs = (model, "cnn") if model in ("B", "C") else ("C", model)
    trained = st.stage_one(
        kind,
        ds,
        st.as_they_are(table) if plain else table,
        users,
        val,
        inputs=inputs,
        negatives=negatives,
        seed=seed,
        device=device,
    )
    figures = {"best_val_mean_ndcg": trained.fit.best_val}
    for mode in ("matched", "random"):
        test = ranked_lists(ds, table, users, "test", mode=mode, seed=seed)
        figures[f"test_{mode}"] = st.score(trained, table, test, seed=seed).to_dict()
        relit = st.score_relit(trained, table, test, seed=seed)
        if relit is not None:
            figures[f"test_{mode}_relit"] = relit.to_dict()
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


NAMES = {
    "C": "net C (shipped)",
    "B": "net B (shipped)",
    "size": "net C on size statistics",
    "colour": "net C on colour statistics",
}


def _ndcg(figures: dict, key: str) -> float | None:
    got = figures.get(key)
    return None if got is None else got["mean_ndcg"]


def _cv_table(cv: dict, key: str, models) -> list[str]:
    """Per fold the mean over seeds of ``key``'s mean NDCG, and the mean over every run."""
    lines = [
        "| model | " + " | ".join(f"fold {f}" for f in range(5)) + " | mean ± sd over runs |",
        "|---|" + "---|" * 6,
    ]
    for model in models:
        runs = [[_ndcg(cv["folds"][s][f][model], key) for s in cv["seeds"]] for f in range(5)]
        cells = " | ".join(f"{statistics.mean(r):.3f}" for r in runs)
        lines.append(f"| {NAMES[model]} | {cells} | {mean_sd([v for r in runs for v in r])} |")
    return lines


def _wins(cv: dict, key: str, a: str, b: str) -> str:
    pairs = [
        (_ndcg(cv["folds"][s][f][a], key), _ndcg(cv["folds"][s][f][b], key))
        for s in cv["seeds"]
        for f in range(5)
    ]
    ahead = sum(x > y for x, y in pairs)
    gap = statistics.mean(x - y for x, y in pairs)
    return (
        f"ahead in {ahead} of {len(pairs)} runs (two-sided sign test p = "
        f"{sign_test(ahead, len(pairs)):.2g}), by {gap:+.3f} on average"
    )


def sign_test(wins: int, runs: int) -> float:
    """Two-sided p of ``wins`` or a result as lopsided in ``runs`` fair coin flips."""
    tail = min(wins, runs - wins)
    p = 2 * sum(math.comb(runs, k) for k in range(tail + 1)) / 2**runs
    return min(1.0, p)


def figures_markdown(
    runs: dict, cv: dict | None, rnd: dict, seeds: list[int], meta: dict, leak: dict | None = None
) -> str:
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
        relit = [r["test_matched_relit"]["mean_ndcg"] for r in rows if "test_matched_relit" in r]
        lines.append(
            f"| {NAMES[model]} | {mean_sd(m)} | {mean_sd(at10)} | {mean_sd(top)} | "
            f"{mean_sd(relit) if relit else '—'} | {mean_sd(rand)} |"
        )
    if cv:
        n = 5 * len(cv["seeds"])
        lines += [
            "",
            f"**5-fold cross-validation**, seeds {', '.join(map(str, cv['seeds']))} ({n} runs "
            "of each model; every outfit is a test outfit once per seed), leak-matched "
            "negatives. Mean NDCG per fold (mean over seeds) and over all runs:",
            "",
            *_cv_table(cv, "test_matched", MODELS),
        ]
        rnds = [cv["random"][f]["mean_ndcg"] for f in range(5)]
        lines.append(
            "| random ranking | "
            + " | ".join(f"{v:.3f}" for v in rnds)
            + f" | {statistics.mean(rnds):.3f} |"
        )
        lines += [
            "",
            "The same runs with every test crop re-lit and re-scaled on its own (four augmented "
            "versions, averaged), so that the crops of one photo no longer share their light:",
            "",
            *_cv_table(cv, "test_matched_relit", ("C", "B", "colour")),
            "",
            "Net C against the net on colour statistics, run by run: crops as they are "
            f"{_wins(cv, 'test_matched', 'C', 'colour')}; re-lit "
            f"{_wins(cv, 'test_matched_relit', 'C', 'colour')}. Against the net on size "
            f"statistics: {_wins(cv, 'test_matched', 'C', 'size')}.",
        ]
    if leak:
        lines += [
            "",
            f"**The leaks** (seed {meta['ship_seed']}, test split): models trained so that they "
            "can learn what one photo gives away, and how they fare:",
            "",
            "| model, trained … | leak-matched negatives | leak-matched, re-lit test crops | "
            "random negatives |",
            "|---|---|---|---|",
        ]
        described = {
            "C_random": "net C, with the paper's random negatives",
            "size_random": "net C on size statistics, with the paper's random negatives",
            "colour_plain": "net C on colour statistics, on the crops as they are only",
        }
        for key, label in described.items():
            f = leak[key]
            relit = _ndcg(f, "test_matched_relit")
            lines.append(
                f"| {label} | {_ndcg(f, 'test_matched'):.3f} | "
                f"{'—' if relit is None else f'{relit:.3f}'} | {_ndcg(f, 'test_random'):.3f} |"
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
        "--cv-seeds", help="comma-separated seeds of the cross-validation (default: --seeds)"
    )
    parser.add_argument(
        "--leak-demo",
        action="store_true",
        help="also train the models that can learn the leaks (random negatives; colour on the "
        "crops as they are), to show what they learn",
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
    runs: dict[int, dict] = {}
    shipped: dict[str, object] = {}
    for seed in seeds:
        runs[seed] = {}
        for model in MODELS:
            trained, figures = train_and_score(ds, table, model, seed, args.device)
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
        for key, model, negatives, plain in (
            ("C_random", "C", "random", False),
            ("size_random", "size", "random", False),
            ("colour_plain", "colour", "matched", True),
        ):
            _, figures = train_and_score(
                ds, table, model, args.ship_seed, args.device, negatives, plain=plain
            )
            leak[key] = figures
            log(
                f"leak demo {key}: test {figures['test_matched']['mean_ndcg']:.3f} "
                f"(leak-matched), {figures['test_random']['mean_ndcg']:.3f} (random negatives)"
            )

    cv = None
    if args.cv:
        cv_seeds = seeds if args.cv_seeds is None else [int(x) for x in args.cv_seeds.split(",")]
        cv = {"seeds": cv_seeds, "folds": {}, "random": []}
        for seed in cv_seeds:
            cv["folds"][seed] = []
            for fold in range(5):
                fds = with_folds(ds, fold)
                cv["folds"][seed].append({})
                for model in MODELS:
                    _, figures = train_and_score(fds, table, model, seed, args.device)
                    cv["folds"][seed][fold][model] = figures
                    log(
                        f"seed {seed} fold {fold} {model}: test "
                        f"{figures['test_matched']['mean_ndcg']:.3f}"
                    )
        cv["random"] = [random_figures(with_folds(ds, f), table, args.ship_seed) for f in range(5)]

    command = "python models/train_general.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    date = dt.date.today().isoformat()
    recipe = {
        "negatives": "leak-matched (width, height, background share), six per positive",
        "augmented_views": AUGMENT_VIEWS,
        "views": "a random view of every item at every step: the crop or one of its "
        "augmented versions (re-lit, re-scaled), drawn independently per item",
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
            "colour_test_mean_ndcg_matched_relit": [
                runs[s]["colour"]["test_matched_relit"]["mean_ndcg"] for s in seeds
            ],
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
