"""Train the category head shipped in models/ and measure it on people it never saw.

    .venv/bin/python models/train_category_head.py [--backbone efficientnet-lite0]

Data: ../shared/data/wardrobe-photos, people's own photos (items.json: file, label, slot,
contributor_id). Classes: slot top/bottom/shoes; label Dress -> one-piece; the rest of slot
"other" (hats) -> other. Beside them, for training only, the product photos of
../shared/data/outfits-mango (each product of an outfit's ``garments`` once, by its slot:
one_piece -> one-piece (dresses, jumpsuits), top (outerwear too), bottom, shoes, other (bags,
jewellery, belts, hats ...); pyjamas, swimwear, underwear and home textiles MANGO files under
"other" are left out). The product photos are never shipped and never measured on.

1. Every photo is turned into the working copy the library would make of it (the importer's own
   code), then into backbone features with the shipped ONNX model through ``Extractor`` (the same
   preprocessing as at run time): the plain photo, its mirror image and a few random variants
   (crop, rotation, zoom out, colour jitter). Each photo is also cut out as the library cuts it
   out (``as_the_library_cuts_out``: the garment's mask, framed on a light ground when the mask
   passes its checks, JPEG 90): the features of that copy (plain and mirrored) and the mask's
   ``garment_shape`` are further inputs a configuration may read beside the photo's (the
   product photos' cut-out is the product photo itself). Features are cached in the temp folder
   (``--cache``), and so are each configuration's out-of-fold scores.
2. About 200 photos of randomly drawn contributors are set aside as a test set that nothing here
   looks at (listed in the JSON as ``test_contributors``; the test suite measures the shipped head
   on them through the real import and extraction path).
3. Grouped k-fold cross-validation by contributor over the rest of the wardrobe photos (no
   person's photos on both sides; the product photos join every fold's training side) compares
   the configurations, with and without the product photos, over all five categories; a
   temperature is fitted on the out-of-fold scores. The demo wardrobe (contributor 37) is never
   trained on: it sits in validation only, reported apart.
4. The thresholds below which an item stays unsorted (one common, or one per guessed category)
   are chosen on out-of-fold predictions; the held-out figures use, for each fold, thresholds
   picked on the other folds only. Optionally a push towards one-piece (added to its score;
   dresses are mostly taken for tops) is chosen the same way: for each fold on the other folds,
   the largest that keeps their sorted photos right and unsorted share within aim. The
   configuration chosen meets the whole target if one does, else keeps precision and unsorted
   within target with the most dresses right.
5. The final head is trained on every contributor except 37 and the test set (and the product
   photos), and saved as plain arrays (.npz) plus a JSON config with its metrics and the command
   that made it; its figures on the untouched test contributors are reported too.

Training uses torch (a build-time tool); the app runs the head in numpy
(``stylist.vision.categories.CategoryHead``), and so do the figures below.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stylist.domain import THREE_PIECE_SLOTS  # noqa: E402
from stylist.vision.categories import (  # noqa: E402
    CATEGORIES,
    HEAD_FORMAT,
    CategoryHead,
    imagenet_probabilities,
    softmax,
)

DATA = REPO.parent / "shared" / "data" / "wardrobe-photos"
MANGO = REPO.parent / "shared" / "data" / "outfits-mango"
SLOTS = {"top": 0, "bottom": 1, "shoes": 2, "one_piece": 3, "other": 4}
# MANGO files these under "other", but they are garments a person would file as a top, a bottom
# or a one-piece (pyjamas, swimwear, underwear), or home textiles: left out of training rather
# than taught as "other".
MANGO_LEFT_OUT = {
    "Pyjama Trousers",
    "Pyjama Shirt",
    "Pyjama",
    "Pyjiama Sweater",
    "Pyjama Shorts",
    "Nightgown",
    "Bikini top",
    "Bikini pantie",
    "Swimsuit",
    "Bras",
    "Tights",
    "Shape",
    "Pillow Case",
    "Cushion Case",
    "Duvet Covers",
    "Plaid",
}
DEMO_CONTRIBUTOR = 37
ONE_PIECE = 3  # the one-piece output
# Pushes towards one-piece tried (added to its score before the temperature), and what the
# photos they are chosen on must keep at the push chosen.
DRESS_SHIFTS = tuple(np.arange(0.0, 3.01, 0.25))
SHIFT_PRECISION = 0.955
SHIFT_UNSORTED = 0.09
SLOT_CLASSES = 3  # top, bottom, shoes: reported apart, as the earlier heads were measured
# The target, over all five categories of unseen people's photos: >= 95% of those sorted are
# right, <= 10% are left unsorted, and >= 90% of dresses are guessed right. The thresholds aim a
# little higher than the target on precision and lower on unsorted.
TARGET_PRECISION = 0.95
TARGET_DRESSES = 0.90
AIM_PRECISION = 0.96
CLASS_SLACK = 0.005
MAX_UNSORTED = 0.10
AIM_UNSORTED = 0.08

# input_power 0.5 (square root of the features before standardising) gained about one point of
# accuracy over raw features in cross-validation; linear heads fall well short of the target.
# balance 1 (fully class-balanced loss) raised dresses and hats by 3 points each over square-root
# weights at the same precision. mango_weight: what one product photo weighs against one
# wardrobe photo (0: not used); product_photos: the product photos as they are, or as phone
# photos (``as_phone_photo``; both together did worse than phone photos alone).
MLP512 = {
    "hidden": 512,
    "drop_in": 0.3,
    "drop": 0.5,
    "wd": 3e-2,
    "epochs": 16,
    "lr": 1e-3,
    "balance": 1.0,
    "input_power": 0.5,
}
# inputs: what the head reads side by side: "photo" (the photo as photographed), "cutout" (the
# garment as the library cuts it out and frames it), "shape" (its mask's ``garment_shape``).
# For the product photos the photo is their phone-photo version and the cut-out the product
# photo itself (a garment framed on a plain light ground, as the cut-out frames it).
PHONE = {**MLP512, "mango_weight": 1.0, "epochs": 10, "product_photos": "as-phone-photos"}
CONFIGS = {
    "mlp512-wardrobe": {
        **MLP512,
        "mango_weight": 0.0,
        "product_photos": None,
        "inputs": ["photo"],
    },
    "mlp512-mango": {
        **MLP512,
        "mango_weight": 1.0,
        "epochs": 10,
        "product_photos": "as-is",
        "inputs": ["photo"],
    },
    "mlp512-mango-phone": {**PHONE, "inputs": ["photo"]},
    "mlp512-mango-phone-cutout": {**PHONE, "inputs": ["photo", "cutout"]},
    "mlp512-mango-phone-cutout-shape": {
        **PHONE,
        "inputs": ["photo", "cutout", "shape"],
        "shape_dims": 23,
        "shape_scale": 1.0,
    },
}


def test_contributors(entries: list[dict], seed: int = 2024, photos: int = 200) -> list[int]:
    """Contributors set aside for the test: drawn at random (small and mid-sized wardrobes, not
    the demo wardrobe or the bulk submission) until they hold about ``photos`` photos."""
    counts: dict[int, int] = {}
    for e in entries:
        counts[e["contributor_id"]] = counts.get(e["contributor_id"], 0) + 1
    candidates = sorted(k for k, n in counts.items() if k not in (DEMO_CONTRIBUTOR, 204))
    np.random.default_rng(seed).shuffle(candidates)
    chosen, total = [], 0
    for k in candidates:
        if counts[k] > 60:
            continue
        chosen.append(int(k))
        total += counts[k]
        if total >= photos:
            break
    return chosen


def class_of(entry: dict) -> int:
    if entry["label"] == "Dress":
        return CATEGORIES.index(CATEGORIES[3])  # one-piece
    if entry["slot"] == "other":
        return 4
    return THREE_PIECE_SLOTS.index(entry["slot"])


def mango_products() -> list[dict]:
    """Every product photo of outfits-mango once: {file, label, slot, class}."""
    outfits = json.loads((MANGO / "outfits.json").read_text())
    products: dict[str, dict] = {}
    for outfit in outfits:
        for g in outfit["garments"]:
            products.setdefault(
                g["crop"], {"file": g["crop"], "label": g["label"], "slot": g["slot"]}
            )
    out = []
    for p in sorted(products.values(), key=lambda p: p["file"]):
        if p["slot"] == "other" and p["label"] in MANGO_LEFT_OUT:
            continue
        out.append({**p, "class": SLOTS[p["slot"]]})
    return out


# ------------------------------------------------------------------------------ features


def working_copy(path: Path):
    """The photo as the library's working copy: EXIF applied, sRGB, long side <= 640, JPEG 90."""
    from PIL import Image

    from stylist.library.photos import prepare

    prepared = prepare(path)
    return Image.open(io.BytesIO(prepared.working_jpeg)).convert("RGB")


