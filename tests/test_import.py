"""Importing real photos: formats, orientation, metadata, duplicates, bad files, cancel."""

from __future__ import annotations

import io
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylist.domain import Category, CategorySource
from stylist.library import Library
from stylist.library.folders import category_of_folder
from stylist.library.importer import import_photos
from stylist.library.photos import MAX_PIXELS, THUMBNAIL_SIDE, WORKING_SIDE


@pytest.fixture
def library(paths):
    lib = Library.open(paths)
    yield lib
    lib.close()


def test_real_photos_import_once_and_again_as_duplicates(library, some_photos):
    report = import_photos(library, [some_photos[0].parent])
    assert len(report.added) == 12 and not report.failed
    for item in report.added:
        with Image.open(library.file_path(item.working_file)) as working:
            assert max(working.size) <= WORKING_SIDE and working.mode == "RGB"
        with Image.open(library.file_path(item.thumbnail_file)) as thumb:
            assert max(thumb.size) <= THUMBNAIL_SIDE
        original = library.file_path(item.stored_file).read_bytes()
        assert original == (some_photos[0].parent / item.original_name).read_bytes()
    again = import_photos(library, [some_photos[0].parent])
    assert len(again.duplicates) == 12 and not again.added and not again.failed
    assert len(library.items()) == 12
    assert library.check().consistent


def _jpeg_with_exif(source: Path, orientation: int) -> bytes:
    with Image.open(source) as im:
        rgb = im.convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"
    gps = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}
    exif[0x8825] = gps
    out = io.BytesIO()
    rgb.save(out, "JPEG", exif=exif.tobytes(), quality=92)
    return out.getvalue()


def test_orientation_is_applied_and_no_metadata_is_copied_out(library, some_photos, tmp_path):
    photo = tmp_path / "rotated.jpg"
    photo.write_bytes(_jpeg_with_exif(some_photos[0], orientation=6))
    with Image.open(some_photos[0]) as im:
        w, h = im.size
    (item,) = import_photos(library, [photo]).added
    assert (item.width, item.height) == (h, w)  # displayed size: turned a quarter
    for relative in (item.working_file, item.thumbnail_file):
        data = library.file_path(relative).read_bytes()
        assert b"Exif" not in data and b"PhoneMaker" not in data and b"ICC_PROFILE" not in data
        with Image.open(io.BytesIO(data)) as copy:
            assert not copy.getexif() and "icc_profile" not in copy.info
            assert (copy.width < copy.height) == (h < w)


def test_every_supported_format_imports(library, some_photos, tmp_path):
    folder = tmp_path / "formats"
    folder.mkdir()
    with Image.open(some_photos[0]) as im:
        base = im.convert("RGB")
    base.thumbnail((300, 300))
    rgba = base.convert("RGBA")
    rgba.putalpha(128)
    rgba.save(folder / "alpha.png")
    base.save(folder / "photo.webp", quality=80)
    base.save(folder / "photo.bmp")
    base.save(folder / "photo.tiff")
    frames = [base, base.rotate(90), base.rotate(180)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:])
    base.convert("CMYK").save(folder / "cmyk.jpg")
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    base.save(folder / "iphone.heic", quality=80)

    report = import_photos(library, [folder])
    assert not report.failed, report.failed
    suffixes = sorted(Path(i.stored_file).suffix for i in report.added)
    assert suffixes == [".bmp", ".gif", ".heic", ".jpg", ".png", ".tif", ".webp"]
    png = next(i for i in report.added if i.original_name == "alpha.png")
    with Image.open(library.file_path(png.working_file)) as working:
        # half-transparent pixels went onto white, so they are lighter than the photo itself
        assert working.mode == "RGB"
        assert np.asarray(working.convert("L")).mean() > np.asarray(base.convert("L")).mean()


