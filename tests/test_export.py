"""Exports are valid PNG, PDF and JSON files made from metadata-free working copies."""

from __future__ import annotations

import json

import pytest
from PIL import Image
from PIL.PdfParser import PdfParser

from stylist.domain import Outfit
from stylist.errors import UsageError
from stylist.export import ExportOutfit, export_outfits
from stylist.library import Library
from stylist.library.importer import import_photos
from stylist.rank.query import match_percent


@pytest.fixture
def outfits(paths, some_photos):
    lib = Library.open(paths)
    items = import_photos(lib, some_photos).added
    tops, bottoms, shoes = items[:4], items[4:8], items[8:12]
    chosen = [
        ExportOutfit(
            Outfit(t.id, b.id, s.id),
            (t, b, s),
            score=0.7 - n / 30,
            pair_scores={"top_bottom": 0.7, "top_shoes": 0.6, "bottom_shoes": 0.8},
        )
        for n, (t, b, s) in enumerate(zip(tops, bottoms, shoes, strict=True))
    ]
    yield lib, chosen
    lib.close()


def test_png_collage(outfits, tmp_path):
    lib, chosen = outfits
    path = export_outfits(chosen, lib.file_path, tmp_path / "looks.png")
    with Image.open(path) as im:
        assert im.format == "PNG" and im.width >= 3 * 240 and im.height >= 4 * 240
        assert not im.getexif()
    assert not list(tmp_path.glob(".*.tmp"))


def test_pdf_lookbook_has_a_page_per_outfit(outfits, tmp_path):
    lib, chosen = outfits
    path = export_outfits(chosen, lib.file_path, tmp_path / "lookbook.pdf")
    data = path.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert len(PdfParser(str(path)).pages) == 4


def test_json_export_carries_the_photos_without_metadata(outfits, tmp_path):
    lib, chosen = outfits
    path = export_outfits(chosen, lib.file_path, tmp_path / "looks.json")
    data = json.loads(path.read_text())
    assert len(data["outfits"]) == 4
    first = data["outfits"][0]
    assert first["top"]["id"] == chosen[0].outfit.top
    # the match reads as the window shows it
    assert first["match"] == match_percent(chosen[0].score) == 70.0
    assert first["pair_match"] == {"top_bottom": 70.0, "top_shoes": 60.0, "bottom_shoes": 80.0}
    no_score = export_outfits(
        [ExportOutfit(chosen[1].outfit, chosen[1].items)], lib.file_path, tmp_path / "bare.json"
    )
    bare = json.loads(no_score.read_text())["outfits"][0]
    assert bare["match"] is None and bare["pair_match"] is None and bare["score"] is None
    photo = tmp_path / first["shoes"]["file"]
    with Image.open(photo) as im:
        assert im.format == "JPEG" and not im.getexif() and "icc_profile" not in im.info


def test_bad_requests_say_what_is_wrong(outfits, tmp_path):
    lib, chosen = outfits
    with pytest.raises(UsageError, match="png, pdf or json"):
        export_outfits(chosen, lib.file_path, tmp_path / "looks.gif")
    with pytest.raises(UsageError, match="does not exist"):
        export_outfits(chosen, lib.file_path, tmp_path / "nowhere" / "looks.png")
    with pytest.raises(UsageError, match="nothing to export"):
        export_outfits([], lib.file_path, tmp_path / "looks.png")


def test_collage_shows_the_garments_cut_out_on_a_light_ground(outfits, tmp_path):
    from stylist.library.cutouts import compute_cutouts
    from stylist.vision.cutout import LIGHT_GROUND

    lib, chosen = outfits
    report = compute_cutouts(lib, [chosen[0].items[0].id])
    assert report.computed == 1 and not report.rejected
    top = lib.item(chosen[0].items[0].id)
    first = ExportOutfit(chosen[0].outfit, (top, *chosen[0].items[1:]))
    side, gap, caption = 240, 16, 36  # the collage's layout: the first tile's place
    corner = (gap + 3, gap + caption + 3)
    with Image.open(export_outfits([first], lib.file_path, tmp_path / "cut.png")) as im:
        cut = im.convert("RGB")
    with Image.open(
        export_outfits([first], lib.file_path, tmp_path / "raw.png", cutouts=False)
    ) as im:
        raw = im.convert("RGB")
    tile = (gap, gap + caption, gap + side, gap + caption + side)
    assert cut.crop(tile).tobytes() != raw.crop(tile).tobytes()
    # the cut-out's corner is the light ground (the photo's own corner is floor or bed)
    assert max(abs(a - b) for a, b in zip(cut.getpixel(corner), LIGHT_GROUND, strict=True)) <= 3
    # the other tiles (no cut-out yet) are the same in both
    second = (2 * gap + side, gap + caption, 2 * gap + 2 * side, gap + caption + side)
    assert cut.crop(second).tobytes() == raw.crop(second).tobytes()
