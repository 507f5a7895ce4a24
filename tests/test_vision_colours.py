"""Dominant garment colours: the garment's colour, not the floor's, on real and synthetic photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from stylist.errors import PhotoError
from stylist.vision.colours import (
    COLOUR_NAMES,
    Colour,
    colour_name,
    hex_to_rgb,
    image_colours,
    item_colours,
    lab_to_srgb,
    srgb_to_lab,
)

# Real photos from ../shared/data/wardrobe-photos, looked at by eye: (file, names the garment's
# main colour may have, background colour names that must not come first).
REAL = [
    ("images/d4825958-1013-4e12-b56c-3d88193cc5d7.jpg", {"red"}, {"teal", "blue"}),  # on teal
    ("images/8f6822c3-862b-4126-9a35-585569aec240.jpg", {"red", "orange"}, {"grey"}),
    ("images/76b4dcdf-14bb-4114-9a4b-7b0a9307cade.jpg", {"yellow"}, {"beige", "grey"}),
    ("images/04b42565-23ce-47d9-8f11-e3f1fb0d5051.jpg", {"pink"}, {"white", "grey"}),
    ("images/314125df-9112-48b9-9b5e-ad6c4130eee5.jpg", {"teal"}, {"white", "grey"}),
    ("images/21183cf1-c20b-4a86-8e86-ab5ca9b26c06.jpg", {"black"}, {"white", "beige"}),
    ("images/d9e84490-185d-48f9-ac16-4ef3360616d5.jpg", {"blue"}, {"white", "grey"}),
    ("images/22d78476-595a-412d-861e-880264696556.jpg", {"burgundy"}, {"beige", "grey"}),
    ("images/85dd32b5-b370-4547-9677-4e3c1e2ac477.jpg", {"pink"}, {"beige", "white"}),
]


def _background(height: int, width: int, colour: tuple[int, int, int], seed: int) -> np.ndarray:
    """A textured floor: a base colour with pixel noise and soft light falloff."""
    rng = np.random.default_rng(seed)
    image = np.empty((height, width, 3), np.float32)
    image[:] = colour
    image += rng.normal(0, 6, size=image.shape)
    image *= np.linspace(0.9, 1.05, width)[None, :, None]
    return np.clip(image, 0, 255)


def test_red_square_on_beige_is_red_not_beige():
    image = _background(300, 400, (222, 204, 170), seed=0)
    image[80:220, 120:280] = (200, 30, 30)
    colours = image_colours(image.astype(np.uint8))
    assert colours[0].name == "red"
    assert colours[0].share > 0.9
    assert "beige" not in [c.name for c in colours]
    r, g, b = hex_to_rgb(colours[0].hex)
    assert r > 150 and g < 70 and b < 70


def test_navy_garment_with_a_white_print_on_a_white_sheet():
    image = _background(320, 240, (236, 236, 232), seed=1)
    image[40:280, 50:190] = (28, 38, 72)
    image[90:170, 80:160] = (240, 240, 240)  # a big white print on the chest
    colours = image_colours(image.astype(np.uint8))
    names = [c.name for c in colours]
    assert names[0] == "navy"
    # The print is part of the garment: not masked with the sheet of the same colour.
    assert "white" in names


def test_garment_filling_the_frame_keeps_its_colour():
    image = _background(200, 200, (40, 110, 60), seed=2)
    colours = image_colours(image.astype(np.uint8))
    assert colours[0].name == "green"


def test_garment_the_colour_of_the_floor_is_still_named():
    # A grey jumper on a grey floor: nothing stands out, the centre is taken as the garment.
    image = _background(240, 240, (128, 128, 128), seed=3)
    image[60:180, 60:180] = (120, 120, 122)
    colours = image_colours(image.astype(np.uint8))
    assert colours[0].name == "grey"


@pytest.mark.parametrize(("file", "expected", "background"), REAL)
def test_real_photos(shared_data, file, expected, background):
    colours = item_colours(shared_data / "wardrobe-photos" / file)
    assert 1 <= len(colours) <= 3
    assert colours[0].name in expected, colours
    assert colours[0].name not in background
    assert all(isinstance(c, Colour) and c.name in COLOUR_NAMES for c in colours)
    shares = [c.share for c in colours]
    assert shares == sorted(shares, reverse=True)
    assert 0 < sum(shares) <= 1.0 + 1e-6


def test_names_of_plain_colours():
    assert colour_name("#000000") == "black"
    assert colour_name("#ffffff") == "white"
    assert colour_name("#808080") == "grey"
    assert colour_name("#1b2a4a") == "navy"
    assert colour_name("#d01010") == "red"
    assert colour_name("#2060d0") == "blue"
    assert colour_name((240, 200, 20)) == "yellow"
    assert colour_name("#7a1e32") == "burgundy"
    assert colour_name("#8b5a2b") == "brown"
    assert colour_name("#d9c8a6") == "beige"


def test_lab_round_trip():
    rgb = np.random.default_rng(0).integers(0, 256, size=(500, 3))
    back = lab_to_srgb(srgb_to_lab(rgb)).astype(int)
    assert np.abs(back - rgb).max() <= 1


def test_pil_image_and_file_agree(tmp_path):
    image = _background(300, 400, (222, 204, 170), seed=4)
    image[80:220, 120:280] = (30, 60, 160)
    pil = Image.fromarray(image.astype(np.uint8))
    pil.save(tmp_path / "blue.png")
    from_file = item_colours(tmp_path / "blue.png")
    from_image = image_colours(pil)
    assert from_file[0].name == from_image[0].name == "blue"


def test_broken_photo_names_the_file(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(PhotoError, match="broken.jpg"):
        item_colours(broken)
    with pytest.raises(PhotoError, match="missing.jpg"):
        item_colours(tmp_path / "missing.jpg")