def make_broken_folder(folder: Path, good: list[Path]) -> dict[str, str]:
    """Good photos beside every kind of bad file; returns the bad names and a word of the reason."""
    folder.mkdir()
    for photo in good:
        shutil.copyfile(photo, folder / photo.name)
    (folder / "empty.jpg").write_bytes(b"")
    data = good[0].read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (folder / "notes.jpg").write_text("this is a shopping list, not a photo")
    side = int(MAX_PIXELS**0.5) + 500  # just over 64 megapixels, a few KB as PNG
    Image.new("1", (side, side)).save(folder / "bomb.png")
    Image.new("RGB", (40, 40), "red").save(folder / "scan.ppm")
    (folder / ".hidden.jpg").write_bytes(b"never looked at")
    (folder / "readme.txt").write_text("not an image file: passed over")
    return {
        "empty.jpg": "empty",
        "truncated.jpg": "truncated",
        "notes.jpg": "not an image",
        "bomb.png": "too large",
        "scan.ppm": "unsupported format",
    }


def test_bad_files_are_reported_and_the_good_ones_import(library, some_photos, tmp_path):
    folder = tmp_path / "mixed"
    bad = make_broken_folder(folder, some_photos[:3])
    missing = tmp_path / "no-such-photo.jpg"
    report = import_photos(library, [folder, missing])
    assert len(report.added) == 3
    reasons = {path.name: reason for path, reason in report.failed}
    assert set(reasons) == set(bad) | {missing.name}
    for name, word in bad.items():
        assert word in reasons[name], (name, reasons[name])
    assert "no such file" in reasons[missing.name]
    assert library.check().consistent


def test_folder_names_give_categories(library, some_photos, tmp_path):
    layout = {"Tops": 0, "Schuhe": 1, "jupes": 2, "2023 summer/T-Shirts": 3, "misc": 4}
    for folder, index in layout.items():
        (tmp_path / "wardrobe" / folder).mkdir(parents=True)
        shutil.copyfile(some_photos[index], tmp_path / "wardrobe" / folder / f"{index}.jpg")
    report = import_photos(library, [tmp_path / "wardrobe"])
    by_name = {item.original_name: item for item in report.added}
    assert by_name["0.jpg"].category == Category.TOP
    assert by_name["0.jpg"].category_source == CategorySource.USER
    assert by_name["1.jpg"].category == Category.SHOES
    assert by_name["2.jpg"].category == Category.BOTTOM
    assert by_name["3.jpg"].category == Category.TOP
    assert by_name["4.jpg"].category == Category.UNSORTED
    assert by_name["4.jpg"].category_source is None


@pytest.mark.parametrize(
    "name, category",
    [
        ("jeans", Category.BOTTOM),
        ("Mäntel", Category.TOP),
        ("zapatillas", Category.SHOES),
        ("robes", Category.ONE_PIECE),
        ("Accessoires", Category.OTHER),
        ("my-sneakers", Category.SHOES),
        ("holiday 2019", None),
    ],
)
def test_folder_words_in_several_languages(name, category):
    assert category_of_folder(name) == category


def test_an_explicit_category_wins_over_folder_names(library, some_photos, tmp_path):
    (tmp_path / "shoes").mkdir()
    shutil.copyfile(some_photos[0], tmp_path / "shoes" / "x.jpg")
    (item,) = import_photos(library, [tmp_path / "shoes"], category=Category.TOP).added
    assert item.category == Category.TOP


def test_progress_is_reported_and_cancel_keeps_what_is_done(library, some_photos):
    cancel = threading.Event()
    seen = []

    def progress(done, total, current):
        seen.append((done, total, current))
        if done == 4:
            cancel.set()

    report = import_photos(library, some_photos, progress=progress, cancel=cancel)
    assert report.cancelled
    assert 4 <= len(report.added) < len(some_photos)
    assert all(total == len(some_photos) for _, total, _ in seen)
    assert seen[0][2] == some_photos[0].name
    assert len(library.items()) == len(report.added)
    assert library.check().consistent
    rest = import_photos(library, some_photos)
    assert len(rest.added) + len(report.added) == len(some_photos)
