"""Installing VGG-16: the whole path (weights file -> ONNX -> checks -> variants -> manifest).

No VGG-16 weights can be downloaded here, so the network is VGG-16's exact topology at 1/16
width (channels 4..32, fc 256), with a weights file the test writes; the code path is the one a
person's ``stylist models install vgg16 --weights FILE`` takes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from stylist.errors import StylistError
from stylist.paths import for_home
from stylist.vision.backbones import ModelError, get_backbone, sha256_file
from stylist.vision.export import ExportError, install_vgg16, vgg16_module
from stylist.vision.extractor import Extractor
from stylist.vision.preprocess import load_image, torch_reference_transform

WIDTH = 16


@pytest.fixture(scope="session")
def vgg_photos(wardrobe_items, shared_data):
    files = [shared_data / "wardrobe-photos" / x["file"] for x in wardrobe_items[::40]]
    return files[:30]  # 6 to check the export, 24 to calibrate int8


def make_weights(path, seed: int, width: int = WIDTH):
    torch.manual_seed(seed)
    model = vgg16_module(width)
    torch.save(model.state_dict(), path)
    return model


@pytest.fixture(scope="session")
def installed(tmp_path_factory, vgg_photos):
    """A reduced-width VGG-16 installed once from a weights file, with its torch twin."""
    root = tmp_path_factory.mktemp("vgg")
    home = for_home(root / "home")
    weights = root / "vgg16-small.pth"
    model = make_weights(weights, seed=1)
    steps = []
    spec = install_vgg16(
        home,
        weights,
        progress=lambda *a: steps.append(a),
        width=WIDTH,
        photos=vgg_photos,
        check_photos=6,
        calibration_photos=24,
    )
    return home, spec, model, steps


def test_topology_is_vgg16():
    with torch.device("meta"):  # shapes only: no 138 M weights to initialise
        full = vgg16_module(1)
    small = vgg16_module(WIDTH)
    assert list(full.state_dict()) == list(small.state_dict())
    convs = [m for m in full.features if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 13 and len(full.classifier) == 7
    shapes_full = [tuple(v.shape) for v in full.state_dict().values()]
    shapes_small = [tuple(v.shape) for v in small.state_dict().values()]
    assert shapes_full[0] == (64, 3, 3, 3) and shapes_small[0] == (4, 3, 3, 3)
    assert shapes_small[-2] == (1000, 4096 // WIDTH)


def test_install_writes_checked_model_and_manifest(installed, vgg_photos):
    home, spec, _model, steps = installed
    assert spec.id == "vgg16" and not spec.shipped
    assert spec.feature_dim == 4096 // WIDTH
    assert steps[0][0] == 0 and steps[-1][2] == "done"
    manifest = json.loads((home.models / "vgg16.json").read_text())
    assert manifest["outputs"] == {"features": "features", "logits": "logits"}
    assert manifest["width_divisor"] == WIDTH
    check = manifest["export"]["checked_against_torch"]
    assert check["features"] < 1e-4 and check["logits"] < 1e-4 and check["photos"] == 6
    assert set(spec.variants) == {"fp32", "fp16", "int8"}
    for variant in spec.variants.values():
        assert variant.path.parent == home.models
        assert sha256_file(variant.path) == variant.sha256
    int8 = spec.variants["int8"]
    assert int8.info["calibration"]["photos"] == 24
    assert 0.9 < int8.cosine_min <= int8.cosine_mean <= 1.0
    assert spec.variants["fp16"].cosine_min > 0.999
    assert spec.variants["int8"].path.stat().st_size < spec.onnx_path.stat().st_size / 3
    # Nothing but the manifest, its three files and the hash cache is left behind.
    left = sorted(p.name for p in home.models.iterdir())
    names = sorted([v.path.name for v in spec.variants.values()] + ["vgg16.json"])
    assert [n for n in left if n != "hash-cache.json"] == names


def test_installed_model_equals_torch(installed, vgg_photos):
    home, spec, model, _steps = installed
    from stylist.vision.export import vgg16_features_and_logits

    torch_model = vgg16_features_and_logits(model)
    extractor = Extractor(spec, device="cpu", variant="fp32", paths=home)
    photos = vgg_photos[-6:]
    result = extractor.run_files(photos, batch_size=4)
    transform = torch_reference_transform(spec.preprocess)
    batch = torch.stack([transform(load_image(p, spec.preprocess)) for p in photos])
    with torch.no_grad():
        t_features, t_logits = torch_model(batch)
    assert np.abs(result.features - t_features.numpy()).max() < 1e-4
    assert np.abs(result.logits - t_logits.numpy()).max() < 1e-4
    # fc7 after ReLU: never negative, and not all zero.
    assert result.features.min() >= 0 and result.features.max() > 0

    auto = Extractor(spec, device="cpu", paths=home)  # int8 on the CPU when within tolerance
    assert auto.variant == ("int8" if spec.variants["int8"].within_tolerance else "fp32")
    approx = auto.run_files(photos, batch_size=4)
    cos = (approx.features * result.features).sum(1) / (
        np.linalg.norm(approx.features, axis=1) * np.linalg.norm(result.features, axis=1)
    )
    assert cos.min() > 0.95
    assert auto.model_sha256 == spec.sha256  # cached under the reference file's hash


def _snapshot(home):
    return {p.name: p.read_bytes() for p in home.models.iterdir() if p.name != "hash-cache.json"}


def test_bad_weights_leave_the_installed_model_alone(installed, tmp_path, vgg_photos):
    home, spec, _model, _steps = installed
    before = _snapshot(home)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00not a pytorch file" * 100)
    with pytest.raises(ExportError, match="garbage.pth.*not a readable PyTorch"):
        install_vgg16(home, garbage, width=WIDTH, photos=vgg_photos)
    wrong_width = tmp_path / "wrong.pth"
    make_weights(wrong_width, seed=2, width=8)
    with pytest.raises(ExportError, match="wrong.pth.*not VGG-16 weights of the expected shape"):
        install_vgg16(home, wrong_width, width=WIDTH, photos=vgg_photos)
    with pytest.raises(ExportError, match="missing.pth.*missing"):
        install_vgg16(home, tmp_path / "missing.pth", width=WIDTH, photos=vgg_photos)
    assert _snapshot(home) == before
    assert get_backbone("vgg16", home).sha256 == spec.sha256


def test_corrupt_install_is_reported_and_reinstall_replaces_it(tmp_path, vgg_photos):
    home = for_home(tmp_path / "home")
    weights = tmp_path / "w.pth"
    make_weights(weights, seed=3)
    kwargs = dict(width=WIDTH, photos=vgg_photos[:10], check_photos=4, variants=("int8",))
    spec = install_vgg16(home, weights, **kwargs)
    data = bytearray(spec.onnx_path.read_bytes())
    data[len(data) // 2] ^= 0x55
    spec.onnx_path.write_bytes(bytes(data))
    with pytest.raises(ModelError) as err:
        get_backbone("vgg16", home)
    assert spec.onnx_path.name in str(err.value) and "corrupt" in str(err.value)
    assert isinstance(err.value, StylistError)

    # A new install with other weights: new files, the manifest switched, the old files gone.
    other = tmp_path / "other.pth"
    make_weights(other, seed=4)
    new = install_vgg16(home, other, **kwargs)
    assert new.sha256 != spec.sha256
    assert get_backbone("vgg16", home).sha256 == new.sha256
    assert not spec.onnx_path.exists()
    assert set(new.variants) == {"fp32", "int8"}


def test_failed_export_check_installs_nothing(tmp_path, vgg_photos, monkeypatch):
    from stylist.vision import export

    home = for_home(tmp_path / "home")
    weights = tmp_path / "w.pth"
    make_weights(weights, seed=5)

    def disagree(*args, **kwargs):
        raise ExportError("vgg16.onnx: ONNX features differ from torch by 1.0e+00")

    monkeypatch.setattr(export, "compare_with_torch", disagree)
    with pytest.raises(ExportError, match="differ from torch"):
        install_vgg16(home, weights, width=WIDTH, photos=vgg_photos[:6], variants=())
    assert not home.models.exists() or list(home.models.iterdir()) == []
    with pytest.raises(ModelError, match="vgg16"):
        get_backbone("vgg16", home)
