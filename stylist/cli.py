"""The command line: ``stylist`` opens the app, ``stylist <command>`` works headless.

Exit status: 0 on success, 1 when some inputs failed, 2 on usage errors. ``--json`` gives output
for scripts. Expected failures print one readable line, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from stylist import build_info
from stylist.domain import Category, Item, Outfit, Verdict
from stylist.errors import StylistError, UsageError
from stylist.rank.query import match_percent

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class ProgressBar:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, label: str, stream=None, enabled: bool | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._last = 0.0

    def __call__(self, done: int, total: int, current: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        width = 30
        filled = int(width * done / total) if total else width
        bar = "#" * filled + "-" * (width - filled)
        text = f"\r{self.label} [{bar}] {done}/{total} {current[:40]:<40}"
        self.stream.write(text)
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


class ProgressLines:
    """Progress as one line per step on stderr ("import 12/400 name"), for scripts and tests
    that act at a point the work reports (the bar draws nothing when stderr is not a terminal)."""

    def __init__(self, label: str, stream=None) -> None:
        self.label = label
        self.stream = stream or sys.stderr

    def __call__(self, done: int, total: int, current: str) -> None:
        from stylist.paths import printable

        self.stream.write(f"{self.label} {done}/{total} {printable(current)}\n")
        self.stream.flush()


def _progress(args, label: str):
    if getattr(args, "progress", "bar") == "lines":
        return ProgressLines(label.lower())
    return ProgressBar(label)


def _category(text: str) -> Category:
    try:
        return Category.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _whole_number(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"{value} is below {least}")
    return value


def _whole_number_up_to(least: int, most: int):
    def parse(text: str) -> int:
        value = _whole_number(text, least)
        if value > most:
            raise argparse.ArgumentTypeError(f"{value} is above {most}")
        return value

    return parse


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not a share between 0 and 1")
    return value


def _folder(text: str) -> str:
    """A folder to keep a library or settings in: it may not exist yet, but it is not empty text
    (which would quietly mean the default library) and not a file or a device."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "an empty folder name; give the folder to use (leave the option out for the default)"
        )
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a folder")
    return text


def _version(text: str) -> int | str:
    if text == "general":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a version number nor general"
        ) from None


def _count(text: str) -> int:
    return _whole_number(text, 0)


def _positive(text: str) -> int:
    return _whole_number(text, 1)


def _item_json(stylist, item: Item) -> dict:
    lib = stylist.library
    return {
        "id": item.id,
        "category": item.category.value,
        "category_source": item.category_source.value if item.category_source else None,
        "category_confidence": item.category_confidence,
        "guess": item.guess.value if item.guess else None,
        "guess_confidence": item.guess_confidence,
        "name": item.name,
        "named_by_person": item.named_by_person,
        "original_name": item.original_name,
        "file": str(lib.file_path(item.stored_file)),
        "working_file": str(lib.file_path(item.working_file)),
        "thumbnail": str(lib.file_path(item.thumbnail_file)),
        "sha256": item.sha256,
        "width": item.width,
        "height": item.height,
        "colours": item.colours,
        "tags": item.tags,
        "notes": item.notes,
        "added_at": item.added_at,
    }


def _print_failures(failed: Sequence[tuple[Path, str]]) -> None:
    from stylist.paths import printable

    for path, reason in failed:
        print(f"  {printable(path)}: {reason}", file=sys.stderr)


# --------------------------------------------------------------------------- commands
def cmd_import(stylist, args) -> int:
    from stylist.paths import printable

    report = stylist.import_photos(
        args.paths, category=args.category, progress=_progress(args, "Importing")
    )
    features = None
    if not args.no_features and (report.added or stylist.analysis_unfinished()):
        # also when nothing new was added: an import cut off during its analysis resumes it
        features = stylist.extract_features(progress=_progress(args, "Analysing"))
    if args.json:
        print(
            json.dumps(
                {
                    "added": [item.id for item in report.added],
                    "duplicates": [printable(p) for p in report.duplicates],
                    "failed": [{"path": printable(p), "reason": r} for p, r in report.failed],
                },
                indent=2,
            )
        )
    else:
        print(
            f"Imported {len(report.added)} photo(s); {len(report.duplicates)} already in the "
            f"library; {len(report.failed)} failed."
        )
        if features is not None:
            print(f"Analysed: {features.summary()}.")
        if report.failed:
            print("These could not be imported:", file=sys.stderr)
            _print_failures(report.failed)
    return EXIT_FAILED if report.failed else EXIT_OK


