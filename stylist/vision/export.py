"""torch -> ONNX export of backbones, checked, hashed and installed with their manifests.

Every export here follows the same recipe:

1. a torch module returning ``(features, logits)`` is exported with the legacy TorchScript exporter
   (one self-contained file, dynamic batch, opset 17), input ``image`` (N, 3, S, S) float32;
2. the ONNX checker runs on the file;
3. ONNX Runtime's outputs are compared with torch's on real photos, preprocessed exactly as the
   manifest says, and the export is refused if they differ by more than ``tolerance``;
4. the file's sha256 goes into the manifest, and files are written under temporary names and
   renamed into place only once everything checks out, so a failed export or install never
   replaces a working model.

``install_vgg16`` is the paper's backbone: torchvision's VGG-16 with ImageNet weights (its own
download with progress bar and hash check, or a local state-dict file), exported with ``features``
= fc7 after ReLU (4096-d) and ``logits``, plus an fp16 variant for the GPU and a static int8 QDQ
variant for the CPU, calibrated on real photos, with its error against fp32 stored in the manifest.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stylist.errors import StylistError
from stylist.vision.backbones import (
    MANIFEST_FORMAT,
)
from stylist.vision.preprocess import Preprocess, load_image, torch_reference_transform

Progress = Callable[[int, int, str], None]

OPSET = 17
TOLERANCE = 1e-4
INPUT_NAME = "image"
OUTPUT_NAMES = ("features", "logits")

# The ImageNet rule torchvision's VGG-16 was trained with, with the whole garment kept in view
# (longer side to 224, padded with the mean colour) instead of the centre crop.
VGG16_PREPROCESS = Preprocess(
    input_size=224,
    resize="longer",
    crop="pad",
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
    pad_fill=(124, 116, 104),
)
VGG16_WEIGHTS_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"


class ExportError(StylistError):
    """An export failed one of its checks; nothing was installed."""


# --------------------------------------------------------------------------- generic export steps


def export_onnx(model: Any, path: Path, input_size: int, opset: int = OPSET) -> None:
    """Export ``model`` (image -> (features, logits)) to one ONNX file with a dynamic batch."""
    import torch

    model.eval()
    dummy = torch.zeros(2, 3, input_size, input_size)  # (N, 3, S, S)
    axes = {name: {0: "batch"} for name in (INPUT_NAME, *OUTPUT_NAMES)}
    with torch.no_grad():
        torch.onnx.export(
            model,
            (dummy,),
            str(path),
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True,
        )
    _fold_constants(path)


def _fold_constants(path: Path) -> None:
    """Fold the shape arithmetic the TorchScript exporter leaves around padding into constants.

    ONNX Runtime would fold it at every session start anyway; a clean graph also quantizes
    cleanly. Skipped when onnxscript (a torch.onnx dependency) is not there.
    """
    try:
        import onnx
        import onnxscript.optimizer
    except ImportError:
        return
    model = onnx.load(str(path))
    model = onnxscript.optimizer.optimize(model)
    onnx.save(model, str(path))


def check_onnx(path: Path) -> None:
    """The ONNX checker (full check, shapes included); ExportError on failure."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as err:  # the checker raises several unrelated exception types
        raise ExportError(f"{path.name}: the ONNX checker refused the export ({err})") from None


def reference_batch(photos: Sequence[Path], pre: Preprocess) -> tuple[np.ndarray, np.ndarray]:
    """Real photos preprocessed twice: by torchvision (reference) and by ``preprocess_image``.

    Returns ``(torch_input, our_input)``, both (N, 3, S, S) float32; they must agree to 1e-4.
    """
    from stylist.vision.preprocess import preprocess_image

    transform = torch_reference_transform(pre)
    ref, ours = [], []
    for photo in photos:
        img = load_image(photo, pre)
        ref.append(transform(img).numpy())
        ours.append(preprocess_image(img, pre))
    return np.stack(ref), np.stack(ours)


def run_onnx(path: Path, batch: np.ndarray, providers: Sequence[str] = ("CPUExecutionProvider",)):
    """ONNX Runtime outputs (features, logits) for one batch; a plain CPU session by default."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=list(providers))
    features, logits = session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch})
    return features, logits


def compare_with_torch(
    model: Any, path: Path, photos: Sequence[Path], pre: Preprocess, tolerance: float = TOLERANCE
) -> dict[str, float]:
    """Max abs differences between torch and ONNX Runtime on real photos; ExportError if too big.

    torch sees torchvision's preprocessing, ONNX Runtime sees ours, so the check covers the whole
    path from file to features.
    """
    import torch

    if not photos:
        raise ExportError("no photos to compare the export with")
    ref_input, our_input = reference_batch(photos, pre)
    with torch.no_grad():
        t_features, t_logits = model.eval()(torch.from_numpy(ref_input))
    o_features, o_logits = run_onnx(path, our_input)
    diffs = {
        "input": float(np.abs(ref_input - our_input).max()),
        "features": float(np.abs(t_features.numpy() - o_features).max()),
        "logits": float(np.abs(t_logits.numpy() - o_logits).max()),
        "photos": float(len(photos)),
    }
    for key in ("input", "features", "logits"):
        if not diffs[key] <= tolerance:
            raise ExportError(
                f"{path.name}: ONNX {key} differ from torch by {diffs[key]:.2e} "
                f"(more than {tolerance:g}) on real photos"
            )
    return diffs


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON under a temporary name in the same folder, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def temp_path_beside(path: Path) -> Path:
    """A fresh temporary file name in ``path``'s folder (so the final rename is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; models are ordinary files
    return Path(tmp)


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def tool_versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torch

    return {
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def base_manifest(
    *,
    backbone_id: str,
    name: str,
    architecture: str,
    file_name: str,
    sha256: str,
    size_bytes: int,
    pre: Preprocess,
    feature_dim: int,
    source: str,
    licence: str,
    licence_file: str | None,
    features_description: str,
    check: dict[str, float],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest fields every backbone has (see ``backbones.BackboneSpec``)."""
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "id": backbone_id,
        "name": name,
        "architecture": architecture,
        "file": file_name,
        "sha256": sha256,
        "size_bytes": size_bytes,
        "input": {"name": INPUT_NAME, "layout": "NCHW", "dtype": "float32", "channels": "RGB"},
        "preprocess": pre.to_dict(),
        "outputs": {"features": "features", "logits": "logits"},
        "features_description": features_description,
        "feature_dim": feature_dim,
        "num_classes": 1000,
        "classes": "ImageNet-1k (torchvision order)",
        "opset": OPSET,
        "variants": {
            "fp32": {
                "file": file_name,
                "sha256": sha256,
                "size_bytes": size_bytes,
                "precision": "fp32",
            }
        },
        "source": source,
        "licence": licence,
        "licence_file": licence_file,
        "export": {
            "created": now_iso(),
            "tools": tool_versions(),
            "checked_against_torch": check,
            "tolerance": TOLERANCE,
        },
    }
    if extra:
        manifest.update(extra)
    return manifest


def sample_photos(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """``count`` photos from a folder, spread over it deterministically."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise ExportError(f"{folder}: no photos to check the export with")
    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(files))[: min(count, len(files))]
    return [files[i] for i in sorted(pick)]
