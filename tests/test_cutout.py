"""Garment cut-outs: the mask on real photos, its sanity checks, and cut-outs per item in a
real library (what the models see, features that follow the mask, the person's off switch)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from stylist.vision.cutout import (
    LIGHT_GROUND,
    cut_out,
    framed,
    garment_frame,
    garment_mask,
    on_light_ground,
    sanity,
)


def _rgb(path, side=640) -> np.ndarray:
    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((side, side))
        return np.asarray(im)


def test_mask_of_real_photos_keeps_the_garment_and_drops_the_border(some_photos):
    accepted = 0
    for n, path in enumerate(some_photos):
        rgb = _rgb(path)
        cutout = garment_mask(rgb)
        assert cutout.mask.shape == rgb.shape[:2]
        assert cutout.mask.dtype == np.uint8
        assert set(np.unique(cutout.mask)) <= {0, 255}
        if cutout.accepted:
            accepted += 1
            # a top or bottom photographed in the middle: much of its middle is garment (a pair
            # of shoes, the last four, has floor between them; trousers, between the legs)
            h, w = cutout.mask.shape
            if n < 8:
                middle = cutout.mask[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3]
                assert (middle > 0).mean() > 0.4, path
            assert 0.05 <= cutout.area < 0.97
    assert accepted >= 10  # of twelve ordinary phone photos


def test_cut_out_puts_the_garment_on_the_light_ground(some_photos):
    rgb = _rgb(some_photos[0])
    shown, cutout = cut_out(rgb)
    assert cutout.accepted
    import cv2

    # away from the soft edge (a few pixels), background is the plain light ground and the
    # garment is as photographed
    composed = on_light_ground(rgb, cutout.mask)
    ring = np.ones((15, 15), np.uint8)
    far = cv2.erode((cutout.mask == 0).astype(np.uint8), ring, borderValue=1) > 0
    assert far.mean() > 0.1
    assert np.abs(composed[far].astype(int) - LIGHT_GROUND).max() <= 1
    inside = cv2.erode((cutout.mask == 255).astype(np.uint8), ring, borderValue=1) > 0
    assert np.abs(composed[inside].astype(int) - rgb[inside]).max() <= 1

    # what the models see: the garment in a square around it, a margin of plain ground all round
    side = shown.shape[0]
    assert shown.shape == (side, side, 3)
    strip = max(2, side // 40)
    for edge in (shown[:strip], shown[-strip:], shown[:, :strip], shown[:, -strip:]):
        assert np.abs(edge.astype(int) - LIGHT_GROUND).max() <= 2
    garment = np.abs(shown.astype(int) - LIGHT_GROUND).max(axis=2) > 12
    rows, cols = np.flatnonzero(garment.any(axis=1)), np.flatnonzero(garment.any(axis=0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) > 0.8 * side


def test_sanity_rejects_a_mask_too_small_or_cutting_nothing_away():
    mask = np.zeros((100, 80), np.uint8)
    mask[45:50, 35:40] = 255
    assert sanity(mask) == "too small"
    assert sanity(np.full((100, 80), 255, np.uint8)) == "touching every border"
    mask = np.zeros((100, 80), np.uint8)
    mask[10:90, 10:70] = 255
    assert sanity(mask) == ""


def test_a_photo_of_nothing_falls_back_to_the_photo():
    plain = np.full((120, 90, 3), 200, np.uint8)
    shown, cutout = cut_out(plain)
    assert not cutout.accepted
    assert shown is plain


def test_the_frame_is_a_square_around_the_garment_even_at_the_photo_edge():
    mask = np.zeros((100, 80), np.uint8)
    mask[0:50, 60:80] = 255  # a garment in the top right corner, 50 tall and 20 wide
    top, left, side = garment_frame(mask)
    assert side == 58  # 50 and 8 % on either side
    assert (top, left) == (-4, 41)
    rgb = np.full((100, 80, 3), 30, np.uint8)
    out = framed(rgb, mask)
    assert out.shape == (58, 58, 3)
    assert (out[0] == LIGHT_GROUND).all()  # above the photo: the ground
    assert (out[29, 29] == 30).all()  # the garment's middle


def test_light_ground_keeps_a_full_mask_unchanged():
    rgb = np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8)
    out = on_light_ground(rgb, np.full((40, 30), 255, np.uint8))
    assert np.array_equal(out, rgb)


@pytest.fixture
def library_with_cutouts(tmp_path, some_photos):
    from stylist import paths as paths_mod
    from stylist.service import Stylist

    stylist = Stylist(paths_mod.for_home(tmp_path / "lib"))
    stylist.import_photos(some_photos[:3])
    report = stylist.extract_features()
    assert report.cutouts is not None and report.cutouts.computed == 3
    yield stylist
    stylist.close()


def _features(stylist) -> dict[int, np.ndarray]:
    spec = stylist.backbone()
    return stylist.library.features(spec.id, spec.sha256)


def test_analysis_cuts_out_first_and_the_models_see_the_cut_out(library_with_cutouts):
    from stylist.library.cutouts import analysis_relative, mask_relative

    stylist = library_with_cutouts
    for item in stylist.items():
        assert item.cutout in ("auto", "rejected")
        assert item.cutout_version == 1
        assert stylist.library.file_path(mask_relative(item.sha256, 1)).is_file()
        assert item.colours
        if item.cutout == "auto":
            assert analysis_relative(item).startswith("cutouts/")
    assert not stylist.analysis_unfinished()


def test_turning_off_changes_the_features_and_turning_on_brings_them_back(library_with_cutouts):
    stylist = library_with_cutouts
    item = next(i for i in stylist.items() if i.cutout == "auto")
    spec = stylist.backbone()
    on = _features(stylist)[item.id].copy()

    stylist.set_cutout_off(item.id, True)
    assert [i.id for i in stylist.library.items_without_features(spec.id, spec.sha256)] == [item.id]
    assert stylist.library.item(item.id).colours == []
    report = stylist.extract_features()
    assert report.computed == 1 and report.cached == 2
    off = _features(stylist)[item.id].copy()
    assert not np.allclose(on, off, atol=1e-3)

    stylist.set_cutout_off(item.id, False)
    report = stylist.extract_features()
    assert report.computed == 1
    assert np.allclose(_features(stylist)[item.id], on, atol=1e-5)
    assert stylist.library.item(item.id).colours


def test_the_persons_own_mask_replaces_the_automatic_one(library_with_cutouts):
    from stylist.library.cutouts import mask_relative, twin_relative

    stylist = library_with_cutouts
    item = stylist.items()[0]
    mask = stylist.mask(item.id)
    assert mask is not None
    edited = mask.copy()
    edited[: edited.shape[0] // 2] = 0  # the person erases the upper half
    after = stylist.set_mask(item.id, edited)
    assert (after.cutout, after.cutout_version, after.cutout_off) == ("edited", 2, False)
    assert np.array_equal(stylist.mask(item.id), edited)
    files = stylist.library.file_path
    assert not files(mask_relative(item.sha256, 1)).exists()  # the old version is gone
    assert files(twin_relative(item.sha256, 2)).is_file()
    with Image.open(files(twin_relative(item.sha256, 2))) as im:
        twin = np.asarray(im.convert("RGB"))
    # the twin frames what is left, the lower half: a wide garment now, in a square
    top, left, side = garment_frame(edited)
    assert twin.shape[:2] == (side, side)
    assert top >= edited.shape[0] // 2 - side // 2
    before = _features(stylist)[item.id].copy()
    assert stylist.extract_features().computed == 1
    assert not np.allclose(_features(stylist)[item.id], before, atol=1e-3)

    with pytest.raises(ValueError):
        stylist.set_mask(item.id, edited[:10])


def test_removing_an_item_removes_its_cut_out_files(library_with_cutouts):
    stylist = library_with_cutouts
    item = stylist.items()[0]
    folder = stylist.library.file_path(f"cutouts/{item.sha256[:2]}")
    assert list(folder.glob(f"{item.sha256}.*"))
    stylist.remove([item.id])
    assert not list(folder.glob(f"{item.sha256}.*"))


def test_cli_cutout_off_on_redo(tmp_path, some_photos):
    home = tmp_path / "cli"

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "stylist", "--home", str(home), *args],
            capture_output=True,
            text=True,
        )

    assert run("import", str(some_photos[4])).returncode == 0
    shown = run("cutout", "1")
    assert shown.returncode == 0 and "cut-out (version 1): on (automatic)" in shown.stdout
    off = run("cutout", "1", "--off")
    assert off.returncode == 0 and "(version 1): off" in off.stdout
    redone = run("cutout", "1", "--redo")
    assert redone.returncode == 0 and "(version 2): on (automatic)" in redone.stdout
    assert run("cutout", "1", "--off").returncode == 0
    assert "(version 2): on (automatic)" in run("cutout", "1", "--on").stdout
    assert run("cutout", "7", "--off").returncode == 2
    assert run("cutout", "1", "--on", "--off").returncode == 2
    items = json.loads(run("items", "--json").stdout)
    assert len(items) == 1


def test_cut_outs_stop_on_cancel_and_go_on_from_there(tmp_path, some_photos):
    import threading

    from stylist import paths as paths_mod
    from stylist.library.cutouts import compute_cutouts, mask_relative
    from stylist.service import Stylist

    with Stylist(paths_mod.for_home(tmp_path / "lib")) as stylist:
        stylist.import_photos(some_photos[:5])
        cancel = threading.Event()

        def progress(done: int, total: int, label: str) -> None:
            if done == 2:
                cancel.set()  # as the window's Cancel button would, after two cut-outs

        report = compute_cutouts(stylist.library, progress=progress, cancel=cancel)
        assert report.cancelled and report.computed == 2
        assert [i.cutout is not None for i in stylist.items()] == [True, True, False, False, False]
        assert stylist.analysis_unfinished()
        report = compute_cutouts(stylist.library)
        assert report.computed == 3 and not report.cancelled
        assert all(i.cutout is not None for i in stylist.items())
        # a lost mask file is made again by the next run
        first = stylist.items()[0]
        stylist.library.file_path(mask_relative(first.sha256, first.cutout_version)).unlink()
        assert compute_cutouts(stylist.library).computed == 1
        assert stylist.library.item(first.id).cutout_version == first.cutout_version + 1
        assert compute_cutouts(stylist.library).computed == 0


def test_a_category_head_trained_on_photos_reads_the_photos_as_photographed(
    library_with_cutouts,
):
    from stylist.vision.categories import CategoryClassifier, photo_key

    stylist = library_with_cutouts
    spec = stylist.backbone()
    assert not CategoryClassifier.load(spec).reads_cutouts  # the shipped head: no "photos"
    photos = stylist.library.features(photo_key(spec.id), spec.sha256)
    models = _features(stylist)
    assert set(photos) == {i.id for i in stylist.items()}
    item = next(i for i in stylist.items() if i.uses_cutout)
    direct = stylist.extractor().run_files([stylist.library.file_path(item.working_file)])
    assert np.allclose(photos[item.id], direct.features[0], atol=1e-4)
    assert not np.allclose(photos[item.id], models[item.id], atol=1e-3)
    # the guesser reads those features (the shipped head: beside the cut-out's)
    _, features, _ = stylist._category_inputs()
    dim = spec.feature_dim
    assert np.array_equal(features[item.id][:dim], photos[item.id])
    assert np.array_equal(features[item.id][dim:], models[item.id])


def _ellipse(mask: np.ndarray, cy: int, cx: int, ry: int, rx: int) -> None:
    yy, xx = np.mgrid[: mask.shape[0], : mask.shape[1]]
    mask[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = 255


def test_a_pair_of_shoes_is_framed_small_like_a_product_photo():
    from stylist.vision.cutout import PAIR_FILL, is_pair

    apart = np.zeros((200, 200), np.uint8)
    _ellipse(apart, 100, 60, 50, 25)  # two shoes from above, side by side
    _ellipse(apart, 100, 140, 50, 25)
    touching = np.zeros((200, 200), np.uint8)
    _ellipse(touching, 100, 76, 50, 25)  # toes apart, heels apart, touching in the middle
    _ellipse(touching, 100, 124, 50, 25)
    assert is_pair(apart) and is_pair(touching)
    top, left, side = garment_frame(apart)
    assert side == round(131 / PAIR_FILL)  # the pair is 101 px tall and 131 wide
    assert abs(top + side / 2 - 100) <= 1 and abs(left + side / 2 - 100) <= 1

    shirt = np.zeros((200, 200), np.uint8)
    shirt[40:180, 60:140] = 255
    shirt[40:90, 20:180] = 255  # sleeves
    shorts = np.zeros((200, 200), np.uint8)
    shorts[40:160, 40:160] = 255
    shorts[110:160, 90:110] = 0  # open at the hem only
    trousers = np.zeros((300, 200), np.uint8)
    trousers[20:280, 50:150] = 255
    trousers[100:280, 95:105] = 0
    stacked = np.zeros((200, 200), np.uint8)
    _ellipse(stacked, 50, 100, 25, 50)  # one above the other: no pair side by side
    _ellipse(stacked, 150, 100, 25, 50)
    for single in (shirt, shorts, trousers, stacked, np.zeros((50, 50), np.uint8)):
        assert not is_pair(single)
    assert garment_frame(shirt)[2] == round(160 * 1.16)


def _set_recipe(stylist, recipe: int) -> None:
    with stylist.library.writing():
        stylist.library._conn.execute("UPDATE items SET cutout_recipe = ?", (recipe,))


def test_a_new_recipe_cuts_automatic_masks_again_and_keeps_edited_ones(library_with_cutouts):
    from stylist.vision.cutout import MASK_VERSION

    stylist = library_with_cutouts
    first, second, third = stylist.items()
    edited = stylist.mask(first.id).copy()
    edited[: edited.shape[0] // 3] = 0
    stylist.set_mask(first.id, edited)
    assert stylist.make_cutouts().computed == 0  # all made by this recipe
    _set_recipe(stylist, MASK_VERSION - 1)
    versions = {i.id: i.cutout_version for i in stylist.items()}
    report = stylist.make_cutouts()
    assert report.computed == 3
    after = {i.id: i for i in stylist.items()}
    assert all(after[i].cutout_version == versions[i] + 1 for i in versions)
    assert after[first.id].cutout == "edited"
    assert np.array_equal(stylist.mask(first.id), edited)  # the person's mask, framed again
    assert {after[second.id].cutout, after[third.id].cutout} <= {"auto", "rejected"}
    rows = stylist.library._conn.execute("SELECT DISTINCT cutout_recipe FROM items").fetchall()
    assert rows == [(MASK_VERSION,)]
    assert stylist.make_cutouts().computed == 0
    # features follow the new versions
    assert stylist.extract_features().computed == 3


def test_check_finds_damaged_and_stray_cut_out_files(library_with_cutouts):
    from stylist.library.cutouts import mask_relative, twin_relative

    stylist = library_with_cutouts
    item = stylist.items()[0]
    files = stylist.library.file_path
    damaged = mask_relative(item.sha256, item.cutout_version)
    files(damaged).write_bytes(b"not a png")
    stray = files(f"cutouts/{item.sha256[:2]}/left-behind.jpg")
    stray.write_bytes(b"x")
    other = stylist.items()[1]
    files(twin_relative(other.sha256, other.cutout_version)).unlink()

    report = stylist.check()
    assert any(damaged in line for line in report.damaged)
    assert any(f"item {other.id}: cut-out twin" in line for line in report.missing_files)
    assert stray.relative_to(stylist.library.paths.data_dir).as_posix() in report.orphans
    assert files(damaged).is_file() and stray.is_file()  # a check alone changes nothing

    stylist.check(repair=True)
    assert not files(damaged).exists() and not stray.exists()
    lost_found = stylist.library.paths.lost_found
    assert (lost_found / damaged).is_file()
    assert (lost_found / stray.relative_to(stylist.library.paths.data_dir)).is_file()
    # the next analysis cuts both out again
    assert stylist.make_cutouts().computed == 2
    report = stylist.check()
    assert not report.damaged and not report.missing_files and not report.orphans


def test_one_photo_always_gets_one_mask(some_photos, shared_data):
    """GrabCut's start is seeded: a photo's mask does not depend on what was cut before it (a
    re-cut is the same cut, and training photos are cut exactly as the app cuts them)."""
    crop = _rgb(shared_data / "outfits-ccp" / "crops" / "0001_vest.jpg")
    first = garment_mask(crop).mask
    for path in [None, *some_photos[:2], None]:
        if path is not None:
            garment_mask(_rgb(path))
        assert np.array_equal(garment_mask(crop).mask, first)
