"""Build the map from EfficientNet-Lite2 features to EfficientNet-Lite0 features (build time).

The general matching model exists on the compact backbone (EfficientNet-Lite0) only. Carrying it
over to EfficientNet-Lite2 on a person's machine needs a map between the two feature spaces; a
few hundred wardrobe items cannot pin down a map between 1,280-d spaces, thousands of photos
can. This script learns it here, on photos that never ship: only the map's arrays do.

Photos, each shown to both backbones exactly as the app shows them (the working copy of
``library.photos``, the cut-out framed on the light ground of ``vision.cutout`` written as the
app writes its twin, JPEG quality 90, then the ``Extractor`` reading that file):

- the outfits-mango product photos of tops, bottoms, shoes and one-pieces, except every photo
  of a test outfit (product-disjoint split, seed 0, both outfit families): the carry-over
  benchmark scores those lists;
- the wardrobe-photos of every contributor who has no photo in the carry-over benchmark's
  300-item wardrobe (``tests/benchmarks/bench_distill.py``): those contributors are left out
  entirely, so that nothing the benchmark holds out was ever seen here.

The map is a ridge regression ``lite0 ≈ A · lite2 + c`` on raw features (a per-output linear
map; its strength is chosen on held-out photos: the outfits-mango validation split's and the
wardrobe-photos of a seeded third of the remaining contributors, by the Spearman correlation
between the general model's pair scores on Lite0 features and on mapped Lite2 features), then
fitted again on every photo above with that strength. Written: ``feature-map-<from>-to-<to>.npz``
(``a`` (1280, 1280) float16, ``c`` (1280,) float32) and a JSON manifest with both backbones'
sha256, the data, the command and the figures.

Run (torch and the research extra needed for the Lite2 install; about 30 min on two cores):
    PYTHONPATH=. python models/build_feature_map.py --cache /tmp/wt17-cache
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
MANGO = DATA / "outfits-mango"
WARDROBE = DATA / "wardrobe-photos"
SOURCE, TARGET = "efficientnet-lite2", "efficientnet-lite0"
# The carry-over benchmark's wardrobe: this many items per slot, drawn with seed 0 from the
# wardrobe-photos without children's clothes (tests/benchmarks/bench_distill.py draws the same).
BENCH_WARDROBE = {"top": 130, "bottom": 100, "shoes": 70}
BENCH_SEED = 0
VALIDATION_CONTRIBUTORS = 1 / 3  # of the remaining contributors, for choosing the strength
RIDGE_GRID = tuple(10.0**k for k in np.arange(-4.0, 1.01, 0.5))  # x mean squared norm
SLOTS = ("top", "bottom", "shoes")
PAIRS = {"top_bottom": (0, 1), "top_shoes": (0, 2), "bottom_shoes": (1, 2)}


def benchmark_wardrobe() -> list[dict]:
    """The carry-over benchmark's 300 wardrobe items (same draw as the benchmark)."""
    items = json.loads((WARDROBE / "items.json").read_text())
    rng = np.random.default_rng(BENCH_SEED)
    chosen = []
    for slot, n in BENCH_WARDROBE.items():
        pool = [x for x in items if x["slot"] == slot and not x.get("kids")]
        chosen += [pool[i] for i in sorted(rng.choice(len(pool), n, replace=False))]
    return chosen


