"""Dominant colours of a garment photo, without the floor, bed or wall it was photographed on.

A photo of one garment is mostly garment in the middle and background at the edges. The
background is estimated from the border pixels (a few colour modes, since floors and bedspreads
are textured), every pixel like it that is connected to the border is masked out, and the
remaining pixels, weighted towards the centre, are clustered with a small k-means in CIE Lab,
where distances follow what people see. Each cluster gets a ``#rrggbb`` value and a plain colour
name (black, navy, red, …) used by filters and explanations.

Everything runs on a photo reduced to at most 64 px (JPEG files are decoded at 1/8 scale
directly), so one photo takes a few milliseconds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stylist.errors import PhotoError

# Long side of the working grid; enough for colours, small enough to be fast.
GRID = 64
MAX_COLOURS = 3
# A cluster smaller than this share of the garment is detail (a logo, a shadow), not a colour.
MIN_SHARE = 0.08


@dataclass(frozen=True)
class Colour:
    """One dominant colour: its value, a plain name and its share of the garment (0..1)."""

    hex: str
    name: str
    share: float


# --- colour space --------------------------------------------------------------------------

_RGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ],
    dtype=np.float32,
)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ.astype(np.float64)).astype(np.float32)
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883], dtype=np.float32)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB values 0..255, shape (..., 3) -> CIE Lab (D65), shape (..., 3) float32."""
    c = np.asarray(rgb, dtype=np.float32) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE_D65
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    lab = np.empty_like(f)
    lab[..., 0] = 116 * f[..., 1] - 16
    lab[..., 1] = 500 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200 * (f[..., 1] - f[..., 2])
    return lab


def lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """CIE Lab (D65), shape (..., 3) -> sRGB 0..255 as uint8 (clipped to the gamut)."""
    lab = np.asarray(lab, dtype=np.float32)
    fy = (lab[..., 0] + 16) / 116
    fx = fy + lab[..., 1] / 500
    fz = fy - lab[..., 2] / 200
    f = np.stack([fx, fy, fz], axis=-1)
    xyz = np.where(f**3 > 216 / 24389, f**3, (116 * f - 16) / (24389 / 27)) * _WHITE_D65
    linear = np.clip(xyz @ _XYZ_TO_RGB.T, 0.0, 1.0)
    c = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.clip(np.round(c * 255), 0, 255).astype(np.uint8)


def to_hex(rgb: np.ndarray | tuple[int, int, int]) -> str:
    r, g, b = (int(v) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def hex_to_rgb(value: str) -> tuple[int, int, int]:
    text = value.lstrip("#")
    return (int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16))


# --- names ---------------------------------------------------------------------------------

# Reference colours per name, the way clothes of that colour photograph indoors.
_NAMED = {
    "red": ["#c0392b", "#e02020", "#b22222", "#d04040"],
    "burgundy": ["#800020", "#6d1a2a", "#7b2a3a", "#5a1a28"],
    "pink": ["#f4a6c0", "#e75480", "#ffc0cb", "#d87093", "#e8a0a8"],
    "orange": ["#f08030", "#ff8c00", "#e06020", "#d8702a"],
    "yellow": ["#f5d000", "#ffe135", "#f0e060", "#e0c020"],
    "beige": ["#d8c8a8", "#e8dcc0", "#c8b48c", "#d2bfa0"],
    "brown": ["#6b4423", "#8b5a2b", "#4a3020", "#a0703c"],
    "olive": ["#6b6b30", "#556b2f", "#807848", "#4a4a28"],
    "green": ["#2e8b57", "#228b22", "#50c050", "#a0e040", "#1e5a32", "#3c7850"],
    "teal": ["#008080", "#30b0a0", "#40c0c0", "#1a6a6a"],
    "light blue": ["#87ceeb", "#a8c8e8", "#9ab8d8", "#b0d0f0"],
    "blue": ["#1f5fbf", "#4169e1", "#6495ed", "#5b7fa6", "#3050a0", "#2a4a8a"],
    "navy": ["#1b2a4a", "#14213d", "#202a5a", "#283050"],
    "purple": ["#6a3d9a", "#800080", "#9370db", "#5a2a6a", "#b090d0", "#3c1e3c", "#4b2346"],
}
_NAME_LIST = [name for name, values in _NAMED.items() for _ in values]
_NAME_LAB = srgb_to_lab(np.array([hex_to_rgb(v) for vs in _NAMED.values() for v in vs]))

