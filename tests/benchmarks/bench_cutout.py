"""Cut-out benchmark: do garments cut out of their background look more like product photos?

The proxy: a category classifier (top, bottom, shoes, dress) trained only on the stylists'
product photos of ../shared/data/outfits-mango, on the shipped compact backbone's features, is
tested on people's own photos of ../shared/data/wardrobe-photos (adults' clothes of those four
kinds), once on the photos as they are and once cut out onto the light ground the app uses. The
photos go through the app's own preparation first (the 640 px working copy). Printed: accuracy
per category and overall beside the majority-class baseline, the cut-out time per photo (median
and 90th percentile, on this machine's CPU with OpenCV held to 2 threads), and the share of photos
whose mask failed its sanity checks and fell back to the photo as it is, with the reasons.

The classifier is a softmax regression on standardised features, class-balanced, with one fixed
weight decay (nothing is tuned on the people's photos). Features are cached in
build/bench-cutout/ per cut-out recipe version. ``BENCH_QUICK=1`` uses a few photos per class.

Usage: python -m tests.benchmarks cutout
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
QUICK = os.environ.get("BENCH_QUICK") == "1"
CACHE = REPO / "build" / ("bench-cutout-quick" if QUICK else "bench-cutout")
CLASSES = ("top", "bottom", "shoes", "dress")
PRODUCTS_PER_CLASS = 40 if QUICK else 600
PHOTOS_PER_CLASS = 15 if QUICK else None


def product_photos() -> tuple[list[Path], np.ndarray]:
    """The stylists' product photos of the four kinds, at most PRODUCTS_PER_CLASS each."""
    outfits = json.loads((DATA / "outfits-mango" / "outfits.json").read_text())
    kind = {"top": "top", "bottom": "bottom", "shoes": "shoes", "one_piece": "dress"}
    seen: dict[str, str] = {}
    for outfit in outfits:
        for garment in outfit["garments"]:
            if garment["slot"] in kind:
                seen.setdefault(garment["crop"], kind[garment["slot"]])
    rng = np.random.default_rng(0)
    files, labels = [], []
    for c, name in enumerate(CLASSES):
        crops = sorted(k for k, v in seen.items() if v == name)
        chosen = rng.permutation(len(crops))[:PRODUCTS_PER_CLASS]
        files += [DATA / "outfits-mango" / crops[i] for i in sorted(chosen)]
        labels += [c] * len(chosen)
    return files, np.array(labels)


def people_photos() -> tuple[list[Path], np.ndarray, np.ndarray]:
    """People's own photos of adults' tops, bottoms, shoes and dresses, with their senders."""
    items = json.loads((DATA / "wardrobe-photos" / "items.json").read_text())
    files, labels, senders = [], [], []
    counts = dict.fromkeys(CLASSES, 0)
    for item in items:
        name = "dress" if item["label"] == "Dress" else item["slot"]
        if item["kids"] or name not in CLASSES:
            continue
        if PHOTOS_PER_CLASS is not None and counts[name] >= PHOTOS_PER_CLASS:
            continue
        counts[name] += 1
        files.append(DATA / "wardrobe-photos" / item["file"])
        labels.append(CLASSES.index(name))
        senders.append(item["contributor_id"])
    return files, np.array(labels), np.array(senders)


def working_copy(path: Path):
    """The photo as the app stores it for the models (see library.photos)."""
    import io

    from PIL import Image

    from stylist.library.photos import prepare

    prepared = prepare(path)
    with Image.open(io.BytesIO(prepared.working_jpeg)) as im:
        return im.convert("RGB")


def features(extractor, images) -> np.ndarray:
    return extractor.run_images(images, batch_size=32).features


def cached(name: str, make) -> np.ndarray:
    file = CACHE / f"{name}.npy"
    if file.exists():
        return np.load(file)
    value = make()
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(file, value)
    return value


def train_softmax(x: np.ndarray, y: np.ndarray, decay: float = 1e-3, steps: int = 400):
    """Class-balanced softmax regression by full-batch gradient descent (Adam). -> (W, b)."""
    n, d = x.shape
    k = len(CLASSES)
    weight = (len(y) / (k * np.bincount(y, minlength=k)))[y]  # (n,)
    w, b = np.zeros((d, k)), np.zeros(k)
    m_w, v_w, m_b, v_b = np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b)
    onehot = np.eye(k)[y]
    lr, beta1, beta2 = 0.01, 0.9, 0.999
    for t in range(1, steps + 1):
        logits = x @ w + b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - onehot) * weight[:, None] / weight.sum()  # (n, k)
        g_w, g_b = x.T @ g + decay * w, g.sum(axis=0)
        for param, grad, m, v in ((w, g_w, m_w, v_w), (b, g_b, m_b, v_b)):
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad**2
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + 1e-8)
    return w, b


