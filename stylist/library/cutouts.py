"""Each item's garment cut out of its background: the mask, its state, and what the models see.

An item's cut-out lives in ``cutouts/<shard>/`` as two files named by the photo's hash and the
mask's version: ``<sha>.<version>.png``, the mask (8-bit, 255 garment, at the working copy's
size), and ``<sha>.<version>.jpg``, the garment over the light ground in a square around it
(the working copy's cut-out twin, which features, colours and exports use). The original and the
working copy are never touched. The database row holds the state (``items.cutout``: None until
computed, "auto", "edited" by the person, "rejected" by the mask's sanity checks), the version
and whether the person turned the cut-out off.

A new mask is written under its new version first, then the row moves to it in one
transaction (clearing the colours, which follow the cut-out); the old version's files go last.
A crash leaves at worst an unused file, never a row that names a missing one. Features are
stored with the version they were computed on, so a changed mask makes them missing again
(see ``Library.items_without_features``).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stylist.domain import Item
from stylist.errors import PhotoError, UsageError

Progress = Callable[[int, int, str], None]


def mask_relative(sha256: str, version: int) -> str:
    return f"cutouts/{sha256[:2]}/{sha256}.{version}.png"


def twin_relative(sha256: str, version: int) -> str:
    return f"cutouts/{sha256[:2]}/{sha256}.{version}.jpg"


def analysis_relative(item: Item) -> str:
    """The file the models read for an item: its cut-out twin when in use, else its working
    copy (relative to the data folder)."""
    if item.uses_cutout:
        return twin_relative(item.sha256, item.cutout_version)
    return item.working_file


def working_rgb(library, item: Item) -> np.ndarray:
    """An item's working copy as (H, W, 3) uint8 RGB."""
    from PIL import Image

    path = library.file_path(item.working_file)
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise PhotoError(f"{path}: the working copy is missing") from None
    except (OSError, ValueError) as exc:
        raise PhotoError(f"{path}: cannot read the working copy ({exc})") from None


