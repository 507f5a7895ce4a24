"""The backbone registry: manifests, sha256 checks (and their cache), clear errors for bad files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stylist.paths import for_home, models_dir
from stylist.vision import backbones
from stylist.vision.backbones import (
    ModelError,
    available_backbones,
    get_backbone,
    load_manifest,
    verify_backbone,
)

LITE0 = "efficientnet-lite0"


def install_copy(paths, backbone_id: str = LITE0, new_id: str | None = None) -> Path:
    """Copy the shipped backbone into the person's model folder (as an installed one)."""
    paths.models.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((models_dir() / f"{backbone_id}.json").read_text())
    new_id = new_id or backbone_id
    onnx_name = f"{new_id}.onnx"
    shutil.copyfile(models_dir() / manifest["file"], paths.models / onnx_name)
    manifest["id"] = new_id
    manifest["file"] = onnx_name
    manifest["variants"] = {"fp32": {**manifest["variants"]["fp32"], "file": onnx_name}}
    target = paths.models / f"{new_id}.json"
    target.write_text(json.dumps(manifest))
    return target


def test_shipped_manifest_describes_the_file(paths):
    spec = get_backbone(LITE0, paths)
    assert spec.shipped
    assert spec.onnx_path == models_dir() / "efficientnet-lite0.onnx"
    assert spec.feature_dim == 1280 and spec.num_classes == 1000
    assert spec.output_names == ("features", "logits")
    assert spec.input_size == 224
    assert spec.preprocess.crop == "pad" and spec.preprocess.resize == "longer"
    assert spec.licence == "Apache-2.0" and spec.licence_file is not None
    assert spec.licence_file.is_file()
    assert len(spec.sha256) == 64
    assert backbones.sha256_file(spec.onnx_path) == spec.sha256
    assert [s.id for s in available_backbones(paths)] == [LITE0]
    assert verify_backbone(spec, paths) == {"fp32": "ok", "int8": "ok"}
    assert spec.variants["int8"].path == models_dir() / "efficientnet-lite0-int8.onnx"
    assert spec.variants["int8"].cosine_min >= 0.99


def test_unknown_backbone_names_what_exists(paths):
    with pytest.raises(ModelError, match="vgg16.*stylist models install vgg16.*efficientnet-lite0"):
        get_backbone("vgg16", paths)


def test_installed_backbone_is_found_and_verified(paths):
    install_copy(paths, new_id="lite-copy")
    spec = get_backbone("lite-copy", paths)
    assert not spec.shipped
    assert spec.onnx_path.parent == paths.models
    ids = [s.id for s in available_backbones(paths)]
    assert ids == ["lite-copy", LITE0]


def test_corrupt_model_file_gives_a_clear_error(paths):
    install_copy(paths, new_id="lite-copy")
    onnx_path = paths.models / "lite-copy.onnx"
    with open(onnx_path, "r+b") as fh:  # flip one byte in the middle of the weights
        fh.seek(onnx_path.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelError) as err:
        get_backbone("lite-copy", paths)
    message = str(err.value)
    assert "lite-copy.onnx" in message and "corrupt" in message and "sha256" in message


def test_truncated_and_missing_files(paths):
    install_copy(paths, new_id="lite-copy")
    onnx_path = paths.models / "lite-copy.onnx"
    data = onnx_path.read_bytes()
    onnx_path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelError, match="lite-copy.onnx.*corrupt"):
        get_backbone("lite-copy", paths)
    onnx_path.unlink()
    with pytest.raises(ModelError, match="lite-copy.onnx.*missing"):
        get_backbone("lite-copy", paths)


def test_bad_manifests_are_named(paths):
    paths.models.mkdir(parents=True)
    broken = paths.models / "broken.json"
    broken.write_text("{ not json")
    with pytest.raises(ModelError, match="broken.json is not readable JSON"):
        load_manifest(broken)
    incomplete = paths.models / "incomplete.json"
    incomplete.write_text(json.dumps({"format": backbones.MANIFEST_FORMAT, "id": "x"}))
    with pytest.raises(ModelError, match="incomplete.json.*'file'"):
        load_manifest(incomplete)
    # Broken manifests do not hide the good ones.
    assert [s.id for s in available_backbones(paths)] == [LITE0]


def test_hash_is_cached_by_size_and_mtime(paths, monkeypatch):
    install_copy(paths, new_id="lite-copy")
    calls = []
    real = backbones.sha256_file

    def counting(path, *args):
        calls.append(Path(path).name)
        return real(path, *args)

    monkeypatch.setattr(backbones, "sha256_file", counting)
    backbones.forget_hash_cache()
    get_backbone("lite-copy", paths)
    assert calls == ["lite-copy.onnx"]
    backbones.forget_hash_cache()  # a new start: only the on-disk cache is left
    get_backbone("lite-copy", paths)
    assert calls == ["lite-copy.onnx"]
    assert (paths.models / backbones.HASH_CACHE_NAME).is_file()
    # Any change of the file (here its mtime) makes it hashed again.
    onnx_path = paths.models / "lite-copy.onnx"
    st = onnx_path.stat()
    os.utime(onnx_path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    get_backbone("lite-copy", paths)
    assert calls == ["lite-copy.onnx", "lite-copy.onnx"]


def test_default_paths_come_from_stylist_home(stylist_home):
    spec = get_backbone(LITE0)  # no paths: STYLIST_HOME (a temporary folder here)
    assert spec.id == LITE0
    assert (for_home(stylist_home).models / backbones.HASH_CACHE_NAME).is_file()


def test_importing_vision_modules_stays_light():
    code = (
        "import sys\n"
        "import stylist.vision.backbones, stylist.vision.extractor, stylist.vision.features\n"
        "import stylist.vision.preprocess, stylist.vision.export, stylist.vision.quantize\n"
        "heavy = [m for m in ('torch', 'onnxruntime', 'onnx', 'torchvision') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    repo = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=repo)
