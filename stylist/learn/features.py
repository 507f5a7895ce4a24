"""Backbone features and simple statistics of a dataset's crops, computed once and cached.

For every crop of a dataset this gives:

* backbone features for view 0 (the crop as it is) and, optionally, for augmented views (the
  garment re-lit and re-scaled, background kept the plain ground it was cut out onto) that
  training samples from;
* size statistics: width, height and background share (the part of the crop that is the plain
  light background it was cut out onto) — what leak-matched negatives are matched on;
* colour statistics of the garment's pixels (means, spreads, histograms), for every view like
  the features — the input of the "colour alone" baseline.

Every crop is seen either as it is (``prepare="as-is"``) or prepared exactly as the app prepares
a person's photo (``prepare="app"``, see ``app_prepared``): the working copy the library makes,
the app's cut-out, the garment framed in a square on the light ground, the JPEG twin the models
read. The two preparations are cached apart, so both can be compared.

One ``.npz`` per dataset, backbone and preparation lives under ``Paths.features``, keyed by
backbone id, the backbone file's sha256, the augmentation recipe and the preparation; inside,
every row carries its crop's content hash, so a changed photo is recomputed and the rest reused.
Augmentation is seeded by the crop's content hash and the view number: a recomputed row equals
the one it replaces.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance

from stylist.errors import StylistError
from stylist.files import FileFormatError, atomic_write, read_npz
from stylist.paths import Paths
from stylist.tasks import Cancel, Progress, check_cancel

BACKGROUND_LEVEL = 232  # a pixel whose R, G and B all reach this is the white background
CACHE_FORMAT = "stylist-crop-features/2"  # 2: colour statistics per view
AUGMENT_RECIPE = "light-scale-v1"
PREPARATIONS = ("as-is", "app")
WHITE = (255, 255, 255)


class FeatureCacheError(StylistError):
    """Features of a dataset's crops could not be computed; the message says which and why."""


def content_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ------------------------------------------------------------------------------ statistics


def _foreground(img: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)  # (H, W, 3)
    background = (rgb >= BACKGROUND_LEVEL).all(axis=2)  # (H, W)
    return rgb, ~background


def size_statistics(img: Image.Image) -> np.ndarray:
    """(3,) width, height, background share (0..1) of a crop."""
    _, fg = _foreground(img)
    return np.array([img.width, img.height, 1.0 - fg.mean()], dtype=np.float32)


COLOUR_BINS = 8


def colour_statistics(img: Image.Image) -> np.ndarray:
    """(32,) colour of the garment's pixels: RGB mean and spread, mean saturation and value,
    and an 8-bin histogram per RGB channel (each summing to 1)."""
    rgb, fg = _foreground(img)
    pixels = rgb[fg].astype(np.float32) / 255.0  # (n, 3)
    if pixels.shape[0] < 16:  # an (almost) empty crop: use all pixels rather than none
        pixels = rgb.reshape(-1, 3).astype(np.float32) / 255.0
    mean = pixels.mean(axis=0)
    std = pixels.std(axis=0)
    top = pixels.max(axis=1)
    low = pixels.min(axis=1)
    saturation = np.where(top > 0, (top - low) / np.maximum(top, 1e-6), 0.0).mean()
    value = top.mean()
    hist = [
        np.histogram(pixels[:, c], bins=COLOUR_BINS, range=(0.0, 1.0))[0] / pixels.shape[0]
        for c in range(3)
    ]
    return np.concatenate([mean, std, [saturation, value], *hist]).astype(np.float32)


def size_inputs(stats: np.ndarray) -> np.ndarray:
    """Inputs of the "size alone" baseline from (N, 3) size statistics: (N, 6) — log width, log
    height, background share, log aspect, log garment area, garment share."""
    s = np.asarray(stats, dtype=np.float64)
    w, h, bg = s[:, 0], s[:, 1], s[:, 2]
    out = np.stack(
        [np.log(w), np.log(h), bg, np.log(w / h), np.log(w * h * (1 - bg) + 1.0), 1 - bg], axis=1
    )
    return out.astype(np.float32)