def mango_photos() -> tuple[list[dict], set[str]]:
    """Every outfits-mango product photo of a garment the app ranks (top, bottom, shoes,
    one-piece) outside the test split, with its slot and split ("train", "val" or "none": in
    no complete outfit), and the test photos left out."""
    from stylist.learn.datasets import FAMILIES, load_dataset

    split_of: dict[str, str] = {}
    test: set[str] = set()
    for family in FAMILIES:
        ds = load_dataset(MANGO / "outfits.json", family=family, split_seed=0)
        for o in ds.outfits:
            for crop in o.crops:
                if o.split == "test":
                    test.add(crop)
                else:
                    split_of.setdefault(crop, o.split)
    slot_of: dict[str, str] = {}
    for outfit in json.loads((MANGO / "outfits.json").read_text()):
        for g in outfit.get("garments", []):
            slot_of.setdefault(g["crop"], g["slot"])
    photos = []
    for path in sorted((MANGO / "images").iterdir()):
        key = f"images/{path.name}"
        if key in test or slot_of.get(key, "other") == "other":
            continue  # scored by the benchmark, or no garment the app ranks (bags, jewellery)
        photos.append(
            {
                "file": str(path),
                "source": "outfits-mango",
                "slot": slot_of.get(key, "other"),
                "split": split_of.get(key, "none"),
                "group": key,
            }
        )
    return photos, test


def wardrobe_photos() -> tuple[list[dict], set[int]]:
    """Wardrobe-photos of every contributor without a photo in the benchmark's wardrobe, and
    the contributors left out."""
    excluded = {x["contributor_id"] for x in benchmark_wardrobe()}
    items = json.loads((WARDROBE / "items.json").read_text())
    photos = [
        {
            "file": str(WARDROBE / x["file"]),
            "source": "wardrobe-photos",
            "slot": x["slot"],
            "split": "contributor",
            "group": int(x["contributor_id"]),
        }
        for x in items
        if x["contributor_id"] not in excluded
    ]
    return photos, excluded


def app_view(path: Path) -> bytes:
    """The JPEG the app's models read for a photo: its working copy cut out and framed (the
    twin), or the working copy itself when the cut-out is rejected."""
    from PIL import Image

    from stylist.library.photos import prepare
    from stylist.vision.cutout import cut_out, framed

    prepared = prepare(path)
    with Image.open(io.BytesIO(prepared.working_jpeg)) as im:
        rgb = np.asarray(im.convert("RGB"))
    _, cutout = cut_out(rgb)
    if not cutout.accepted:
        return prepared.working_jpeg
    out = io.BytesIO()
    Image.fromarray(framed(rgb, cutout.mask)).save(out, "JPEG", quality=90)
    return out.getvalue()


def view_files(photos: list[dict], cache: Path, log=print) -> list[Path]:
    """Each photo's app view, written once under ``cache/views`` (named by the photo's path)."""
    import cv2

    cv2.setNumThreads(1)
    folder = cache / "views"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    started = time.perf_counter()
    for n, photo in enumerate(photos):
        name = hashlib.sha1(photo["file"].encode()).hexdigest()[:20] + ".jpg"
        file = folder / name
        if not file.is_file():
            tmp = file.with_suffix(".tmp")
            tmp.write_bytes(app_view(Path(photo["file"])))
            tmp.replace(file)
        out.append(file)
        if (n + 1) % 500 == 0:
            log(f"  views {n + 1}/{len(photos)} ({time.perf_counter() - started:.0f} s)")
    return out


def backbone_features(spec, files: list[Path], cache: Path, tag: str, log=print) -> np.ndarray:
    """(N, D) features of the view files on one backbone (one thread), cached by content."""
    from stylist.vision.extractor import Extractor

    digest = hashlib.sha1("\n".join(f.name for f in files).encode()).hexdigest()[:12]
    file = cache / f"features-{tag}-{spec.id}-{spec.sha256[:16]}-{digest}.npy"
    if file.is_file():
        return np.load(file)
    started = time.perf_counter()
    with Extractor(spec, device="cpu", variant="fp32", threads=1) as extractor:
        result = extractor.run_files(files, batch_size=16)
    if result.failed:
        raise RuntimeError(f"{len(result.failed)} views failed: {result.failed[:3]}")
    rate = len(files) / (time.perf_counter() - started)
    log(f"  {spec.id}: {len(files)} views, {rate:.1f} img/s (one thread)")
    np.save(file, result.features)
    return result.features


