"""A photo into a backbone's input tensor, in Pillow and numpy, exactly as its manifest says.

Every backbone's manifest carries a ``preprocess`` block (``Preprocess`` below). The same rule is
used wherever a backbone sees a photo: feature extraction, the category head's training and the
benchmarks, so features of a person's photos and of the training photos are comparable.

Two rules are supported:

* ``resize="longer", crop="pad"`` (letterbox, the default for garment photos): the longer side is
  resized to ``input_size`` keeping the aspect ratio, and the shorter side is padded on both sides
  with ``pad_fill``. The whole garment stays in view; nothing is cut off. With ``pad_fill`` equal
  to the mean colour the padding becomes (close to) zero after normalisation.
* ``resize="shorter", crop="center"`` (the ImageNet evaluation rule): the shorter side is resized to
  ``resize_size`` and the centre ``input_size`` square is cut out.

Resizing uses Pillow's bilinear filter with antialiasing, which is what torchvision does on PIL
images, so ``preprocess_image`` equals the torchvision pipeline from ``torch_reference_transform``
to float rounding (tests check 1e-4).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from stylist.errors import PhotoError

RESIZE_RULES = ("longer", "shorter")
CROP_RULES = ("pad", "center")


@dataclass(frozen=True)
class Preprocess:
    """How a backbone wants its input: size, resize/crop rule and normalisation (RGB, 0..1)."""

    input_size: int = 224
    resize: str = "longer"  # which side is resized to fit: "longer" (then pad) | "shorter"
    crop: str = "pad"  # "pad" to a square (keeps everything) | "center" crop
    resize_size: int | None = None  # shorter side before a centre crop; None = input_size
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    pad_fill: tuple[int, int, int] = (124, 116, 104)  # RGB 0..255 used for padding
    interpolation: str = "bilinear"
    # Decode large JPEGs at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling), never below the size
    # the resize produces: about twice as fast, but the input then differs from a full decode
    # (features keep ~0.99 cosine). Off by default so inputs equal torchvision's on the file.
    jpeg_draft: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.resize not in RESIZE_RULES:
            raise ValueError(f"unknown resize rule {self.resize!r} (one of {RESIZE_RULES})")
        if self.crop not in CROP_RULES:
            raise ValueError(f"unknown crop rule {self.crop!r} (one of {CROP_RULES})")
        if self.interpolation != "bilinear":
            raise ValueError(f"unsupported interpolation {self.interpolation!r} (bilinear only)")
        if self.resize == "longer" and self.crop != "pad":
            raise ValueError("resize='longer' needs crop='pad' (the image is never larger)")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocess:
        known = {
            "input_size",
            "resize",
            "crop",
            "resize_size",
            "mean",
            "std",
            "pad_fill",
            "interpolation",
            "jpeg_draft",
        }
        kwargs: dict[str, Any] = {k: data[k] for k in known if k in data}
        for key in ("mean", "std"):
            if key in kwargs:
                kwargs[key] = tuple(float(v) for v in kwargs[key])
        if "pad_fill" in kwargs:
            kwargs["pad_fill"] = tuple(int(v) for v in kwargs["pad_fill"])
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(**kwargs, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "input_size": self.input_size,
            "resize": self.resize,
            "crop": self.crop,
            "resize_size": self.resize_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "pad_fill": list(self.pad_fill),
            "interpolation": self.interpolation,
            "jpeg_draft": self.jpeg_draft,
        }
        out.update(self.extra)
        return out

    def describe(self) -> str:
        size = self.input_size
        if self.crop == "pad":
            return f"longer side to {size}, pad to {size}x{size} with {self.pad_fill}"
        return f"shorter side to {self.resize_size or size}, centre crop {size}x{size}"

    def resized_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) after the resize step; same integer rule as torchvision's Resize."""
        short, long = (width, height) if width <= height else (height, width)
        if self.resize == "longer":
            new_short, new_long = int(self.input_size * short / long), self.input_size
        else:
            target = self.resize_size or self.input_size
            new_short, new_long = target, int(target * long / short)
        return (new_short, new_long) if width <= height else (new_long, new_short)