# Names a filter can offer, in display order.
COLOUR_NAMES = ("black", "white", "grey", *_NAMED.keys())


def colour_name(rgb: tuple[int, int, int] | str) -> str:
    """A plain name for a colour ("navy", "beige", …) from an RGB triple or "#rrggbb"."""
    if isinstance(rgb, str):
        rgb = hex_to_rgb(rgb)
    return _name_of_lab(srgb_to_lab(np.array(rgb, dtype=np.float32)))


def _name_of_lab(lab: np.ndarray) -> str:
    lightness, a, b = (float(v) for v in lab)
    chroma = float(np.hypot(a, b))
    # Near-neutral colours are named by lightness alone; dark colours need less chroma to read
    # as a colour at all, so the limit grows a little with lightness.
    if chroma < 6 + 0.06 * lightness:
        # Phone photos render black cloth as dark grey and white cloth in shade as light grey.
        if lightness < 32:
            return "black"
        if lightness > 76:
            return "white"
        return "grey"
    if lightness < 14 and chroma < 14:
        return "black"
    # Hue decides a name more than lightness or colourfulness do (a dull dark red is still
    # burgundy, not brown): split the difference into lightness, chroma and hue (as CIE94
    # does) and weight the hue part most.
    d_lightness = _NAME_LAB[:, 0] - lightness
    d_chroma = np.hypot(_NAME_LAB[:, 1], _NAME_LAB[:, 2]) - chroma
    d_ab2 = (_NAME_LAB[:, 1] - a) ** 2 + (_NAME_LAB[:, 2] - b) ** 2
    d_hue2 = np.maximum(d_ab2 - d_chroma**2, 0.0)
    distance = (0.5 * d_lightness) ** 2 + (0.6 * d_chroma) ** 2 + 1.5 * d_hue2
    return _NAME_LIST[int(np.argmin(distance))]


# --- the photo -----------------------------------------------------------------------------