def read_mask(library, item: Item) -> np.ndarray | None:
    """The item's current mask, (H, W) uint8, or None when it has none (yet)."""
    from PIL import Image

    if item.cutout is None or item.cutout_version == 0:
        return None
    path = library.file_path(mask_relative(item.sha256, item.cutout_version))
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L"))
    except (OSError, ValueError):
        return None  # `stylist cutout ID --redo` makes it again


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def store_mask(library, item_id: int, mask: np.ndarray, state: str) -> Item:
    """Make ``mask`` the item's cut-out under a new version, in state "auto", "edited" or
    "rejected"; the person's "off" stays as it was. Returns the item as it is now."""
    from PIL import Image

    from stylist.vision.cutout import MASK_VERSION, framed

    if state not in ("auto", "edited", "rejected"):
        raise ValueError(f"unknown cut-out state {state!r}")
    item = library.item(item_id)
    rgb = working_rgb(library, item)
    mask = np.where(np.asarray(mask) > 127, 255, 0).astype(np.uint8)
    if mask.shape != rgb.shape[:2]:
        raise ValueError(f"mask {mask.shape} does not fit the working copy {rgb.shape[:2]}")
    version = item.cutout_version + 1
    png, jpeg = io.BytesIO(), io.BytesIO()
    Image.fromarray(mask, "L").save(png, "PNG", optimize=False)
    Image.fromarray(framed(rgb, mask)).save(jpeg, "JPEG", quality=90)
    with library.writing():
        _write_atomic(library.file_path(mask_relative(item.sha256, version)), png.getvalue())
        _write_atomic(library.file_path(twin_relative(item.sha256, version)), jpeg.getvalue())
        conn = library._conn
        conn.execute("BEGIN")
        try:
            # Colours follow what the models see; they are found again by the next analysis.
            cur = conn.execute(
                "UPDATE items SET cutout = ?, cutout_version = ?, cutout_recipe = ?, "
                "colours = '[]' WHERE id = ? AND cutout_version = ?",
                (state, version, MASK_VERSION, item_id, item.cutout_version),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    if cur.rowcount == 0:
        # Another writer moved the item to a newer mask meanwhile (or removed it): ours goes.
        _remove_version(library, item.sha256, version)
        return library.item(item_id) if _exists(library, item_id) else item
    if item.cutout_version:
        _remove_version(library, item.sha256, item.cutout_version)
    return library.item(item_id)


def set_off(library, item_id: int, off: bool) -> Item:
    """Turn an item's cut-out off (the models see the working copy as it is) or on again.

    Turning on a mask its checks rejected means the person accepts it: it counts as edited."""
    item = library.item(item_id)
    if not off and item.cutout is None:
        raise UsageError(f"item {item_id} has no cut-out yet: `stylist cutout {item_id} --redo`")
    state = item.cutout
    if not off and state == "rejected":
        state = "edited"
    changed = item.uses_cutout != (state in ("auto", "edited") and not off)
    with library.writing():
        library._conn.execute(
            "UPDATE items SET cutout_off = ?, cutout = ?"
            # colours follow what the models see; the next analysis finds them again
            + (", colours = '[]'" if changed else "")
            + " WHERE id = ?",
            (int(off), state, item_id),
        )
    return library.item(item_id)


def forget(library, items: list[Item]) -> None:
    """Remove the cut-out files of items that were removed from the library."""
    for item in items:
        folder = library.file_path(f"cutouts/{item.sha256[:2]}")
        for path in folder.glob(f"{item.sha256}.*"):
            path.unlink(missing_ok=True)


def _files_lost(library, item: Item) -> bool:
    """The item's current cut-out files are missing (a crash, or a hand in the data folder)."""
    return not all(
        library.file_path(relative).is_file()
        for relative in (
            mask_relative(item.sha256, item.cutout_version),
            twin_relative(item.sha256, item.cutout_version),
        )
    )


def _exists(library, item_id: int) -> bool:
    row = library._conn.execute("SELECT 1 FROM items WHERE id = ?", (item_id,)).fetchone()
    return row is not None


def _remove_version(library, sha256: str, version: int) -> None:
    for relative in (mask_relative(sha256, version), twin_relative(sha256, version)):
        library.file_path(relative).unlink(missing_ok=True)


@dataclass
class CutoutReport:
    """What one run of ``compute_cutouts`` did."""

    computed: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (item id, why)
    failed: list[tuple[int, str]] = field(default_factory=list)  # (item id, reason)
    cancelled: bool = False

    def summary(self) -> str:
        text = f"cut-outs: {self.computed} made"
        if self.rejected:
            text += f", {len(self.rejected)} kept as photographed (the cut failed its checks)"
        if self.failed:
            text += f", {len(self.failed)} failed"
        if self.cancelled:
            text += " (cancelled; run again to continue)"
        return text


def _older_recipe(library) -> set[int]:
    """Items whose cut-out was made by an older recipe than ``MASK_VERSION``."""
    from stylist.vision.cutout import MASK_VERSION

    rows = library._conn.execute(
        "SELECT id FROM items WHERE cutout IS NOT NULL AND cutout_recipe != ?", (MASK_VERSION,)
    )
    return {row[0] for row in rows}


def compute_cutouts(
    library,
    item_ids: list[int] | None = None,
    progress: Progress | None = None,
    cancel=None,
) -> CutoutReport:
    """Cut out the items that have no cut-out yet, whose cut-out files were lost, or whose
    cut-out an older recipe made (or exactly ``item_ids``, made again). A mask the person
    edited is never cut again: an older recipe's is only framed again (its twin remade).

    Each item is stored as soon as it is cut, so a cancel or a crash loses at most the one in
    flight and the next run goes on from there."""
    from stylist.vision.cutout import garment_mask

    report = CutoutReport()
    reframe: set[int] = set()
    if item_ids is None:
        older = _older_recipe(library)
        todo = []
        for item in library.items():
            if item.cutout is None or _files_lost(library, item) or item.id in older:
                todo.append(item)
                if item.cutout == "edited":
                    reframe.add(item.id)  # while its mask can still be read
    else:
        todo = library.items(ids=item_ids)
    if progress is not None and todo:
        progress(0, len(todo), "cut-outs")
    for n, item in enumerate(todo, start=1):
        if cancel is not None and cancel.is_set():
            report.cancelled = True
            break
        if item.id in reframe:
            mask = read_mask(library, item)
            if mask is not None:
                store_mask(library, item.id, mask, "edited")
                report.computed += 1
                if progress is not None:
                    progress(n, len(todo), f"cut-out of {item.original_name}")
                continue
        try:
            cutout = garment_mask(working_rgb(library, item))
        except PhotoError as exc:
            report.failed.append((item.id, str(exc)))
        else:
            store_mask(library, item.id, cutout.mask, "rejected" if cutout.rejected else "auto")
            report.computed += 1
            if cutout.rejected:
                report.rejected.append((item.id, cutout.rejected))
        if progress is not None:
            progress(n, len(todo), f"cut-out of {item.original_name}")
    return report