def matching_key(stats: np.ndarray) -> np.ndarray:
    """What leak-matched negatives are matched on: log width, log height, background share."""
    s = np.asarray(stats, dtype=np.float64)
    return np.stack([np.log(s[:, 0]), np.log(s[:, 1]), s[:, 2]], axis=1)


# ---------------------------------------------------------------------------- augmentation


def augment(
    img: Image.Image, rng: np.random.Generator, ground: tuple[int, int, int] = WHITE
) -> Image.Image:
    """The garment re-lit and re-scaled; the background stays the plain ``ground`` it was cut out
    onto (white for the datasets' crops, the app's light ground for app-prepared photos).

    Photometric: brightness, contrast, saturation and a per-channel gain (white balance), drawn
    independently for every crop, so two crops of one photo no longer share their light.
    Scale: the crop is shrunk (fewer pixels, softer detail) and given a white margin of random
    width per side, so its size no longer tells its photo either. Mirrored half of the time.
    """
    img = img.convert("RGB")
    rgb, fg = _foreground(img)
    lit = Image.fromarray(rgb)
    lit = ImageEnhance.Brightness(lit).enhance(rng.uniform(0.75, 1.25))
    lit = ImageEnhance.Contrast(lit).enhance(rng.uniform(0.75, 1.25))
    lit = ImageEnhance.Color(lit).enhance(rng.uniform(0.7, 1.3))
    gain = rng.uniform(0.9, 1.1, size=3)
    arr = np.clip(np.asarray(lit, dtype=np.float32) * gain, 0, 255).astype(np.uint8)
    arr[~fg] = ground  # keep the background the plain ground it was cut out onto
    out = Image.fromarray(arr)
    factor = rng.uniform(0.45, 1.0)
    small = (max(8, round(out.width * factor)), max(8, round(out.height * factor)))
    out = out.resize(small, Image.Resampling.BILINEAR)
    margins = (rng.uniform(0.0, 0.2, size=4) * np.array([*out.size, *out.size])).astype(int)
    canvas = Image.new(
        "RGB",
        (out.width + margins[0] + margins[2], out.height + margins[1] + margins[3]),
        tuple(ground),
    )
    canvas.paste(out, (int(margins[0]), int(margins[1])))
    if rng.random() < 0.5:
        canvas = canvas.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return canvas


def _view_rng(digest: str, view: int) -> np.random.Generator:
    return np.random.default_rng([int(digest[:16], 16), view])


# ----------------------------------------------------------------------------- preparation


def app_prepared(path: Path, store: Path, pre: Any = None) -> tuple[Image.Image, bool]:
    """A photo prepared exactly as the app prepares a person's: the library's working copy
    (``library.photos.prepare``), the app's cut-out of it (``vision.cutout``), the garment framed
    on the light ground and saved as the JPEG twin the models read, or the working copy where
    the mask failed its own checks. Returns the image as the models decode it and whether the
    cut-out was used.

    The twin is kept in ``store`` (named by the photo's content hash and the cut-out recipe), so
    a second run decodes it instead of cutting again."""
    import io

    from stylist.library.photos import prepare
    from stylist.vision.cutout import MASK_VERSION, framed, garment_mask
    from stylist.vision.preprocess import load_image

    digest = content_hash(path)
    cut, plain = (store / f"{digest}.v{MASK_VERSION}.{k}.jpg" for k in ("cut", "photo"))
    if not cut.is_file() and not plain.is_file():
        prepared = prepare(Path(path))
        with Image.open(io.BytesIO(prepared.working_jpeg)) as im:
            rgb = np.asarray(im.convert("RGB"))
        cutout = garment_mask(rgb)
        if cutout.accepted:
            twin = io.BytesIO()
            mask = np.where(cutout.mask > 127, 255, 0).astype(np.uint8)
            Image.fromarray(framed(rgb, mask)).save(twin, "JPEG", quality=90)  # as store_mask
            data, target = twin.getvalue(), cut
        else:
            data, target = prepared.working_jpeg, plain
        store.mkdir(parents=True, exist_ok=True)
        atomic_write(target, lambda fh: fh.write(data))
    used = cut.is_file()
    return load_image(cut if used else plain, pre), used


