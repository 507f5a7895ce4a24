"""The lookbook PDF as a reader sees it (poppler's own tools read the real file): a cover and a
page per outfit, every item's name and colour names as text, photos at print resolution, every
font embedded; the format follows the file name; Show in folder opens the export's folder."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt

from stylist.domain import Category, Outfit
from stylist.gui import favourites as favourites_module

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) is not installed"
)


def poppler(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def page(qtbot, window):
    session = window.session
    library = session.library
    tops, bottoms, shoes = (
        library.items(Category.TOP),
        library.items(Category.BOTTOM),
        library.items(Category.SHOES),
    )
    session.rename(tops[0].id, "Émilie's café blouse — long sleeves")
    library.set_tags(bottoms[0].id, ["work"])
    for n in range(3):
        session.add_favourite(Outfit(tops[n].id, bottoms[n].id, shoes[n].id))
    window.show_page(2)
    favourites = window.favourites
    assert favourites.model.rowCount() == 3
    return favourites


def export(qtbot, page, path: Path, fmt: str = "") -> Path:
    page.last_export = None
    page.export_to(path, fmt)
    qtbot.waitUntil(lambda: page.last_export is not None, timeout=60000)
    return page.last_export


@needs_poppler
def test_the_pdf_holds_names_as_text_and_sharp_photos(qtbot, window, page, tmp_path):
    pdf = export(qtbot, page, tmp_path / "lookbook.pdf")
    assert pdf == tmp_path / "lookbook.pdf"
    pages = int(
        next(
            line.split()[-1]
            for line in poppler("pdfinfo", str(pdf)).splitlines()
            if line.startswith("Pages:")
        )
    )
    assert pages == 1 + 3  # the cover, then one outfit a page
    text = " ".join(poppler("pdftotext", "-enc", "UTF-8", str(pdf), "-").split())
    assert "Lookbook" in text and "3 outfits" in text
    items = {i for f in window.session.favourites() for i in f.outfit.ids()}
    for item_id in items:
        item = window.session.library.item(item_id)
        assert item.name in text, item.name
        assert item.original_name not in text
    assert "Émilie's café blouse — long sleeves" in text
    assert "tags: work" in text
    assert "#" not in text  # colours by name, never as hex codes
    assert any(name in text for name in ("black", "white", "grey", "navy", "blue", "beige"))
    fonts = poppler("pdffonts", str(pdf)).splitlines()[2:]
    assert fonts and all(line.split()[-5] == "yes" for line in fonts), fonts  # embedded
    images = poppler("pdfimages", "-list", str(pdf)).splitlines()[2:]
    assert len(images) >= 3 * 3
    for line in images:
        x_ppi, y_ppi = (int(v) for v in line.split()[12:14])
        assert x_ppi >= 200 and y_ppi >= 200, line


def test_the_format_follows_the_file_name(qtbot, page, tmp_path):
    png = export(qtbot, page, tmp_path / "favourites.png", "pdf")
    assert png == tmp_path / "favourites.png"
    with Image.open(png) as image:
        assert image.format == "PNG"
    assert not (tmp_path / "favourites.png.pdf").exists()
    plain = export(qtbot, page, tmp_path / "looks", "json")
    assert plain == tmp_path / "looks.json" and plain.read_text().startswith("{")


def test_show_in_folder_opens_the_exports_folder(qtbot, page, tmp_path, monkeypatch):
    opened = []
    monkeypatch.setattr(
        favourites_module.QDesktopServices, "openUrl", lambda url: opened.append(url) or True
    )
    assert not page.exported.isVisible()
    export(qtbot, page, tmp_path / "book.pdf")
    assert page.exported.isVisible() and "book.pdf" in page.exported_text.text()
    qtbot.mouseClick(page.show_folder_button, Qt.MouseButton.LeftButton)
    assert [Path(u.toLocalFile()) for u in opened] == [tmp_path]