def cmd_items(stylist, args) -> int:
    items = stylist.items(args.category)
    if args.json:
        print(json.dumps([_item_json(stylist, item) for item in items], indent=2))
        return EXIT_OK
    for item in items:
        source = item.category_source.value if item.category_source else "-"
        confidence = f"{item.category_confidence:.2f}" if item.category_confidence else "   -"
        guess = ""
        if item.category == Category.UNSORTED and item.guess:
            guess = f"  (looks like {item.guess.value}, {item.guess_confidence:.2f})"
        print(
            f"{item.id:6d}  {item.category.value:<9} {source:<4} {confidence}  {item.name}{guess}"
        )
    if not items:
        print("No items.")
    return EXIT_OK


def cmd_set_category(stylist, args) -> int:
    item = stylist.set_category(args.id, args.category)
    print(f"Item {item.id} is now {item.category.value}.")
    return EXIT_OK


def cmd_cutout(stylist, args) -> int:
    stylist.library.item(args.id)  # an unknown id is a usage error before anything runs
    if args.redo:
        report = stylist.make_cutouts([args.id])
        if report.failed:
            print(f"Item {args.id}: {report.failed[0][1]}", file=sys.stderr)
            return EXIT_FAILED
        if stylist.library.item(args.id).cutout_off:
            stylist.set_cutout_off(args.id, off=False)  # asked for a new cut: use it
    if args.off or args.on:
        stylist.set_cutout_off(args.id, off=args.off)
    item = stylist.library.item(args.id)
    if args.off or args.on or args.redo:
        # features, colours follow what the models now see
        stylist.extract_features()
    if item.cutout is None:
        state = "not cut out yet (`stylist features` or --redo)"
    elif item.cutout_off:
        state = "off: the models see the photo as it is"
    elif item.cutout == "rejected":
        state = "the cut failed its checks: the models see the photo as it is (--on uses it)"
    else:
        state = f"on ({'yours' if item.cutout == 'edited' else 'automatic'})"
    print(f"Item {item.id} cut-out (version {item.cutout_version}): {state}.")
    return EXIT_OK


def cmd_rename(stylist, args) -> int:
    item = stylist.rename(args.id, args.name)
    how = "" if item.named_by_person else " (named by Stylist)"
    print(f"Item {item.id} is now called “{item.name}”{how}.")
    return EXIT_OK


def cmd_remove(stylist, args) -> int:
    gone = set(args.ids)
    favourites = sum(1 for f in stylist.favourites() if gone & set(f.outfit.ids()))
    verdicts = sum(1 for v in stylist.library.verdicts() if gone & set(v.outfit.ids()))
    removed = stylist.remove(args.ids)
    held = [
        f"{n} {what}{'s' if n != 1 else ''}"
        for n, what in ((favourites, "favourite"), (verdicts, "verdict"))
        if n
    ]
    also = f", with the {' and '.join(held)} on outfits that held them" if held else ""
    print(f"Removed {len(removed)} item(s) and their files{also}.")
    return EXIT_OK


def cmd_info(stylist, args) -> int:
    info = stylist.info()
    if args.json:
        print(
            json.dumps(
                {
                    "data_dir": str(info.data_dir),
                    "config_dir": str(info.config_dir),
                    "database": str(info.database),
                    "database_bytes": info.database_bytes,
                    "photos_bytes": info.photos_bytes,
                    "counts": info.counts,
                    "total": info.total,
                },
                indent=2,
            )
        )
        return EXIT_OK
    print(f"Library:   {info.data_dir}")
    print(f"Settings:  {info.config_dir}")
    print(f"Database:  {info.database} ({_size(info.database_bytes)})")
    print(f"Photos:    {_size(info.photos_bytes)} (originals, working copies, thumbnails)")
    print(f"Items:     {info.total}")
    for category, n in info.counts.items():
        print(f"  {category:<10} {n}")
    return EXIT_OK


