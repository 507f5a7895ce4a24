"""``stylist eval``: train what the asked-for stages need on a dataset and print the paper's table.

For every net (A, B, C) and stage this reports the mean NDCG, NDCG@10 and positives in the top 10
on the dataset's test outfits, beside the random-ranking expectation, as the FashionNet paper
does. Stages:

* ``initial``: untrained matching layers;
* ``one``: stage one on every person's train split pooled;
* ``partial`` / ``whole`` / ``direct``: stage two per person (user id), from the stage-one model
  of this run, or from the shipped general model when ``one`` is not asked for; ``direct`` starts
  from an untrained net;
* ``shipped``: the general model shipped in ``models/``, without training.

Beside the nets, net C trained in stage one on size statistics alone and on colour statistics
alone shows how much a model could get from what the photos leak rather than from the clothes.

Every crop of one street photo shares that photo's light. Where the features of augmented crops
exist (stage one of B or C, or the shipped nets), every feature net is also scored with each test
crop re-lit and re-scaled on its own ("re-lit"): no shared light is left for a net to notice, so
what remains is what it learnt about clothes.

Lists are per person: the people with a user id when the dataset has any (stage two needs them),
else everyone as one group. Negatives are drawn from the positive's own collection where the
crops come from several shoots (outfits-mango), else leak-matched (see ``sampling``). Datasets
whose outfits share products are split by product (see ``datasets``). One-piece outfits (a dress
or jumpsuit with shoes) are evaluated beside the three-piece ones with net C's one-piece–shoes
pair network.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stylist import files
from stylist.errors import StylistError
from stylist.learn.metrics import RankingMetrics, average, random_ranking
from stylist.paths import Paths, models_dir
from stylist.tasks import Cancel, Progress, is_cancelled

STAGES = ("initial", "one", "partial", "whole", "direct", "shipped")
NETS = ("A", "B", "C")
BASELINES = ("size", "colour")
STAGE_NAMES = {
    "initial": "Initial",
    "one": "Stage one",
    "partial": "Stage two, partial",
    "whole": "Stage two, whole",
    "direct": "Direct",
    "shipped": "Shipped general model",
}
AUGMENT_VIEWS = 4  # augmented crops per crop for stage one (besides the crop itself)


class EvalError(StylistError):
    """An evaluation cannot run as asked; the message says why."""


@dataclass
class EvalRow:
    net: str  # "A" | "B" | "C", or "size" / "colour" for the baselines
    stage: str
    metrics: RankingMetrics | None
    note: str = ""  # why there is no figure, or what it was run with
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    relit: RankingMetrics | None = None  # the same lists, every test crop re-lit on its own

    def to_json(self) -> dict[str, Any]:
        return {
            "net": self.net,
            "stage": self.stage,
            "metrics": None if self.metrics is None else self.metrics.to_dict(),
            "relit": None if self.relit is None else self.relit.to_dict(),
            "note": self.note,
            "seconds": round(self.seconds, 2),
            "details": self.details,
        }


@dataclass
class EvalReport:
    dataset: str
    backbone: str
    negatives: str
    seed: int
    nets: tuple[str, ...]
    stages: tuple[str, ...]
    random: RankingMetrics
    rows: list[EvalRow]
    lists: int
    positives: int
    negatives_count: int
    outfits: int
    notes: list[str] = field(default_factory=list)
    family: str = "three"
    one_piece: EvalReport | None = None  # the one-piece outfits' report, where there are any

    def row(self, net: str, stage: str) -> EvalRow | None:
        for r in self.rows:
            if r.net == net and r.stage == stage:
                return r
        return None

    def table(self) -> str:
        """The paper's table: rows stages, columns nets, cells mean NDCG / NDCG@10 / top 10."""

        def cell(m: RankingMetrics | None) -> str:
            if m is None:
                return "—"
            return f"{m.mean_ndcg:.3f} / {m.ndcg_at_10:.3f} / {m.positives_top_10:.2f}"

        width = 26
        kind = "one-piece + shoes outfits" if self.family == "one_piece" else "outfits"
        lines = [
            f"FashionNet evaluation of {self.dataset}: {kind}",
            f"backbone {self.backbone}, {self.negatives} negatives, seed {self.seed}; "
            f"test: {self.lists} list(s), {self.positives} liked and {self.negatives_count} "
            f"negative outfits",
            "cells: mean NDCG / NDCG@10 / positives in the top 10",
            "",
            f"{'':<24}" + "".join(f"{n:^{width}}" for n in self.nets),
            f"{'Random ranking':<24}" + f"{cell(self.random):^{width}}" * len(self.nets),
        ]
        for stage in self.stages:
            cells = []
            for net in self.nets:
                r = self.row(net, stage)
                cells.append(cell(r.metrics if r else None))
            lines.append(f"{STAGE_NAMES[stage]:<24}" + "".join(f"{c:^{width}}" for c in cells))
        base = [r for r in self.rows if r.net in BASELINES]
        if base:
            lines += ["", "Net C, stage one, on these statistics alone:"]
            for r in base:
                lines.append(f"  {r.net + ' statistics':<22}{cell(r.metrics):^{width}}")
        relit = [r for r in self.rows if r.relit is not None]
        if relit:
            lines += [
                "",
                "Every test crop re-lit and re-scaled on its own (no light shared by the crops "
                "of one photo):",
                f"{'':<24}" + "".join(f"{n:^{width}}" for n in self.nets),
                f"{'Random ranking':<24}" + f"{cell(self.random):^{width}}" * len(self.nets),
            ]
            for stage in self.stages:
                rows = [self.row(net, stage) for net in self.nets]
                if not any(r is not None and r.relit is not None for r in rows):
                    continue
                cells = [cell(r.relit if r else None) for r in rows]
                lines.append(f"{STAGE_NAMES[stage]:<24}" + "".join(f"{c:^{width}}" for c in cells))
            for r in base:
                if r.relit is not None:
                    lines.append(f"  {r.net + ' statistics':<22}{cell(r.relit):^{width}}")
        notes = [
            f"{r.net} {STAGE_NAMES.get(r.stage, r.stage)}: {r.note}" for r in self.rows if r.note
        ]
        if notes or self.notes:
            lines += ["", *self.notes, *notes]
        if self.one_piece is not None:
            lines += ["", "", self.one_piece.table()]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "backbone": self.backbone,
            "negatives": self.negatives,
            "seed": self.seed,
            "nets": list(self.nets),
            "stages": list(self.stages),
            "test": {
                "lists": self.lists,
                "positives": self.positives,
                "negatives": self.negatives_count,
                "outfits_in_dataset": self.outfits,
            },
            "random": self.random.to_dict(),
            "rows": [r.to_json() for r in self.rows],
            "notes": self.notes,
            "family": self.family,
            "one_piece": None if self.one_piece is None else self.one_piece.to_json(),
        }


