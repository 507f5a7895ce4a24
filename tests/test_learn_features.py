"""Features and statistics of dataset crops: real ONNX Runtime features, cached by content."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from stylist.learn.features import (
    augment,
    colour_statistics,
    crop_features,
    matching_key,
    size_inputs,
    size_statistics,
)

CROPS = ["0001_vest.jpg", "0001_skirt.jpg", "0001_shoes.jpg", "0002_dress.jpg"]


def test_size_and_colour_statistics_of_a_drawn_crop() -> None:
    img = Image.new("RGB", (10, 20), (255, 255, 255))
    img.paste((200, 0, 0), (0, 0, 5, 10))  # a red quarter
    w, h, bg = size_statistics(img)
    assert (w, h) == (10, 20) and bg == pytest.approx(0.75)
    colour = colour_statistics(img)
    assert colour.shape == (32,)
    assert colour[:3] == pytest.approx([200 / 255, 0, 0], abs=1e-6)  # garment pixels only
    assert colour[8:16].sum() == pytest.approx(1.0)  # the red histogram
    key = matching_key(np.array([[10, 20, 0.75]]))
    assert key[0] == pytest.approx([np.log(10), np.log(20), 0.75])
    assert size_inputs(np.array([[10, 20, 0.75]])).shape == (1, 6)


def test_augmented_crop_keeps_a_white_background(shared_data) -> None:
    img = Image.open(shared_data / "outfits-ccp" / "crops" / "0001_skirt.jpg").convert("RGB")
    out = augment(img, np.random.default_rng(0))
    arr = np.asarray(out)
    corners = [arr[0, 0], arr[0, -1], arr[-1, 0], arr[-1, -1]]
    assert all((c >= 250).all() for c in corners)
    assert out.size != img.size or not np.array_equal(arr, np.asarray(img))


class CountingExtractor:
    def __init__(self, inner) -> None:
        self.inner, self.spec, self.images = inner, inner.spec, 0

    def run_images(self, images):
        self.images += len(images)
        return self.inner.run_images(images)


def test_crop_features_are_cached_by_content(tmp_path, shared_data, paths) -> None:
    from stylist.vision.backbones import get_backbone
    from stylist.vision.extractor import Extractor

    folder = tmp_path / "set"
    folder.mkdir()
    for name in CROPS:
        shutil.copy(shared_data / "outfits-ccp" / "crops" / name, folder / name)
    spec = get_backbone("efficientnet-lite0", paths)
    ex = CountingExtractor(Extractor(spec, device="cpu", variant="fp32", paths=paths))
    first = crop_features(folder, CROPS, paths=paths, views=2, extractor=ex)
    assert first.features.shape == (2, 4, spec.feature_dim)
    assert ex.images == 8
    # View 0 is the crop as the library would extract it.
    plain = ex.inner.run_files([folder / n for n in CROPS])
    assert np.allclose(first.features[0], plain.features, atol=1e-4)
    assert not np.allclose(first.features[1], first.features[0], atol=1e-2)
    # Colour statistics per view too: view 0 of the crop as it is, view 1 of its re-lit version.
    assert first.colour.shape == (2, 4, 32)
    crop = Image.open(folder / CROPS[0]).convert("RGB")
    assert np.allclose(first.colour[0, 0], colour_statistics(crop), atol=1e-6)
    assert not np.allclose(first.colour[1, 0], first.colour[0, 0], atol=1e-3)

    again = crop_features(folder, CROPS, paths=paths, views=2, extractor=ex)
    assert ex.images == 8  # nothing recomputed
    assert np.array_equal(again.features, first.features)
    fewer = crop_features(folder, CROPS[:2], paths=paths, views=1, extractor=ex)
    assert ex.images == 8 and np.array_equal(fewer.features[0], first.features[0, :2])
    assert np.array_equal(fewer.colour, first.colour[:1, :2])

    shutil.copy(shared_data / "outfits-ccp" / "crops" / "0003_boots.jpg", folder / CROPS[2])
    changed = crop_features(folder, CROPS, paths=paths, views=2, extractor=ex)
    assert ex.images == 10  # only the replaced photo, both views
    assert np.array_equal(changed.features[:, [0, 1, 3]], first.features[:, [0, 1, 3]])
    assert not np.allclose(changed.features[0, 2], first.features[0, 2])
    assert list(paths.features.glob("*.npz"))  # under the home's feature folder


def test_unreadable_crop_is_named(tmp_path, paths) -> None:
    from stylist.learn.features import FeatureCacheError

    (tmp_path / "bad.jpg").write_bytes(b"not a photo")
    with pytest.raises(FeatureCacheError, match="bad.jpg"):
        crop_features(tmp_path, ["bad.jpg"], paths=paths)


def test_a_damaged_cache_is_recomputed(tmp_path, shared_data, paths) -> None:
    from stylist.vision.backbones import get_backbone
    from stylist.vision.extractor import Extractor

    shutil.copy(shared_data / "outfits-ccp" / "crops" / CROPS[0], tmp_path / CROPS[0])
    spec = get_backbone("efficientnet-lite0", paths)
    ex = CountingExtractor(Extractor(spec, device="cpu", variant="fp32", paths=paths))
    first = crop_features(tmp_path, CROPS[:1], paths=paths, extractor=ex)
    (cache,) = paths.features.glob("*.npz")
    cache.write_bytes(cache.read_bytes()[:300])  # cut short, as by a crash or a full disk
    again = crop_features(tmp_path, CROPS[:1], paths=paths, extractor=ex)
    assert ex.images == 2  # computed again rather than trusted or failing
    assert np.allclose(again.features, first.features, atol=1e-6)