def cmd_check(stylist, args) -> int:
    report = stylist.check(repair=args.repair, deep=args.deep, adopt=args.adopt)
    for message in report.recovered:
        print(f"Recovered: {message}.")
    if report.settled_on_open:
        print(f"Finished {report.settled_on_open} interrupted file operation(s) on open.")
    print(f"Checked {report.items} item(s){' and every original against its hash' * args.deep}.")
    if report.database_lost:
        print(
            f"The database was lost or replaced: {len(report.unregistered)} of your photos are "
            "stored here without their rows. Nothing has been removed; "
            "`stylist check --repair` rebuilds the library from them."
        )
    elif report.unregistered:
        print(f"  {len(report.unregistered)} stored photo(s) have no row in the database")
    for message in report.database_messages:
        print(f"  database: {message}")
    for message in report.missing_files:
        print(f"  {message}")
    for message in report.damaged:
        print(f"  damaged: {message}")
    for orphan in report.orphans:
        print(f"  not the library's: {orphan}")
    for message in report.kept:
        print(f"  kept: {message}")
    for message in report.repaired:
        print(f"  repaired: {message}")
    if any("rebuilt from the stored photo" in m for m in report.repaired):
        print("Rebuilt items are unsorted: `stylist features` analyses and sorts them.")
    if report.consistent:
        print("The library is consistent.")
        return EXIT_OK
    if args.repair and report.repaired:
        again = stylist.check(deep=args.deep)
        if again.consistent:
            print("The library is consistent now.")
            return EXIT_OK
    if not args.repair and report.planned:
        print("`stylist check --repair` would (nothing a person gave Stylist is deleted):")
        for message in report.planned:
            print(f"  - {message}")
    return EXIT_FAILED


def cmd_demo(stylist, args) -> int:
    from stylist.service import Stylist

    demo, report = Stylist.open_demo(stylist.paths, reset=args.reset)
    with demo:
        # analysed as an import is, so that `stylist --demo suggest` works straight away
        features = demo.extract_features(progress=ProgressBar("Analysing"))
        counts = demo.library.counts()
        if report is not None:
            print(f"Loaded the demo wardrobe: {len(report.added)} photos.")
        if features.computed:
            print(f"Analysed: {features.summary()}.")
        print(f"Demo home: {demo.paths.data_dir}")
        print(", ".join(f"{n} {c}" for c, n in counts.items() if n))
        print("Use it with: stylist --demo <command>   (for example: stylist --demo items)")
        return EXIT_FAILED if report is not None and report.failed else EXIT_OK


def cmd_features(stylist, args) -> int:
    if args.backbone:
        stylist.settings.backbone = args.backbone
    if args.device:
        stylist.settings.device = args.device
    extractor = stylist.extractor()
    print(f"Backbone: {extractor.describe()}")
    if extractor.fallback_reason and stylist.settings.device == "auto":
        print(f"  (not on the GPU: {extractor.fallback_reason})")
    report = stylist.extract_features(progress=ProgressBar("Features"), force=args.force)
    print(report.summary())
    for item_id, path, reason in report.failed:
        print(f"  item {item_id} ({path.name}): {reason}", file=sys.stderr)
    if args.backbone or args.device:
        stylist.settings.save(stylist.paths)
    _offer_category_review(stylist)
    return EXIT_FAILED if report.failed else EXIT_OK


def _offer_category_review(stylist) -> None:
    try:
        proposals = stylist.category_review()
    except StylistError:
        return  # an offer only: never a reason to fail the command
    if proposals:
        n = len(proposals)
        print(
            f"{n} item{'s' if n != 1 else ''} may be in the wrong category — review: "
            "`stylist review-categories`"
        )


def cmd_review_categories(stylist, args) -> int:
    proposals = stylist.category_review()
    for item, category, confidence in proposals:
        sure = f" ({confidence:.2f})" if confidence is not None else ""
        print(f"{item.id:6d}  {item.category.value:<9} -> {category.value:<9}{sure}  {item.name}")
    if not proposals:
        print("Every automatic category still agrees with the guesser.")
        return EXIT_OK
    if not args.accept:
        print("Nothing moved. `stylist review-categories --accept` moves them.")
        return EXIT_OK
    moved = stylist.accept_category_review(proposals)
    print(f"Moved {moved} item(s).")
    return EXIT_OK