def report(name: str, predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    row = {"all": float((predicted == truth).mean())}
    for c, cls in enumerate(CLASSES):
        row[cls] = float((predicted[truth == c] == c).mean()) if (truth == c).any() else np.nan
    cells = "  ".join(f"{cls} {100 * row[cls]:5.1f}" for cls in CLASSES)
    print(f"  {name:<26} all {100 * row['all']:5.1f}   {cells}")
    return row


def shipped_head(x_raw, x_cut, labels: np.ndarray, senders: np.ndarray) -> None:
    """The shipped category head on the contributors it was never trained on, raw vs cut out."""
    from stylist.vision.categories import CategoryHead, head_path

    path = head_path("efficientnet-lite0")
    config = json.loads(path.read_text())
    unseen = np.isin(senders, config.get("test_contributors", []))
    if not unseen.any():
        print("the shipped category head names no held-out contributors: not measured")
        return
    head = CategoryHead.load(path)
    names = list(config["classes"])
    ours = [names.index("one-piece" if c == "dress" else c) for c in CLASSES]  # class -> head

    def predict(x: np.ndarray) -> np.ndarray:
        guess = np.argmax(head.probabilities(x[unseen]), axis=1)
        back = {h: i for i, h in enumerate(ours)}
        return np.array([back.get(int(g), -1) for g in guess])  # -1: "other", always wrong

    print(
        f"shipped category head, {int(unseen.sum())} photos of the {len(set(senders[unseen]))} "
        "contributors it never saw (argmax of five classes, other counts as wrong):"
    )
    raw = report("as they are", predict(x_raw), labels[unseen])
    cut = report("cut out", predict(x_cut), labels[unseen])
    changes = "  ".join(f"{cls} {100 * (cut[cls] - raw[cls]):+5.1f}" for cls in CLASSES)
    print(f"  {'change':<26} all {100 * (cut['all'] - raw['all']):+5.1f}   {changes}")


def main() -> None:
    import cv2

    from stylist.paths import for_home
    from stylist.vision.backbones import get_backbone
    from stylist.vision.cutout import MASK_VERSION, cut_out
    from stylist.vision.extractor import Extractor

    cv2.setNumThreads(2)
    home = for_home(CACHE / "home")
    spec = get_backbone("efficientnet-lite0", home)
    product_files, product_labels = product_photos()
    people_files, people_labels, senders = people_photos()
    per_class = ", ".join(f"{c} {int((people_labels == i).sum())}" for i, c in enumerate(CLASSES))
    print(
        f"stylists' product photos (training): {len(product_files)}, people's photos (test): "
        f"{len(people_files)} ({per_class})"
    )

    timings: list[float] = []
    cpu_times: list[float] = []
    reasons: dict[str, int] = {}

    def timed_cut(rgb: np.ndarray):
        start, cpu = time.perf_counter(), time.process_time()
        shown, cutout = cut_out(rgb)
        timings.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu)
        reasons[cutout.rejected] = reasons.get(cutout.rejected, 0) + 1
        return shown

    def people_cut() -> np.ndarray:
        images = []
        from PIL import Image

        for path in people_files:
            images.append(Image.fromarray(timed_cut(np.asarray(working_copy(path)))))
        return features(extractor, images)

    with Extractor(spec, device="cpu", paths=home) as extractor:
        x_train = cached(
            "products",
            lambda: features(extractor, [working_copy(p) for p in product_files]),
        )
        x_raw = cached(
            "people-raw", lambda: features(extractor, [working_copy(p) for p in people_files])
        )
        x_cut = cached(f"people-cut-v{MASK_VERSION}", people_cut)
    if not timings:
        # Features came from the cache: time the cut-outs on a sample all the same.
        step = max(1, len(people_files) // 300)
        for path in people_files[::step]:
            timed_cut(np.asarray(working_copy(path)))

    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6
    w, b = train_softmax((x_train - mean) / std, product_labels)

    def predict(x: np.ndarray) -> np.ndarray:
        return np.argmax(((x - mean) / std) @ w + b, axis=1)

    print("category accuracy (%) of a classifier trained on product photos only:")
    majority = np.full_like(people_labels, int(np.bincount(people_labels).argmax()))
    report("majority class", majority, people_labels)
    report("product photos (training)", predict(x_train), product_labels)
    raw = report("people's photos as they are", predict(x_raw), people_labels)
    cut = report("people's photos cut out", predict(x_cut), people_labels)
    changes = "  ".join(f"{cls} {100 * (cut[cls] - raw[cls]):+5.1f}" for cls in CLASSES)
    print(f"  {'change':<26} all {100 * (cut['all'] - raw['all']):+5.1f}   {changes}")

    shipped_head(x_raw, x_cut, people_labels, senders)

    ms = np.array(timings) * 1000
    cpu = np.array(cpu_times) * 1000
    print(
        f"cut-out time per 640 px working copy ({len(ms)} photos, OpenCV 2 threads): median "
        f"{statistics.median(ms):.0f} ms, p90 {np.percentile(ms, 90):.0f} ms, max {ms.max():.0f} ms"
        f" (CPU time, all threads: median {statistics.median(cpu):.0f} ms)"
    )
    total = sum(reasons.values())
    rejected = total - reasons.get("", 0)
    why = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()) if k)
    print(
        f"masks rejected by their sanity checks (photo used as it is): {rejected}/{total} "
        f"({100 * rejected / total:.1f} %){': ' + why if why else ''}"
    )


if __name__ == "__main__":
    main()
