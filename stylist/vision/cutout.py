"""Garments cut out of their background: a mask per photo, and the garment over a light ground.

People photograph a shirt on a bed, jeans on a carpet, shoes on a tiled floor; the models learned
from product photos on plain light backgrounds. ``garment_mask`` finds the garment with OpenCV's
GrabCut, seeded by the border-background model of ``vision.colours``: border pixels in one of
the background's colours are sure background, pixels like the background and connected to the
border probably background, everything else probably garment. GrabCut runs on a copy reduced to
``WORK_SIDE`` px (fast enough for an import), and the mask is scaled back to the photo's size.

A mask that fails its own sanity checks (too little garment left, or garment touching every
border: nothing was cut away) is rejected, and the photo is used as it is; a cut that loses a
sleeve is worse than none. ``framed`` puts the garment over the neutral light background the
models see (and exports show), in a square around it as a product photo frames it: filling it,
except a pair (two shoes side by side, photographed from above), which product photos show small
with room around it; filled to the edges, a pair of dark shoes looks like a sweater.

``MASK_VERSION`` names this recipe: features computed on a cut-out are cached under it, so a
better recipe makes them again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MASK_VERSION = 3
# Long side GrabCut works at: the garment's outline, not its stitches, decides the mask.
WORK_SIDE = 144
ITERATIONS = 3
# The neutral light ground of product photos (a little warm, like a studio sweep).
LIGHT_GROUND = (243, 242, 240)
# The garment's frame on the light ground: this share of the garment's size around it, squared
# (product photos show the garment filling the picture, whatever the phone photo's framing).
MARGIN = 0.08
# A pair fills this share of its square (product photos show shoes at about a third to a half
# of the frame's width).
PAIR_FILL = 0.5
# A pair: two parts side by side of comparable size, or one part about as tall as wide (a pair
# from above, not trousers) split down the middle by a gap open at both ends (shoes touching;
# shorts are open at the hem only): the middle column holds at most PAIR_SPLIT of the fullest
# column on either side, and the gap reaches in from each end at least PAIR_GAP_END of the
# height.
PAIR_SPLIT = 0.7
PAIR_GAP_END = 0.15
# Sanity checks: a mask with less garment than this share of the photo cut the garment away.
MIN_AREA = 0.05
# A mask that covers this share of every border strip cut nothing away.
BORDER_FULL = 0.6
# A cut with more of its pixels in the background's colours than this took floor for garment.
LIKE_LIMIT = 0.5


@dataclass(frozen=True)
class Cutout:
    """A garment mask: (H, W) uint8, 255 garment and 0 background, at the photo's size.

    ``rejected`` says why the mask failed its sanity checks ("" when it passed); a rejected
    mask is kept for the person to look at and correct, but the photo is used as it is.
    """

    mask: np.ndarray
    rejected: str = ""

    @property
    def accepted(self) -> bool:
        return not self.rejected

    @property
    def area(self) -> float:
        return float((self.mask > 127).mean())


def garment_mask(rgb: np.ndarray) -> Cutout:
    """The garment's mask in an (H, W, 3) uint8 RGB photo of one garment."""
    import cv2

    from stylist.vision.colours import srgb_to_lab

    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 8:
        raise ValueError(f"expected an (H, W, 3) photo of at least 8x8 pixels, got {rgb.shape}")
    height, width = rgb.shape[:2]
    scale = WORK_SIDE / max(height, width)
    if scale < 1:
        small = cv2.resize(
            rgb, (max(8, round(width * scale)), max(8, round(height * scale))), cv2.INTER_AREA
        )
    else:
        small = rgb
    h, w = small.shape[:2]
    like = _background_like(srgb_to_lab(small))  # (h, w) bool
    background = _connected_to_border(like)

    seed = np.full((h, w), cv2.GC_PR_FGD, np.uint8)
    seed[background] = cv2.GC_PR_BGD
    # The border is the background's own sample: sure background wherever it has the
    # background's colour; a garment crossing the edge stays free to be garment.
    band = max(2, round(0.02 * max(h, w)))
    edge = np.zeros((h, w), bool)
    edge[:band], edge[-band:], edge[:, :band], edge[:, -band:] = True, True, True, True
    seed[edge & like] = cv2.GC_BGD
    if not (seed == cv2.GC_BGD).any() and not (seed == cv2.GC_PR_BGD).any():
        seed[edge] = cv2.GC_PR_BGD  # no background colour at all: let GrabCut find one
    if not np.isin(seed, (cv2.GC_FGD, cv2.GC_PR_FGD)).any():
        # Everything looks like the background (a white shirt on a white sheet): the middle
        # of the photo is the garment's most likely place.
        seed[h // 4 : h - h // 4, w // 4 : w - w // 4] = cv2.GC_PR_FGD

    bgd = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
    garment = None
    # A garment that crosses the edge widely can itself pass for a background colour; then the
    # seed leaves hardly any garment and GrabCut starts from a plain frame instead.
    if (seed == cv2.GC_PR_FGD).mean() >= MIN_AREA:
        garment = _grabcut(bgd, seed)
    # A cut made mostly of the background's colours took the floor for the garment (trousers
    # whose colour also runs along the border): a plain frame may do better.
    if garment is None or garment.mean() < MIN_AREA or _like_share(like, garment) > LIKE_LIMIT:
        inset = max(2, round(0.03 * max(h, w)))
        frame = np.full((h, w), cv2.GC_BGD, np.uint8)
        frame[inset : h - inset, inset : w - inset] = cv2.GC_PR_FGD
        framed = _grabcut(bgd, frame)
        if (
            garment is None
            or garment.mean() < MIN_AREA
            or (framed is not None and _like_share(like, framed) <= LIKE_LIMIT)
        ):
            garment = framed
    if garment is None:
        # GrabCut needs both kinds of pixels to fit its colour models; without them there is
        # no cut to make.
        return Cutout(np.full((height, width), 255, np.uint8), rejected="no background found")
    garment = _tidy(garment)
    mask = cv2.resize(garment * 255, (width, height), interpolation=cv2.INTER_LINEAR)
    mask = np.where(mask > 127, 255, 0).astype(np.uint8)
    return Cutout(mask, rejected=sanity(mask))


def _like_share(like: np.ndarray, garment: np.ndarray | None) -> float:
    """The share of a garment mask's pixels in one of the background's colours."""
    if garment is None or not garment.any():
        return 1.0
    return float(like[garment > 0].mean())


def _grabcut(bgr: np.ndarray, seed: np.ndarray) -> np.ndarray | None:
    """GrabCut from a seed of GC_* labels -> (h, w) 0/1 garment, None when it cannot run."""
    import cv2

    seed = seed.copy()
    bgd_model = np.zeros((1, 65), np.float64)
    fgd_model = np.zeros((1, 65), np.float64)
    # GrabCut starts its colour models from k-means seeded by OpenCV's per-thread generator:
    # seeded here, one photo always gets one mask, whatever was cut before it on the thread
    # (so a re-cut is the same cut, and the general model learns from the app's very cut-outs).
    cv2.setRNGSeed(0)
    try:
        cv2.grabCut(bgr, seed, None, bgd_model, fgd_model, ITERATIONS, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return None
    return np.isin(seed, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)


def sanity(mask: np.ndarray) -> str:
    """Why a garment mask cannot be used ("" when it can): too small, or nothing cut away."""
    garment = mask > 127
    if garment.mean() < MIN_AREA:
        return "too small"
    height, width = garment.shape
    strip = max(1, round(0.02 * max(height, width)))
    borders = (
        garment[:strip].mean(),
        garment[-strip:].mean(),
        garment[:, :strip].mean(),
        garment[:, -strip:].mean(),
    )
    if min(borders) >= BORDER_FULL:
        return "touching every border"
    return ""


def _background_like(lab: np.ndarray) -> np.ndarray:
    """(h, w) bool: pixels in one of the background's colours (``colours.background_modes``).

    A garment crossing the edge widely (a skirt photographed close up) makes a border mode of
    its own; unlike a floor, it covers the middle of the photo clearly more than its border,
    and is no background."""
    from stylist.vision.colours import background_modes

    h, w = lab.shape[:2]
    band = max(2, round(0.06 * min(h, w)))
    ring = np.zeros((h, w), bool)
    ring[:band], ring[-band:], ring[:, :band], ring[:, -band:] = True, True, True, True
    middle = np.zeros((h, w), bool)
    middle[h // 4 : h - h // 4, w // 4 : w - w // 4] = True
    like = np.zeros((h, w), bool)
    for centre, radius in background_modes(lab):
        near = ((lab - centre) ** 2).sum(axis=2) < radius**2
        if near[middle].mean() > max(0.25, 1.5 * near[ring].mean()):
            continue
        like |= near
    return like


def _connected_to_border(candidate: np.ndarray) -> np.ndarray:
    """The part of a bool (H, W) mask reachable from the border through the mask shrunk by one
    pixel (a thin stripe of the floor's colour does not carry the fill into the garment)."""
    import cv2

    core = cv2.erode(candidate.astype(np.uint8), np.ones((3, 3), np.uint8), borderValue=1)
    count, labels = cv2.connectedComponents(core, connectivity=4)
    edge_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    edge_labels = edge_labels[edge_labels > 0]
    reached = np.isin(labels, edge_labels).astype(np.uint8)
    grown = cv2.dilate(reached, np.ones((3, 3), np.uint8))
    return (grown > 0) & candidate


def _tidy(garment: np.ndarray) -> np.ndarray:
    """(h, w) 0/1 mask -> the garment's large parts with their holes filled (a logo the
    colour models took for floor is still garment)."""
    import cv2

    count, labels, stats, _ = cv2.connectedComponentsWithStats(garment, connectivity=8)
    if count <= 1:
        return garment
    areas = stats[1:, cv2.CC_STAT_AREA]
    # Shoes come in pairs and an outfit photo may hold a belt: keep every part at least a
    # fifth of the largest.
    keep = 1 + np.flatnonzero(areas >= 0.2 * areas.max())
    garment = np.isin(labels, keep).astype(np.uint8)
    # Holes: background parts not connected to the border.
    inverse = (1 - garment).astype(np.uint8)
    count, labels = cv2.connectedComponents(inverse, connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    holes = (labels > 0) & ~np.isin(labels, border)
    garment[holes] = 1
    return garment


def on_light_ground(rgb: np.ndarray, mask: np.ndarray, ground=LIGHT_GROUND) -> np.ndarray:
    """The garment of an (H, W, 3) uint8 photo over a plain light ground, with a soft edge of
    a pixel or two so that the outline does not look cut with scissors. (H, W, 3) uint8."""
    import cv2

    alpha = mask.astype(np.float32) / 255.0
    soft = max(3, (round(0.006 * max(mask.shape)) * 2 + 1))
    alpha = cv2.GaussianBlur(alpha, (soft, soft), 0)[..., None]  # (H, W, 1)
    ground_rgb = np.array(ground, np.float32)
    out = rgb.astype(np.float32) * alpha + ground_rgb * (1.0 - alpha)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def is_pair(mask: np.ndarray) -> bool:
    """Whether an (H, W) mask holds a pair side by side (see ``PAIR_SPLIT``): two shoes
    photographed from above, apart or touching."""
    import cv2

    garment = mask > 127
    height, width = garment.shape
    step = max(1, max(height, width) // 160)  # the outline decides, not the pixels
    small = garment[::step, ::step]
    rows = np.flatnonzero(small.any(axis=1))
    cols = np.flatnonzero(small.any(axis=0))
    if len(rows) == 0:
        return False
    small = small[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = small.shape
    count, _, stats, _ = cv2.connectedComponentsWithStats(small.astype(np.uint8), connectivity=8)
    if count >= 3:
        areas = stats[1:, cv2.CC_STAT_AREA]
        first, second = stats[1 + np.argsort(areas)[::-1][:2]]
        if second[cv2.CC_STAT_AREA] >= 0.4 * first[cv2.CC_STAT_AREA]:
            top = max(first[cv2.CC_STAT_TOP], second[cv2.CC_STAT_TOP])
            bottom = min(
                first[cv2.CC_STAT_TOP] + first[cv2.CC_STAT_HEIGHT],
                second[cv2.CC_STAT_TOP] + second[cv2.CC_STAT_HEIGHT],
            )
            shorter = min(first[cv2.CC_STAT_HEIGHT], second[cv2.CC_STAT_HEIGHT])
            if bottom - top > 0.5 * shorter:  # side by side, not one above the other
                return True
    if w < 8 or h > 1.6 * w or w > 1.6 * h:
        return False
    # Touching: the column through the middle third with the least garment, against the
    # fullest column on either side of it.
    cover = small.mean(axis=0)
    start, stop = int(0.35 * w), max(int(0.35 * w) + 1, int(0.65 * w))
    split = start + int(np.argmin(cover[start:stop]))
    left, right = cover[:split].max(initial=0), cover[split + 1 :].max(initial=0)
    if cover[split] > PAIR_SPLIT * min(left, right):
        return False
    column = np.flatnonzero(small[:, split])
    if len(column) == 0:
        return True
    return column[0] >= PAIR_GAP_END * h and column[-1] < h - 1 - PAIR_GAP_END * h


def garment_frame(mask: np.ndarray, margin: float = MARGIN) -> tuple[int, int, int]:
    """The square around the garment of an (H, W) mask, with a margin (more for a pair, see
    ``PAIR_FILL``): (top, left, side) in the photo's pixels (it may reach past the photo's
    edges)."""
    rows = np.flatnonzero((mask > 127).any(axis=1))
    cols = np.flatnonzero((mask > 127).any(axis=0))
    if len(rows) == 0:
        height, width = mask.shape
        side = max(height, width)
        return (height - side) // 2, (width - side) // 2, side
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    size = max(bottom - top, right - left)
    side = int(round(size * (1 + 2 * margin)))
    if is_pair(mask):
        side = max(side, int(round(size / PAIR_FILL)))
    return (top + bottom - side) // 2, (left + right - side) // 2, side


def framed(
    rgb: np.ndarray, mask: np.ndarray, ground=LIGHT_GROUND, margin: float = MARGIN
) -> np.ndarray:
    """The garment over the light ground in a square around it, as a product photo frames it.
    (S, S, 3) uint8, S the square's side in the photo's pixels."""
    top, left, side = garment_frame(mask, margin)
    composed = on_light_ground(rgb, mask, ground)
    out = np.empty((side, side, 3), np.uint8)
    out[:] = np.array(ground, np.uint8)
    height, width = mask.shape
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + side, height), min(left + side, width)
    out[y0 - top : y1 - top, x0 - left : x1 - left] = composed[y0:y1, x0:x1]
    return out


def cut_out(rgb: np.ndarray) -> tuple[np.ndarray, Cutout]:
    """The photo as the models should see it, and the cut-out it came from: the garment framed
    on the light ground when the mask passed its checks, else the photo as it is."""
    cutout = garment_mask(rgb)
    if not cutout.accepted:
        return rgb, cutout
    return framed(rgb, cutout.mask), cutout
