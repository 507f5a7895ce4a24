"""Exporting outfits: a PNG collage, a PDF lookbook (one outfit a page) or JSON with the photos.

Exports are made from the working copies, which carry no metadata at all, and Pillow writes none
of its own: no location or camera data ever leaves in an export. The collage and the lookbook
show each garment cut out of its background on a light ground, as a stylist's board does, where
the item's cut-out is in use (``cutouts=False`` shows the photos as they are). Files are written
under a temporary name and renamed into place, so a failed export leaves nothing half-written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from stylist.domain import SLOT_NAMES, Item, Outfit
from stylist.errors import UsageError
from stylist.files import atomic_write, write_json
from stylist.rank.query import match_percent

FORMATS = ("png", "pdf", "json")
MOST_ITEMS = 3  # items of the largest outfit (a top, a bottom and shoes)


@dataclass
class ExportOutfit:
    """One outfit to export, with its items (in ``outfit.slots()`` order) and, where known, its
    scores (``score``: the mean pair probability, 0..1)."""

    outfit: Outfit
    items: tuple[Item, ...]
    score: float | None = None
    pair_scores: dict[str, float] | None = None


def export_outfits(
    outfits: list[ExportOutfit],
    photo_path,
    target: Path,
    fmt: str | None = None,
    cutouts: bool = True,
    pdf_writer: Callable[[list[ExportOutfit], Callable, Path], Path] | None = None,
) -> Path:
    """Write ``outfits`` to ``target``; ``photo_path(relative)`` finds a stored file. With
    ``cutouts`` the pictures show each garment cut out where its cut-out is in use.

    ``pdf_writer(outfits, photo_path, target)``, where given, draws the PDF instead of the
    picture-per-page lookbook made here (the desktop app passes its vector lookbook)."""
    if cutouts:
        photo_path = _CutOutPictures(photo_path)
    target = Path(target)
    fmt = (fmt or target.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise UsageError(f"cannot export as {fmt!r}: choose png, pdf or json")
    if not outfits:
        raise UsageError("there is nothing to export: no outfits were chosen")
    if not target.parent.is_dir():
        raise UsageError(f"cannot export to {target}: the folder {target.parent} does not exist")
    if fmt == "png":
        collage = _collage(outfits, photo_path)
        atomic_write(target, lambda fh: collage.save(fh, format="PNG", optimize=True))
    elif fmt == "pdf" and pdf_writer is not None:
        pdf_writer(outfits, photo_path, target)
    elif fmt == "pdf":
        pages = [_page(o, photo_path, n) for n, o in enumerate(outfits, start=1)]
        atomic_write(
            target,
            lambda fh: pages[0].save(
                fh,
                format="PDF",
                save_all=True,
                append_images=pages[1:],
                resolution=100,
                title="Stylist lookbook",
                author="",
                creator="Stylist",
                producer="Stylist",
            ),
        )
    else:
        write_json(target, _json_export(outfits, photo_path, target))
    return target


class _CutOutPictures:
    """``photo_path`` for pictures: an item's cut-out (on the light ground) where it is in use.

    Called with an item instead of a relative path, it picks the item's picture."""

    def __init__(self, photo_path) -> None:
        self.photo_path = photo_path

    def __call__(self, relative: str) -> Path:
        return self.photo_path(relative)

    def picture(self, item: Item) -> tuple[Path, tuple[int, int, int] | str]:
        from stylist.library.cutouts import analysis_relative
        from stylist.vision.cutout import LIGHT_GROUND

        if item.uses_cutout:
            path = self.photo_path(analysis_relative(item))
            if path.is_file():
                return path, LIGHT_GROUND
        return self.photo_path(item.working_file), "white"


def _picture(photo_path, item: Item) -> tuple[Path, tuple[int, int, int] | str]:
    """The file to show for an item and the ground of its tile."""
    if isinstance(photo_path, _CutOutPictures):
        return photo_path.picture(item)
    return photo_path(item.working_file), "white"


