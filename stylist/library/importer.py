"""Importing photos into the library: files and folders, checked one by one, in parallel.

Decoding, colour conversion, resizing and JPEG encoding run on a small thread pool (Pillow
releases the GIL for them); the library, the one writer, stores the results in order on the
calling thread, one transaction per photo. A bad file is reported with its reason and the rest go
on; a cancel stops at the next photo and keeps everything already stored.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from stylist.domain import Category, CategorySource, Item
from stylist.errors import DiskFull, PhotoError, StylistError
from stylist.library.folders import find_photos
from stylist.library.photos import prepare, read_photo
from stylist.library.store import Library
from stylist.tasks import Cancel, Progress, is_cancelled


@dataclass
class ImportReport:
    added: list[Item] = field(default_factory=list)
    added_from: list[Path] = field(default_factory=list)  # the file each added item came from
    duplicates: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)  # (path, reason)
    cancelled: bool = False

    @property
    def total(self) -> int:
        return len(self.added) + len(self.duplicates) + len(self.failed)


def collect(
    paths: Iterable[str | os.PathLike[str]],
) -> tuple[list[tuple[Path, Category | None]], list[tuple[Path, str]]]:
    """The photos named by files and folders, with folder categories, and the paths that fail."""
    photos: list[tuple[Path, Category | None]] = []
    failed: list[tuple[Path, str]] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            photos.extend(find_photos(path, failed))
        elif path.exists() or path.is_symlink():
            photos.append((path, None))  # read_photo says what is wrong with a non-photo
        else:
            failed.append((path, "no such file or folder"))
    return photos, failed


def import_photos(
    library: Library,
    paths: Iterable[str | os.PathLike[str]],
    category: Category | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    workers: int | None = None,
) -> ImportReport:
    """Import photos from files and folders. ``category`` overrides folder names."""
    photos, failed = collect(paths)
    report = ImportReport(failed=failed)
    total = len(photos)
    known = library.known_hashes()
    workers = workers or min(4, (os.cpu_count() or 2) + 1)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="import") as pool:
        for done, (path, folder_category, result) in enumerate(
            _prepared(pool, photos, workers * 2, cancel, frozenset(known)), start=1
        ):
            if progress:
                progress(done - 1, total, path.name)
            if isinstance(result, PhotoError):
                report.failed.append((path, str(result)))
                continue
            if result is _DUPLICATE or result.sha256 in known:
                report.duplicates.append(path)
                continue
            chosen = category or folder_category or Category.UNSORTED
            try:
                item = library.add_item(
                    result, chosen, CategorySource.USER if chosen != Category.UNSORTED else None
                )
            except DiskFull as exc:
                raise DiskFull(
                    f"{exc}: {len(report.added)} photo(s) of this import were stored before "
                    "and stay; free some space and import again (photos already in the "
                    "library are passed over)"
                ) from None
            except StylistError as exc:
                report.failed.append((path, str(exc)))
                continue
            known.add(result.sha256)
            if item is None:
                report.duplicates.append(path)
            else:
                report.added.append(item)
                report.added_from.append(path)
        report.cancelled = is_cancelled(cancel)
    if progress and not report.cancelled:
        progress(total, total, "")
    return report


def _prepared(
    pool: ThreadPoolExecutor,
    photos: list[tuple[Path, Category | None]],
    ahead: int,
    cancel,
    known: frozenset[str],
) -> Iterator[tuple[Path, Category | None, object]]:
    """Prepared photos in order, keeping at most ``ahead`` in flight."""
    pending: deque[tuple[Path, Category | None, Future]] = deque()
    queue = iter(photos)
    while True:
        while len(pending) < ahead and not is_cancelled(cancel):
            nxt = next(queue, None)
            if nxt is None:
                break
            pending.append((nxt[0], nxt[1], pool.submit(_prepare_one, nxt[0], known)))
        if not pending:
            return
        if is_cancelled(cancel):
            for *_, future in pending:
                future.cancel()
            return
        path, folder_category, future = pending.popleft()
        yield path, folder_category, future.result()


_DUPLICATE = object()  # a photo already in the library: not decoded at all


def _prepare_one(path: Path, known: frozenset[str]):
    try:
        original, sha256 = read_photo(path)
        if sha256 in known:
            return _DUPLICATE
        return prepare(path, original, sha256)
    except PhotoError as exc:
        return exc
    except MemoryError:
        return PhotoError("not enough memory to decode this photo")
    except (OSError, ValueError) as exc:  # anything else one file does ends with that file
        return PhotoError(f"cannot be read ({exc})")
