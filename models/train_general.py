"""Train the shipped general matching networks (stage one) for the compact backbone.

A build-time tool: it reproduces ``models/fashionnet-c-efficientnet-lite0.{npz,json}`` and
``models/fashionnet-b-efficientnet-lite0.{npz,json}`` and the figures of
``models/MODEL_CARD-fashionnet.md`` from ../shared/data/outfits-mango, the outfits a fashion
house's stylists put together over product photos. The program never imports it, and the photos
are never shipped: only the nets trained on them.

What it does:

1. features and colour statistics of every product photo with the shipped efficientnet-lite0
   ONNX file, plus four augmented versions of each (re-lit, re-scaled; cached under the home's
   features folder);
2. the outfits split by product (no product photo in two splits; see
   ``stylist.learn.datasets.product_splits``), three-piece and one-piece outfits alike;
3. stage one of net C (three pair networks) and net B on the three-piece train split, and of
   net C's one-piece–shoes pair network on the one-piece train split, with negatives drawn from
   the positive's own collection; the checkpoint with the best validation mean NDCG kept;
4. the same net C, same recipe, on size statistics alone and on colour statistics alone;
5. every model scored on the test split (outfits whose products no model trained on) with
   same-collection negatives (and re-lit test photos), and with the paper's random negatives
   that mix collections (where the background tint could be learnt), beside random ranking;
   optionally product-disjoint 5-fold cross-validation for every seed, and net C scored on the
   street photos of outfits-ccp beside the net C shipped before (``--ccp-check``);
6. the nets of ``--ship-seed`` written to ``--out``: C holds the three pair networks and the
   one-piece one, each with its temperature fitted on the validation lists
   (``stylist.learn.calibrate``), with their JSON configs (data, command, seed, date, metrics);
   the model card's figures rewritten.

Usage (about an hour for three seeds with cross-validation on a 2-core laptop):

    python models/train_general.py [--seeds 0,1,2] [--ship-seed 0] [--cv] [--ccp-check DIR]

With ``--photos app`` it instead retrains the shipped nets on photos prepared exactly as the
app prepares a person's (``stylist.learn.features.app_prepared``: the working copy, the app's
cut-out, the garment framed on the light ground) and compares, on the same test lists, the nets
shipped before (in ``--before DIR``) on the photos as they were prepared before and as the app
prepares them, and the retrained nets on app-prepared photos; see ``app_photos``:

    python models/train_general.py --photos app [--seeds 0,1,2] [--ship-seed 0] [--skip-b]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DATA = REPO.parent / "shared" / "data" / "outfits-mango" / "outfits.json"
CCP = REPO.parent / "shared" / "data" / "outfits-ccp" / "outfits.json"
BACKBONE = "efficientnet-lite0"
CARD = "MODEL_CARD-fashionnet.md"
FAMILIES = ("three", "one_piece")
# "size" / "colour": net C on those statistics alone; B scores three-piece outfits only
# "memory": net C distilled from the outfit memory (``stylist.learn.memory``)
MODELS = {
    "three": ("C", "memory", "B", "size", "colour"),
    "one_piece": ("C", "memory", "size", "colour"),
}
NEGATIVES = "collection"
SHIPPED_C = "C"  # the model whose pair networks ship as net C: "C" (rank loss) or "memory"
FIGURES_START = "<!-- figures: written by models/train_general.py -->"
FIGURES_END = "<!-- end of figures -->"
APP_START = "<!-- app photos: written by models/train_general.py --photos app -->"
APP_END = "<!-- end of app photos -->"


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def load(data: Path, family: str, fold: int | None = None):
    from stylist.learn.datasets import load_dataset

    if fold is None:
        return load_dataset(data, family=family)
    return load_dataset(data, family=family, folds=5, fold=fold)


def train_and_score(ds, table, model: str, seed: int, device: str, also=()):
    """Stage one of one model on the dataset's train split; its test figures."""
    from stylist.learn import stages as st
    from stylist.learn.data import ranked_lists

    users = ds.users()
    val = ranked_lists(ds, table, users, "val", mode=NEGATIVES, seed=seed)
    if model == "memory":
        from stylist.learn.memory import EPOCHS, stage_one_memory

        trained = stage_one_memory(ds, table, users, also=also, seed=seed)
        val_ndcg = st.score(trained, table, val, seed=seed).mean_ndcg  # reported, not chosen on
        figures = {"best_val_mean_ndcg": val_ndcg, "epochs": EPOCHS}
    else:
        kind, inputs = (model, "cnn") if model in ("B", "C") else ("C", model)
        trained = st.stage_one(
            kind,
            ds,
            table,
            users,
            val,
            inputs=inputs,
            negatives=NEGATIVES,
            seed=seed,
            device=device,
        )
        figures = {"best_val_mean_ndcg": trained.fit.best_val, "epochs": trained.fit.epochs_run}
    for mode in (NEGATIVES, "random"):
        test = ranked_lists(ds, table, users, "test", mode=mode, seed=seed)
        figures[f"test_{mode}"] = st.score(trained, table, test, seed=seed).to_dict()
        relit = st.score_relit(trained, table, test, seed=seed)
        if relit is not None:
            figures[f"test_{mode}_relit"] = relit.to_dict()
    return trained, figures, val


def random_figures(ds, table, seed: int) -> dict:
    from stylist.learn.data import ranked_lists
    from stylist.learn.metrics import average, random_ranking

    lists = ranked_lists(ds, table, ds.users(), "test", mode=NEGATIVES, seed=seed)
    randoms = [random_ranking(int(lab.sum()), int((lab == 0).sum())) for _, lab in lists]
    return average(randoms).to_dict()


def earlier_net(old_dir: Path):
    """The net C shipped before (three pair networks), as a stage model."""
    from stylist.learn import stages as st
    from stylist.learn.io import input_normalisation, load_matching_net, net_from_arrays

    arrays, config = load_matching_net(old_dir / f"fashionnet-c-{BACKBONE}")
    mean, std = input_normalisation(arrays, int(config["feature_dim"]))
    net = st.Trained("C", "cnn", net_from_arrays(arrays, config, "three"), mean, std)
    net.info["temperature"] = config.get("calibration", {}).get("temperature", {})
    return net


def dataset_table(ds, paths, prepare: str = "as-is"):
    """The item table of a dataset's crops, features of every view cached, each crop prepared
    as ``prepare`` says (``stylist.learn.features.crop_features``)."""
    from stylist.learn.data import item_table
    from stylist.learn.evaluate import AUGMENT_VIEWS
    from stylist.learn.features import crop_features

    crops = crop_features(
        ds.root,
        ds.crops(),
        paths=paths,
        backbone=BACKBONE,
        views=1 + AUGMENT_VIEWS,
        cache_name=ds.path,
        prepare=prepare,
    )
    return item_table(ds, crops)


def ccp_table(paths):
    """outfits-ccp (street photos) with its item table, features of every view cached."""
    from stylist.learn.datasets import load_dataset

    ds = load_dataset(CCP)
    return ds, dataset_table(ds, paths)