def cmd_models(stylist, args) -> int:
    from stylist.vision import backbones

    if args.action == "list":
        in_use = stylist.settings.backbone
        for spec in backbones.available_backbones(stylist.paths):
            mark = "*" if spec.id == in_use else " "
            print(f"{mark} {spec.summary()}")
        print("(* in use; `stylist models install vgg16` adds the paper's backbone)")
        return EXIT_OK
    if args.action == "verify":
        ids = (
            [args.backbone]
            if args.backbone
            else [s.id for s in backbones.available_backbones(stylist.paths)]
        )
        bad = 0
        for backbone_id in ids:
            spec = backbones.get_backbone(backbone_id, stylist.paths, verify=False)
            for variant, verdict in backbones.verify_backbone(spec, stylist.paths).items():
                print(f"{backbone_id} {variant}: {verdict}")
                bad += verdict != "ok"
        return EXIT_FAILED if bad else EXIT_OK
    if args.action == "install":
        if args.backbone not in ("vgg16", "efficientnet-lite2"):
            raise UsageError(
                "only vgg16 and efficientnet-lite2 can be installed; "
                "efficientnet-lite0 ships with Stylist"
            )
        spec = stylist.install_backbone(
            args.backbone, weights_file=args.weights, progress=ProgressBar("Installing")
        )
        print(f"Installed {spec.summary()}")
        print(f"Use it with: stylist models use {spec.id}")
        return EXIT_OK
    if args.action == "use":
        if not args.backbone:
            raise UsageError("models use needs a BACKBONE (see `stylist models list`)")
        print(stylist.choose_backbone(args.backbone, progress=ProgressBar("Carrying over")))
        return EXIT_OK
    from stylist.vision.export import export_efficientnet_lite0

    if args.backbone != "efficientnet-lite0":
        raise UsageError("models export makes the shipped efficientnet-lite0 file")
    build_info.require_torch("exporting the compact backbone")
    out = export_efficientnet_lite0(out_dir=args.out)
    print(f"Exported to {out}")
    return EXIT_OK


def cmd_eval(stylist, args) -> int:
    build_info.require_torch("the evaluation")
    from stylist.learn.evaluate import run_eval, write_json

    if args.json:
        stylist.check_outside(args.json, "write the figures to")
        if not Path(args.json).expanduser().parent.is_dir():
            raise UsageError(f"cannot write the figures to {args.json}: its folder does not exist")

    report = run_eval(
        args.dataset,
        paths=stylist.paths,
        backbone=args.backbone or stylist.settings.backbone,
        nets=[n.strip().upper() for n in args.nets.split(",") if n.strip()],
        stages=[s.strip() for s in args.stages.split(",") if s.strip()],
        seed=args.seed,
        negatives=args.negatives,
        baselines=not args.no_baselines,
        device=args.device,
        image_size=args.image_size,
        augment_views=args.augment_views,
        progress=ProgressBar("Evaluating"),
    )
    print(report.table())
    if args.json:
        write_json(report, args.json)
        print(f"Figures written to {args.json}.")
    return EXIT_OK


def _outfit(ids: Sequence[int]) -> Outfit:
    """An outfit from ids typed in slot order: TOP BOTTOM SHOES, or ONE_PIECE SHOES."""
    try:
        return Outfit.of(ids)
    except ValueError:
        raise UsageError(
            f"an outfit is three item ids (TOP BOTTOM SHOES) or two (ONE_PIECE SHOES), "
            f"not {len(ids)}"
        ) from None


def _outfit_text(outfit: Outfit, names: dict[int, str] | None = None) -> str:
    """'top 3 (shirt.jpg), bottom 5 (...), shoes 9 (...)' or 'one-piece 4 (...), shoes 9 (...)'."""
    return ", ".join(
        f"{slot.replace('_', '-')} {i}" + (f" ({names[i]})" if names and i in names else "")
        for slot, i in zip(outfit.slots(), outfit.ids(), strict=True)
    )


def _explained(outfit, names: dict[int, str]) -> str:
    pairs = "  ".join(
        f"{k.replace('_', '-')} {match_percent(v):.1f}%" for k, v in outfit.pair_scores.items()
    )
    lines = [f"    pairs: {pairs}"]
    if outfit.explanation is not None:
        if len(outfit.pair_scores) > 1:  # a one-piece outfit has one pair: none is "weakest"
            lines.append(f"    weakest pair: {outfit.explanation.weakest_pair.replace('_', '-')}")
        swap = outfit.explanation.best_swap
        if swap is not None:
            lines.append(
                f"    best swap: {swap.slot.replace('_', '-')} {names.get(swap.old, swap.old)} -> "
                f"{names.get(swap.new, swap.new)} "
                f"({match_percent(swap.score):.1f}% match, +{100 * swap.gain:.1f} points)"
            )
    return "\n".join(lines)