def backbones(home: Path):
    """(Lite2, Lite0) specs: Lite2 installed into ``home`` when missing."""
    from stylist.paths import for_home
    from stylist.vision.backbones import ModelError, get_backbone
    from stylist.vision.lite2 import install_efficientnet_lite2

    paths = for_home(home)
    try:
        lite2 = get_backbone(SOURCE, paths)
    except ModelError:
        items = json.loads((WARDROBE / "items.json").read_text())
        lite2 = install_efficientnet_lite2(
            paths, photos=[WARDROBE / x["file"] for x in items[::300]]
        )
    return lite2, get_backbone(TARGET, paths)


def extract(cache: Path, home: Path, log=print) -> dict:
    """Views and both backbones' features of the benchmark's wardrobe (for the benchmark, never
    for fitting) and of the map's photos."""
    lite2, lite0 = backbones(home)
    bench = [
        {"file": str(WARDROBE / x["file"]), "slot": x["slot"], "group": x["contributor_id"]}
        for x in benchmark_wardrobe()
    ]
    wardrobe, excluded = wardrobe_photos()
    mango, test = mango_photos()
    out = {"lite2": lite2, "lite0": lite0, "excluded_contributors": excluded, "test": test}
    for tag, photos in (("bench300", bench), ("wardrobe", wardrobe), ("mango", mango)):
        log(f"{tag}: {len(photos)} photos")
        files = view_files(photos, cache, log)
        out[tag] = {
            "photos": photos,
            SOURCE: backbone_features(lite2, files, cache, tag, log),
            TARGET: backbone_features(lite0, files, cache, tag, log),
        }
    return out


def ridge_path(xs: np.ndarray, xt: np.ndarray, grid=RIDGE_GRID):
    """``(relative strength, a (Dt, Ds), c (Dt,))`` of the ridge map ``xt ≈ xs @ a.T + c`` for
    every strength of ``grid`` (x the mean squared norm of a centred row), from one
    eigendecomposition of the (Ds, Ds) scatter matrix."""
    xs = np.asarray(xs, np.float64)
    xt = np.asarray(xt, np.float64)
    ms, mt = xs.mean(0), xt.mean(0)
    s, t = xs - ms, xt - mt
    scatter = s.T @ s  # (Ds, Ds)
    evals, evecs = np.linalg.eigh(scatter)
    evals = np.maximum(evals, 0.0)
    scale = float(np.trace(scatter)) / len(s)
    proj = evecs.T @ (s.T @ t)  # (Ds, Dt)
    for rel in grid:
        a = (evecs @ (proj / (evals + rel * scale)[:, None])).T  # (Dt, Ds)
        yield rel, a, mt - a @ ms


def pair_rho(teacher, x_teacher, x_mapped, slots) -> dict[str, float]:
    """Spearman correlation per pair network between the teacher's pair scores on its own
    features and on mapped features of the same items; ``slots`` names each row's slot."""
    from stylist.learn.distill import _normalised, pair_logits, spearman

    arrays = teacher[0]
    out = {}
    for name, (i, j) in PAIRS.items():
        a, b = slots == SLOTS[i], slots == SLOTS[j]
        want = pair_logits(
            arrays, name, _normalised(arrays, x_teacher[a]), _normalised(arrays, x_teacher[b])
        )
        got = pair_logits(
            arrays, name, _normalised(arrays, x_mapped[a]), _normalised(arrays, x_mapped[b])
        )
        out[name] = spearman(want.ravel(), got.ravel())
    out["mean"] = float(np.mean([out[k] for k in PAIRS]))
    return out