def ccp_check(old, new_net, street, seeds: list[int]) -> dict:
    """Net C (three pairs) on the street photos of outfits-ccp, test split, leak-matched
    negatives (the lists the earlier shipped net was measured on), beside that earlier net."""
    from stylist.learn import stages as st
    from stylist.learn.data import ranked_lists

    ds, table = street  # from ccp_table
    out: dict = {"seeds": seeds, "old": [], "new": [], "old_relit": [], "new_relit": []}
    for seed in seeds:
        test = ranked_lists(ds, table, ds.users(), "test", mode="matched", seed=seed)
        for key, model in (("old", old), ("new", new_net)):
            out[key].append(st.score(model, table, test, seed=seed).mean_ndcg)
            out[f"{key}_relit"].append(st.score_relit(model, table, test, seed=seed).mean_ndcg)
    out["positives"] = sum(1 for o in ds.outfits if o.split == "test")
    return out


def _memory_recipe() -> dict:
    from stylist.learn import memory

    return {
        "teacher": "outfit memory: every liked train outfit's items as unit vectors in "
        f"{memory.COMPONENTS} whitened principal components; a pair (a, b) scores the kernel "
        "estimate of log p(a, b) / (p(a) p(b)) with kernel exp(beta · cosine), beta "
        f"{memory.BETA}; a pair's own outfits left out of the memory when it is scored",
        "student": "each pair network (the paper's form) on the same components, folded into fc1",
        "loss": "squared error between the pair network's logit difference and the teacher's "
        "standardised score",
        "pairs": f"{memory.SAMPLED_PAIRS} random pairs of training items per pair network and "
        "every liked pair",
        "views": "a random view of every item at every step: the photo or one of its "
        "augmented versions (re-lit, re-scaled), drawn independently per item",
        "optimizer": "adamw",
        "lr": memory.LR,
        "weight_decay": 5e-4,
        "epochs": memory.EPOCHS,
        "batch": memory.BATCH,
        "checkpoint": "the last (nothing is chosen on validation)",
        "one_piece": "the one-piece–shoes pair network distilled the same way from the memory "
        "of the one-piece outfits",
    }


ALPHAS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)


def ensemble_three_piece(street, temps: dict, memory, sets: dict, shared: bool = False) -> dict:
    """The three-piece pair networks as one net: the street-photo pairs (``street``, shifts
    folded, ``temps`` their temperatures) and the outfit memory's (``memory``) side by side,
    logit difference α·d_street/T + (1 − α)·(d_memory − b)/T' (b, T' the memory pairs' own Platt
    fit on the stylists' validation lists), then calibrated again.

    Each Platt fit is made per pair, or with ``shared`` once over all three pairs' logit
    differences (one b and T for the three). An outfit's score is the sum of its pair
    probabilities, so a temperature per pair weighs the pairs in the ranking, and on noisy
    validation lists a pair that looks uninformative gets T at the grid's end and is all but
    dropped; the model card compares the two.

    ``sets``: name -> (item table, lists) with "mango val", "ccp val" (α is chosen on their mean
    NDCG, each outfit scored as the app scores it: the sum of its calibrated pair
    probabilities) and any test lists to report. Returns the arrays (shift folded), the
    calibration entry and the figures of every α.
    """
    import numpy as np

    from stylist.learn import stages as st
    from stylist.learn.calibrate import fit_platt, pair_logit_diffs
    from stylist.learn.io import net_arrays
    from stylist.learn.metrics import mean_ndcg, rank_labels
    from stylist.rank.netfile import stack_pair_nets

    names = [n for n, _, _ in street.net.pair_defs]
    per_list = {
        key: [
            (
                pair_logit_diffs(street.net, st.model_inputs(street, table)[0], t),
                pair_logit_diffs(memory.net, st.model_inputs(memory, table)[0], t),
                lab,
            )
            for t, lab in lists
        ]
        for key, (table, lists) in sets.items()
    }

    def platt(diffs: list, labels) -> dict:
        """Platt fits of the pairs (``diffs`` in the order of ``names``): one per pair, or with
        ``shared`` one over every pair's logit differences, the same for every pair."""
        if not shared:
            return {n: fit_platt(d, labels) for n, d in zip(names, diffs, strict=True)}
        fit = fit_platt(np.concatenate(diffs), np.concatenate([labels] * len(names)))
        return {n: fit for n in names}

    val = per_list["mango val"]
    labels = np.concatenate([lab for _, _, lab in val])
    own = platt([np.concatenate([m[n] for _, m, _ in val]) for n in names], labels)

    def joint(d_s, d_m, alpha, n):
        t_m, b_m = own[n]
        return alpha * d_s[n] / temps[n] + (1 - alpha) * (d_m[n] - b_m) / t_m

    # the joint calibration is fitted on both data sets' validation lists
    calibration_rows = per_list["mango val"] + per_list["ccp val"]
    calibration_labels = np.concatenate([lab for _, _, lab in calibration_rows])
    figures, best = {}, None
    for alpha in ALPHAS:
        fitted = platt(
            [
                np.concatenate([joint(a, b, alpha, n) for a, b, _ in calibration_rows])
                for n in names
            ],
            calibration_labels,
        )
        got = {}
        for key, rows in per_list.items():
            ndcgs = []
            for a, b, lab in rows:
                score = sum(
                    1 / (1 + np.exp(-(joint(a, b, alpha, n) - fitted[n][1]) / fitted[n][0]))
                    for n in names
                )
                ndcgs.append(mean_ndcg(rank_labels(score, lab)))
            got[key] = float(np.mean(ndcgs))
        got["validation"] = (got["mango val"] + got["ccp val"]) / 2
        figures[alpha] = got
        log(
            f"three-piece ensemble, alpha {alpha}: "
            + ", ".join(f"{k} {v:.3f}" for k, v in got.items())
        )
        if best is None or got["validation"] > figures[best[0]]["validation"]:
            best = (alpha, fitted)
    alpha, fitted = best
    weights = {n: (alpha / temps[n], (1 - alpha) / own[n][0]) for n in names}
    arrays = stack_pair_nets(
        net_arrays(street.net, street.mean, street.std),
        net_arrays(memory.net, memory.mean, memory.std),
        weights,
    )
    for n in names:  # the memory half's own shift, then the joint calibration's
        bias = arrays[f"{n}.fc3.bias"].astype(np.float64)
        bias[1] -= (1 - alpha) * own[n][1] / own[n][0] + fitted[n][1]
        arrays[f"{n}.fc3.bias"] = bias.astype(np.float32)
    calibration = {
        "temperature": {n: round(fitted[n][0], 4) for n in names},
        "fitted_on": "validation lists of the stylists' three-piece outfits and of outfits-ccp "
        "(street photos), liked and negative pairs weighed equally"
        + (", one fit shared by the three pairs" if shared else ""),
    }
    return {"arrays": arrays, "calibration": calibration, "alpha": alpha, "figures": figures}