def cmd_suggest(stylist, args) -> int:
    outfits = stylist.suggest(
        args.k,
        with_items=args.with_items,
        without_items=args.without_items,
        tags=args.tag,
        not_worn_days=args.not_worn_days,
        max_per_item=args.max_per_item,
        exploration=args.explore,
        explain=args.explain,
        by_b=args.by_b,
    )
    if args.json:
        print(json.dumps([o.to_dict() for o in outfits], indent=2))
        return EXIT_OK
    names = {i.id: i.name for i in stylist.items()}
    how = "net B, rescoring net C's best 500" if args.by_b else "net C, exactly over every outfit"
    print(f"Ranked by {stylist.ranker_origin} ({how}).")
    for n, o in enumerate(outfits, start=1):
        mark = "  (exploring: the model is unsure of this one)" if o.exploration else ""
        match = f"{match_percent(o.score):.1f}%"
        print(f"{n:3d}. {match:>5}  {_outfit_text(o.outfit(), names)}{mark}")
        if args.explain:
            print(_explained(o, names))
    if not outfits:
        print("No outfit matches these filters.")
    return EXIT_OK


def _verdict_command(verdict: str):
    def run(stylist, args) -> int:
        outfit = _outfit(args.ids)
        if verdict == "wore":
            stylist.wore(outfit)
            print(f"Recorded: you wore {_outfit_text(outfit)} (a like).")
        else:
            stylist.rate(outfit, Verdict(verdict), source="cli")
            print(f"Recorded: you {verdict} {_outfit_text(outfit)}.")
        if stylist.training_due():
            _request_training(stylist)
        return EXIT_OK

    return run


def _request_training(stylist) -> None:
    """Start a background trainer, unless one runs: then it trains once more when done."""
    lock = stylist.trainer_lock()
    outcome = lock.request()
    if lock.cleared_stale is not None:
        print(f"Cleared the lock of a training that had stopped (process {lock.cleared_stale}).")
    if outcome == "pending":
        print("Your style model is training; it learns from this verdict when that ends.")
        return
    try:
        child = _train_in_background(stylist)
    except BaseException:
        lock.release()
        raise
    lock.hand_over(child.pid)
    print("Your style model is retraining in the background (`stylist model list`).")


def _train_in_background(stylist):
    """A detached `stylist train --wait --background` on the same home: it outlives this
    command and takes over the trainer lock this process claimed for it."""
    import subprocess

    from stylist.build_info import self_command

    return subprocess.Popen(
        [
            *self_command(),
            "--home",
            str(stylist.paths.data_dir),
            "--config",
            str(stylist.paths.config_dir),
            "train",
            "--wait",
            "--background",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def cmd_train(stylist, args) -> int:
    if not args.wait:
        _request_training(stylist)
        return EXIT_OK
    lock = stylist.trainer_lock()
    held = lock.take_over() if args.background else lock.acquire()
    if not held:
        if not args.background:
            lock.mark_dirty()
            print(
                f"A training is running already (process {lock.holder()}); it trains once "
                "more on all your verdicts when it ends."
            )
        return EXIT_OK
    # Scripts (and tests) know from this line that the training has started.
    print(f"Training started (process {os.getpid()}).", flush=True)
    for report in stylist.train_while_dirty(progress=ProgressBar("Training")):
        print(f"Trained: {report.message}.")
    return EXIT_OK


def _version_label(v) -> str:
    """How a version's check reads: its validation figures, or that it has none yet."""
    m = v.metrics
    if m.get("carried_over"):
        return str(m.get("label", "carried over from the general model"))
    old, new = m.get("old_val_mean_ndcg"), m.get("new_val_mean_ndcg")
    if m.get("validated") is False or new is None:
        return "not yet validated"
    if old is not None:
        return f"validation mean NDCG {old:.3f} -> {new:.3f}"
    return f"validation mean NDCG {new:.3f}"


def cmd_model(stylist, args) -> int:
    if args.action == "use":
        if args.version is None:
            raise UsageError("model use needs a VERSION or general (see `stylist model list`)")
        if args.version == "general":
            stylist.use_general_model()
            print("The general model is in use now; your versions stay, to go back to.")
            return EXIT_OK
        version = stylist.use_model_version(args.version)
        note = " (not yet validated)" if _version_label(version) == "not yet validated" else ""
        print(f"Version {version.id} is in use now{note}.")
        return EXIT_OK
    versions = stylist.model_versions()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": v.id,
                        "net": v.net,
                        "backbone": v.backbone,
                        "active": v.active,
                        "validated": _version_label(v) != "not yet validated",
                        "created_at": v.created_at,
                        "metrics": v.metrics,
                    }
                    for v in versions
                ],
                indent=2,
            )
        )
        return EXIT_OK
    for v in versions:
        m = v.metrics
        mark = "*" if v.active else " "
        print(
            f"{mark} {v.id:4d}  {v.created_at}  net {v.net}  {_version_label(v)}  "
            f"({m.get('likes', 0)} likes, {m.get('dislikes', 0)} dislikes)"
        )
    if not versions:
        print("No personal model yet: rate some outfits, then `stylist train`.")
    else:
        in_use = "" if any(v.active for v in versions) else "; the general model is in use"
        print(f"(* in use{in_use}; `stylist model use general` goes back to the general model)")
    return EXIT_OK


