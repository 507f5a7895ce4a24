"""Backbone features of every item in the library, computed once and cached per backbone file.

``compute_features`` runs the extractor over the working copies (or their cut-outs, see
``library.cutouts``) of the items that have no features yet for this backbone (keyed by backbone
id, the sha256 of its reference ONNX file and the version of the cut-out they were computed on),
and stores them batch by batch: a cancel, a crash or a power cut loses at most the batch in
flight, and the next run starts where this one stopped. ``force=True`` recomputes everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stylist.tasks import Cancel, Progress
from stylist.vision.extractor import Extractor


@dataclass
class FeatureReport:
    """What one run did."""

    backbone: str
    model_sha256: str
    computed: int = 0  # items whose features were computed and stored now
    cached: int = 0  # items that already had features (skipped)
    failed: list[tuple[int, Path, str]] = field(default_factory=list)  # (item id, file, reason)
    cancelled: bool = False
    device: str = ""  # e.g. "efficientnet-lite0 fp32 on CPU, 2 threads"
    cutouts: Any = None  # the cut-outs made first (library.cutouts.CutoutReport), if any

    @property
    def total(self) -> int:
        return self.computed + self.cached + len(self.failed)

    def summary(self) -> str:
        text = f"features ({self.backbone}): {self.computed} computed, {self.cached} cached"
        if self.failed:
            text += f", {len(self.failed)} failed"
        if self.cancelled:
            text += " (cancelled; run again to continue)"
        if self.cutouts is not None and (self.cutouts.computed or self.cutouts.failed):
            text = f"{self.cutouts.summary()}; {text}"
        return text


def compute_features(
    library: Any,
    extractor: Extractor,
    force: bool = False,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    batch_size: int = 16,
    logits_id: str | None = None,
    photo_id: str | None = None,
) -> FeatureReport:
    """Compute and store features for the library's items that lack them (all with ``force``).

    ``library`` follows the Library contract (``items``, ``items_without_features``,
    ``put_features``, ``file_path``). Progress is reported per batch as (done, total, file name).
    With ``logits_id``, the ImageNet logits are stored too, under that id (a backbone without a
    trained category head sorts photos by them). With ``photo_id``, the features of the photo as
    photographed are stored too, under that id, for the items the models see cut out (a
    category head trained on photos as they are reads them).
    """
    backbone, sha = extractor.spec.id, extractor.model_sha256
    report = FeatureReport(backbone=backbone, model_sha256=sha, device=extractor.describe())
    everything = library.items()
    todo = everything if force else library.items_without_features(backbone, sha)
    report.cached = len(everything) - len(todo)
    total = len(todo)
    if progress is not None:
        progress(0, total, "")
    if not todo:
        return report

    from stylist.library.cutouts import analysis_relative

    by_path: dict[Path, int] = {}
    files: list[Path] = []
    # What each item's features are computed on: its cut-out when in use (see library.cutouts).
    mask_keys = {item.id: item.mask_key for item in todo}
    for item in todo:
        path = library.file_path(analysis_relative(item))
        by_path[path] = item.id
        files.append(path)

    done = 0
    for part in extractor.iter_batches(files, batch_size=batch_size, cancel=cancel):
        vectors = {by_path[p]: part.features[i] for i, p in enumerate(part.ok_paths)}
        if vectors and logits_id is not None:
            logits = {by_path[p]: part.logits[i] for i, p in enumerate(part.ok_paths)}
            library.put_features(logits_id, sha, logits, mask_keys)  # before the features
        if vectors:
            # One transaction per batch; an item counts as done once its features are stored,
            # so its logits (if wanted) are always stored by then.
            library.put_features(backbone, sha, vectors, mask_keys)
        report.computed += len(vectors)
        report.failed.extend((by_path[p], p, reason) for p, reason in part.failed)
        done += len(part.ok_paths) + len(part.failed)
        if progress is not None:
            names = [p.name for p in part.ok_paths] + [p.name for p, _ in part.failed]
            progress(done, total, names[-1] if names else "")
    report.cancelled = done < total
    if photo_id is not None and not report.cancelled:
        report.cancelled = not _photo_features(library, extractor, photo_id, batch_size, cancel)
    return report


def _photo_features(
    library: Any, extractor: Extractor, photo_id: str, batch_size: int, cancel
) -> bool:
    """Features of the photos as photographed under ``photo_id``, for the items lacking them;
    an item the models see as photographed shares its features. False when cancelled."""
    sha = extractor.model_sha256
    todo = library.items_without_features(photo_id, sha)
    if not todo:
        return True
    mask_keys = {item.id: item.mask_key for item in todo}
    same = [item.id for item in todo if not item.uses_cutout]
    if same:
        held = library.features(extractor.spec.id, sha)
        library.put_features(photo_id, sha, {i: held[i] for i in same if i in held}, mask_keys)
    cut = [item for item in todo if item.uses_cutout]
    by_path = {library.file_path(item.working_file): item.id for item in cut}
    seen = 0
    for part in extractor.iter_batches(list(by_path), batch_size=batch_size, cancel=cancel):
        vectors = {by_path[p]: part.features[i] for i, p in enumerate(part.ok_paths)}
        if vectors:
            library.put_features(photo_id, sha, vectors, mask_keys)
        seen += len(part.ok_paths) + len(part.failed)
    return seen == len(by_path)