def _ground(prepare: str) -> tuple[int, int, int]:
    if prepare not in PREPARATIONS:
        raise ValueError(f"unknown preparation {prepare!r} (use {' or '.join(PREPARATIONS)})")
    if prepare == "app":
        from stylist.vision.cutout import LIGHT_GROUND

        return tuple(LIGHT_GROUND)
    return WHITE


# ---------------------------------------------------------------------------------- caching


@dataclass
class CropFeatures:
    """Features and statistics of crops, rows in the order of ``keys``."""

    keys: list[str]  # crop paths relative to the dataset folder
    hashes: list[str]  # sha256 of each crop file
    features: np.ndarray  # (V, N, D) float32; view 0 is the crop as it is
    size: np.ndarray  # (N, 3) width, height, background share
    colour: np.ndarray  # (V, N, 32) per view, like the features
    backbone_id: str
    backbone_sha256: str

    def index(self) -> dict[str, int]:
        return {k: i for i, k in enumerate(self.keys)}

    @property
    def views(self) -> int:
        return int(self.features.shape[0])


def _recipe(prepare: str) -> str:
    if prepare == "as-is":
        return AUGMENT_RECIPE
    from stylist.vision.cutout import MASK_VERSION

    return f"{AUGMENT_RECIPE}+{prepare}-cutout-v{MASK_VERSION}"


def cache_file(
    paths: Paths, dataset_path: Path, backbone_id: str, sha256: str, prepare: str = "as-is"
) -> Path:
    """One file per dataset (by its resolved path), backbone file and preparation."""
    where = hashlib.sha256(str(Path(dataset_path).resolve()).encode()).hexdigest()[:12]
    name = Path(dataset_path).stem
    tail = "" if prepare == "as-is" else f"-{prepare}"
    return paths.features / f"{name}-{where}-{backbone_id}-{sha256[:16]}{tail}.npz"


def _read_cache(path: Path, backbone_sha256: str, recipe: str) -> dict[str, Any] | None:
    stamp = {"format": CACHE_FORMAT, "sha256": backbone_sha256, "recipe": recipe}
    try:
        return read_npz(path, stamp=stamp, keys=("keys", "hashes", "features", "size", "colour"))
    except FileFormatError:
        return None  # a missing, damaged or stale cache is recomputed, never trusted


def _write_cache(path: Path, features: CropFeatures, recipe: str) -> None:
    atomic_write(
        path,
        lambda fh: np.savez(
            fh,
            format=np.array(CACHE_FORMAT),
            sha256=np.array(features.backbone_sha256),
            recipe=np.array(recipe),
            keys=np.array(features.keys),
            hashes=np.array(features.hashes),
            features=features.features,
            size=features.size,
            colour=features.colour,
        ),
    )