def _parse(values: Sequence[str] | str, allowed: Sequence[str], what: str) -> tuple[str, ...]:
    items = values.split(",") if isinstance(values, str) else list(values)
    out = []
    for v in items:
        v = v.strip()
        if not v:
            continue
        key = v if what == "stage" else v.upper()
        if key not in allowed:
            raise EvalError(f"unknown {what} {v!r} (choose from {', '.join(allowed)})")
        if key not in out:
            out.append(key)
    if not out:
        raise EvalError(f"no {what} asked for")
    return tuple(k for k in allowed if k in out)  # the paper's order


def shipped_net_path(kind: str, backbone: str) -> Path:
    return models_dir() / f"fashionnet-{kind.lower()}-{backbone}"


def load_shipped(kind: str, backbone: str, table, family: str = "three") -> Any:
    """The shipped general net ``kind`` for ``backbone`` as a stage model (only ``family``'s
    pair networks), or None."""
    from stylist.learn.io import input_normalisation, load_matching_net, net_from_arrays
    from stylist.learn.stages import Trained

    path = shipped_net_path(kind, backbone)
    if not path.with_suffix(".npz").is_file():
        return None
    arrays, config = load_matching_net(path)
    if config.get("backbone_sha256") != table.crops.backbone_sha256:
        raise EvalError(
            f"{path}.json was trained on another {backbone} file "
            f"({str(config.get('backbone_sha256'))[:12]}…) than the one installed"
        )
    mean, std = input_normalisation(arrays, int(config["feature_dim"]))
    if kind != "C" and family != "three":
        return None
    net = net_from_arrays(arrays, config, family)
    if net is None:
        return None
    return Trained(kind, "cnn", net, mean, std, info={"path": path})