def split_rows(data: dict) -> tuple[np.ndarray, np.ndarray, list]:
    """Fitting and validation rows of the map's photos (mango, then wardrobe): the validation
    rows are outfits-mango's validation split and a seeded third of the wardrobe contributors."""
    mango = data["mango"]["photos"]
    wardrobe = data["wardrobe"]["photos"]
    contributors = sorted({p["group"] for p in wardrobe})
    rng = np.random.default_rng(0)
    held = set(
        rng.choice(contributors, int(round(VALIDATION_CONTRIBUTORS * len(contributors))), False)
    )
    val = np.array([p["split"] == "val" for p in mango] + [p["group"] in held for p in wardrobe])
    return ~val, val, sorted(int(c) for c in held)


def fit(data: dict, teacher, log=print) -> dict:
    """Choose the ridge strength on the validation rows, then fit on every row."""
    xs = np.concatenate([data[k][SOURCE] for k in ("mango", "wardrobe")])
    xt = np.concatenate([data[k][TARGET] for k in ("mango", "wardrobe")])
    photos = data["mango"]["photos"] + data["wardrobe"]["photos"]
    slots = np.array([p["slot"] for p in photos])
    source = np.array([p["source"] for p in photos])
    train, val, held = split_rows(data)
    log(f"fitting rows {int(train.sum())}, validation rows {int(val.sum())}")
    scores = []
    for rel, a, c in ridge_path(xs[train], xt[train]):
        mapped = xs[val] @ a.T + c
        rho = pair_rho(teacher, xt[val], mapped, slots[val])
        w = val & (source == "wardrobe-photos")
        rho_w = pair_rho(teacher, xt[w], xs[w] @ a.T + c, slots[w])
        scores.append((rel, rho, rho_w))
        log(
            f"  ridge {rel:.0e}: validation rho {rho['mean']:.3f} "
            f"({', '.join(f'{k} {rho[k]:.3f}' for k in PAIRS)}); "
            f"wardrobe contributors {rho_w['mean']:.3f}"
        )
    best = max(scores, key=lambda s: s[1]["mean"])
    ((rel, a, c),) = ridge_path(xs, xt, (best[0],))
    return {
        "ridge": best[0],
        "a": a,
        "c": c,
        "scores": scores,
        "held": held,
        "train_rows": int(train.sum()),
        "val_rows": int(val.sum()),
    }