def augment(image, rng: np.random.Generator):
    """A random variant of a garment photo, as another phone photo of it might look."""
    from PIL import Image, ImageEnhance, ImageOps

    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    pixels = np.asarray(image)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    fill = tuple(int(v) for v in np.median(border, axis=0))  # the floor's colour
    angle = float(rng.uniform(-12, 12))
    image = image.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=fill)
    w, h = image.size
    if rng.random() < 0.3:
        # Zoom out: the garment smaller in the frame, more floor around it.
        scale = float(rng.uniform(1.1, 1.4))
        canvas = Image.new("RGB", (int(w * scale), int(h * scale)), fill)
        canvas.paste(image, ((canvas.width - w) // 2, (canvas.height - h) // 2))
        image = canvas
    else:
        area = float(rng.uniform(0.65, 1.0))
        aspect = float(np.exp(rng.uniform(-0.15, 0.15)))
        cw = min(w, int(round(w * np.sqrt(area * aspect))))
        ch = min(h, int(round(h * np.sqrt(area / aspect))))
        left = int(rng.integers(0, w - cw + 1))
        top = int(rng.integers(0, h - ch + 1))
        image = image.crop((left, top, left + cw, top + ch))
    image = ImageEnhance.Brightness(image).enhance(float(rng.uniform(0.8, 1.2)))
    image = ImageEnhance.Contrast(image).enhance(float(rng.uniform(0.8, 1.2)))
    image = ImageEnhance.Color(image).enhance(float(rng.uniform(0.75, 1.25)))
    return image


def as_phone_photo(image, rng: np.random.Generator):
    """A product photo as a person's own photo of the garment might look: cropped close to the
    garment (product photos leave wide margins; people fill the frame) and laid on a floor or
    bed of a random colour with some grain instead of the studio background."""
    from PIL import Image

    pixels = np.asarray(image).astype(np.int16)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    background = np.median(border, axis=0)
    garment = np.abs(pixels - background).max(axis=2) > 24  # (H, W)
    h, w = garment.shape
    # Rows and columns the garment really crosses (the studio light's gradient does not).
    rows = np.flatnonzero(garment.sum(axis=1) > 0.03 * w)
    cols = np.flatnonzero(garment.sum(axis=0) > 0.03 * h)
    if len(rows) < 8 or len(cols) < 8:
        return image
    garment[:, : cols[0]] = garment[:, cols[-1] + 1 :] = False
    margin = float(rng.uniform(0.04, 0.15))
    top = max(0, int(rows[0] - margin * h))
    bottom = min(h, int(rows[-1] + margin * h) + 1)
    left = max(0, int(cols[0] - margin * w))
    right = min(w, int(cols[-1] + margin * w) + 1)
    # The silhouette row by row (from its leftmost to its rightmost pixel), so that a white
    # garment's own white stays.
    inside = np.zeros_like(garment)
    for r in range(rows[0], rows[-1] + 1):
        c = np.flatnonzero(garment[r])
        if len(c):
            inside[r, c[0] : c[-1] + 1] = True
    tint = np.sort(rng.uniform(0.75, 1.05, 2))[::-1]  # wood, beige, grey: red >= green >= blue
    floor = rng.uniform(40, 230) * np.array([1.0, *tint])
    noise = rng.normal(0, rng.uniform(2, 12), pixels.shape)
    out = np.where(inside[..., None], pixels, np.clip(floor + noise, 0, 255))
    out = out[top:bottom, left:right].astype(np.uint8)
    return Image.fromarray(out)


def compute_views(
    spec, files: list[Path], views: int, seed: int, cache: Path, product: bool = False
) -> dict:
    """(V, N, D) features and (V, N, 1000) logits: view 0 plain, 1 mirrored, then random.
    With ``product`` (product photos): every view through ``as_phone_photo`` first, view 0 with
    nothing else, the others also mirrored, turned, cropped and re-lit at random."""
    names = [f"{f.parent.name}/{f.name}" for f in files]
    keyed = [spec.sha256, views, seed, names] + (["as_phone_photo/1"] if product else [])
    key = hashlib.sha256(json.dumps(keyed).encode()).hexdigest()[:16]
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as data:
            if str(data["key"]) == key:
                print(f"features from cache {cache}")
                return {"features": data["features"], "logits": data["logits"]}
    from PIL import ImageOps

    from stylist.vision.extractor import Extractor

    # One thread: the features are computed once and cached; training is what is repeated.
    extractor = Extractor(spec, device="auto", variant="fp32", threads=1)
    print(f"extracting features: {extractor.describe()}, {views} views of {len(files)} photos")
    n, dim = len(files), spec.feature_dim
    features = np.zeros((views, n, dim), np.float16)
    logits = np.zeros((views, n, spec.num_classes), np.float16)
    rng = np.random.default_rng(seed)
    started = time.time()
    chunk = 32
    for start in range(0, n, chunk):
        part = files[start : start + chunk]
        photos = [working_copy(f) for f in part]
        for v in range(views):
            if product:
                images = [as_phone_photo(p, rng) for p in photos]
                images = images if v == 0 else [augment(p, rng) for p in images]
            elif v == 0:
                images = photos
            elif v == 1:
                images = [ImageOps.mirror(p) for p in photos]
            else:
                images = [augment(p, rng) for p in photos]
            result = extractor.run_images(images, batch_size=chunk)
            features[v, start : start + len(part)] = result.features
            logits[v, start : start + len(part)] = result.logits
        done = start + len(part)
        rate = done * views / (time.time() - started)
        print(f"  {done}/{n} photos, {rate:.0f} images/s", flush=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, key=np.array(key), features=features, logits=logits)
    return {"features": features, "logits": logits}


def as_the_library_cuts_out(photo) -> tuple:
    """The photo as the library's cut-out step leaves it for the models, and the garment's
    shape: the mask of ``garment_mask`` (kept even when its checks reject it, as the library
    keeps it), the garment framed on the light ground and stored as JPEG 90 when the mask passed
    its checks, else the working copy as it is. Returns (image, shape vector)."""
    from PIL import Image

    from stylist.vision.categories import garment_shape
    from stylist.vision.cutout import framed, garment_mask

    rgb = np.asarray(photo)
    cutout = garment_mask(rgb)
    shape = garment_shape(cutout.mask)
    if not cutout.accepted:
        return photo, shape
    buffer = io.BytesIO()
    Image.fromarray(framed(rgb, cutout.mask)).save(buffer, "JPEG", quality=90)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"), shape


def compute_cutout_views(spec, files: list[Path], cache: Path, features: bool = True) -> dict:
    """Each photo's garment shape (N, S) and, with ``features``, (2, N, D) features of its
    cut-out copy as the library makes it: view 0 plain, 1 mirrored."""
    from stylist.vision.categories import SHAPE_FEATURES

    names = [f"{f.parent.name}/{f.name}" for f in files]
    from stylist.vision.cutout import MASK_VERSION

    keyed = [spec.sha256, names, "cutout", MASK_VERSION, SHAPE_FEATURES, features]
    key = hashlib.sha256(json.dumps(keyed).encode()).hexdigest()[:16]
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as data:
            if str(data["key"]) == key:
                print(f"cut-outs from cache {cache}")
                return {k: data[k] for k in data.files if k != "key"}
    from PIL import ImageOps

    from stylist.vision.extractor import Extractor

    extractor = Extractor(spec, device="auto", variant="fp32", threads=1)
    n, dim = len(files), spec.feature_dim
    out = {"shape": np.zeros((n, len(SHAPE_FEATURES)), np.float32)}
    if features:
        out["features"] = np.zeros((2, n, dim), np.float16)
    started = time.time()
    chunk = 32
    for start in range(0, n, chunk):
        part = files[start : start + chunk]
        images = []
        for i, f in enumerate(part):
            image, out["shape"][start + i] = as_the_library_cuts_out(working_copy(f))
            images.append(image)
        if features:
            for v, batch in enumerate([images, [ImageOps.mirror(p) for p in images]]):
                result = extractor.run_images(batch, batch_size=chunk)
                out["features"][v, start : start + len(part)] = result.features
        done = start + len(part)
        print(f"  cut-outs {done}/{n} photos, {done / (time.time() - started):.1f}/s", flush=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, key=np.array(key), **out)
    return out


# ------------------------------------------------------------------------------ folds


def grouped_folds(groups: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold of each photo: whole contributors per fold, folds of similar size."""
    rng = np.random.default_rng(seed)
    ids, counts = np.unique(groups, return_counts=True)
    order = np.lexsort((rng.random(len(ids)), -counts))  # largest first, ties at random
    load = np.zeros(k)
    fold_of = {}
    for i in order:
        f = int(np.argmin(load))
        fold_of[ids[i]] = f
        load[f] += counts[i]
    return np.array([fold_of[g] for g in groups])


# ------------------------------------------------------------------------------ training


def train_head(
    x: np.ndarray, y: np.ndarray, cfg: dict, seed: int, weight: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Train one head on (M, D) features (``weight``: each row's weight, default 1); returns
    its arrays in the shipped layout."""
    import torch

    torch.manual_seed(seed)
    x = powered(x, cfg)
    mean = x.mean(axis=0).astype(np.float32)
    std = (x.std(axis=0) + 1e-2).astype(np.float32)
    tail = cfg.get("shape_dims", 0)
    if tail:
        # The garment's few shape measures would drown among the backbone's features: they
        # enter at ``shape_scale`` times a feature's spread (folded into their std).
        std[-tail:] /= cfg.get("shape_scale", 1.0)
    xt = torch.from_numpy(((x - mean) / std).astype(np.float32))
    yt = torch.from_numpy(y.astype(np.int64))
    wt = torch.from_numpy(
        np.ones(len(y), np.float32) if weight is None else weight.astype(np.float32)
    )
    dim, hidden, classes = x.shape[1], cfg["hidden"], len(CATEGORIES)
    layers: list[torch.nn.Module] = [torch.nn.Dropout(cfg["drop_in"])]
    if hidden:
        layers += [torch.nn.Linear(dim, hidden), torch.nn.ReLU(), torch.nn.Dropout(cfg["drop"])]
    layers += [torch.nn.Linear(hidden or dim, classes)]
    net = torch.nn.Sequential(*layers)
    # Class-balanced loss (square-root weights over the weighted rows unless the config says
    # otherwise): hats and dresses are few.
    counts = np.bincount(y, weights=wt.numpy(), minlength=classes).astype(np.float64)
    power = cfg.get("balance", 0.5)
    balance = (counts.sum() / (classes * np.maximum(counts, 1e-6))) ** power
    row_weight = torch.from_numpy(balance.astype(np.float32))[yt] * wt
    loss_fn = torch.nn.CrossEntropyLoss(reduction="none", label_smoothing=0.05)
    batch = 128
    steps = cfg["epochs"] * ((len(xt) + batch - 1) // batch)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg["lr"], weight_decay=cfg["wd"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg["lr"], total_steps=steps)
    net.train()
    for _ in range(cfg["epochs"]):
        for idx in torch.randperm(len(xt)).split(batch):
            opt.zero_grad()
            w = row_weight[idx]
            loss = (loss_fn(net(xt[idx]), yt[idx]) * w).sum() / w.sum()
            loss.backward()
            opt.step()
            sched.step()
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    arrays = {"input.mean": mean, "input.std": std}
    names = ["fc1", "fc2"] if hidden else ["fc2"]
    for name, layer in zip(names, linears, strict=True):
        arrays[f"{name}.weight"] = layer.weight.detach().numpy().astype(np.float32)
        arrays[f"{name}.bias"] = layer.bias.detach().numpy().astype(np.float32)
    return arrays


def powered(x: np.ndarray, cfg: dict) -> np.ndarray:
    """The head's input transform, as ``CategoryHead.logits`` applies it (the shape measures,
    last when there are any, stay as they are)."""
    power = cfg.get("input_power", 1.0)
    if power == 1.0:
        return x
    out = np.sign(x) * np.abs(x) ** power
    tail = cfg.get("shape_dims", 0)
    if tail:
        out[:, -tail:] = x[:, -tail:]
    return out


def input_blocks(cfg: dict, feature_dim: int) -> list[dict] | None:
    """The head's input blocks for its JSON (None: the photo's features alone, as the earlier
    heads read them)."""
    from stylist.vision.categories import SHAPE_FEATURES

    names = cfg.get("inputs", ["photo"])
    if names == ["photo"]:
        return None
    dims = {"photo": feature_dim, "cutout": feature_dim, "shape": len(SHAPE_FEATURES)}
    return [{"name": n, "dim": dims[n]} for n in names]


def head_of(arrays: dict[str, np.ndarray], cfg: dict, dim: int, temperature: float = 1.0):
    config = {
        "hidden": cfg["hidden"],
        "feature_dim": dim,
        "temperature": temperature,
        "input_power": cfg.get("input_power", 1.0),
    }
    backbone_blocks = [n for n in cfg.get("inputs", ["photo"]) if n != "shape"]
    blocks = input_blocks(cfg, (dim - cfg.get("shape_dims", 0)) // len(backbone_blocks))
    if blocks is not None:
        config["inputs"] = blocks
    return CategoryHead(arrays, config)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature that makes softmax(logits / T) honest on held-out photos (least NLL)."""
    best_t, best_nll = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.3), np.log(5.0), 120)):
        p = softmax(logits, t)
        nll = -np.log(p[np.arange(len(y)), y] + 1e-12).mean()
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


# ------------------------------------------------------------------------------ metrics


def sure_of(prob: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Which guesses sort by themselves: confidence >= the guessed category's threshold."""
    return prob.max(axis=1) >= thresholds[prob.argmax(axis=1)]


def operating_point(sure: np.ndarray, correct: np.ndarray) -> dict:
    return {
        "precision": float(correct[sure].mean()) if sure.any() else 1.0,
        "unsorted": float(1.0 - sure.mean()) if len(sure) else 0.0,
        "photos": int(len(sure)),
        "accuracy_all": float(correct.mean()) if len(sure) else 1.0,
    }


def pick_thresholds(prob: np.ndarray, y: np.ndarray, per_class: bool) -> np.ndarray:
    """Thresholds, one per guessed category, chosen on held-out predictions.

    First the lowest common threshold whose sorted photos are right at AIM_PRECISION, leaving
    at most AIM_UNSORTED unsorted (precision gives way first if both cannot hold). With
    ``per_class``, each category whose own sorted guesses fall short of AIM_PRECISION then gets
    the lowest threshold that brings them there (as long as the unsorted share stays within
    MAX_UNSORTED), and each category already well above it the lowest threshold that keeps it
    at AIM_PRECISION + CLASS_SLACK.
    """
    conf, pred = prob.max(axis=1), prob.argmax(axis=1)
    correct = pred == y
    candidates = np.unique(np.round(conf, 4))
    candidates = candidates[candidates >= 0.3]
    limit = float(np.quantile(conf, AIM_UNSORTED))
    common = round(limit, 4)
    for t in candidates:
        if t > limit:
            break
        if correct[conf >= t].mean() >= AIM_PRECISION:
            common = float(t)
            break
    thresholds = np.full(len(CATEGORIES), common)
    if not per_class:
        return thresholds
    for k in range(len(CATEGORIES)):
        mine = pred == k
        if mine.sum() < 20:
            continue
        aim = AIM_PRECISION + CLASS_SLACK
        for t in candidates[candidates >= 0.3]:
            trial = thresholds.copy()
            trial[k] = t
            sure = conf >= trial[pred]
            if 1 - sure.mean() > MAX_UNSORTED - 0.02:
                break
            if correct[mine & sure].mean() >= aim:
                thresholds[k] = float(t)
                break
    return thresholds


def evaluate(prob: np.ndarray, y: np.ndarray, thresholds: np.ndarray) -> dict:
    """Figures on all five categories (the target), per category, and on top/bottom/shoes."""
    pred = prob.argmax(axis=1)
    correct = pred == y
    sure = sure_of(prob, thresholds)
    slots = y < SLOT_CLASSES
    per_class = {}
    for c, category in enumerate(CATEGORIES):
        mine = y == c
        per_class[category.value] = {
            "photos": int(mine.sum()),
            "accuracy": float(correct[mine].mean()) if mine.any() else None,
            "sorted_right": float(correct[mine & sure].mean()) if (mine & sure).any() else None,
            "unsorted": float(1 - sure[mine].mean()) if mine.any() else None,
            "guessed_right": float(correct[(pred == c) & sure].mean())
            if ((pred == c) & sure).any()
            else None,
        }
    return {
        "all_classes": operating_point(sure, correct),
        "per_class": per_class,
        "top_bottom_shoes": operating_point(sure[slots], correct[slots]),
    }


def rounded(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def confusion(prob: np.ndarray, y: np.ndarray) -> dict:
    """Rows: true category; columns: guessed category (argmax)."""
    pred = prob.argmax(axis=1)
    names = [c.value for c in CATEGORIES]
    return {
        names[t]: {names[p]: int(((y == t) & (pred == p)).sum()) for p in range(len(names))}
        for t in range(len(names))
    }


# ------------------------------------------------------------------------------ main


def training_rows(data, y, mask, views, mango, cfg):
    """Every view of the wardrobe photos in ``mask``, plus (when given, and the config weighs
    them) the views of the product photos that ``cfg["product_photos"]`` names, at
    ``cfg["mango_weight"]`` each."""
    features = data["features"]
    xs = [features[v][mask] for v in range(views)]
    ys = [y[mask]] * views
    ws = [np.ones(int(mask.sum()), np.float32)] * views
    if mango is not None and cfg["mango_weight"]:
        kinds = {"as-is": ["as_is"], "as-phone-photos": ["phone"], "both": ["as_is", "phone"]}
        for kind in kinds[cfg["product_photos"]]:
            for view in mango[kind]:
                xs.append(view)
                ys.append(mango["y"])
                ws.append(np.full(len(mango["y"]), cfg["mango_weight"], np.float32))
    return (
        np.concatenate(xs).astype(np.float32),
        np.concatenate(ys),
        np.concatenate(ws),
    )


def side_by_side(cfg, data, cut, mango, mango_shape) -> tuple[dict, dict]:
    """The wardrobe photos' views and the product photos' with the config's input blocks side
    by side: (data, mango) as ``training_rows`` reads them. A wardrobe photo's random views sit
    beside its cut-out plain or mirrored (alternately); its shape is its mask's."""
    names = cfg["inputs"]
    if names == ["photo"]:
        return data, mango
    if cfg["product_photos"] not in (None, "as-phone-photos"):
        raise ValueError("several input blocks need the product photos as phone photos")

    def joined(photo, cutout, shape) -> np.ndarray:
        parts = {"photo": photo, "cutout": cutout, "shape": shape}
        return np.concatenate([parts[n].astype(np.float32) for n in names], axis=1)

    features = data["features"]
    wardrobe = np.stack(
        [joined(features[v], cut["features"][v % 2], cut["shape"]) for v in range(len(features))]
    )
    phone = [
        joined(mango["phone"][v], mango["as_is"][v], mango_shape)
        for v in range(len(mango["phone"]))
    ]
    return {"features": wardrobe}, {"as_is": None, "phone": phone, "y": mango["y"]}


def cross_validate(data, y, folds, train_mask, cfg, args, mango) -> np.ndarray:
    """Out-of-fold head logits (N, 5) of view 0 (the photo as it will be seen at run time);
    product photos, when given, are in every fold's training side only."""
    features = data["features"]
    dim = features.shape[2]
    out = np.zeros((len(y), len(CATEGORIES)))
    for f in range(folds.max() + 1):
        train = (folds != f) & train_mask
        x, t, w = training_rows(data, y, train, args.views, mango, cfg)
        arrays = train_head(x, t, cfg, args.seed + f, w)
        held = folds == f
        out[held] = head_of(arrays, cfg, dim).logits(features[0][held].astype(np.float32))
    return out


def shifted(logits: np.ndarray, shift: float) -> np.ndarray:
    """Scores with ``shift`` added to one-piece's: a push towards guessing a dress, which the
    shipped head carries in its last layer's bias."""
    out = np.array(logits, dtype=np.float64)
    out[:, ONE_PIECE] += shift
    return out


def pick_dress_shift(logits: np.ndarray, y: np.ndarray, per_class: bool) -> float:
    """The largest push towards one-piece (``DRESS_SHIFTS``) at which these photos, at the
    temperature and thresholds fitted on them, keep SHIFT_PRECISION of the sorted ones right
    with at most SHIFT_UNSORTED unsorted: dresses are mostly taken for tops, and a push trades
    tops taken for dresses against them."""
    best = 0.0
    for shift in DRESS_SHIFTS:
        scores = shifted(logits, shift)
        prob = softmax(scores, fit_temperature(scores, y))
        thresholds = pick_thresholds(prob, y, per_class)
        point = operating_point(sure_of(prob, thresholds), prob.argmax(1) == y)
        if point["precision"] >= SHIFT_PRECISION and point["unsorted"] <= SHIFT_UNSORTED:
            best = float(shift)
    return best


def held_out_figures(prob, y, folds, scope, per_class, logits=None) -> tuple[dict, list]:
    """Each fold's photos at thresholds picked on the other folds only. With ``logits``, the
    push towards one-piece and the temperature are chosen on the other folds too (and ``prob``
    is not used)."""
    sure_all = np.zeros(len(y), bool)
    pred = np.zeros(len(y), int) if logits is not None else prob.argmax(1)
    rows = []
    for f in range(folds.max() + 1):
        others = (folds != f) & scope
        mine = (folds == f) & scope
        extra = {}
        if logits is not None:
            shift = pick_dress_shift(logits[others], y[others], per_class)
            scores = shifted(logits, shift)
            prob = softmax(scores, fit_temperature(scores[others], y[others]))
            pred[mine] = prob[mine].argmax(1)
            extra = {"dress_shift": shift}
        thresholds = pick_thresholds(prob[others], y[others], per_class)
        sure_all[mine] = sure_of(prob[mine], thresholds)
        correct = prob[mine].argmax(1) == y[mine]
        rows.append(
            {
                "fold": f,
                **extra,
                "thresholds": [float(t) for t in thresholds],
                **operating_point(sure_all[mine], correct),
            }
        )
    # The pooled folds, each photo judged at its own fold's thresholds.
    correct = pred == y
    s, c = sure_all[scope], correct[scope]
    out = {"all_classes": operating_point(s, c), "per_class": {}}
    for k, category in enumerate(CATEGORIES):
        m = y[scope] == k
        out["per_class"][category.value] = {
            "photos": int(m.sum()),
            "accuracy": float(c[m].mean()),
            "sorted_right": float(c[m & s].mean()) if (m & s).any() else None,
            "unsorted": float(1 - s[m].mean()),
        }
    slots = y[scope] < SLOT_CLASSES
    out["top_bottom_shoes"] = operating_point(s[slots], c[slots])
    return out, rows


def oof_key(cfg: dict, spec, args) -> str:
    """What a configuration's out-of-fold scores depend on (they are cached under it)."""
    from stylist.vision.categories import SHAPE_FEATURES
    from stylist.vision.cutout import MASK_VERSION

    keyed = [cfg, spec.sha256, args.views, args.mango_views, args.phone_views, args.seed]
    keyed += [args.folds, MASK_VERSION, SHAPE_FEATURES]
    return hashlib.sha256(json.dumps(keyed).encode()).hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="efficientnet-lite0")
    parser.add_argument("--views", type=int, default=8, help="views per photo (plain, mirror, …)")
    parser.add_argument("--mango-views", type=int, default=4, help="views per product photo")
    parser.add_argument(
        "--phone-views", type=int, default=2, help="views per product photo as a phone photo"
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated names")
    parser.add_argument(
        "--per-class",
        choices=("yes", "no", "both"),
        default="both",
        help="thresholds per guessed category (both: choose on cross-validation)",
    )
    parser.add_argument(
        "--dress-shift",
        choices=("yes", "no", "both"),
        default="both",
        help="a push towards one-piece chosen on out-of-fold scores (both: choose)",
    )
    parser.add_argument("--cache", type=Path, default=None, help="feature cache folder")
    parser.add_argument("--out", type=Path, default=None, help="output path without suffix")
    parser.add_argument("--dry-run", action="store_true", help="measure, do not save")
    parser.add_argument(
        "--cv-only", action="store_true", help="cross-validate (and cache) the configs, then stop"
    )
    args = parser.parse_args(argv)

    import torch

    from stylist.vision.backbones import get_backbone

    torch.set_num_threads(1)
    started = time.time()
    spec = get_backbone(args.backbone)
    entries = json.loads((DATA / "items.json").read_text())
    y = np.array([class_of(e) for e in entries])
    groups = np.array([e["contributor_id"] for e in entries])
    cache = args.cache or Path(tempfile.gettempdir())
    tag = f"{spec.id}-{spec.sha256[:12]}"
    data = compute_views(
        spec,
        [DATA / e["file"] for e in entries],
        args.views,
        args.seed,
        cache / f"stylist-category-features-{tag}-v{args.views}-s{args.seed}.npz",
    )
    products = mango_products()
    product_files = [MANGO / p["file"] for p in products]
    mango = {
        "as_is": compute_views(
            spec,
            product_files,
            args.mango_views,
            args.seed,
            cache / f"stylist-category-mango-features-{tag}-v{args.mango_views}-s{args.seed}.npz",
        )["features"],
        "phone": compute_views(
            spec,
            product_files,
            args.phone_views,
            args.seed,
            cache / f"stylist-category-mango-phone-features-{tag}-v{args.phone_views}"
            f"-s{args.seed}.npz",
            product=True,
        )["features"],
        "y": np.array([p["class"] for p in products]),
    }
    blocks_wanted = {n for name in args.configs.split(",") for n in CONFIGS[name]["inputs"]}
    cut = mango_shape = None
    if blocks_wanted & {"cutout", "shape"}:
        cut = compute_cutout_views(
            spec, [DATA / e["file"] for e in entries], cache / f"stylist-category-cutouts-{tag}.npz"
        )
    if "shape" in blocks_wanted:
        # The product photos' garment shape, measured as the library would on a person's photo.
        mango_shape = compute_cutout_views(
            spec, product_files, cache / f"stylist-category-mango-shapes-{tag}.npz", False
        )["shape"]
    folds = grouped_folds(groups, args.folds, args.seed)
    test_ids = test_contributors(entries)
    test = np.isin(groups, test_ids)
    demo = groups == DEMO_CONTRIBUTOR
    train_mask = ~test & ~demo  # the test set and the demo wardrobe are never trained on
    # Cross-validation looks at everything but the test set; the demo wardrobe is validated on.
    scope = ~test

    # -- 1. choose the configuration on out-of-fold predictions, with and without the products
    results = {}
    inputs_of = {}
    for name in args.configs.split(","):
        cfg = CONFIGS[name]
        t0 = time.time()
        inputs_of[name] = side_by_side(cfg, data, cut, mango, mango_shape)
        oof_cache = cache / f"stylist-category-oof-{name}-{oof_key(cfg, spec, args)}.npy"
        if oof_cache.is_file():
            logits = np.load(oof_cache)
            print(f"{name}: out-of-fold scores from cache {oof_cache}")
        else:
            logits = cross_validate(
                *inputs_of[name][:1], y, folds, train_mask, cfg, args, inputs_of[name][1]
            )
            np.save(oof_cache, logits)
        temperature = fit_temperature(logits[scope], y[scope])
        prob = softmax(logits, temperature)
        options = {"no": [False], "yes": [True], "both": [False, True]}
        for per_class, push in itertools.product(
            options[args.per_class], options[args.dress_shift]
        ):
            if push:
                held, rows = held_out_figures(None, y, folds, scope, per_class, logits)
            else:
                held, rows = held_out_figures(prob, y, folds, scope, per_class)
            key = f"{name}{'+per-class' if per_class else ''}{'+dress-shift' if push else ''}"
            results[key] = {
                "name": name,
                "per_class": per_class,
                "dress_shift": push,
                "logits": logits,
                "temperature": temperature,
                "held_out": held,
                "folds": rows,
            }
            a, d = held["all_classes"], held["per_class"]["one-piece"]
            print(
                f"{key}: held out {a['precision']:.2%} of sorted right, {a['unsorted']:.2%} "
                f"unsorted, accuracy {a['accuracy_all']:.2%}; dresses {d['accuracy']:.2%} right "
                f"({d['sorted_right']:.2%} of sorted), hats "
                f"{held['per_class']['other']['accuracy']:.2%}; T={temperature:.2f} "
                f"[{time.time() - t0:.0f} s]",
                flush=True,
            )

    if args.cv_only:
        return 0

    def merit(r: dict) -> tuple:
        a = r["held_out"]["all_classes"]
        d = r["held_out"]["per_class"]["one-piece"]["accuracy"]
        met = (
            a["precision"] >= TARGET_PRECISION
            and a["unsorted"] <= MAX_UNSORTED
            and d >= TARGET_DRESSES
        )
        kept = a["precision"] >= TARGET_PRECISION and a["unsorted"] <= MAX_UNSORTED
        # Every category counts alike (the mean of their accuracies): dresses and hats are few
        # but as much the person's as their tops.
        balanced = np.mean([v["accuracy"] for v in r["held_out"]["per_class"].values()])
        # Short of the whole target, the most dresses right among those that keep the rest.
        return (met, kept, round(d, 3) if kept else 0.0, a["precision"] - a["unsorted"] + balanced)

    chosen = max(results, key=lambda k: merit(results[k]))
    best = results[chosen]
    cfg = CONFIGS[best["name"]]
    temperature = best["temperature"]
    dress_shift = 0.0
    if best["dress_shift"]:
        dress_shift = pick_dress_shift(best["logits"][scope], y[scope], best["per_class"])
        temperature = fit_temperature(shifted(best["logits"], dress_shift)[scope], y[scope])
    prob = softmax(shifted(best["logits"], dress_shift), temperature)
    thresholds = pick_thresholds(prob[scope], y[scope], best["per_class"])
    cv_demo = evaluate(prob[demo], y[demo], thresholds)

    # -- 2. final head: everyone but the demo wardrobe and the test set, and the products
    chosen_data, chosen_mango = inputs_of[best["name"]]
    dim = chosen_data["features"].shape[2]
    x, t, w = training_rows(chosen_data, y, train_mask, args.views, chosen_mango, cfg)
    arrays = train_head(x, t, cfg, args.seed + 100, w)
    arrays["fc2.bias"][ONE_PIECE] += dress_shift  # the push towards one-piece, as chosen
    head = head_of(arrays, cfg, dim, temperature)
    final_prob = head.probabilities(chosen_data["features"][0].astype(np.float32))
    test_final = evaluate(final_prob[test], y[test], thresholds)
    demo_final = evaluate(final_prob[demo], y[demo], thresholds)
    unseen_final = evaluate(final_prob[test | demo], y[test | demo], thresholds)

    # The ImageNet mapping used for backbones without a head, measured on the same photos.
    mapped = imagenet_probabilities(data["logits"][0].astype(np.float32))
    slots = (y < SLOT_CLASSES) & scope
    imagenet = {
        str(t): rounded(operating_point(mapped.max(1)[slots] >= t, (mapped.argmax(1) == y)[slots]))
        for t in (0.3, 0.5, 0.7)
    }

    arguments = sys.argv[1:] if argv is None else argv
    command = " ".join([".venv/bin/python models/train_category_head.py", *arguments])
    held = best["held_out"]
    metrics = {
        "target": {
            "precision_min": TARGET_PRECISION,
            "unsorted_max": MAX_UNSORTED,
            "one_piece_accuracy_min": TARGET_DRESSES,
            "measured_on": "wardrobe photos of contributors not trained on, all five "
            "categories (dresses are one-piece, hats other); product photos only ever trained on",
        },
        "held_out": rounded(held),
        "held_out_folds": rounded(best["folds"]),
        "target_met": bool(merit(best)[0]),
        "out_of_fold_confusion": confusion(prob[scope], y[scope]),
        "final_head_test_contributors": rounded(test_final),
        "final_head_test_and_demo": rounded(unseen_final),
        "final_head_test_and_demo_confusion": confusion(final_prob[test | demo], y[test | demo]),
        "demo_wardrobe_contributor_37": {
            "cross_validation": rounded(cv_demo),
            "final_head_never_trained_on_it": rounded(demo_final),
        },
        "configs_held_out": {
            k: rounded(
                {
                    "mango_weight": CONFIGS[r["name"]]["mango_weight"],
                    "per_class_thresholds": r["per_class"],
                    "dress_shift": r["dress_shift"],
                    "inputs": CONFIGS[r["name"]]["inputs"],
                    "all_classes": r["held_out"]["all_classes"],
                    "per_class_accuracy": {
                        c: v["accuracy"] for c, v in r["held_out"]["per_class"].items()
                    },
                }
            )
            for k, r in results.items()
        },
        "imagenet_mapping_top_bottom_shoes": imagenet,
    }
    config = {
        "format": HEAD_FORMAT,
        "backbone": spec.id,
        "backbone_sha256": spec.sha256,
        "feature_dim": dim,
        "classes": [c.value for c in CATEGORIES],
        "test_contributors": test_ids,
        "demo_contributor": DEMO_CONTRIBUTOR,
        "hidden": cfg["hidden"],
        "input_power": cfg.get("input_power", 1.0),
        **({"inputs": head.config["inputs"]} if "inputs" in head.config else {}),
        "temperature": round(temperature, 4),
        # The common threshold (the lowest), and one per guessed category.
        "threshold": float(thresholds.min()),
        "thresholds": {c.value: float(t) for c, t in zip(CATEGORIES, thresholds, strict=True)},
        "config_name": chosen,
        "training": {
            **cfg,
            "dress_shift": dress_shift,
            "views": args.views,
            "product_views": {
                "as-is": args.mango_views if cfg["product_photos"] != "as-phone-photos" else 0,
                "as-phone-photos": args.phone_views if cfg["product_photos"] != "as-is" else 0,
            }
            if cfg["mango_weight"]
            else None,
            "augmentation": "view 0 plain, 1 mirrored, others random mirror, rotation ±12°, "
            "crop 65–100% area or zoom out 1.1–1.4×, brightness/contrast/colour ±20–25%; "
            "product photos as phone photos: cropped close to the garment (4–15% margin), the "
            "studio background outside the garment's silhouette replaced by a random floor "
            "colour with grain, then (after view 0) augmented as above",
            "loss": "cross-entropy, class-balanced weights (the classes' counts to the power "
            "-balance, over wardrobe and "
            "product photos together), label smoothing 0.05; a product photo weighs "
            "mango_weight of a wardrobe photo",
            "optimiser": "AdamW, one-cycle learning rate, batch 128",
            "thresholds": "common threshold: the lowest whose sorted photos are right at "
            f"{AIM_PRECISION:.0%} with at most {AIM_UNSORTED:.0%} unsorted; per category "
            "(when chosen): raised or lowered so that each category's sorted guesses are right "
            f"at {AIM_PRECISION + CLASS_SLACK:.1%}, all on out-of-fold predictions",
            "folds": args.folds,
            "split": "grouped by contributor_id; contributor 37 and test_contributors never "
            "trained on; test_contributors not used for any choice; product photos in "
            "training only",
            "seed": args.seed,
        },
        "trained_on": f"{DATA.relative_to(REPO.parent)} ({int(train_mask.sum())} photos, "
        f"{len(np.unique(groups[train_mask]))} contributors)"
        + (
            f" and {MANGO.relative_to(REPO.parent)} ({len(products)} product photos, for "
            "training only, never shipped)"
            if cfg["mango_weight"]
            else ""
        )
        + "; features of the working copies (and of their cut-outs, as the library makes them) "
        "through the shipped ONNX model and its preprocessing",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "metrics": metrics,
    }
    print(json.dumps(metrics, indent=1))
    a, tf = held["all_classes"], test_final["all_classes"]
    print(
        f"chosen {chosen}: thresholds {thresholds}, T {temperature:.2f}; held out: "
        f"{a['precision']:.2%} of sorted photos right, {a['unsorted']:.2%} unsorted, dresses "
        f"{held['per_class']['one-piece']['accuracy']:.2%}; test contributors: "
        f"{tf['precision']:.2%} right, {tf['unsorted']:.2%} unsorted "
        f"({time.time() - started:.0f} s)"
    )
    if not args.dry_run:
        out = args.out or REPO / "models" / f"category-head-{spec.id}"
        np.savez(out.with_suffix(".npz"), **arrays)
        out.with_suffix(".json").write_text(json.dumps(config, indent=1) + "\n")
        print(f"wrote {out}.npz and {out}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