def mean_sd(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


NAMES = {
    "C": "net C (shipped)",
    "memory": "net C distilled from the outfit memory",
    "B": "net B (shipped)",
    "size": "net C on size statistics",
    "colour": "net C on colour statistics",
    "before": "net C shipped before (street photos)",
    "shipped": "net C as shipped (street-photo and memory pairs side by side, the weight chosen "
    "on each fold's validation lists)",
}
FAMILY_TITLES = {
    "three": "three-piece outfits (top, bottom, shoes)",
    "one_piece": "one-piece outfits (dress or jumpsuit, shoes)",
}


def _ndcg(figures: dict, key: str) -> float | None:
    got = figures.get(key)
    return None if got is None else got["mean_ndcg"]


def _cv_runs(cv: dict, family: str, model: str, key: str) -> list[list[float]]:
    """Per fold, the mean NDCG of every seed."""
    return [[_ndcg(cv["runs"][s][f][family][model], key) for s in cv["seeds"]] for f in range(5)]


def _cv_table(cv: dict, family: str, key: str, models) -> list[str]:
    lines = [
        "| model | " + " | ".join(f"fold {f}" for f in range(5)) + " | mean ± sd over runs |",
        "|---|" + "---|" * 6,
    ]
    for model in models:
        runs = _cv_runs(cv, family, model, key)
        cells = " | ".join(f"{statistics.mean(r):.3f}" for r in runs)
        lines.append(f"| {NAMES[model]} | {cells} | {mean_sd([v for r in runs for v in r])} |")
    rnds = [cv["random"][f][family]["mean_ndcg"] for f in range(5)]
    lines.append(
        "| random ranking | " + " | ".join(f"{v:.3f}" for v in rnds) + f" | "
        f"{statistics.mean(rnds):.3f} |"
    )
    return lines


def _wins(cv: dict, family: str, key: str, a: str, b: str) -> str:
    xs = [v for r in _cv_runs(cv, family, a, key) for v in r]
    ys = [v for r in _cv_runs(cv, family, b, key) for v in r]
    ahead = sum(x > y for x, y in zip(xs, ys, strict=True))
    gap = statistics.mean(x - y for x, y in zip(xs, ys, strict=True))
    return (
        f"ahead in {ahead} of {len(xs)} runs (two-sided sign test p = "
        f"{sign_test(ahead, len(xs)):.2g}), by {gap:+.3f} on average"
    )


def sign_test(wins: int, runs: int) -> float:
    """Two-sided p of ``wins`` or a result as lopsided in ``runs`` fair coin flips."""
    tail = min(wins, runs - wins)
    p = 2 * sum(math.comb(runs, k) for k in range(tail + 1)) / 2**runs
    return min(1.0, p)


def _test_table(runs: dict, rnd: dict, family: str, seeds: list[int], meta: dict) -> list[str]:
    lines = [
        f"**Test split, {FAMILY_TITLES[family]}** (outfits whose products no model trained on: "
        f"{meta['test_positives'][family]} liked outfits, six same-collection negatives each), "
        f"seeds {', '.join(map(str, seeds))}, mean ± standard deviation over seeds:",
        "",
        "| model | mean NDCG | NDCG@10 | positives in top 10 | mean NDCG, re-lit test photos | "
        "mean NDCG, random negatives mixing collections |",
        "|---|---|---|---|---|---|",
        f"| random ranking | {rnd[family]['mean_ndcg']:.3f} | {rnd[family]['ndcg_at_10']:.3f} | "
        f"{rnd[family]['positives_top_10']:.2f} | {rnd[family]['mean_ndcg']:.3f} | "
        f"{rnd[family]['mean_ndcg']:.3f} |",
    ]
    shown = [*MODELS[family], *(["before"] if "before" in runs[seeds[0]][family] else [])]
    for model in shown:
        rows = [runs[s][family][model] for s in seeds]
        key = f"test_{NEGATIVES}"
        m = [r[key]["mean_ndcg"] for r in rows]
        at10 = [r[key]["ndcg_at_10"] for r in rows]
        top = [r[key]["positives_top_10"] for r in rows]
        rand = [r["test_random"]["mean_ndcg"] for r in rows]
        relit = [r[f"{key}_relit"]["mean_ndcg"] for r in rows if f"{key}_relit" in r]
        name = NAMES[model].split(" (")[0]
        if (family, model) == ("one_piece", SHIPPED_C):
            name += ", one-piece pair (shipped)"
        elif family == "one_piece" and model in ("C", "memory"):
            name += " (not shipped)"
        elif family == "three" or model not in ("C", "memory"):
            name = NAMES[model]
        lines.append(
            f"| {name} | {mean_sd(m)} | {mean_sd(at10)} | {mean_sd(top)} | "
            f"{mean_sd(relit) if relit else '—'} | {mean_sd(rand)} |"
        )
    return lines


def figures_markdown(
    runs: dict, cv: dict | None, rnd: dict, seeds: list[int], meta: dict, ccp: dict | None
) -> str:
    lines = [
        FIGURES_START,
        "",
        f"Trained {meta['date']} with `{meta['command']}` ({meta['seconds'] / 60:.0f} min on "
        f"{meta['device']}).",
        "",
        f"Split by product: {meta['left_out']} of {meta['complete']} complete outfits have "
        "products on two sides of the split and are left out of every split.",
    ]
    for family in FAMILIES:
        lines += ["", *_test_table(runs, rnd, family, seeds, meta)]
    if cv:
        n = 5 * len(cv["seeds"])
        key = f"test_{NEGATIVES}"
        for family in FAMILIES:
            lines += [
                "",
                f"**Product-disjoint 5-fold cross-validation, {FAMILY_TITLES[family]}**, seeds "
                f"{', '.join(map(str, cv['seeds']))} ({n} runs of each model; every fold's "
                "outfits are a test fold once per seed), same-collection negatives. Mean NDCG "
                "per fold (mean over seeds) and over all runs:",
                "",
                *_cv_table(cv, family, key, cv["models"][family]),
            ]
            best = "shipped" if "shipped" in cv["models"][family] else SHIPPED_C
            against = [
                f"against the net {NAMES[m].removeprefix('net C ')}: "
                f"{_wins(cv, family, key, best, m)}"
                for m in ("colour", "size")
                if m in cv["models"][family] and best in cv["models"][family]
            ]
            if against:
                lines += ["", f"{NAMES[best]}, run by run, " + "; ".join(against) + "."]
    if ccp:
        lines += [
            "",
            f"**Street photos (outfits-ccp)**, test split ({ccp['positives']} liked outfits, "
            f"leak-matched negatives, list seeds {', '.join(map(str, ccp['seeds']))}): the net C "
            f"shipped before (trained on outfits-ccp) {mean_sd(ccp['old'])}, re-lit "
            f"{mean_sd(ccp['old_relit'])}; {NAMES[SHIPPED_C].split(' (')[0]}, trained on these "
            f"outfits (never on street photos) {mean_sd(ccp['new'])}, re-lit "
            f"{mean_sd(ccp['new_relit'])}.",
        ]
    lines += ["", FIGURES_END]
    return "\n".join(lines)


def write_card(out: Path, figures: str, start: str = FIGURES_START, end: str = FIGURES_END) -> None:
    card = out / CARD
    text = card.read_text(encoding="utf-8") if card.is_file() else ""
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + figures + tail
    else:
        text = text + "\n\n## Figures\n\n" + figures + "\n"
    card.write_text(text, encoding="utf-8")


# ------------------------------------------------------------------- photos prepared as the app


# Each family's pair networks learn from the data the shipped ones learnt from: the three-piece
# pairs (and net B) from the street photos' crops with leak-matched negatives, the one-piece
# pair from the stylists' product photos with same-collection negatives.
APP_FAMILIES = {"three": ("outfits-ccp", "matched"), "one_piece": ("outfits-mango", "collection")}
PREPARED = {
    "as-is": "as prepared before (street crops cut out with the dataset's masks onto white; "
    "product photos as they are)",
    "app": "as the app prepares a person's photo",
}


def app_datasets(data: Path, paths) -> dict:
    """Per family: the dataset and its item tables for both preparations (same rows, so one
    ranked list indexes both)."""
    from stylist.learn.datasets import load_dataset
    from stylist.learn.features import PREPARATIONS

    out = {}
    for family in FAMILIES:
        ds = load_dataset(CCP) if family == "three" else load_dataset(data, family=family)
        tables = {}
        for prepare in PREPARATIONS:
            log(f"{APP_FAMILIES[family][0]}: {len(ds.crops())} photos, features {prepare} (cached)")
            tables[prepare] = dataset_table(ds, paths, prepare)
        assert tables["as-is"].crops.keys == tables["app"].crops.keys
        out[family] = (ds, tables)
    return out


def shipped_before(folder: Path) -> dict:
    """The nets shipped before, per (family, kind), as stage models; and their files' arrays."""
    from stylist.learn import stages as st
    from stylist.learn.io import input_normalisation, load_matching_net, net_from_arrays

    out: dict = {}
    for kind in ("C", "B"):
        path = folder / f"fashionnet-{kind.lower()}-{BACKBONE}"
        if not path.with_suffix(".npz").is_file():
            continue
        arrays, config = load_matching_net(path)
        mean, std = input_normalisation(arrays, int(config["feature_dim"]))
        for family in FAMILIES if kind == "C" else ("three",):
            net = net_from_arrays(arrays, config, family)
            if net is not None:
                out[family, kind] = st.Trained(kind, "cnn", net, mean, std)
    return out


def _figures(model, table, lists, seed: int) -> dict:
    from stylist.learn import stages as st

    got = {"plain": st.score(model, table, lists, seed=seed).to_dict()}
    relit = st.score_relit(model, table, lists, seed=seed)
    if relit is not None:
        got["relit"] = relit.to_dict()
    return got


def cutout_share(paths, table) -> dict:
    """How many of a table's photos the app's cut-out framed (the rest failed its checks and
    are used as they are, as in the app)."""
    from stylist.vision.cutout import MASK_VERSION

    store = paths.features / "app-photos"
    used = sum((store / f"{h}.v{MASK_VERSION}.cut.jpg").is_file() for h in table.crops.hashes)
    return {"photos": len(table.crops.hashes), "cut_out": int(used)}


def app_markdown(result: dict) -> str:
    seeds = result["seeds"]
    seed_list = ", ".join(map(str, seeds))
    lines = [
        APP_START,
        "",
        f"Trained {result['date']} with `{result['command']}` ({result['minutes']:.0f} min on "
        f"{result['device']}); training seeds {seed_list} (test lists drawn with the same "
        f"seeds), the nets of seed {result['ship_seed']} shipped where they are not worse on "
        "app-prepared test photos, neither as prepared nor re-lit.",
        "",
    ]
    for family in FAMILIES:
        name, neg = APP_FAMILIES[family]
        share = result["cut_out"][family]
        lists = result["lists"][family]
        negatives = (
            "six leak-matched negatives each"
            if neg == "matched"
            else "six same-collection negatives each"
        )
        title = FAMILY_TITLES[family]
        lines += [
            f"**{title[0].upper()}{title[1:]}, {name} test split** ({lists} liked outfits, "
            f"{negatives}, one set of lists per seed, the same for every row; the app's cut-out "
            f"framed {share['cut_out']} of {share['photos']} photos, the others failed its "
            "checks and are used as they are, as in the app). Mean NDCG, mean ± sd over seeds "
            f"(seed {result['ship_seed']} in brackets):",
            "",
            "| model | photos | mean NDCG | NDCG@10 | mean NDCG, re-lit test photos |",
            "|---|---|---|---|---|",
            f"| random ranking | — | {result['random'][family]['mean_ndcg']:.3f} | "
            f"{result['random'][family]['ndcg_at_10']:.3f} | — |",
        ]
        for kind in ("C", "B"):
            rows = result["runs"][family].get(kind)
            if not rows:
                continue
            pair = (
                "one-piece pair" if family == "one_piece" else "three pairs" if kind == "C" else ""
            )
            label = f"net {kind}" + (f", {pair}" if pair else "")
            for who, prepare, text in (
                ("old", "as-is", "shipped before"),
                ("old", "app", "shipped before"),
                ("new", "app", "retrained on app-prepared photos"),
            ):
                figures = [r[who][prepare] for r in rows]
                ship = figures[seeds.index(result["ship_seed"])]
                plain = [f["plain"]["mean_ndcg"] for f in figures]
                at10 = [f["plain"]["ndcg_at_10"] for f in figures]
                relit = [f["relit"]["mean_ndcg"] for f in figures if "relit" in f]
                lines.append(
                    f"| {label}, {text} | {'app-prepared' if prepare == 'app' else 'as before'} "
                    f"| {mean_sd(plain)} ({ship['plain']['mean_ndcg']:.3f}) | {mean_sd(at10)} | "
                    f"{mean_sd(relit) if relit else '—'} |"
                )
        lines.append("")
        for kind, verdict in result["shipped"].items():
            fam, k = kind.split(":")
            if fam != family:
                continue
            lines.append(f"Net {k}: {verdict}.")
        lines.append("")
    cal = result.get("calibration")
    if cal:
        refit = ", ".join(f"{k} {v:.1f}" for k, v in cal["temperature"].items())
        before = ", ".join(f"{k} {v:.1f}" for k, v in cal["shipped_before"].items())
        lines += [
            f"Calibration: temperatures refitted on app-prepared validation lists {refit}; "
            f"shipped before {before}. Applied to "
            + (", ".join(cal["applied_to"]) + " (retrained)" if cal["applied_to"] else "no pair")
            + "; a kept pair keeps its calibration.",
            "",
        ]
    lines.append(APP_END)
    return "\n".join(lines)


def app_photos(args, seeds: list[int], argv) -> int:
    """The shipped nets retrained on app-prepared photos, compared on the same test lists with
    the nets shipped before (on the photos as prepared before and as the app prepares them),
    each new net shipped only where it is not worse on app-prepared test photos."""
    import numpy as np

    from stylist.domain import PAIR_NAMES
    from stylist.learn import stages as st
    from stylist.learn.calibrate import calibrate, fold_shifts
    from stylist.learn.data import ranked_lists
    from stylist.learn.evaluate import AUGMENT_VIEWS
    from stylist.learn.io import (
        load_matching_net,
        make_config,
        merge_pair_nets,
        net_arrays,
        save_matching_net,
    )
    from stylist.learn.stages import STAGE_ONE, STAGE_ONE_REDUCE
    from stylist.paths import for_home, resolve
    from stylist.vision.cutout import MASK_VERSION

    started = time.perf_counter()
    paths = for_home(args.home) if args.home else resolve()
    before = shipped_before(args.before)  # read now: --out may be the same folder
    sets = app_datasets(args.data, paths)
    kinds = {"three": ("C",) if args.skip_b else ("C", "B"), "one_piece": ("C",)}
    runs: dict = {f: {k: [] for k in kinds[f]} for f in FAMILIES}
    models: dict = {}
    for seed in seeds:
        for family in FAMILIES:
            ds, tables = sets[family]
            neg = APP_FAMILIES[family][1]
            users = ds.users()
            # The same lists for every model and preparation: drawn on the earlier preparation's
            # rows (leak-matched negatives match the crops' sizes as the shipped nets saw them).
            test = ranked_lists(ds, tables["as-is"], users, "test", mode=neg, seed=seed)
            val = ranked_lists(ds, tables["app"], users, "val", mode=neg, seed=seed)
            for kind in kinds[family]:
                new = st.stage_one(
                    kind,
                    ds,
                    tables["app"],
                    users,
                    val,
                    negatives=neg,
                    seed=seed,
                    device=args.device,
                )
                row = {"new": {"app": _figures(new, tables["app"], test, seed)}, "old": {}}
                if (family, kind) in before:
                    for prepare in ("as-is", "app"):
                        row["old"][prepare] = _figures(
                            before[family, kind], tables[prepare], test, seed
                        )
                row["best_val_mean_ndcg"] = new.fit.best_val
                runs[family][kind].append(row)
                got = {
                    f"{who} {prepare}": f"{row[who][prepare]['plain']['mean_ndcg']:.3f}"
                    for who in ("old", "new")
                    for prepare in row[who]
                }
                log(f"seed {seed} {family} {kind}: test mean NDCG {got}")
                if seed == args.ship_seed:
                    models[family, kind] = (new, val)

    from stylist.learn.metrics import average, random_ranking

    rnd = {}
    for family in FAMILIES:
        ds, tables = sets[family]
        lists = ranked_lists(
            ds,
            tables["as-is"],
            ds.users(),
            "test",
            mode=APP_FAMILIES[family][1],
            seed=args.ship_seed,
        )
        rnd[family] = average(
            [random_ranking(int(lab.sum()), int((lab == 0).sum())) for _, lab in lists]
        ).to_dict()

    # Ship a new net where, on app-prepared test photos, the shipped seed's net is not worse
    # than the one shipped before on the same lists: neither on the photos as prepared nor with
    # every photo re-lit on its own (a person's photos are each taken in their own light, so
    # the re-lit figure is the closer one to what the app sees).
    at = seeds.index(args.ship_seed)
    use: dict = {}
    verdicts: dict = {}
    for family in FAMILIES:
        for kind in kinds[family]:
            row = runs[family][kind][at]
            new, old = row["new"]["app"], row["old"]["app"]
            pairs = [(new[v]["mean_ndcg"], old[v]["mean_ndcg"]) for v in ("plain", "relit")]
            use[family, kind] = "new" if all(n >= o for n, o in pairs) else "old"
            what = "three-piece pairs" if (family, kind) == ("three", "C") else "one-piece pair"
            what = what if kind == "C" else "net"
            (n, o), (nr, orl) = pairs
            figures = (
                f"{n:.3f} against {o:.3f} for the one shipped before, re-lit {nr:.3f} against "
                f"{orl:.3f}; app-prepared test photos, seed {args.ship_seed}"
            )
            verdicts[f"{family}:{kind}"] = (
                f"the {what} retrained on app-prepared photos shipped ({figures})"
                if use[family, kind] == "new"
                else f"the {what} shipped before kept, the retrained one being worse on "
                f"app-prepared test photos ({figures})"
            )
            log(verdicts[f"{family}:{kind}"])

    command = "python models/train_general.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    date = dt.date.today().isoformat()
    lists_count = {
        f: sum(1 for o in sets[f][0].outfits if o.split == "test" and o.label == 1)
        for f in FAMILIES
    }
    result = {
        "date": date,
        "command": command,
        "minutes": (time.perf_counter() - started) / 60,
        "device": args.device,
        "seeds": seeds,
        "ship_seed": args.ship_seed,
        "runs": runs,
        "random": rnd,
        "lists": lists_count,
        "cut_out": {f: cutout_share(paths, sets[f][1]["app"]) for f in FAMILIES},
        "shipped": verdicts,
    }
    preparation = {
        "photos": "app",
        "how": "every training and evaluation photo prepared as the app prepares a person's: "
        "the library's working copy (long side at most 640 px, JPEG 90), the app's cut-out "
        f"(vision.cutout, recipe {MASK_VERSION}) framed in a square on the light ground and "
        "saved as the JPEG twin the models read; a mask that fails its own checks leaves the "
        "working copy as it is, as in the app",
        "augmented_views": AUGMENT_VIEWS,
        "views": "a random view of every item at every step: the prepared photo or one of its "
        "augmented versions (re-lit, re-scaled, on the same light ground)",
        "reduce": f"{STAGE_ONE_REDUCE} whitened principal components, folded into fc1",
        "optimizer": STAGE_ONE.optimizer,
        "lr": STAGE_ONE.lr,
        "weight_decay": STAGE_ONE.weight_decay,
        "epochs": STAGE_ONE.epochs,
        "pairs_per_batch": STAGE_ONE.pairs_per_batch,
        "checkpoint": "best validation mean NDCG on app-prepared validation lists",
    }
    sha = sets["three"][1]["app"].crops.backbone_sha256
    dim = int(sets["three"][1]["app"].features.shape[-1])
    summary = {
        f"{f}_{k}": {
            "test_mean_ndcg_app_prepared": {
                who: [r[who]["app"]["plain"]["mean_ndcg"] for r in runs[f][k]]
                for who in ("old", "new")
            },
            "test_mean_ndcg_before_prepared_old_net": [
                r["old"]["as-is"]["plain"]["mean_ndcg"] for r in runs[f][k]
            ],
            "shipped": use[f, k],
        }
        for f in FAMILIES
        for k in kinds[f]
    }

    # Net C. A kept pair keeps its calibration too (its shift is in its arrays, its temperature
    # in the JSON): the app's scale and the personal models trained on it stay as they were. A
    # retrained pair is calibrated on app-prepared validation lists of the data it learnt from.
    # What a refit on app-prepared validation lists would give a kept pair is only reported.
    old_arrays, old_config = load_matching_net(args.before / f"fashionnet-c-{BACKBONE}")
    refit = {}
    for family in FAMILIES:
        model = before[family, "C"] if use[family, "C"] == "old" else models[family, "C"][0]
        x = st.model_inputs(model, sets[family][1]["app"])[0]
        refit[family] = calibrate(model.net, x, models[family, "C"][1])
    summary["calibration_on_app_prepared_validation"] = {
        "temperature": {**refit["three"]["temperature"], **refit["one_piece"]["temperature"]},
        "applied_to": [f for f in FAMILIES if use[f, "C"] == "new"],
    }
    result["calibration"] = {
        **summary["calibration_on_app_prepared_validation"],
        "shipped_before": old_config["calibration"]["temperature"],
    }
    if all(use[f, "C"] == "old" for f in FAMILIES):
        arrays = {k: np.asarray(v) for k, v in old_arrays.items()}
        config = dict(old_config)
        config["metrics"] = {**old_config.get("metrics", {}), "app_photos": summary}
        config["app_photos"] = {
            "compared": date,
            "command": command,
            "outcome": "every pair kept (file unchanged but for these notes): "
            + "; ".join(v for k, v in verdicts.items() if k.endswith(":C")),
            "preparation": preparation["how"],
        }
    else:
        three = models["three", "C"][0] if use["three", "C"] == "new" else before["three", "C"]
        one = (
            models["one_piece", "C"][0]
            if use["one_piece", "C"] == "new"
            else before["one_piece", "C"]
        )
        arrays = merge_pair_nets(
            net_arrays(three.net, three.mean, three.std), net_arrays(one.net, one.mean, one.std)
        )
        shifts, temperature, report, fitted = {}, {}, {}, []
        old_t = old_config["calibration"]["temperature"]
        for family in FAMILIES:
            cal = refit[family]
            if use[family, "C"] == "new":
                shifts.update(cal["shift"])
                temperature.update(cal["temperature"])
                report.update(cal["report"])
                fitted.append(f"{APP_FAMILIES[family][0]} (app-prepared): {cal['fitted_on']}")
            else:
                temperature.update({k: old_t[k] for k in cal["temperature"]})
                report.update({k: old_config["calibration"]["report"][k] for k in cal["report"]})
                fitted.append(f"{APP_FAMILIES[family][0]}: kept from the net shipped before")
        arrays = fold_shifts(arrays, shifts)
        sources = {
            family: (
                f"retrained on app-prepared photos of {APP_FAMILIES[family][0]} "
                f"(seed {args.ship_seed})"
                if use[family, "C"] == "new"
                else f"kept from the net shipped before ({APP_FAMILIES[family][0]}, photos as "
                "prepared before): the retrained one was worse on app-prepared test photos"
            )
            for family in FAMILIES
        }
        metrics = {
            "three_piece" if family == "three" else family: (
                runs[family]["C"][at]["new"]["app"]
                if use[family, "C"] == "new"
                else old_config["metrics"].get("three_piece" if family == "three" else family)
            )
            for family in FAMILIES
        }
        config = make_config(
            "C",
            backbone=BACKBONE,
            backbone_sha256=sha,
            feature_dim=dim,
            trained_on=f"three-piece pairs: {sources['three']}; one-piece pair: "
            f"{sources['one_piece']}",
            metrics={**metrics, "random_ranking": rnd, "app_photos": summary},
            stage="one",
            seed=args.ship_seed,
            command=command,
            data="../shared/data/outfits-ccp/outfits.json (street photos; three-piece pairs) "
            "and ../shared/data/outfits-mango/outfits.json (MANGO stylists' outfits; one-piece "
            "pair); the photos are used for training and evaluation only and never shipped",
            training=preparation,
            model_card=CARD,
            pairs=list(PAIR_NAMES),
            calibration={
                "method": "temperature",
                "temperature": temperature,
                "fitted_on": "; ".join(fitted),
                "report": report,
            },
        )
        config["created"] = date
    npz, _ = save_matching_net(args.out / f"fashionnet-c-{BACKBONE}", arrays, config)
    log(f"wrote {npz}")
    if ("three", "B") in use:
        b_path = args.out / f"fashionnet-b-{BACKBONE}"
        if use["three", "B"] == "new":
            b = models["three", "B"][0]
            row = runs["three"]["B"][at]["new"]["app"]
            config = make_config(
                "B",
                backbone=BACKBONE,
                backbone_sha256=sha,
                feature_dim=dim,
                trained_on="outfits-ccp (498 street-photo outfits with a top, bottom and shoes; "
                "train split 65 %, validation 15 %, test 20 %), every photo prepared as the app "
                "prepares a person's",
                metrics={
                    "test_matched": row["plain"],
                    "test_matched_relit": row.get("relit"),
                    "random_ranking": rnd["three"],
                    "app_photos": summary["three_B"],
                },
                stage="one",
                seed=args.ship_seed,
                command=command,
                data="../shared/data/outfits-ccp/outfits.json (street photos; used for training "
                "and evaluation only, never shipped)",
                training=preparation,
                model_card=CARD,
            )
            config["created"] = date
            npz, _ = save_matching_net(b_path, net_arrays(b.net, b.mean, b.std), config)
        else:
            old_b, old_b_config = load_matching_net(args.before / f"fashionnet-b-{BACKBONE}")
            old_b_config = dict(old_b_config)
            old_b_config["metrics"] = {
                **old_b_config.get("metrics", {}),
                "app_photos": summary["three_B"],
            }
            npz, _ = save_matching_net(b_path, dict(old_b), old_b_config)
        log(f"wrote {npz}")
    write_card(args.out, app_markdown(result), APP_START, APP_END)
    print(json.dumps(result, indent=1))
    log(f"done in {(time.perf_counter() - started) / 60:.1f} min")
    return 0


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
        "--cv-models",
        help="comma-separated models of the cross-validation (default: every model)",
    )
    parser.add_argument(
        "--ccp-check",
        type=Path,
        metavar="DIR",
        help="a folder holding the earlier shipped net C: score both on outfits-ccp",
    )
    parser.add_argument(
        "--skip-b", action="store_true", help="train net C only (the shipped net B stays)"
    )
    parser.add_argument(
        "--keep-three-piece",
        action="store_true",
        help="ship the three-piece pair networks of the earlier net C (--ccp-check DIR) with the "
        "new one-piece pair network, all calibrated on this data's validation lists",
    )
    parser.add_argument(
        "--ship-c",
        choices=("rank", "memory"),
        default="memory",
        help="which net C ships: the one trained with the rank loss or the one distilled from "
        "the outfit memory (default)",
    )
    parser.add_argument(
        "--memory-street",
        action="store_true",
        help="the outfit memory of three-piece outfits holds the street photos' train outfits "
        "(outfits-ccp) too",
    )
    parser.add_argument(
        "--photos",
        choices=("as-is", "app"),
        default="as-is",
        help="app: retrain on photos prepared as the app prepares them and compare with the "
        "nets shipped before (in --before)",
    )
    parser.add_argument(
        "--before",
        type=Path,
        default=REPO / "models",
        help="the folder holding the nets shipped before (--photos app)",
    )
    parser.add_argument(
        "--ensemble",
        action="store_true",
        help="with --keep-three-piece and --ship-c memory: the three-piece pairs are the kept "
        "street-photo pairs and the outfit memory's side by side, weighed on validation lists",
    )
    parser.add_argument(
        "--shared-calibration",
        action="store_true",
        help="with --ensemble: one calibration for the three three-piece pairs instead of one "
        "each (so that it does not weigh the pairs in the ranking)",
    )
    parser.add_argument("--home", type=Path, help="Stylist home for the feature cache")
    parser.add_argument("--out", type=Path, default=REPO / "models")
    parser.add_argument("--device", default="cpu", help="where torch trains: cpu or cuda")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's own)")
    args = parser.parse_args(argv)

    import torch

    from stylist.domain import PAIR_NAMES
    from stylist.learn import stages as st
    from stylist.learn.calibrate import calibrate, fold_shifts
    from stylist.learn.data import item_table, ranked_lists
    from stylist.learn.evaluate import AUGMENT_VIEWS
    from stylist.learn.features import crop_features
    from stylist.learn.io import make_config, merge_pair_nets, net_arrays, save_matching_net
    from stylist.learn.nets import HIDDEN
    from stylist.learn.stages import STAGE_ONE, STAGE_ONE_REDUCE
    from stylist.paths import for_home, resolve
    from stylist.rank.netfile import widen_pair_nets

    if args.threads:
        torch.set_num_threads(args.threads)
    global SHIPPED_C
    if args.ship_c == "memory":
        SHIPPED_C = "memory"
        NAMES["C"] = "net C, rank loss (not shipped)"
        NAMES["memory"] = "net C distilled from the outfit memory (shipped)"
    if args.keep_three_piece:
        for model in ("C", "memory"):
            NAMES[model] = NAMES[model].split(" (")[0] + " (three-piece: not shipped)"
        NAMES["before"] = "net C, street-photo pairs (shipped)"
    if args.ensemble:
        NAMES["memory"] = (
            "net C distilled from the outfit memory "
            "(three-piece: shipped beside the street-photo pairs)"
        )
        NAMES["before"] = "net C, street-photo pairs (three-piece: shipped beside the memory's)"
    if args.skip_b:
        MODELS["three"] = tuple(m for m in MODELS["three"] if m != "B")
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.ship_seed not in seeds:
        parser.error("--ship-seed must be one of --seeds")
    if args.photos == "app":
        return app_photos(args, seeds, argv)
    if args.keep_three_piece and not args.ccp_check:
        parser.error("--keep-three-piece needs --ccp-check DIR (the earlier net)")
    if args.ensemble and not (args.keep_three_piece and args.ship_c == "memory"):
        parser.error("--ensemble needs --keep-three-piece and --ship-c memory")
    started = time.perf_counter()
    paths = for_home(args.home) if args.home else resolve()
    datasets = {family: load(args.data, family) for family in FAMILIES}
    # cross-validation folds leave out other outfits than the fixed split: features for both
    folds = {(f, k): load(args.data, f, k) for f in FAMILIES for k in range(5)} if args.cv else {}
    keys = sorted({c for ds in [*datasets.values(), *folds.values()] for c in ds.crops()})
    log(
        ", ".join(f"{len(ds.outfits)} {f} outfits" for f, ds in datasets.items())
        + f"; {len(keys)} product photos; extracting features (cached)"
    )
    root = datasets["three"].root
    crops = crop_features(
        root, keys, paths=paths, backbone=BACKBONE, views=1 + AUGMENT_VIEWS, cache_name=args.data
    )
    tables = {f: item_table(ds, crops) for f, ds in datasets.items()}
    # street photos remembered beside the stylists' three-piece outfits (their train split only)
    street = ccp_table(paths) if args.memory_street or args.ccp_check else None
    also = {"three": (street,) if args.memory_street else (), "one_piece": ()}
    runs: dict[int, dict] = {}
    shipped: dict[str, tuple] = {}
    for seed in seeds:
        runs[seed] = {f: {} for f in FAMILIES}
        for family in FAMILIES:
            for model in MODELS[family]:
                trained, figures, val = train_and_score(
                    datasets[family], tables[family], model, seed, args.device, also[family]
                )
                runs[seed][family][model] = figures
                log(
                    f"seed {seed} {family} {model}: validation "
                    f"{figures['best_val_mean_ndcg']:.3f}, test "
                    f"{figures[f'test_{NEGATIVES}']['mean_ndcg']:.3f} (same collection), "
                    f"{figures['test_random']['mean_ndcg']:.3f} (random negatives)"
                )
                if seed == args.ship_seed and model in ("B", "C", "memory"):
                    shipped[f"{family}-{model}"] = (trained, figures, val)
    for family in FAMILIES:
        shipped[f"{family}-C"] = shipped[f"{family}-{SHIPPED_C}"]
    rnd = {f: random_figures(datasets[f], tables[f], args.ship_seed) for f in FAMILIES}

    cv = None
    if args.cv:
        cv_seeds = seeds if args.cv_seeds is None else [int(x) for x in args.cv_seeds.split(",")]
        cv_models = set(args.cv_models.split(",")) if args.cv_models else None
        cv = {"seeds": cv_seeds, "runs": {}, "random": [], "models": {}}
        for family in FAMILIES:
            cv["models"][family] = [
                m for m in MODELS[family] if cv_models is None or m in cv_models
            ]
        if args.ensemble:  # the shipped three-piece net: memory and street pairs side by side
            if "memory" not in cv["models"]["three"]:
                parser.error("--ensemble cross-validation needs the memory model")
            cv["models"]["three"].append("shipped")
            kept = earlier_net(args.ccp_check)
            ccp_ds, ccp_tab = street
            ccp_val = ranked_lists(ccp_ds, ccp_tab, ccp_ds.users(), "val", mode="matched")
        fold_tables = {key: item_table(ds, crops) for key, ds in folds.items()}
        for seed in cv_seeds:
            cv["runs"][seed] = []
            for k in range(5):
                cv["runs"][seed].append({f: {} for f in FAMILIES})
                for family in FAMILIES:
                    for model in cv["models"][family]:
                        if model == "shipped":
                            continue  # scored with the memory model below
                        ds, table = folds[family, k], fold_tables[family, k]
                        trained, figures, val = train_and_score(
                            ds, table, model, seed, args.device, also[family]
                        )
                        cv["runs"][seed][k][family][model] = figures
                        log(
                            f"seed {seed} fold {k} {family} {model}: test "
                            f"{figures[f'test_{NEGATIVES}']['mean_ndcg']:.3f}"
                        )
                        if "shipped" in cv["models"][family] and model == "memory":
                            test = ranked_lists(
                                ds, table, ds.users(), "test", mode=NEGATIVES, seed=seed
                            )
                            sets = {
                                "mango val": (table, val),
                                "ccp val": (ccp_tab, ccp_val),
                                "test": (table, test),
                            }
                            ens = ensemble_three_piece(
                                kept,
                                kept.info["temperature"],
                                trained,
                                sets,
                                shared=args.shared_calibration,
                            )
                            got = ens["figures"][ens["alpha"]]["test"]
                            cv["runs"][seed][k][family]["shipped"] = {
                                f"test_{NEGATIVES}": {"mean_ndcg": got},
                                "alpha": ens["alpha"],
                            }
                            log(
                                f"seed {seed} fold {k} {family} shipped (alpha "
                                f"{ens['alpha']}): test {got:.3f}"
                            )
        cv["random"] = [
            {f: random_figures(folds[f, k], fold_tables[f, k], args.ship_seed) for f in FAMILIES}
            for k in range(5)
        ]

    ccp = before = None
    if args.ccp_check:
        before = earlier_net(args.ccp_check)
        for seed in seeds:
            ds, table = datasets["three"], tables["three"]
            lists = ranked_lists(ds, table, ds.users(), "test", mode=NEGATIVES, seed=seed)
            runs[seed]["three"]["before"] = {
                f"test_{NEGATIVES}": st.score(before, table, lists, seed=seed).to_dict(),
                "test_random": st.score(
                    before,
                    table,
                    ranked_lists(ds, table, ds.users(), "test", mode="random", seed=seed),
                ).to_dict(),
            }
        ccp = ccp_check(before, shipped["three-C"][0], street, seeds)
        log(f"outfits-ccp: earlier net C {ccp['old']}, this one {ccp['new']}")

    command = "python models/train_general.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    date = dt.date.today().isoformat()
    recipe = {
        "negatives": "six per positive, each slot drawn from the positive's own collection",
        "split": "by product: communities of the outfit–product graph, no product photo in two "
        "splits; outfits straddling the split left out",
        "augmented_views": AUGMENT_VIEWS,
        "views": "a random view of every item at every step: the photo or one of its "
        "augmented versions (re-lit, re-scaled), drawn independently per item",
        "reduce": f"{STAGE_ONE_REDUCE} whitened principal components, folded into fc1",
        "optimizer": STAGE_ONE.optimizer,
        "lr": STAGE_ONE.lr,
        "weight_decay": STAGE_ONE.weight_decay,
        "epochs": STAGE_ONE.epochs,
        "pairs_per_batch": STAGE_ONE.pairs_per_batch,
        "init": "PyTorch default (Kaiming-uniform)",
        "checkpoint": "best validation mean NDCG (same-collection negatives)",
        "one_piece": "the one-piece–shoes pair network trained the same way on the one-piece "
        "outfits; merged into net C with its input normalisation folded into its first layer",
    }
    MEMORY_RECIPE = _memory_recipe()  # noqa: N806
    MEMORY_RECIPE["remembered"] = "the liked three-piece outfits of the train split" + (
        " and outfits-ccp's train split (street photos)" if args.memory_street else ""
    )
    trained_on = (
        f"outfits-mango: {len(datasets['three'].outfits)} three-piece and "
        f"{len(datasets['one_piece'].outfits)} one-piece outfits put together by MANGO's "
        "stylists over product photos, split by product (train 65 %, validation 15 %, "
        "test 20 %)"
    )
    for kind in ("C", "B"):
        if f"three-{kind}" not in shipped:
            continue
        trained, figures, val = shipped[f"three-{kind}"]
        name = f"fashionnet-{kind.lower()}-{BACKBONE}"
        src = SHIPPED_C if kind == "C" else kind  # the model of the figures
        metrics = {
            "three_piece": figures,
            "random_ranking": rnd,
            "over_seeds": {
                "seeds": seeds,
                "test_mean_ndcg": {
                    f: [runs[s][f][src][f"test_{NEGATIVES}"]["mean_ndcg"] for s in seeds]
                    for f in FAMILIES
                    if src in MODELS[f]
                },
            },
            "baselines_test_mean_ndcg": {
                f: {
                    m: [runs[s][f][m][f"test_{NEGATIVES}"]["mean_ndcg"] for s in seeds]
                    for m in ("size", "colour")
                }
                for f in FAMILIES
            },
        }
        extra: dict = {}
        if kind == "C" and args.keep_three_piece:
            # The earlier pair networks, kept where the new ones are no better (model card).
            trained = before
            metrics["three_piece"] = runs[args.ship_seed]["three"]["before"]
            metrics["three_piece_source"] = "the earlier net C (outfits-ccp), kept"
            extra["three_piece_kept_from"] = "earlier shipped net C, trained on outfits-ccp"
        arrays = net_arrays(trained.net, trained.mean, trained.std)
        hidden = HIDDEN
        if kind == "C" and args.ensemble:
            ccp_ds, ccp_tab = street
            mango_ds, mango_tab = datasets["three"], tables["three"]
            sets = {
                "mango val": (mango_tab, val),
                "ccp val": (
                    ccp_tab,
                    ranked_lists(ccp_ds, ccp_tab, ccp_ds.users(), "val", mode="matched"),
                ),
            }
            for seed in seeds:
                sets[f"mango test {seed}"] = (
                    mango_tab,
                    ranked_lists(
                        mango_ds, mango_tab, mango_ds.users(), "test", mode=NEGATIVES, seed=seed
                    ),
                )
                sets[f"ccp test {seed}"] = (
                    ccp_tab,
                    ranked_lists(
                        ccp_ds, ccp_tab, ccp_ds.users(), "test", mode="matched", seed=seed
                    ),
                )
            temps = before.info["temperature"]
            ens = ensemble_three_piece(
                before, temps, shipped["three-memory"][0], sets, shared=args.shared_calibration
            )
            arrays, hidden = ens["arrays"], 2 * HIDDEN
            metrics["three_piece_ensemble"] = {"alpha": ens["alpha"], "figures": ens["figures"]}
            extra["three_piece_kept_from"] = (
                "the earlier net C's street-photo pairs and the outfit memory's pairs side by "
                f"side, weighed {ens['alpha']} : {1 - ens['alpha']:.1f} (chosen on validation)"
            )
        if kind == "C":
            one, one_figures, one_val = shipped["one_piece-C"]
            metrics["one_piece"] = one_figures
            one_arrays = widen_pair_nets(net_arrays(one.net, one.mean, one.std), hidden)
            arrays = merge_pair_nets(arrays, one_arrays)
            extra["pairs"] = list(PAIR_NAMES)
            if args.ensemble:
                three_cal = {
                    "shift": {},
                    "temperature": ens["calibration"]["temperature"],
                    "fitted_on": ens["calibration"]["fitted_on"],
                    "report": {},
                }
            elif args.keep_three_piece:
                # Each pair network is calibrated on validation lists of the photos it learnt
                # from: the kept ones on outfits-ccp's (leak-matched negatives).
                ccp_ds, ccp_tab = street
                ccp_val = ranked_lists(ccp_ds, ccp_tab, ccp_ds.users(), "val", mode="matched")
                three_cal = calibrate(trained.net, st.model_inputs(trained, ccp_tab)[0], ccp_val)
            else:
                x = st.model_inputs(trained, tables["three"])[0]
                three_cal = calibrate(trained.net, x, val)
            one_cal = calibrate(one.net, st.model_inputs(one, tables["one_piece"])[0], one_val)
            arrays = fold_shifts(arrays, {**three_cal.pop("shift"), **one_cal.pop("shift")})
            extra["calibration"] = {
                "method": "temperature",
                "temperature": {**three_cal["temperature"], **one_cal["temperature"]},
                "fitted_on": "validation lists of each family: "
                f"{three_cal['fitted_on']}; {one_cal['fitted_on']}",
                "report": {**three_cal["report"], **one_cal["report"]},
            }
            if ccp:
                metrics["outfits_ccp"] = ccp
        config = make_config(
            kind,
            backbone=BACKBONE,
            backbone_sha256=crops.backbone_sha256,
            feature_dim=int(crops.features.shape[-1]),
            trained_on=trained_on,
            metrics=metrics,
            stage="one",
            seed=args.ship_seed,
            command=command,
            data="../shared/data/outfits-mango/outfits.json (MANGO stylists' outfits; the "
            "photos are used for training and evaluation only and never shipped)",
            training=MEMORY_RECIPE if src == "memory" else recipe,
            model_card=CARD,
            hidden=hidden if kind == "C" else HIDDEN,
            **extra,
        )
        config["created"] = date
        npz, _ = save_matching_net(args.out / name, arrays, config)
        log(f"wrote {npz}")
    complete = len(json.loads(args.data.read_text(encoding="utf-8")))
    meta = {
        "date": date,
        "command": command,
        "seconds": time.perf_counter() - started,
        "device": args.device,
        "ship_seed": args.ship_seed,
        "left_out": sum(1 for _, why in datasets["three"].skipped if "two sides" in why),
        "complete": sum(len(ds.outfits) for ds in datasets.values())
        + sum(1 for _, why in datasets["three"].skipped if "two sides" in why),
        "outfits_in_file": complete,
        "test_positives": {
            f: sum(1 for o in ds.outfits if o.split == "test" and o.label == 1)
            for f, ds in datasets.items()
        },
    }
    write_card(args.out, figures_markdown(runs, cv, rnd, seeds, meta, ccp))
    print(json.dumps({"runs": runs, "cv": cv, "random": rnd, "ccp": ccp}, indent=1))
    log(f"done in {(time.perf_counter() - started) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