def load_image(path: str | os.PathLike[str], pre: Preprocess | None = None) -> Image.Image:
    """Decode a photo to RGB with its EXIF orientation applied; PhotoError names what is wrong.

    With ``pre.jpeg_draft`` a large JPEG is decoded at 1/2, 1/4 or 1/8 scale, never below the
    size the resize step produces.
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            if pre is not None and pre.jpeg_draft and img.format == "JPEG":
                need = _needed_decode_size(pre, img.size)
                img.draft("RGB", need)
            img.load()
            img = ImageOps.exif_transpose(img)
            return img.convert("RGB") if img.mode != "RGB" else img.copy()
    except FileNotFoundError:
        raise PhotoError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise PhotoError(f"{path}: is a folder, not a photo") from None
    except Image.UnidentifiedImageError:
        raise PhotoError(f"{path}: not a photo Pillow can read") from None
    except (OSError, ValueError, SyntaxError) as err:
        raise PhotoError(f"{path}: cannot decode the photo ({err})") from None


def _needed_decode_size(pre: Preprocess, size: tuple[int, int]) -> tuple[int, int]:
    """The smallest (w, h) the JPEG may be decoded at: the size the resize step produces.

    libjpeg scales by 1/2, 1/4 or 1/8 in the DCT domain (an area average, no aliasing) and
    never below the requested size; the antialiased resize then does the rest.
    """
    width, height = size
    new_w, new_h = pre.resized_size(width, height)
    return (min(width, new_w), min(height, new_h))


@functools.lru_cache(maxsize=16)
def _lookup_tables(mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """(3, 256) float32: the normalised value of every 8-bit level of each channel.

    Computed with the same float32 operations as ToTensor + Normalize (x / 255, - mean, / std),
    so a table lookup gives bit-for-bit the values the arithmetic would, several times faster.
    """
    levels = np.arange(256, dtype=np.float32) / np.float32(255.0)
    m = np.asarray(mean, dtype=np.float32)[:, None]
    s = np.asarray(std, dtype=np.float32)[:, None]
    table = (levels[None, :] - m) / s
    table.setflags(write=False)
    return table


def preprocess_image(
    img: Image.Image, pre: Preprocess, out: np.ndarray | None = None
) -> np.ndarray:
    """One RGB PIL image -> (3, S, S) float32 input, S = pre.input_size.

    ``out``: an optional (3, S, S) float32 array to write into (e.g. a row of a batch).
    """
    if img.mode != "RGB":
        img = img.convert("RGB")
    size = pre.input_size
    new_w, new_h = pre.resized_size(*img.size)
    if (new_w, new_h) != img.size:
        img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)
    pixels = np.asarray(img, dtype=np.uint8)  # (H, W, 3)
    table = _lookup_tables(pre.mean, pre.std)  # (3, 256)
    if out is None:
        out = np.empty((3, size, size), dtype=np.float32)
    if pre.crop == "pad":
        top, left = (size - new_h) // 2, (size - new_w) // 2
        for c in range(3):
            if new_h < size or new_w < size:
                out[c].fill(table[c, pre.pad_fill[c]])
            out[c, top : top + new_h, left : left + new_w] = table[c][pixels[:, :, c]]
    else:
        # torchvision's CenterCrop rounds the offsets: int(round((H - S) / 2.0)).
        top = int(round((new_h - size) / 2.0))
        left = int(round((new_w - size) / 2.0))
        crop = pixels[top : top + size, left : left + size]
        for c in range(3):
            out[c] = table[c][crop[:, :, c]]
    return out  # (3, S, S)


def preprocess_batch(images: Sequence[Image.Image], pre: Preprocess) -> np.ndarray:
    """Several RGB images -> (N, 3, S, S) float32."""
    size = pre.input_size
    out = np.empty((len(images), 3, size, size), dtype=np.float32)
    for i, img in enumerate(images):
        preprocess_image(img, pre, out=out[i])
    return out


def load_and_preprocess(path: str | os.PathLike[str], pre: Preprocess) -> np.ndarray:
    """Decode and preprocess one photo file -> (3, S, S) float32; PhotoError on a bad file."""
    return preprocess_image(load_image(path, pre), pre)


def torch_reference_transform(pre: Preprocess) -> Any:
    """The same rule written with torchvision transforms (PIL image -> (3, S, S) tensor).

    Used to check ``preprocess_image`` and by the exporters when comparing ONNX with torch.
    """
    import torch
    from torchvision.transforms import v2 as T

    size = pre.input_size
    steps: list[Any] = []
    if pre.crop == "pad":
        steps.append(T.Resize(size=None, max_size=size, antialias=True))

        def pad_to_square(img: Image.Image) -> Image.Image:
            w, h = img.size
            left, top = (size - w) // 2, (size - h) // 2
            return T.functional.pad(
                img, [left, top, size - w - left, size - h - top], fill=list(pre.pad_fill)
            )

        steps.append(T.Lambda(pad_to_square))
    else:
        steps.append(T.Resize(pre.resize_size or size, antialias=True))
        steps.append(T.CenterCrop(size))
    steps += [
        T.PILToTensor(),
        T.ToDtype(torch.float32, scale=True),
        T.Normalize(list(pre.mean), list(pre.std)),
    ]
    return T.Compose(steps)