def _load_grid(path: Path) -> np.ndarray:
    """The photo as an (H, W, 3) uint8 array with long side <= GRID."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            # JPEG decodes straight to 1/2, 1/4 or 1/8 scale: most of the time saving.
            im.draft("RGB", (GRID * 2, GRID * 2))
            im = ImageOps.exif_transpose(im)
            im = im.convert("RGB")
            im.thumbnail((GRID, GRID), Image.Resampling.BOX)
            return np.asarray(im)
    except FileNotFoundError:
        raise PhotoError(f"{path}: no such photo") from None
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise PhotoError(f"{path}: cannot read the photo ({exc})") from None


def item_colours(path: str | os.PathLike[str], max_colours: int = MAX_COLOURS) -> list[Colour]:
    """Up to ``max_colours`` dominant colours of the garment in a photo, most dominant first."""
    return image_colours(_load_grid(Path(path)), max_colours)


def image_colours(image: object, max_colours: int = MAX_COLOURS) -> list[Colour]:
    """Same as ``item_colours`` for a PIL image or an (H, W, 3) uint8 array already in memory."""
    if not isinstance(image, np.ndarray):
        from PIL import Image

        assert isinstance(image, Image.Image)
        im = image.convert("RGB")
        im.thumbnail((GRID, GRID), Image.Resampling.BOX)
        image = np.asarray(im)
    rgb = np.asarray(image, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 4:
        raise ValueError(f"expected an (H, W, 3) image of at least 4x4 pixels, got {rgb.shape}")
    lab = srgb_to_lab(rgb)  # (H, W, 3)
    centre = _centre_weight(*rgb.shape[:2])
    weight = centre * _garment_mask(lab, strict=False)
    if weight.sum() < 0.08 * centre.sum():
        # The garment matched a background colour (a black shirt on a rug with black spots):
        # keep only pixels almost identical to the border as background.
        weight = centre * _garment_mask(lab, strict=True)
    if weight.sum() < 0.08 * centre.sum():
        # Hardly anything differs from the border: the garment fills the frame or has the
        # background's colour. Either way the centre of the photo is the garment.
        weight = centre**2
    return _dominant(lab.reshape(-1, 3), weight.reshape(-1), max_colours)


def _centre_weight(height: int, width: int) -> np.ndarray:
    """(H, W) weights: garments sit in the middle of their photo, clutter at the edges."""
    y = (np.arange(height, dtype=np.float32) + 0.5) / height - 0.5
    x = (np.arange(width, dtype=np.float32) + 0.5) / width - 0.5
    return np.exp(-(y[:, None] ** 2 + x[None, :] ** 2) / (2 * 0.3**2))


def _garment_mask(lab: np.ndarray, strict: bool) -> np.ndarray:
    """(H, W) float mask, 0 where a pixel belongs to the background seen at the border.

    ``strict`` takes only pixels very close to a border colour as background.
    """
    return (~_connected_to_border(background_like(lab, strict))).astype(np.float32)


def background_like(lab: np.ndarray, strict: bool = False) -> np.ndarray:
    """(H, W) bool: pixels of a Lab image (H, W, 3) close to one of the background's colours.

    The background's colours are the modes of the border pixels that cover a good part of the
    border (the border-background model). ``strict`` takes only pixels very close to a mode.
    """
    like_background = np.zeros(lab.shape[:2], dtype=bool)
    for centre, radius in background_modes(lab, strict):
        like_background |= ((lab - centre) ** 2).sum(axis=2) < radius**2
    return like_background


def background_modes(lab: np.ndarray, strict: bool = False) -> list[tuple[np.ndarray, float]]:
    """The background's colours seen at the border of a Lab image (H, W, 3): (Lab centre,
    radius) of each border colour mode that covers a good part of the border."""
    height, width, _ = lab.shape
    band = max(2, round(0.06 * min(height, width)))
    border = np.concatenate(
        [
            lab[:band].reshape(-1, 3),
            lab[-band:].reshape(-1, 3),
            lab[band:-band, :band].reshape(-1, 3),
            lab[band:-band, -band:].reshape(-1, 3),
        ]
    )
    centres, labels = _kmeans(border, np.ones(len(border), np.float32), k=3, iterations=6)
    # Background modes are the border colours that occupy a good part of the border; a garment
    # crossing the edge occupies a little of it and must not become background.
    counts = np.bincount(labels, minlength=len(centres))
    modes = []
    for j in np.flatnonzero(counts >= 0.15 * len(border)):
        members = border[labels == j]
        spread = float(np.sqrt(((members - centres[j]) ** 2).sum(axis=1).mean()))
        # Textured floors need a looser match than a plain sheet, within limits.
        radius = 8.0 if strict else float(np.clip(1.5 * spread + 6.0, 10.0, 22.0))
        modes.append((centres[j], radius))
    return modes


def _connected_to_border(candidate: np.ndarray) -> np.ndarray:
    """The part of a boolean (H, W) mask reachable from the image border through the mask.

    The fill spreads through the mask shrunk by one pixel, then grows back by one: a thin
    bridge (a stripe of the floor's colour running to the garment's edge) does not carry it
    into the garment.
    """
    core = candidate.copy()
    core[1:] &= candidate[:-1]
    core[:-1] &= candidate[1:]
    core[:, 1:] &= candidate[:, :-1]
    core[:, :-1] &= candidate[:, 1:]
    reached = np.zeros_like(core)
    reached[0], reached[-1], reached[:, 0], reached[:, -1] = (
        candidate[0],
        candidate[-1],
        candidate[:, 0],
        candidate[:, -1],
    )
    reached &= core | _edge_mask(core.shape)
    while True:
        grown = _grow(reached) & core
        grown |= reached
        if np.array_equal(grown, reached):
            break
        reached = grown
    return _grow(reached) & candidate


def _edge_mask(shape: tuple[int, ...]) -> np.ndarray:
    edge = np.zeros(shape[:2], dtype=bool)
    edge[0], edge[-1], edge[:, 0], edge[:, -1] = True, True, True, True
    return edge


def _grow(mask: np.ndarray) -> np.ndarray:
    """The mask grown by one pixel in the four directions."""
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    return grown


def _kmeans(
    points: np.ndarray, weights: np.ndarray, k: int, iterations: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted k-means with a deterministic farthest-point start. (N, 3) -> (k', 3), (N,)."""
    k = min(k, len(points))
    # Start from the heaviest point, then repeatedly the point farthest from all chosen ones
    # (weighted, so that a few stray pixels do not become a centre).
    centres = [points[int(np.argmax(weights))]]
    nearest = ((points - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        score = nearest * weights
        if score.max() <= 1e-6:
            break
        centres.append(points[int(np.argmax(score))])
        nearest = np.minimum(nearest, ((points - centres[-1]) ** 2).sum(axis=1))
    centre_array = np.array(centres, dtype=np.float32)  # (k', 3)
    k = len(centre_array)
    squared = (points**2).sum(axis=1)  # (N,)
    labels = np.zeros(len(points), dtype=np.int64)
    for _ in range(iterations):
        # |p - c|^2 = |p|^2 - 2 p.c + |c|^2, one small matrix product instead of (N, k, 3).
        distance = squared[:, None] - 2 * points @ centre_array.T + (centre_array**2).sum(axis=1)
        labels = distance.argmin(axis=1)  # (N,)
        mass = np.bincount(labels, weights=weights, minlength=k)
        sums = np.stack(
            [np.bincount(labels, weights=weights * points[:, c], minlength=k) for c in range(3)],
            axis=1,
        )  # (k', 3)
        filled = mass > 0
        centre_array[filled] = sums[filled] / mass[filled, None]
    return centre_array, labels


def _dominant(lab: np.ndarray, weight: np.ndarray, max_colours: int) -> list[Colour]:
    keep = weight > 1e-3
    points, weights = lab[keep], weight[keep]
    centres, labels = _kmeans(points, weights, k=5)
    mass = np.bincount(labels, weights=weights, minlength=len(centres))
    clusters = [[centres[j], float(mass[j]), _name_of_lab(centres[j])] for j in range(len(centres))]
    clusters = [c for c in clusters if c[1] > 0]
    # Merge clusters a person would call one colour: the same name, or hardly different
    # (a garment's lit and shaded sides).
    merged: list[list] = []
    for centre, m, name in sorted(clusters, key=lambda c: -c[1]):
        for target in merged:
            if target[2] == name or float(np.sqrt(((target[0] - centre) ** 2).sum())) < 10:
                total = target[1] + m
                target[0] = (target[0] * target[1] + centre * m) / total
                target[1] = total
                break
        else:
            merged.append([centre, m, name])
    total = sum(c[1] for c in merged)
    result = []
    for centre, m, _ in sorted(merged, key=lambda c: -c[1])[:max_colours]:
        share = m / total
        if result and share < MIN_SHARE:
            break
        rgb = lab_to_srgb(centre)
        result.append(Colour(hex=to_hex(rgb), name=_name_of_lab(centre), share=round(share, 3)))
    return result
