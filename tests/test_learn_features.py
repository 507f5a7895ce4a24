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


def test_app_preparation_gives_the_features_the_app_computes(tmp_path, shared_data, paths):
    """Training photos prepared with ``prepare="app"`` are seen exactly as the app sees a
    person's photo of them: the same features as the library stores after an import."""
    from stylist import paths as paths_mod
    from stylist.library.cutouts import analysis_relative
    from stylist.service import Stylist
    from stylist.vision.cutout import LIGHT_GROUND, MASK_VERSION

    folder = tmp_path / "set"
    folder.mkdir()
    names = [*CROPS[:3], "mango.jpg"]
    for name in CROPS[:3]:
        shutil.copy(shared_data / "outfits-ccp" / "crops" / name, folder / name)
    mango = sorted((shared_data / "outfits-mango" / "images").glob("*.jpg"))[0]
    shutil.copy(mango, folder / "mango.jpg")

    app = crop_features(folder, names, paths=paths, views=2, prepare="app")
    plain = crop_features(folder, names, paths=paths, views=1)
    assert len(list(paths.features.glob("*.npz"))) == 2  # one cache per preparation
    assert not np.allclose(app.features[0], plain.features[0], atol=1e-2)
    twins = sorted((paths.features / "app-photos").glob("*.jpg"))
    assert len(twins) == 4 and any(t.name.endswith(".cut.jpg") for t in twins)

    stylist = Stylist(paths_mod.for_home(tmp_path / "lib"))
    try:
        stylist.import_photos([folder / n for n in names])
        stylist.extract_features()
        seen = {
            item.original_name: (
                stylist.library.file_path(analysis_relative(item)),
                item.cutout == "auto",
            )
            for item in stylist.items()
        }
        # The app's own file, decoded and run as training runs it (fp32: the app may use int8).
        from stylist.vision.extractor import Extractor

        with Extractor(stylist.backbone(), device="cpu", variant="fp32", paths=paths) as ex:
            shown = ex.run_files([seen[n][0] for n in names]).features
    finally:
        stylist.close()
    for i, name in enumerate(names):
        file, cut = seen[name]
        assert np.allclose(app.features[0, i], shown[i], atol=1e-4), name
        twin = paths.features / "app-photos" / f"{app.hashes[i]}.v{MASK_VERSION}.cut.jpg"
        assert twin.is_file() == cut
        if cut:  # the very twin the app wrote
            assert twin.read_bytes() == file.read_bytes()
    # The augmented views keep the app's light ground around the garment.
    with Image.open(twins[0]) as im:
        out = augment(im.convert("RGB"), np.random.default_rng(0), LIGHT_GROUND)
    corner = np.asarray(out)[0, 0]
    assert np.abs(corner.astype(int) - LIGHT_GROUND).max() <= 2


def test_an_unknown_preparation_is_refused(tmp_path, paths) -> None:
    with pytest.raises(ValueError, match="preparation"):
        crop_features(tmp_path, [], paths=paths, prepare="studio")
