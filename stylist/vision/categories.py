"""Sorting garments into top, bottom, shoes, one-piece and other from their backbone features.

Two ways to guess, chosen by ``CategoryClassifier.load`` for a backbone:

* a trained **category head** shipped in ``models/`` (``category-head-<backbone>.npz`` with plain
  float32 arrays and ``.json`` with its config, thresholds and held-out metrics), run here in numpy:
  standardise, optional hidden ReLU layer, linear layer, softmax with a calibrated temperature;
* for a backbone without a head, the backbone's own **ImageNet classes** mapped to categories
  (jersey and sweatshirt are tops, jean and miniskirt bottoms, sandal and Loafer shoes …); the
  confidence is the softmax mass of the winning category's classes.

A guess below the classifier's threshold (a head may set one per guessed category: ``thresholds``
in its JSON) leaves the item unsorted; the guess and its confidence are still stored so the
person can confirm it with one click. What the person says always wins:
``categorise_library`` never touches an item whose category came from them, and their
corrections adapt the classifier to their own photos (``CategoryClassifier.adapt``): once the
person has moved at least ``MIN_CORRECTIONS`` items into a category the classifier did not guess,
a photo close to the centroid of those items (and closer to them than to the items the person
confirmed) is pulled towards that category.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stylist.domain import Category, CategorySource
from stylist.errors import StylistError
from stylist.files import read_json, read_npz
from stylist.tasks import Cancel, Progress, is_cancelled

if TYPE_CHECKING:
    from stylist.library import Library
    from stylist.paths import Paths
    from stylist.vision.backbones import BackboneSpec


# The categories a guess can name, in the order of the head's outputs.
CATEGORIES: tuple[Category, ...] = (
    Category.TOP,
    Category.BOTTOM,
    Category.SHOES,
    Category.ONE_PIECE,
    Category.OTHER,
)
HEAD_FORMAT = "stylist-category-head/1"
# Corrections a category needs before the person's own examples count.
MIN_CORRECTIONS = 3
# Confidence a mapped ImageNet guess needs to sort an item by itself. Measured with the compact
# backbone's own classifier on the top/bottom/shoes wardrobe photos: at 0.5, 95% of the photos it
# sorts are right and 44% stay unsorted (at 0.3: 90% right, 21% unsorted). The trained heads do
# much better; this is the fallback, so it leans towards asking.
IMAGENET_THRESHOLD = 0.5

# ImageNet-1k class indices (torchvision order) that name a garment of each category.
IMAGENET_CLASSES: dict[Category, dict[int, str]] = {
    Category.TOP: {
        610: "jersey, T-shirt",
        841: "sweatshirt",
        474: "cardigan",
        834: "suit",
        869: "trench coat",
        617: "lab coat",
        735: "poncho",
        568: "fur coat",
        652: "military uniform",
        887: "vestment",
        465: "bulletproof vest",
        697: "pajama",
        501: "cloak",
        459: "brassiere",
    },
    Category.BOTTOM: {
        608: "jean",
        655: "miniskirt",
        689: "overskirt",
        601: "hoopskirt",
        775: "sarong",
        842: "swimming trunks",
    },
    Category.SHOES: {
        770: "running shoe",
        774: "sandal",
        630: "Loafer",
        514: "cowboy boot",
        502: "clog",
        788: "shoe shop",
    },
    Category.ONE_PIECE: {
        578: "gown",
        399: "abaya",
        400: "academic gown",
        614: "kimono",
        638: "maillot",
        639: "maillot, tank suit",
        445: "bikini",
    },
    Category.OTHER: {
        515: "cowboy hat",
        808: "sombrero",
        452: "bonnet",
        793: "shower cap",
        433: "bathing cap",
        796: "ski mask",
        667: "mortarboard",
        414: "backpack",
        748: "purse",
        636: "mailbag",
        893: "wallet",
        728: "plastic bag",
        457: "bow tie",
        906: "Windsor tie",
        451: "bolo tie",
        658: "mitten",
        806: "sock",
        552: "feather boa",
        824: "stole",
        411: "apron",
        837: "sunglasses",
    },
}


class CategoryHeadError(StylistError):
    """A category head file is missing, corrupt or made for another backbone."""


@dataclass(frozen=True)
class CategoryGuess:
    """What the classifier thinks one item is."""

    category: Category
    confidence: float  # probability of ``category``, 0..1
    probabilities: dict[Category, float]
    sure: bool  # confidence >= the classifier's threshold for it: sort without asking


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of (N, C) scores."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


# ----------------------------------------------------------------------------- the trained head


@dataclass
class CategoryHead:
    """A small trained network over backbone features, as plain arrays.

    logits = fc2(relu(fc1((g(f) - mean) / std)))  (or fc2 alone when there is no hidden layer),
    g(f) = sign(f) |f|^input_power (input_power from the config, 1 = none);
    probabilities = softmax(logits / temperature), classes in ``CATEGORIES`` order.

    A head's input is one backbone feature vector unless its config lists ``inputs``: blocks
    side by side, each {"name", "dim"}: "photo" (features of the photo as photographed),
    "cutout" (features of the garment cut out, as the models see it) and "shape" (the cut-out
    mask's ``garment_shape``, which the input power leaves alone). ``head_inputs`` puts an
    item's blocks together.
    """

    arrays: dict[str, np.ndarray]
    config: dict[str, Any]

    @classmethod
    def load(cls, json_path: Path) -> CategoryHead:
        json_path = Path(json_path)
        npz_path = json_path.with_suffix(".npz")
        config = read_json(json_path, fmt=HEAD_FORMAT, error=CategoryHeadError)
        stored = read_npz(npz_path, error=CategoryHeadError)
        arrays = {k: np.asarray(v, dtype=np.float32) for k, v in stored.items()}
        head = cls(arrays, config)
        head._check(npz_path)
        return head

    def _check(self, where: Path) -> None:
        dim = int(self.config.get("feature_dim", -1))
        need = ["input.mean", "input.std", "fc2.weight", "fc2.bias"]
        if self.hidden:
            need += ["fc1.weight", "fc1.bias"]
        missing = [k for k in need if k not in self.arrays]
        if missing:
            raise CategoryHeadError(f"{where}: arrays missing: {', '.join(missing)}")
        inner = self.hidden or dim
        shapes = {
            "input.mean": (dim,),
            "input.std": (dim,),
            "fc2.weight": (len(CATEGORIES), inner),
            "fc2.bias": (len(CATEGORIES),),
        }
        if self.hidden:
            shapes.update({"fc1.weight": (self.hidden, dim), "fc1.bias": (self.hidden,)})
        for key, shape in shapes.items():
            if self.arrays[key].shape != shape:
                raise CategoryHeadError(
                    f"{where}: {key} has shape {self.arrays[key].shape}, expected {shape}"
                )
        blocks = self.inputs
        if blocks is not None:
            known = {"photo", "cutout", "shape"}
            names = [b[0] for b in blocks]
            if not set(names) <= known or len(set(names)) != len(names):
                raise CategoryHeadError(f"{where}: inputs must be distinct blocks of {known}")
            if sum(d for _, d in blocks) != dim:
                raise CategoryHeadError(f"{where}: inputs do not add up to feature_dim {dim}")
            if dict(blocks).get("shape", len(SHAPE_FEATURES)) != len(SHAPE_FEATURES):
                raise CategoryHeadError(f"{where}: a shape block of another size")
        if not all(np.isfinite(a).all() for a in self.arrays.values()):
            raise CategoryHeadError(f"{where}: the weights hold NaN or infinite values")

    @property
    def hidden(self) -> int:
        return int(self.config.get("hidden", 0))

    @property
    def feature_dim(self) -> int:
        return int(self.config["feature_dim"])

    @property
    def inputs(self) -> list[tuple[str, int]] | None:
        """The input blocks (name, dim) in order, or None for one backbone feature vector."""
        blocks = self.config.get("inputs")
        if blocks is None:
            return None
        try:
            return [(str(b["name"]), int(b["dim"])) for b in blocks]
        except (TypeError, KeyError, ValueError):
            raise CategoryHeadError("inputs must be a list of {name, dim}") from None

    @property
    def input_power(self) -> float:
        return float(self.config.get("input_power", 1.0))

    @property
    def temperature(self) -> float:
        return float(self.config.get("temperature", 1.0))

    def logits(self, features: np.ndarray) -> np.ndarray:
        """(N, D) features -> (N, 5) scores before the temperature."""
        x = np.asarray(features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.feature_dim:
            raise ValueError(f"expected features of shape (N, {self.feature_dim}), got {x.shape}")
        a = self.arrays
        x = self.standardise(x)
        if self.hidden:
            x = np.maximum(x @ a["fc1.weight"].T + a["fc1.bias"], 0.0)  # (N, hidden)
        return x @ a["fc2.weight"].T + a["fc2.bias"]  # (N, 5)

    def standardise(self, features: np.ndarray) -> np.ndarray:
        """(N, D) features -> (N, D) the first layer's input."""
        x = np.asarray(features, dtype=np.float32)
        if self.input_power != 1.0:
            # Signed power (0.5: square root) evens out the few very large feature values; the
            # shape measures are not backbone features and stay as they are.
            powered = np.sign(x) * np.abs(x) ** self.input_power
            x = x.copy()  # never the caller's array
            start = 0
            for name, dim in self.inputs or [("features", x.shape[1])]:
                if name != "shape":
                    x[:, start : start + dim] = powered[:, start : start + dim]
                start += dim
        return (x - self.arrays["input.mean"]) / self.arrays["input.std"]

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        return softmax(self.logits(features), self.temperature)


def head_path(backbone_id: str, folder: Path | None = None) -> Path:
    """Where the head for a backbone lives: ``category-head-<id>.json`` in the models folder."""
    from stylist.paths import models_dir

    return (folder or models_dir()) / f"category-head-{backbone_id}.json"


def logits_key(backbone_id: str) -> str:
    """The backbone id under which a library caches ImageNet logits beside the features
    (``library.put_features(logits_key(id), sha256, logits)``): the mapping needs them."""
    return f"{backbone_id}#logits"


def photo_key(backbone_id: str) -> str:
    """The backbone id under which a library caches features of the photos as photographed
    beside the features of the garments cut out (``CategoryClassifier.reads_cutouts``)."""
    return f"{backbone_id}#photo"


def head_inputs(
    classifier: CategoryClassifier,
    library: Library,
    cutout_features: Mapping[int, np.ndarray],
    photo_features: Mapping[int, np.ndarray] | None = None,
    items: Sequence[Any] | None = None,
) -> dict[int, np.ndarray]:
    """What the classifier reads of each item, keyed by item id, from the library's features of
    the garments as the models see them (``cutout_features``, under the backbone's id) and of
    the photos as photographed (``photo_features``, under ``photo_key``).

    A head with input blocks (``CategoryHead.inputs``) gets them side by side, the shape
    measured on the item's mask; an item lacking one of them (no mask yet) is left out. Any
    other classifier reads one vector per item: the photo's when it learned from photos as
    they are (``reads_cutouts`` false) and the library holds it, else the cut-out's."""
    photo_features = photo_features or {}
    head = classifier.head
    if head is None or head.inputs is None:
        merged = dict(cutout_features)
        if not classifier.reads_cutouts:
            merged.update(photo_features)
        return merged
    from stylist.library.cutouts import read_mask

    out: dict[int, np.ndarray] = {}
    for item in library.items() if items is None else items:
        blocks = []
        for name, _ in head.inputs:
            if name == "shape":
                mask = read_mask(library, item)
                vector = None if mask is None else garment_shape(mask)
            else:
                vector = (photo_features if name == "photo" else cutout_features).get(item.id)
            if vector is None:
                break
            blocks.append(np.asarray(vector, np.float32).ravel())
        else:
            out[item.id] = np.concatenate(blocks)
    return out


def imagenet_probabilities(logits: np.ndarray) -> np.ndarray:
    """(N, 1000) ImageNet logits -> (N, 5) summed softmax mass of each category's classes.

    Rows do not sum to one: the rest of the mass went to classes that are not garments.
    """
    p = softmax(logits)  # (N, 1000)
    out = np.zeros((p.shape[0], len(CATEGORIES)))
    for j, category in enumerate(CATEGORIES):
        out[:, j] = p[:, list(IMAGENET_CLASSES[category])].sum(axis=1)
    return out


# ------------------------------------------------------------------------- the garment's shape

# What ``garment_shape`` measures of a cut-out mask, in order.
SHAPE_FEATURES: tuple[str, ...] = (
    "area",  # garment share of the photo
    "upper_edge",  # the garment's extent in the photo (0 top/left .. 1 bottom/right)
    "lower_edge",
    "left_edge",
    "right_edge",
    "aspect",  # log(height / width) of the garment's box
    "photo_aspect",  # log(height / width) of the photo
    "fill",  # garment share of its box
    "symmetry",  # overlap of the garment with its mirror image (left-right)
    "elongation",  # log of the long axis over the short one (pixel covariance)
    "upright",  # |cos| of the long axis with the vertical
    "width_10",  # garment share of its box's width at 10 %, 30 % ... 90 % of its height
    "width_30",
    "width_50",
    "width_70",
    "width_90",
    "height_10",  # garment share of its box's height at 10 % ... 90 % of its width
    "height_30",
    "height_50",
    "height_70",
    "height_90",
    "pair",  # two parts side by side (a pair of shoes)
    "rejected",  # the mask fails the cut-out's own checks
)
# The mask is measured at this long side: the outline decides, not the pixels.
SHAPE_SIDE = 128


def garment_shape(mask: np.ndarray) -> np.ndarray:
    """(len(SHAPE_FEATURES),) float32 measures of an (H, W) garment mask (255 garment): a dress
    is one long garment, narrow at the waist; a top is about as wide as long, widest at the
    sleeves. An empty mask gives the shape of the whole photo."""
    from stylist.vision.cutout import is_pair, sanity

    full = np.asarray(mask)
    height, width = full.shape
    step = max(1, max(height, width) // SHAPE_SIDE)
    g = full[::step, ::step] > 127
    h, w = g.shape
    if not g.any():
        g = np.ones_like(g)
    rows, cols = np.flatnonzero(g.any(axis=1)), np.flatnonzero(g.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    box = g[top:bottom, left:right]
    bh, bw = box.shape
    mirrored = box[:, ::-1]
    symmetry = (box & mirrored).sum() / max(1, (box | mirrored).sum())
    ys, xs = np.nonzero(g)
    if len(ys) > 2:
        cov = np.cov(np.stack([ys * 1.0, xs * 1.0]))
        values, vectors = np.linalg.eigh(cov + 1e-6 * np.eye(2))
        elongation = 0.5 * np.log(max(values[1], 1e-6) / max(values[0], 1e-6))
        upright = abs(vectors[0, 1])  # the long axis's row component
    else:
        elongation, upright = 0.0, 1.0
    at = (0.1, 0.3, 0.5, 0.7, 0.9)
    widths = [box[min(bh - 1, int(f * bh))].mean() for f in at]
    heights = [box[:, min(bw - 1, int(f * bw))].mean() for f in at]
    values = [
        g.mean(),
        top / h,
        bottom / h,
        left / w,
        right / w,
        np.log(bh / bw),
        np.log(height / width),
        box.mean(),
        symmetry,
        elongation,
        upright,
        *widths,
        *heights,
        float(is_pair(full)),
        float(bool(sanity(full))),
    ]
    return np.asarray(values, dtype=np.float32)


# ------------------------------------------------------------------------- the classifier


@dataclass
class _Centroid:
    direction: np.ndarray  # (D,) unit vector
    typical: float  # mean cosine of a member to the centroid of the other members
    count: int


@dataclass
class CategoryClassifier:
    """Guesses categories for one backbone; see the module docstring."""

    backbone_id: str
    threshold: float
    head: CategoryHead | None = None
    # The confidence a guess of each category needs, where it differs from ``threshold``.
    thresholds: dict[Category, float] = field(default_factory=dict)
    # How strongly a photo that looks like a person's corrected items follows them (0..1).
    adapt_weight: float = 0.8
    # Items the person moved to a category the classifier did not guess, by that category.
    _centroids: dict[Category, _Centroid] = field(default_factory=dict)
    # Items where the person agreed with the classifier, by category.
    _confirmed: dict[Category, _Centroid] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        backbone: BackboneSpec | str,
        backbone_sha256: str | None = None,
        folder: Path | None = None,
        paths: Paths | None = None,
    ) -> CategoryClassifier:
        """The trained head for this backbone if there is one made for its file, else the
        ImageNet mapping. ``backbone`` is a spec or an id (then pass ``backbone_sha256`` to have
        the head checked against the backbone file). Heads are looked for in ``folder`` if given,
        else in the person's model folder (``paths.models``) and then the shipped ``models/``."""
        if isinstance(backbone, str):
            backbone_id, sha = backbone, backbone_sha256
        else:
            backbone_id, sha = backbone.id, backbone.sha256
        if folder is not None:
            folders = [folder]
        else:
            folders = ([paths.models] if paths is not None else []) + [None]
        found = [head_path(backbone_id, f) for f in folders]
        found = [p for p in found if p.is_file()]
        if not found:
            return cls(backbone_id=backbone_id, threshold=IMAGENET_THRESHOLD)
        path = found[0]
        head = CategoryHead.load(path)
        trained_for = head.config.get("backbone_sha256")
        if sha is not None and trained_for and trained_for != sha:
            # Features of another file are not what the head learned from.
            raise CategoryHeadError(
                f"{path}: made for backbone file {trained_for[:12]}…, "
                f"but {backbone_id!r} is {sha[:12]}…; retrain the head or remove it"
            )
        per_category = head.config.get("thresholds") or {}
        try:
            thresholds = {Category(k): float(v) for k, v in per_category.items()}
        except (ValueError, TypeError, AttributeError):
            raise CategoryHeadError(f"{path}: thresholds must map categories to numbers") from None
        return cls(
            backbone_id=backbone_id,
            threshold=float(head.config["threshold"]),
            head=head,
            thresholds=thresholds,
        )

    def threshold_for(self, category: Category) -> float:
        """The confidence a guess of ``category`` needs to sort an item by itself."""
        return self.thresholds.get(category, self.threshold)

    @property
    def source(self) -> str:
        """ "head" (trained on wardrobe photos) or "imagenet" (mapped ImageNet classes)."""
        return "head" if self.head is not None else "imagenet"

    @property
    def needs_logits(self) -> bool:
        return self.head is None

    @property
    def reads_cutouts(self) -> bool:
        """The head learned from garments cut out of their background (its JSON says
        ``"photos": "cut-out"``); a head without the word learned from photos as they are, and
        reads the features of the photos as photographed (``photo_key``)."""
        return self.head is None or self.head.config.get("photos") == "cut-out"

    def describe(self) -> str:
        if self.head is None:
            how = "ImageNet classes mapped to categories"
        else:
            hidden = f"{self.head.hidden} hidden units" if self.head.hidden else "linear"
            how = f"trained head ({hidden})"
        at = f"{self.threshold:.2f}"
        if any(t != self.threshold for t in self.thresholds.values()):
            at = ", ".join(f"{c.value} {self.threshold_for(c):.2f}" for c in CATEGORIES)
        text = f"{self.backbone_id}: {how}, sorts by itself at confidence >= {at}"
        if self._centroids:
            adapted = ", ".join(f"{c.value} ({v.count})" for c, v in self._centroids.items())
            text += f"; adapted to corrections: {adapted}"
        return text

    # ---------------------------------------------------------------------- guessing

    def probabilities(
        self, features: np.ndarray | None, logits: np.ndarray | None = None
    ) -> np.ndarray:
        """(N, 5) probabilities in ``CATEGORIES`` order, the person's corrections blended in."""
        p = self._base_probabilities(features, logits)
        if self._centroids and features is not None:
            p = self._blend(np.asarray(features, dtype=np.float32), p)
        return p

    def _base_probabilities(
        self, features: np.ndarray | None, logits: np.ndarray | None
    ) -> np.ndarray:
        if self.head is not None:
            if features is None:
                raise ValueError("the category head needs features")
            return self.head.probabilities(features)
        if logits is None:
            raise ValueError(f"{self.backbone_id!r} has no category head: logits are needed")
        return imagenet_probabilities(logits)

    def predict(
        self, features: np.ndarray | None, logits: np.ndarray | None = None
    ) -> list[CategoryGuess]:
        """One guess per row of (N, D) features and/or (N, 1000) ImageNet logits."""
        p = self.probabilities(features, logits)
        guesses = []
        for row in p:
            j = int(np.argmax(row))
            confidence = float(row[j])
            guesses.append(
                CategoryGuess(
                    category=CATEGORIES[j],
                    confidence=confidence,
                    probabilities={c: float(v) for c, v in zip(CATEGORIES, row, strict=True)},
                    sure=confidence >= self.threshold_for(CATEGORIES[j]),
                )
            )
        return guesses

    # ---------------------------------------------------------------------- adapting

    def adapt(
        self,
        labelled: Sequence[tuple[np.ndarray, Category]],
        logits: Sequence[np.ndarray] | None = None,
    ) -> dict[Category, int]:
        """Learn from the categories the person gave: (features (D,), category) pairs, plus
        their ImageNet logits when the classifier has no head.

        Replaces what earlier calls learned. Items where the person disagrees with the guess
        are corrections; once a category has ``MIN_CORRECTIONS`` of them, photos that look more
        like those corrections than like the items the person confirmed are pulled towards it.
        Returns the number of corrections behind each category that adapts.
        """
        self._centroids, self._confirmed = {}, {}
        pairs = [(np.asarray(f, np.float32).ravel(), c) for f, c in labelled]
        usable = [i for i, (_, c) in enumerate(pairs) if c in CATEGORIES]
        if not usable:
            return {}
        features = np.stack([pairs[i][0] for i in usable])  # (n, D)
        wanted = [pairs[i][1] for i in usable]
        if self.head is None and logits is None:
            raise ValueError(f"{self.backbone_id!r} has no category head: logits are needed")
        lg = None if logits is None else np.stack([np.asarray(logits[i]) for i in usable])
        guessed = self._base_probabilities(features, lg).argmax(axis=1)  # (n,)
        z = self._unit(features)
        corrections: dict[Category, list[np.ndarray]] = {}
        confirmed: dict[Category, list[np.ndarray]] = {}
        for row, (category, guess) in enumerate(zip(wanted, guessed, strict=True)):
            agree = CATEGORIES[int(guess)] == category
            (confirmed if agree else corrections).setdefault(category, []).append(z[row])
        for category, vectors in corrections.items():
            if len(vectors) >= MIN_CORRECTIONS:
                self._centroids[category] = _centroid(vectors)
        for category, vectors in confirmed.items():
            if len(vectors) >= 2:
                self._confirmed[category] = _centroid(vectors)
        return {c: v.count for c, v in self._centroids.items()}

    @property
    def adapted(self) -> dict[Category, int]:
        return {c: v.count for c, v in self._centroids.items()}

    def _unit(self, features: np.ndarray) -> np.ndarray:
        """(N, D) features -> (N, D) unit vectors in which cosines compare garments: the head's
        own standardised input when there is a head, else square-rooted features."""
        x = np.asarray(features, dtype=np.float32)
        if self.head is not None:
            x = self.head.standardise(x)
        else:
            x = np.sign(x) * np.sqrt(np.abs(x))
        return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)

    def _blend(self, features: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Pull photos that look like a person's corrections towards the corrected category."""
        z = self._unit(features)  # (N, D)
        guessed = p.argmax(axis=1)  # (N,)
        weight = np.zeros(len(z))
        target = np.array(guessed)
        for category, centroid in self._centroids.items():
            k = CATEGORIES.index(category)
            cosine = z @ centroid.direction  # (N,)
            # As close as a correction typically is to the other corrections -> full weight;
            # clearly farther -> none (the margin is in cosine units).
            near = _sigmoid((cosine - centroid.typical + 0.05) / 0.03)
            # And closer to the corrections than to the items the person confirmed in the
            # guessed category: a person's photos share a floor and light, so only the
            # difference tells which of their items a photo resembles.
            rival = np.full(len(z), -np.inf)
            for j, other in enumerate(CATEGORIES):
                if other in self._confirmed:
                    mine = guessed == j
                    rival[mine] = z[mine] @ self._confirmed[other].direction
            nearer = np.where(np.isfinite(rival), _sigmoid((cosine - rival) / 0.02), 1.0)
            w = self.adapt_weight * near * nearer
            w[guessed == k] = 0.0  # already guessed right
            better = w > weight
            weight[better], target[better] = w[better], k
        pulled = np.zeros_like(p)
        pulled[np.arange(len(z)), target] = 1.0
        return (1.0 - weight[:, None]) * p + weight[:, None] * pulled


def _centroid(vectors: list[np.ndarray]) -> _Centroid:
    stack = np.stack(vectors)  # (n, D) unit vectors
    total = stack.sum(axis=0)
    direction = total / (np.linalg.norm(total) + 1e-12)
    if len(vectors) == 1:
        return _Centroid(direction, 1.0, 1)
    # How close a new item of this kind comes to the centroid: each member against the centroid
    # of the others (its own centroid would flatter it).
    others = total[None, :] - stack  # (n, D)
    others /= np.linalg.norm(others, axis=1, keepdims=True) + 1e-12
    return _Centroid(direction, float((stack * others).sum(axis=1).mean()), len(vectors))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


# ------------------------------------------------------------------------ the library


@dataclass
class CategoriseReport:
    """What ``categorise_library`` did."""

    sorted: dict[str, int] = field(default_factory=dict)  # category value -> items sorted
    unsorted: int = 0  # guessed, but below the threshold: left for the person to confirm
    kept_user: int = 0  # the person's own categories, untouched
    without_features: int = 0  # not guessed: no features (or logits) for them yet
    adapted: dict[str, int] = field(default_factory=dict)  # category -> corrections used
    cancelled: bool = False

    @property
    def guessed(self) -> int:
        return sum(self.sorted.values()) + self.unsorted

    def summary(self) -> str:
        parts = [f"{n} {c}" for c, n in sorted(self.sorted.items())]
        text = f"sorted {sum(self.sorted.values())} ({', '.join(parts) or 'none'})"
        text += f", {self.unsorted} left for you to confirm"
        if self.kept_user:
            text += f", {self.kept_user} kept as you set them"
        if self.without_features:
            text += f", {self.without_features} without features yet"
        if self.cancelled:
            text += " (cancelled)"
        return text


def features_by_item(
    result: Any, library: Library, items: Sequence[Any] | None = None
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Features and logits of an extraction result (``Extractor.run_files`` over the items'
    working copies), keyed by item id."""
    items = library.items() if items is None else items
    by_path = {Path(library.file_path(i.working_file)).resolve(): i.id for i in items}
    features: dict[int, np.ndarray] = {}
    logits: dict[int, np.ndarray] = {}
    for row, path in enumerate(result.ok_paths):
        item_id = by_path.get(Path(path).resolve())
        if item_id is not None:
            features[item_id] = result.features[row]
            logits[item_id] = result.logits[row]
    return features, logits


def categorise_library(
    library: Library,
    classifier: CategoryClassifier,
    features: Mapping[int, np.ndarray],
    logits: Mapping[int, np.ndarray] | None = None,
    *,
    adapt: bool = True,
    batch_size: int = 256,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> CategoriseReport:
    """Guess the category of every item the person has not sorted themselves.

    ``features`` (and ``logits``, needed when the classifier has no trained head) are keyed by
    item id, e.g. ``library.features(spec.id, spec.sha256)``. A sure guess sets an AUTO category;
    an unsure one leaves the item unsorted. Either way the guess and its confidence are stored
    with ``library.set_guess`` for the person to confirm. Items with a USER category are never
    changed; with ``adapt`` their features first adapt the classifier to this person's photos.
    """
    report = CategoriseReport()
    items = library.items()
    if adapt:
        mine = [
            i
            for i in items
            if i.category_source == CategorySource.USER
            and i.category in CATEGORIES
            and i.id in features
            and (not classifier.needs_logits or i.id in (logits or {}))
        ]
        labelled = [(features[i.id], i.category) for i in mine]
        mine_logits = [logits[i.id] for i in mine] if classifier.needs_logits and logits else None
        learned = classifier.adapt(labelled, mine_logits)
        report.adapted = {c.value: n for c, n in learned.items()}
    todo = []
    for item in items:
        if item.category_source == CategorySource.USER:
            report.kept_user += 1
        elif item.id not in features or (classifier.needs_logits and item.id not in (logits or {})):
            report.without_features += 1
        else:
            todo.append(item)
    total = len(todo)
    if progress is not None:
        progress(0, total, "")
    for start in range(0, total, batch_size):
        if is_cancelled(cancel):
            report.cancelled = True
            break
        chunk = todo[start : start + batch_size]
        f = np.stack([features[i.id] for i in chunk])  # (n, D)
        lg = np.stack([logits[i.id] for i in chunk]) if classifier.needs_logits else None
        for item, guess in zip(chunk, classifier.predict(f, lg), strict=True):
            confidence = guess.confidence
            library.set_guess(item.id, guess.category, confidence)
            if guess.sure:
                if library.set_category(item.id, guess.category, CategorySource.AUTO, confidence):
                    report.sorted[guess.category.value] = (
                        report.sorted.get(guess.category.value, 0) + 1
                    )
                else:  # the person set it meanwhile
                    report.kept_user += 1
            else:
                if item.category != Category.UNSORTED:
                    # An earlier guess no longer holds (e.g. after corrections): ask instead.
                    library.set_category(item.id, Category.UNSORTED, CategorySource.AUTO, None)
                report.unsorted += 1
        if progress is not None:
            progress(min(start + batch_size, total), total, chunk[-1].original_name)
    return report