def crop_features(
    root: Path,
    keys: Sequence[str],
    *,
    paths: Paths,
    backbone: str = "efficientnet-lite0",
    views: int = 1,
    cache_name: Path | None = None,
    extractor: Any = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    prepare: str = "as-is",
) -> CropFeatures:
    """Features and statistics of the crops ``root / key``, from the cache where it holds them.

    ``views`` > 1 adds ``views - 1`` augmented versions of every crop. ``cache_name`` names the
    cache (the dataset's JSON path; default ``root``). ``prepare``: "as-is" reads every crop as
    it is; "app" prepares it as the app prepares a person's photo (``app_prepared``; the framed
    twins are kept under the features folder). Raises FeatureCacheError when a crop cannot be
    read, and Cancelled when cancelled before every crop has features.
    """
    from stylist.vision.backbones import get_backbone
    from stylist.vision.preprocess import load_image

    ground = _ground(prepare)
    recipe = _recipe(prepare)
    spec = extractor.spec if extractor is not None else get_backbone(backbone, paths)
    keys = list(keys)
    file = cache_file(paths, cache_name or root, spec.id, spec.sha256, prepare)
    twins = paths.features / f"{prepare}-photos"
    hashes = [content_hash(root / k) for k in keys]
    cached = _read_cache(file, spec.sha256, recipe)
    rows: dict[tuple[str, str], int] = {}
    stored = views
    # A cache with more views serves fewer; one with fewer is recomputed at the larger count.
    if cached is not None and cached["features"].shape[0] >= views:
        stored = int(cached["features"].shape[0])
        pairs = zip(cached["keys"], cached["hashes"], strict=True)
        rows = {(str(k), str(h)): i for i, (k, h) in enumerate(pairs)}
    todo = [i for i, kh in enumerate(zip(keys, hashes, strict=True)) if kh not in rows]

    n, dim = len(keys), spec.feature_dim
    feats = np.zeros((stored, n, dim), dtype=np.float32)  # (V, N, D)
    size = np.zeros((n, 3), dtype=np.float32)
    colour = np.zeros((stored, n, 32), dtype=np.float32)
    for i, kh in enumerate(zip(keys, hashes, strict=True)):
        if kh in rows:
            j = rows[kh]
            feats[:, i] = cached["features"][:, j]
            size[i] = cached["size"][j]
            colour[:, i] = cached["colour"][:, j]
    if todo:
        if extractor is None:
            from stylist.vision.extractor import Extractor

            extractor = Extractor(spec, device="auto", variant="fp32", paths=paths)
        chunk = 32
        for start in range(0, len(todo), chunk):
            check_cancel(cancel, f"{root}: feature extraction")
            batch = todo[start : start + chunk]
            images = []
            for i in batch:
                try:
                    if prepare == "app":
                        images.append(app_prepared(root / keys[i], twins, spec.preprocess)[0])
                    else:
                        images.append(load_image(root / keys[i], spec.preprocess))
                except StylistError as err:
                    raise FeatureCacheError(f"{root / keys[i]}: {err}") from None
            for i, img in zip(batch, images, strict=True):
                size[i] = size_statistics(img)
            for v in range(stored):
                shown = (
                    images
                    if v == 0
                    else [
                        augment(img, _view_rng(hashes[i], v), ground)
                        for i, img in zip(batch, images, strict=True)
                    ]
                )
                for i, img in zip(batch, shown, strict=True):
                    colour[v, i] = colour_statistics(img)
                feats[v, batch] = extractor.run_images(shown).features  # (len(batch), D)
            if progress is not None:
                progress(min(start + chunk, len(todo)), len(todo), keys[batch[-1]])
    out = CropFeatures(keys, hashes, feats, size, colour, spec.id, spec.sha256)
    if todo or cached is None:
        _write_cache(file, _merged(out, cached), recipe)
    if stored > views:
        out.features = feats[:views]
        out.colour = colour[:views]
    return out


def _merged(new: CropFeatures, cached: dict[str, Any] | None) -> CropFeatures:
    """``new`` plus the cached rows of other crops (a cache serves several subsets of crops)."""
    if cached is None or cached["features"].shape[0] != new.features.shape[0]:
        return new
    fresh = set(zip(new.keys, new.hashes, strict=True))
    pairs = zip(cached["keys"], cached["hashes"], strict=True)
    keep = [j for j, (k, h) in enumerate(pairs) if (str(k), str(h)) not in fresh]
    if not keep:
        return new
    return CropFeatures(
        [str(cached["keys"][j]) for j in keep] + new.keys,
        [str(cached["hashes"][j]) for j in keep] + new.hashes,
        np.concatenate([cached["features"][:, keep], new.features], axis=1),
        np.concatenate([cached["size"][keep], new.size]),
        np.concatenate([cached["colour"][:, keep], new.colour], axis=1),
        new.backbone_id,
        new.backbone_sha256,
    )