def cmd_favourite(stylist, args) -> int:
    if args.action == "add":
        if len(args.ids) not in (2, 3):
            raise UsageError(
                "favourite add takes three item ids (TOP BOTTOM SHOES) or two (ONE_PIECE SHOES)"
            )
        fav = stylist.add_favourite(_outfit(args.ids))
        print(f"Favourite {fav} kept.")
    elif args.action == "remove":
        for fav in args.ids:
            stylist.remove_favourite(fav)
        print(f"Removed {len(args.ids)} favourite(s).")
    else:
        rows = stylist.favourites()
        if args.json:
            print(
                json.dumps(
                    [{"id": f.id, **f.outfit.to_dict(), "created_at": f.created_at} for f in rows],
                    indent=2,
                )
            )
        else:
            for f in rows:
                print(f"{f.id:5d}  {_outfit_text(f.outfit)}  ({f.created_at})")
            if not rows:
                print("No favourites yet.")
    return EXIT_OK


def cmd_export(stylist, args) -> int:
    if args.file.is_dir():
        raise UsageError(f"{args.file} is a folder: give the file to write, e.g. {args.file}/x.png")
    try:
        path = stylist.export_favourites(
            args.file, args.format, ids=args.ids or None, cutouts=not args.no_cutouts
        )
    except OSError as exc:
        raise StylistError(f"cannot export to {args.file}: {exc.strerror or exc}") from None
    print(f"Exported to {path}.")
    return EXIT_OK


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


# --------------------------------------------------------------------------- parser
# Adds one subcommand: (name, function, help) -> its parser.
Command = Callable[[str, Callable, str], argparse.ArgumentParser]


def _library_commands(command: Command) -> None:
    """The wardrobe: importing, listing, sorting, checking; the demo."""
    p = command("import", cmd_import, "import photos from files and folders")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--category", type=_category, help="the category of every photo imported")
    p.add_argument(
        "--no-features",
        action="store_true",
        help="skip the analysis (features, colours, categories) after the import",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--progress",
        choices=("bar", "lines"),
        default="bar",
        help="bar: drawn on a terminal; lines: one line per photo on stderr, for scripts",
    )

    p = command("items", cmd_items, "list the items in the library")
    p.add_argument("--category", type=_category)
    p.add_argument("--json", action="store_true")

    p = command("set-category", cmd_set_category, "set an item's category (yours always wins)")
    p.add_argument("id", type=int)
    p.add_argument("category", type=_category)

    p = command("cutout", cmd_cutout, "show, turn off or on, or redo an item's garment cut-out")
    p.add_argument("id", type=int)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--off", action="store_true", help="the models see the photo as it is")
    which.add_argument("--on", action="store_true", help="the models see the garment cut out")
    which.add_argument("--redo", action="store_true", help="cut the garment out again")

    p = command("rename", cmd_rename, "give an item a name (an empty name: Stylist names it)")
    p.add_argument("id", type=int)
    p.add_argument("name")

    p = command("remove", cmd_remove, "remove items and their files")
    p.add_argument("ids", nargs="+", type=int, metavar="ID")

    p = command("info", cmd_info, "where the library lives and what it holds")
    p.add_argument("--json", action="store_true")

    p = command("check", cmd_check, "check the library's database and files")
    p.add_argument(
        "--repair",
        action="store_true",
        help="mend what can be mended: remake lost copies, rebuild items from stored photos, "
        "move stray files to lost+found/ (nothing is deleted)",
    )
    p.add_argument(
        "--deep", action="store_true", help="also hash every original against its name (slower)"
    )
    p.add_argument(
        "--adopt", action="store_true", help="import the photos kept in lost+found/ again"
    )

    p = command("demo", cmd_demo, "load the demo wardrobe into a home of its own")
    p.add_argument("--reset", action="store_true", help="load it afresh")

    p = command(
        "features",
        cmd_features,
        "compute image features, colours and category guesses (resumes where it stopped)",
    )
    p.add_argument("--backbone", help="efficientnet-lite0 (shipped) or vgg16 (once installed)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"))
    p.add_argument("--force", action="store_true", help="compute every item again")

    p = command(
        "review-categories",
        cmd_review_categories,
        "automatic categories your corrections would change (moves them only with --accept)",
    )
    p.add_argument("--accept", action="store_true", help="move the items listed")