def _resolve_device(device: str) -> str:
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def run_eval(
    dataset: Path,
    *,
    paths: Paths,
    backbone: str = "efficientnet-lite0",
    nets: Sequence[str] | str = ("C",),
    stages: Sequence[str] | str = ("initial", "one"),
    seed: int = 0,
    negatives: str = "auto",
    baselines: bool = True,
    device: str = "cpu",
    image_size: int | None = None,
    augment_views: int = AUGMENT_VIEWS,
    configs: dict[str, Any] | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> EvalReport:
    """Extract (cached) features, train what ``stages`` need and score every net on test lists.

    Three-piece outfits give the main report; where the dataset has one-piece outfits (a dress
    or jumpsuit with shoes) net C's one-piece–shoes pair network is evaluated on them the same
    way, in ``report.one_piece``.

    ``configs`` overrides training settings (TrainConfig) by key: ``one``, ``two``, ``cnn``
    (nets trained through the CNN). ``image_size`` is the crop side for nets trained through the
    CNN (default: the backbone's own). ``augment_views``: augmented versions of every crop that
    stage one of B and C samples from (0: the crops as they are only). ``baselines`` adds net C
    on size and colour statistics whenever stage one runs. ``negatives``: ``auto`` draws them
    from the positive's own collection where the crops come from several shoots
    (outfits-mango), else leak-matched (street photos).
    """
    from stylist.learn.data import default_negatives, item_table
    from stylist.learn.datasets import DatasetError, load_dataset
    from stylist.learn.features import crop_features

    nets_t = _parse(nets, NETS, "net")
    stages_t = _parse(stages, STAGES, "stage")
    device = _resolve_device(device)
    ds = load_dataset(dataset)
    try:
        one_piece = load_dataset(dataset, family="one_piece") if "C" in nets_t else None
    except DatasetError:
        one_piece = None  # no dress or jumpsuit outfit in the dataset
    # augmented crops: what stage one of B and C trains on, and the re-lit test of B and C
    relit_test = set(nets_t) & {"B", "C"} and {"one", "shipped"} & set(stages_t)
    views = 1 + augment_views if relit_test else 1

    started = time.perf_counter()
    families = [ds] + ([one_piece] if one_piece is not None else [])
    jobs = [_jobs(nets_t, stages_t, baselines)]
    if one_piece is not None:
        jobs.append(_jobs(("C",), stages_t, baselines))
    total = 1 + sum(len(j) for j in jobs)
    counter = [0]

    def report(label: str) -> None:
        if progress is not None:
            progress(counter[0], total, label)

    report("features of the crops")
    keys = sorted({c for d in families for c in d.crops()})
    crops = crop_features(
        ds.root,
        keys,
        paths=paths,
        backbone=backbone,
        views=views,
        cache_name=ds.path,
        progress=None if progress is None else (lambda d, t, label: progress(0, total, label)),
        cancel=cancel,
    )
    counter[0] += 1
    table = item_table(ds, crops)
    mode = default_negatives(table) if negatives == "auto" else negatives

    def evaluate(dataset, family_table, jobs_of_family, nets_of_family) -> EvalReport:
        run = EvalRun.of(
            dataset,
            family_table,
            nets=nets_of_family,
            stages=stages_t,
            negatives=mode,
            seed=seed,
            backbone=backbone,
            device=device,
            image_size=image_size,
            configs=configs or {},
        )
        return _evaluate_family(run, jobs_of_family, views, report, counter, cancel)

    main = evaluate(ds, table, jobs[0], nets_t)
    if one_piece is not None:
        main.one_piece = evaluate(one_piece, item_table(one_piece, crops), jobs[1], ("C",))
    report("done")
    main.notes.append(f"Took {time.perf_counter() - started:.0f} s on {device}.")
    return main


def _jobs(nets: Sequence[str], stages: Sequence[str], baselines: bool) -> list[tuple[str, str]]:
    jobs = [(net, stage) for stage in stages for net in nets]
    if "one" in stages and baselines:
        jobs += [(b, "one") for b in BASELINES]
    return jobs


@dataclass
class EvalRun:
    """One outfit family's evaluation: its data, its settings and what the jobs share (the
    test and validation lists, the image bank, the nets stage one trained)."""

    ds: Any  # Dataset
    table: Any  # ItemTable
    nets: tuple[str, ...]
    stages: tuple[str, ...]
    negatives: str
    seed: int
    backbone: str
    device: str
    configs: dict[str, Any]
    named: list[str]  # the people of the dataset (stage two trains one net per person)
    test: list[tuple[np.ndarray, np.ndarray]]  # every person's test lists
    all_val: list[tuple[np.ndarray, np.ndarray]]
    images: Any  # ImageBank, for nets trained through the CNN (else None)
    one_models: dict[str, Any] = field(default_factory=dict)  # net -> its stage-one model

    @classmethod
    def of(cls, ds, table, *, nets, stages, negatives, seed, image_size, **settings) -> EvalRun:
        from stylist.learn import stages as st
        from stylist.learn.data import ranked_lists

        named = [u for u in ds.users() if u is not None]
        test = ranked_lists(ds, table, named or [None], "test", mode=negatives, seed=seed)
        if not test:
            raise EvalError(f"{ds.path}: no liked {ds.family} outfit in any test split")
        all_val = ranked_lists(ds, table, ds.users(), "val", mode=negatives, seed=seed)
        need_images = "A" in nets or "whole" in stages
        images = st.ImageBank(ds, table, image_size) if need_images else None
        return cls(
            ds,
            table,
            tuple(nets),
            tuple(stages),
            negatives,
            seed,
            test=test,
            named=named,
            all_val=all_val,
            images=images,
            **settings,
        )

    @property
    def family(self) -> str:
        return self.ds.family

    def cfg(self, key: str) -> Any:
        return self.configs.get(key)


def _evaluate_family(
    run: EvalRun, jobs, views: int, report, counter, cancel: Cancel | None
) -> EvalReport:
    """Every job (net, stage) on one outfit family's test lists; see ``run_eval``."""
    rows: list[EvalRow] = []
    notes: list[str] = []
    trains = {"one", "partial", "whole", "direct"} & set(run.stages)
    if trains and not run.named and {"partial", "whole", "direct"} & set(run.stages):
        notes.append("Stage two needs user ids in the dataset; it has none.")
    for net, stage in jobs:
        if is_cancelled(cancel):
            break
        what = "one-piece outfits, " if run.family == "one_piece" else ""
        report(f"{what}net {net}, {STAGE_NAMES[stage].lower()}")
        t0 = time.perf_counter()
        row = EvalRow(net, stage, None)
        try:
            row = _job_row(run, row)
        except StylistError as err:
            row.note = str(err)
        row.seconds = time.perf_counter() - t0
        rows.append(row)
        counter[0] += 1
    if views > 1:
        notes.append(
            f"Stage one trains on {views - 1} augmented versions of every crop (re-lit, "
            "re-scaled) beside the crop itself; re-lit figures average those versions."
        )
    left_out = sum(1 for _, why in run.ds.skipped if "two sides" in why)
    if left_out:
        notes.append(
            f"Split by product: no product photo in two splits; {left_out} outfits whose "
            "products fall on two sides are left out."
        )
    randoms = [random_ranking(int(lab.sum()), int((lab == 0).sum())) for _, lab in run.test]
    return EvalReport(
        dataset=str(run.ds.path),
        backbone=run.backbone,
        negatives=_negatives_described(run),
        seed=run.seed,
        nets=tuple(run.nets),
        stages=run.stages,
        random=average(randoms),
        rows=rows,
        lists=len(run.test),
        positives=int(sum(int(lab.sum()) for _, lab in run.test)),
        negatives_count=int(sum(int((lab == 0).sum()) for _, lab in run.test)),
        outfits=len(run.ds.outfits),
        notes=notes,
        family=run.family,
    )


def _negatives_described(run: EvalRun) -> str:
    """What the test lists' negatives are, in the report's words."""
    from stylist.learn.data import group_split

    people = run.named or [None]
    rejected = [group_split(run.ds, run.table, u, "test").rejected.shape[0] > 0 for u in people]
    drawn = {"matched": "leak-matched", "collection": "same-collection"}.get(
        run.negatives, run.negatives
    )
    if all(rejected):
        return "rejected-outfit"
    if any(rejected):
        return f"rejected-outfit (or {drawn} where a person has none)"
    return drawn


def _job_row(run: EvalRun, row: EvalRow) -> EvalRow:
    """One net at one stage (``row``'s), trained as the stage says and scored on the test lists;
    ``row`` is filled in as it goes, so what was done before an error stays in it."""
    from stylist.learn import stages as st

    net, stage = row.net, row.stage
    seed, table, test = run.seed, run.table, run.test
    if net in BASELINES:
        model = st.stage_one(
            "C",
            run.ds,
            table,
            run.ds.users(),
            run.all_val,
            inputs=net,
            negatives=run.negatives,
            cfg=run.cfg("one"),
            seed=seed,
            device=run.device,
        )
        row.metrics = st.score(model, table, test, seed=seed)
        row.relit = st.score_relit(model, table, test, seed=seed)
        row.details = {"best_val_mean_ndcg": model.fit.best_val}
    elif stage == "initial":
        model = st.untrained(net, table, seed=seed, family=run.family)
        row.metrics = st.score(model, table, test, run.images, seed=seed)
        row.relit = st.score_relit(model, table, test, seed=seed)
    elif stage == "one":
        model = st.stage_one(
            net,
            run.ds,
            table,
            run.ds.users(),
            run.all_val,
            negatives=run.negatives,
            cfg=run.cfg("cnn" if net == "A" else "one"),
            seed=seed,
            images=run.images,
            device=run.device,
        )
        run.one_models[net] = model
        row.metrics = st.score(model, table, test, run.images, seed=seed)
        row.relit = st.score_relit(model, table, test, seed=seed)
        row.details = {"best_val_mean_ndcg": model.fit.best_val, "epochs": model.fit.epochs_run}
    elif stage == "shipped":
        if net == "A":
            row.note = "no shipped net A (it trains through the CNN; research only)"
            return row
        model = load_shipped(net, run.backbone, table, run.family)
        if model is None:
            row.note = f"no {shipped_net_path(net, run.backbone).name}.npz in models/"
            if run.family == "one_piece":
                row.note = "the shipped net C has no one-piece–shoes pair network"
        else:
            row.metrics = st.score(model, table, test, seed=seed)
            row.relit = st.score_relit(model, table, test, seed=seed)
    elif run.family == "one_piece":
        row.note = "stage two is evaluated on three-piece outfits"
    else:
        row = _stage_two_row(run, net, stage)
    return row


def _stage_two_start(run: EvalRun, net: str, stage: str) -> tuple[Any, str]:
    """(the model stage two starts from, where it came from); (None, why not) when none."""
    from stylist.learn import stages as st

    if not run.named:
        return None, "needs user ids"
    if net == "A" and stage == "partial":
        return None, "A has no separate matching layers to train alone (as in the paper)"
    if stage == "direct":
        return st.untrained(net, run.table, seed=run.seed), "untrained"
    if net in run.one_models:
        return run.one_models[net], "stage one of this run"
    if net == "A":
        return None, "needs stage one in the same run (there is no shipped net A)"
    start = load_shipped(net, run.backbone, run.table)
    if start is None:
        return None, "needs stage one in the same run or a shipped general model"
    return start, "shipped general model"


def _stage_two_row(run: EvalRun, net: str, stage: str) -> EvalRow:
    """Stage two per person, scored on each person's own test list, averaged over people."""
    from stylist.learn import stages as st
    from stylist.learn.data import ranked_lists

    row = EvalRow(net, stage, None)
    start, source = _stage_two_start(run, net, stage)
    if start is None:
        row.note = source
        return row
    key = "cnn" if (net == "A" or stage == "whole") else "two"
    per_person = []
    ds, table, seed = run.ds, run.table, run.seed
    for user in run.named:
        user_val = ranked_lists(ds, table, [user], "val", mode=run.negatives, seed=seed)
        user_test = ranked_lists(ds, table, [user], "test", mode=run.negatives, seed=seed)
        if not user_test:
            continue
        model = st.stage_two(
            stage,
            start,
            ds,
            table,
            user,
            user_val,
            user_test,
            negatives=run.negatives,
            cfg=run.cfg(key),
            seed=seed,
            images=run.images,
            device=run.device,
        )
        per_person.append(st.score(model, table, user_test, run.images, seed=seed))
    if not per_person:
        row.note = "no person has liked test outfits"
        return row
    row.metrics = average(per_person)
    row.details = {"start": source, "people": len(per_person)}
    return row


def write_json(report: EvalReport, path: Path) -> None:
    files.write_json(path, report.to_json())