def _colour_names(colours: list[str]) -> list[str]:
    from stylist.vision.colours import colour_name

    names: list[str] = []
    for value in colours:
        try:
            name = colour_name(value)
        except ValueError:
            continue
        if name not in names:
            names.append(name)
    return names


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _tile(picture: tuple[Path, tuple[int, int, int] | str], side: int) -> Image.Image:
    """A photo fitted into a square of its ground's colour."""
    photo, ground = picture
    with Image.open(photo) as im:
        im = im.convert("RGB")
        im.thumbnail((side, side), Image.Resampling.LANCZOS)
        tile = Image.new("RGB", (side, side), ground)
        tile.paste(im, ((side - im.width) // 2, (side - im.height) // 2))
    return tile


def _caption(o: ExportOutfit, n: int) -> str:
    text = f"Outfit {n}"
    if o.score is not None:
        text += f" · {o.score:.0%} match"
    return text


def _collage(outfits: list[ExportOutfit], photo_path) -> Image.Image:
    side, gap, caption = 240, 16, 36
    width = gap + MOST_ITEMS * (side + gap)
    row = side + caption + gap
    sheet = Image.new("RGB", (width, gap + row * len(outfits)), (246, 244, 241))
    draw = ImageDraw.Draw(sheet)
    for n, o in enumerate(outfits):
        y = gap + n * row
        draw.text((gap, y + 4), _caption(o, n + 1), fill=(40, 40, 40), font=_font(20))
        for i, item in enumerate(o.items):
            sheet.paste(
                _tile(_picture(photo_path, item), side), (gap + i * (side + gap), y + caption)
            )
    return sheet


def _page(o: ExportOutfit, photo_path, n: int) -> Image.Image:
    """One A4 page at 100 dpi: the photos one above the other, with the scores."""
    page = Image.new("RGB", (827, 1169), "white")
    draw = ImageDraw.Draw(page)
    draw.text((60, 40), _caption(o, n), fill=(30, 30, 30), font=_font(32))
    side = 320
    for i, item in enumerate(o.items):
        y = 100 + i * (side + 20)
        page.paste(_tile(_picture(photo_path, item), side), (60, y))
        slot = o.outfit.slots()[i].replace("_", "-")
        lines = [f"{slot}: {item.name}"]
        if item.colours:
            lines.append("colours: " + ", ".join(_colour_names(item.colours[:3])))
        draw.text((60 + side + 30, y + 20), "\n".join(lines), fill=(60, 60, 60), font=_font(20))
    if o.pair_scores:
        # Plain ASCII: Pillow's built-in font has no dashes or arrows.
        text = "   ".join(
            f"{k.replace('_', ' + ')} {match_percent(v):.1f}%" for k, v in o.pair_scores.items()
        )
        draw.text((60, 1120), text, fill=(90, 90, 90), font=_font(18))
    return page


def _json_export(outfits: list[ExportOutfit], photo_path, target: Path) -> dict:
    """The JSON file's contents, once a folder beside it holds each item's (metadata-free)
    photo."""
    folder = target.with_name(target.stem + "_photos")
    folder.mkdir(exist_ok=True)
    records = []
    for o in outfits:
        record: dict = {
            "score": o.score,
            # the percentages the window shows (see ``match_percent``)
            "match": None if o.score is None else match_percent(o.score),
            "pair_scores": o.pair_scores,
            "pair_match": None
            if o.pair_scores is None
            else {k: match_percent(v) for k, v in o.pair_scores.items()},
        }
        record.update(dict.fromkeys(SLOT_NAMES))  # the slots this outfit leaves empty stay null
        for slot, item in zip(o.outfit.slots(), o.items, strict=True):
            name = f"item-{item.id}.jpg"
            # a new file renamed into place: never written through a link to another file
            atomic_write(folder / name, Path(photo_path(item.working_file)).read_bytes())
            record[slot] = {
                "id": item.id,
                "category": item.category.value,
                "name": item.name,
                "original_name": item.original_name,
                "colours": item.colours,
                "tags": item.tags,
                "file": f"{folder.name}/{name}",
            }
        records.append(record)
    return {"format": "stylist-outfits/1", "outfits": records}
