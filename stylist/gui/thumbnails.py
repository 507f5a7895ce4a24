"""Thumbnails loaded lazily off the GUI thread and kept in a small LRU cache.

Views ask :meth:`ThumbnailCache.get` while painting. A hit returns a QPixmap at once; a miss
returns None and queues the file. Loader threads decode the stored JPEG into a QImage already
cropped, scaled and rounded for its use, newest requests first (what is on screen now matters
more than what scrolled past), and hand it back through a signal; the GUI thread turns it into a
QPixmap (pixmaps are made on the GUI thread only) and says which item is ready.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QRectF, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QImage, QImageReader, QPainter, QPainterPath, QPixmap

MAX_QUEUED = 400  # older requests than this are dropped: they scrolled out of sight long ago


@dataclass(frozen=True)
class Spec:
    """How a picture is wanted: a square ``side`` (logical px) cropped to fill, or fitted."""

    side: int
    ratio: float = 1.0
    radius: float = 10.0
    fit: bool = False  # True: the whole photo inside the square; False: cropped to fill it
    background: str = ""  # fill behind a fitted photo ("" = transparent)


def render(path: Path, spec: Spec) -> QImage | None:
    """Decode ``path`` into the picture ``spec`` describes (safe in any thread)."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    source = reader.read()
    if source.isNull():
        return None
    side = max(1, round(spec.side * spec.ratio))
    mode = (
        Qt.AspectRatioMode.KeepAspectRatio
        if spec.fit
        else (Qt.AspectRatioMode.KeepAspectRatioByExpanding)
    )
    scaled = source.scaled(side, side, mode, Qt.TransformationMode.SmoothTransformation)
    out = QImage(side, side, QImage.Format.Format_ARGB32_Premultiplied)
    out.fill(Qt.GlobalColor.transparent)
    painter = QPainter(out)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    clip = QPainterPath()
    r = spec.radius * spec.ratio
    clip.addRoundedRect(QRectF(0, 0, side, side), r, r)
    painter.setClipPath(clip)
    if spec.background:
        painter.fillRect(0, 0, side, side, QColor(spec.background))
    x = (side - scaled.width()) // 2
    y = (side - scaled.height()) // 2
    painter.drawImage(x, y, scaled)
    painter.end()
    out.setDevicePixelRatio(spec.ratio)
    return out


class _Loaded(QObject):
    image = Signal(object, object)  # key, QImage or None


class _Drain(QRunnable):
    """Loads queued pictures, newest first, until the queue is empty."""

    def __init__(self, cache: ThumbnailCache) -> None:
        super().__init__()
        self.cache = cache

    def run(self) -> None:
        while True:
            job = self.cache._next_job()
            if job is None:
                return
            key, path, spec = job
            try:
                image = render(path, spec)
            except Exception:  # a broken file shows the placeholder; the import reported it
                image = None
            self.cache._signal.image.emit(key, image)


class ThumbnailCache(QObject):
    """Pictures of items for the views, keyed by (item id, spec)."""

    ready = Signal(int)  # the picture of this item id is now cached

    def __init__(
        self, parent: QObject | None = None, capacity: int = 1200, threads: int = 2
    ) -> None:
        super().__init__(parent)
        self.capacity = capacity
        self._pixmaps: OrderedDict[tuple, QPixmap] = OrderedDict()
        self._missing: set[tuple] = set()  # files that could not be read: not asked again
        self._lock = threading.Lock()
        self._queue: OrderedDict[tuple, tuple[Path, Spec]] = OrderedDict()
        self._in_flight: set[tuple] = set()
        self._drains = 0
        self._threads = threads
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._signal = _Loaded()
        self._signal.image.connect(self._on_loaded)

    def get(self, item_id: int, path: Path, spec: Spec) -> QPixmap | None:
        """The cached picture, or None after queueing it (``ready`` fires when it is in)."""
        key = (item_id, spec)
        pix = self._pixmaps.get(key)
        if pix is not None:
            self._pixmaps.move_to_end(key)
            return pix
        if key in self._missing:
            return None
        with self._lock:
            if key in self._in_flight:
                return None
            # Re-queue at the newest end: what is asked for now is what is on screen now.
            self._queue.pop(key, None)
            self._queue[key] = (path, spec)
            while len(self._queue) > MAX_QUEUED:
                self._queue.popitem(last=False)
            start = self._drains < self._threads
            if start:
                self._drains += 1
        if start:
            self.pool.start(_Drain(self))
        return None

    def peek(self, item_id: int, spec: Spec) -> QPixmap | None:
        return self._pixmaps.get((item_id, spec))

    def _next_job(self) -> tuple | None:
        with self._lock:
            if not self._queue:
                self._drains -= 1
                return None
            key, (path, spec) = self._queue.popitem(last=True)
            self._in_flight.add(key)
            return key, path, spec

    def _on_loaded(self, key: tuple, image: QImage | None) -> None:
        with self._lock:
            self._in_flight.discard(key)
        if image is None:
            self._missing.add(key)
            return
        self._pixmaps[key] = QPixmap.fromImage(image)  # GUI thread: pixmaps are made here
        while len(self._pixmaps) > self.capacity:
            self._pixmaps.popitem(last=False)
        self.ready.emit(key[0])

    def forget(self, item_id: int | None = None) -> None:
        """Drop cached pictures (of one item, or all: after the theme or library changes)."""
        if item_id is None:
            self._pixmaps.clear()
            self._missing.clear()
            return
        for key in [k for k in self._pixmaps if k[0] == item_id]:
            del self._pixmaps[key]

    def wait(self, msecs: int = -1) -> bool:
        return self.pool.waitForDone(msecs)