def write(out: Path, data: dict, result: dict, teacher, command: str, log=print) -> Path:
    """The map's arrays (``a`` float16, ``c`` float32) and its manifest, beside each other."""
    from stylist.files import atomic_write, write_json
    from stylist.learn.distill import FEATURE_MAP_FORMAT, feature_map_path

    lite2, lite0 = data["lite2"], data["lite0"]
    base = feature_map_path(SOURCE, TARGET, out)
    a16 = result["a"].astype(np.float16)
    c32 = result["c"].astype(np.float32)
    # what storing a in float16 costs, on the validation rows
    xs = np.concatenate([data[k][SOURCE] for k in ("mango", "wardrobe")])
    xt = np.concatenate([data[k][TARGET] for k in ("mango", "wardrobe")])
    photos = data["mango"]["photos"] + data["wardrobe"]["photos"]
    slots = np.array([p["slot"] for p in photos])
    _, val, _ = split_rows(data)
    rho32 = pair_rho(teacher, xt[val], xs[val] @ result["a"].T + result["c"], slots[val])
    rho16 = pair_rho(teacher, xt[val], xs[val] @ a16.astype(np.float32).T + c32, slots[val])
    log(
        f"final map on the validation rows (seen in the final fit): float32 rho "
        f"{rho32['mean']:.4f}, float16 {rho16['mean']:.4f}"
    )

    def counts(rows):
        return {
            s: int(sum(1 for p in rows if p["slot"] == s))
            for s in sorted({p["slot"] for p in rows})
        }

    buffer = io.BytesIO()
    np.savez_compressed(buffer, a=a16, c=c32)
    atomic_write(base.with_suffix(".npz"), buffer.getvalue())
    rel, chosen, chosen_w = next(s for s in result["scores"] if s[0] == result["ridge"])
    manifest = {
        "format": FEATURE_MAP_FORMAT,
        "map": "x_target = a @ x_source + c on raw backbone features (a float16, c float32)",
        "source": {"id": lite2.id, "sha256": lite2.sha256, "file": lite2.onnx_path.name},
        "target": {"id": lite0.id, "sha256": lite0.sha256, "file": lite0.onnx_path.name},
        "method": "ridge regression, one strength for every output (relative to the mean "
        "squared norm of a centred Lite2 row), chosen on the validation rows by the Spearman "
        "correlation of the general net C's pair scores (top-bottom, top-shoes, bottom-shoes) "
        "on Lite0 features and on mapped Lite2 features, then fitted on every row",
        "ridge": rel,
        "photos_as": "the app's view: working copy (library.photos), cut out and framed on "
        f"the light ground (vision.cutout, mask recipe {_mask_version()}), JPEG quality 90, "
        "read by the Extractor (fp32, CPU)",
        "data": {
            "outfits-mango": {
                "photos": len(data["mango"]["photos"]),
                "per_slot": counts(data["mango"]["photos"]),
                "left_out": f"{len(data['test'])} photos of test outfits (product-disjoint split "
                "seed 0, both families) and photos of bags, jewellery and other accessories",
                "validation": "the validation split's photos",
            },
            "wardrobe-photos": {
                "photos": len(data["wardrobe"]["photos"]),
                "per_slot": counts(data["wardrobe"]["photos"]),
                "left_out": "every photo of the "
                f"{len(data['excluded_contributors'])} contributors with a photo in the "
                "carry-over benchmark's 300-item wardrobe (tests/benchmarks/bench_distill.py)",
                "excluded_contributors": sorted(int(c) for c in data["excluded_contributors"]),
                "validation_contributors": result["held"],
            },
            "licence": "the photos are used for building only and never ship; only these arrays do",
        },
        "rows": {
            "fit": result["train_rows"],
            "validation": result["val_rows"],
            "final_fit": result["train_rows"] + result["val_rows"],
        },
        "figures": {
            "validation_rho_by_strength": {
                f"{r:.0e}": {
                    "all": round(v["mean"], 4),
                    "wardrobe_contributors": round(w["mean"], 4),
                }
                for r, v, w in result["scores"]
            },
            "chosen": {k: round(v, 4) for k, v in chosen.items()},
            "chosen_wardrobe_contributors": {k: round(v, 4) for k, v in chosen_w.items()},
            "float16_cost_on_validation_rows": round(rho32["mean"] - rho16["mean"], 5),
        },
        "command": command,
        "created": time.strftime("%Y-%m-%d"),
        "model_card": "MODEL_CARD-feature-map.md",
    }
    write_json(base.with_suffix(".json"), manifest)
    log(
        f"wrote {base.with_suffix('.npz')} ({base.with_suffix('.npz').stat().st_size / 1e6:.1f} MB)"
    )
    return base


def _mask_version() -> int:
    from stylist.vision.cutout import MASK_VERSION

    return MASK_VERSION


def main(argv: list[str] | None = None) -> None:
    from stylist.learn.io import load_matching_net

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/feature-map-cache"))
    parser.add_argument("--home", type=Path, default=None, help="Stylist home with Lite2")
    parser.add_argument("--out", type=Path, default=REPO / "models")
    parser.add_argument("--extract-only", action="store_true")
    args = parser.parse_args(argv)
    log = lambda s: print(s, flush=True)  # noqa: E731
    home = args.home or args.cache / "home"
    data = extract(args.cache, home, log=log)
    if args.extract_only:
        return
    teacher = load_matching_net(REPO / "models" / "fashionnet-c-efficientnet-lite0")
    result = fit(data, teacher, log=log)
    command = "PYTHONPATH=. python models/build_feature_map.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    write(args.out, data, result, teacher, command, log=log)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