def _model_commands(command: Command) -> None:
    """The backbones and the paper's evaluation."""
    p = command(
        "models",
        cmd_models,
        "list, install, use (carrying the general model over), verify or export backbones",
    )
    p.add_argument("action", choices=("list", "install", "use", "verify", "export"))
    p.add_argument("backbone", nargs="?")
    p.add_argument("--weights", type=Path, help="install: a local VGG-16 weights file (.pth)")
    p.add_argument("--out", type=Path, help="export: the folder to write to")

    p = command("eval", cmd_eval, "the paper's evaluation on a dataset of outfits")
    p.add_argument("dataset", type=Path, help="a JSON list of outfits (outfits-ccp format)")
    p.add_argument("--backbone", help="default: the backbone in use")
    p.add_argument("--nets", default="C", help="comma-separated: A, B, C (default C)")
    p.add_argument(
        "--stages",
        default="initial,one",
        help="comma-separated: initial, one, partial, whole, direct, shipped",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--negatives",
        choices=("auto", "matched", "collection", "random"),
        default="auto",
        help="matched: negatives that a same-photo leak cannot tell apart; collection: drawn "
        "from the positive's own shoot; auto: collection where the photos come from several "
        "shoots, else matched",
    )
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="cpu",
        help="where torch trains (auto: the GPU when torch sees one)",
    )
    p.add_argument(
        "--augment-views",
        type=_count,
        default=4,
        metavar="N",
        help="re-lit, re-scaled versions of every crop for stage one and the re-lit test "
        "(default 4; 0: the crops as they are only)",
    )
    p.add_argument(
        "--image-size",
        type=_positive,
        metavar="PX",
        help="crop side for nets trained through the CNN (A, whole; default the backbone's)",
    )
    p.add_argument(
        "--no-baselines",
        action="store_true",
        help="skip net C on size and colour statistics alone",
    )
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the figures as JSON")


def _outfit_commands(command: Command) -> None:
    """Suggestions, verdicts and training, favourites and their export."""
    p = command("suggest", cmd_suggest, "the best outfits of your wardrobe")
    p.add_argument(
        "-k",
        type=_positive,
        default=10,
        help="how many outfits (default 10; at most as many as the wardrobe makes)",
    )
    p.add_argument(
        "--with",
        dest="with_items",
        type=int,
        nargs="+",
        default=[],
        metavar="ID",
        help="outfits with these items",
    )
    p.add_argument(
        "--without",
        dest="without_items",
        type=int,
        nargs="+",
        default=[],
        metavar="ID",
        help="outfits without these items",
    )
    p.add_argument("--tag", action="append", help="only items with this tag")
    p.add_argument(
        "--not-worn-days",
        type=_whole_number_up_to(1, 36_500),
        metavar="N",
        help="leave out items worn in the last N days (1 to 36500)",
    )
    p.add_argument(
        "--max-per-item",
        type=_positive,
        default=3,
        metavar="N",
        help="no item in more than N of the outfits shown (default 3)",
    )
    p.add_argument(
        "--explore",
        type=_share,
        default=0.0,
        metavar="SHARE",
        help="share of outfits the model is unsure of (they teach it most)",
    )
    p.add_argument("--explain", action="store_true", help="pair scores, weakest pair, best swap")
    p.add_argument(
        "--by-b",
        action="store_true",
        help="rank by net B (it rescores the best outfits found by net C)",
    )
    p.add_argument("--json", action="store_true")

    for verdict, text in (
        ("like", "thumbs up for an outfit"),
        ("dislike", "thumbs down for an outfit"),
        ("wore", "you wore this outfit today (counts as a like)"),
    ):
        p = command(verdict, _verdict_command(verdict), text)
        p.add_argument(
            "ids",
            nargs="+",
            type=int,
            metavar="ID",
            help="TOP BOTTOM SHOES, or ONE_PIECE SHOES",
        )

    p = command("train", cmd_train, "fine-tune your style model on your verdicts")
    p.add_argument("--wait", action="store_true", help="train now and wait for the result")
    p.add_argument("--background", action="store_true", help=argparse.SUPPRESS)

    p = command("model", cmd_model, "your style model's versions")
    p.add_argument("action", choices=("list", "use"))
    p.add_argument("version", nargs="?", type=_version, help="use: a version number, or general")
    p.add_argument("--json", action="store_true")

    p = command("favourite", cmd_favourite, "keep, list or remove favourite outfits")
    p.add_argument("action", choices=("add", "list", "remove"))
    p.add_argument(
        "ids",
        nargs="*",
        type=int,
        metavar="ID",
        help="add: TOP BOTTOM SHOES or ONE_PIECE SHOES; remove: favourite ids",
    )
    p.add_argument("--json", action="store_true")

    p = command("export", cmd_export, "export favourite outfits")
    p.add_argument("what", choices=("favourites",))
    p.add_argument("file", type=Path)
    p.add_argument(
        "--format", choices=("png", "pdf", "json"), help="default: from the file's suffix"
    )
    p.add_argument("--ids", type=int, nargs="+", help="only these favourites")
    p.add_argument(
        "--no-cutouts",
        action="store_true",
        help="show the photos as they are, not the garments cut out of them",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stylist",
        description="Stylist: outfits from your own wardrobe. Without a command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"stylist {build_info.describe()}")
    parser.add_argument(
        "--home", metavar="DIR", type=_folder, help="keep the library and settings in DIR"
    )
    parser.add_argument(
        "--config",
        metavar="DIR",
        type=_folder,
        help="keep the settings in DIR (default: the platform's, or DIR/config with --home)",
    )
    parser.add_argument(
        "--demo", action="store_true", help="work on the demo wardrobe (see `stylist demo`)"
    )
    parser.add_argument(
        "--demo-if-empty",
        action="store_true",
        help="open the demo wardrobe when your own library is still empty (`make run`)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, func: Callable, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    _library_commands(command)
    _model_commands(command)
    _outfit_commands(command)
    return parser


def open_app(args) -> int:
    """The window (Qt is imported only now, so headless commands never load it)."""
    try:
        from stylist.gui.app import run
    except ImportError as exc:
        print(
            f"stylist: the window cannot open: Qt for Python is not usable here ({exc}). "
            "Every command works headless: `stylist --help`.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return run(args)


def _library_is_empty(home) -> bool:
    from stylist import paths as paths_mod
    from stylist.library import Library

    try:
        with Library.open(paths_mod.resolve(home)) as library:
            return sum(library.counts().values()) == 0
    except StylistError:
        return False  # the window will say what is wrong with the library


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        if args.demo_if_empty and not args.demo:
            args.demo = _library_is_empty(args.home)
        return open_app(args)
    from stylist import paths as paths_mod
    from stylist.service import Stylist

    base = None
    try:
        base = paths_mod.resolve(args.home, config=args.config)
        if args.demo and args.command != "demo":
            stylist, _ = Stylist.open_demo(base)
        else:
            stylist = Stylist(base)
        with stylist:
            if args.command != "check":
                for message in stylist.library.recovered:
                    print(f"stylist: recovered: {message}", file=sys.stderr)
            code = args.func(stylist, args)
            sys.stdout.flush()  # a reader gone away is found here, not at the interpreter's exit
            return code
    except UsageError as exc:
        print(f"stylist: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StylistError as exc:
        print(f"stylist: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except sqlite3.DatabaseError as exc:
        from stylist.library.backups import is_damage, is_full

        if is_full(exc):
            print(
                f"stylist: the disk holding the library ({base and base.data_dir}) is full: "
                "what was stored before stays; free some space and run the command again",
                file=sys.stderr,
            )
        elif is_damage(exc):
            # found in the middle of a command; opening the library again restores it
            print(
                f"stylist: the library's database is damaged ({exc}); run `stylist check` to "
                "restore it from its backup",
                file=sys.stderr,
            )
        else:
            print(f"stylist: the library's database cannot be used now ({exc})", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("\nstylist: cancelled; everything finished before stays stored.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (``stylist items | head``): what was asked is done; say nothing
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
