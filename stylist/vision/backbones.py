"""The registry of backbones: each an ONNX file described by a JSON manifest that travels with it.

A manifest (``<id>.json``, format ``stylist-backbone/1``) says what the network is (id,
architecture, source, licence), how to feed it (input size, resize/crop/pad rule, mean/std, see
``preprocess.Preprocess``), what comes out (output names, feature size) and which files hold it:
the fp32 file with its sha256 and optional variants (fp16 for GPUs, int8 for CPUs), each with its
own sha256 and, for approximate variants, how close it stays to fp32.

Manifests are looked up in the person's model folder (``Paths.models``: backbones installed there,
such as ``vgg16``) and then in the shipped ``models/`` folder (``efficientnet-lite0``).
A model file is trusted only once its sha256 matches the manifest; the result of that check is
remembered by (size, mtime) in ``Paths.models/hash-cache.json`` so a large file is not hashed again
on every start. A missing, truncated or altered file raises ``ModelError`` naming file and reason.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stylist.errors import StylistError
from stylist.files import FileFormatError, read_json, write_json
from stylist.paths import Paths, models_dir, resolve
from stylist.vision.preprocess import Preprocess

MANIFEST_FORMAT = "stylist-backbone/1"
DEFAULT_BACKBONE = "efficientnet-lite0"
VARIANTS = ("fp32", "fp16", "int8")
HASH_CACHE_NAME = "hash-cache.json"


class ModelError(StylistError):
    """A model file or manifest is missing, unreadable, corrupt or not the one expected."""


@dataclass(frozen=True)
class Variant:
    """One file holding the backbone at some precision."""

    name: str  # "fp32" | "fp16" | "int8"
    path: Path
    sha256: str
    size_bytes: int | None = None
    # For approximate variants: agreement of features with fp32 on real photos.
    cosine_min: float | None = None
    cosine_mean: float | None = None
    within_tolerance: bool = True
    info: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class BackboneSpec:
    """Everything needed to run one backbone, read from its manifest."""

    id: str
    name: str
    architecture: str
    manifest_path: Path
    onnx_path: Path  # the fp32 reference file
    sha256: str  # of the fp32 file: the key features are cached under
    feature_dim: int
    num_classes: int
    preprocess: Preprocess
    input_name: str
    feature_output: str
    logits_output: str
    variants: dict[str, Variant]
    source: str
    licence: str
    licence_file: Path | None
    shipped: bool  # in the program's models/ folder rather than the person's
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def input_size(self) -> int:
        return self.preprocess.input_size

    @property
    def mean(self) -> tuple[float, float, float]:
        return self.preprocess.mean

    @property
    def std(self) -> tuple[float, float, float]:
        return self.preprocess.std

    @property
    def output_names(self) -> tuple[str, str]:
        return (self.feature_output, self.logits_output)

    def variant(self, name: str) -> Variant:
        try:
            return self.variants[name]
        except KeyError:
            have = ", ".join(self.variants)
            raise ModelError(
                f"backbone {self.id!r} has no {name} variant (it has: {have})"
            ) from None

    def summary(self) -> str:
        variants = ", ".join(self.variants)
        return (
            f"{self.id}: {self.architecture}, {self.feature_dim}-d features, "
            f"input {self.preprocess.describe()}, variants {variants}, licence {self.licence}"
        )


# ------------------------------------------------------------------------------------ hashing


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


_cache_lock = threading.Lock()
_memory_cache: dict[tuple[str, int, int], str] = {}


def _cache_file(paths: Paths | None) -> Path | None:
    return paths.models / HASH_CACHE_NAME if paths is not None else None


def _read_disk_cache(cache_file: Path | None) -> dict[str, Any]:
    if cache_file is None:
        return {}
    try:
        return read_json(cache_file)
    except FileFormatError:
        return {}


def _write_disk_cache(cache_file: Path | None, data: dict[str, Any]) -> None:
    if cache_file is None:
        return
    try:
        write_json(cache_file, data, indent=1)
    except OSError:
        pass  # a read-only data folder only costs re-hashing next time


def file_sha256_cached(path: Path, paths: Paths | None = None) -> str:
    """sha256 of a file, remembered by (path, size, mtime) in memory and in the hash cache."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _cache_lock:
        if key in _memory_cache:
            return _memory_cache[key]
        cache_file = _cache_file(paths)
        disk = _read_disk_cache(cache_file)
        entry = disk.get(key[0])
        if (
            isinstance(entry, dict)
            and entry.get("size") == st.st_size
            and entry.get("mtime_ns") == st.st_mtime_ns
            and isinstance(entry.get("sha256"), str)
        ):
            _memory_cache[key] = entry["sha256"]
            return entry["sha256"]
    digest = sha256_file(path)
    with _cache_lock:
        _memory_cache[key] = digest
        disk = _read_disk_cache(cache_file)
        disk[key[0]] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
        _write_disk_cache(cache_file, disk)
    return digest


def forget_hash_cache() -> None:
    """Drop the in-memory part of the hash cache (the on-disk part is keyed by size+mtime)."""
    with _cache_lock:
        _memory_cache.clear()


def _rehash(path: Path, paths: Paths | None) -> str:
    """Hash the file again and put the fresh figure in both caches."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    digest = sha256_file(path)
    with _cache_lock:
        _memory_cache[key] = digest
        cache_file = _cache_file(paths)
        disk = _read_disk_cache(cache_file)
        disk[key[0]] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
        _write_disk_cache(cache_file, disk)
    return digest


def verify_file(path: Path, expected_sha256: str, what: str, paths: Paths | None = None) -> None:
    """ModelError unless ``path`` exists, is a file and has the expected sha256."""
    if not path.exists():
        raise ModelError(f"{path}: {what} is missing")
    if not path.is_file():
        raise ModelError(f"{path}: {what} is not a file")
    actual = file_sha256_cached(path, paths)
    if actual != expected_sha256:
        # the remembered hash may be the wrong one (a damaged or edited hash-cache.json): only
        # the file itself can say it is corrupt
        actual = _rehash(path, paths)
    if actual != expected_sha256:
        raise ModelError(
            f"{path}: {what} is corrupt or not the expected file "
            f"(sha256 {actual[:12]}…, manifest says {expected_sha256[:12]}…); "
            "reinstall it (stylist models install …) or restore the original file"
        )


def verify_spec(spec: BackboneSpec, paths: Paths | None = None, variant: str | None = None) -> None:
    """Check the hash of the fp32 file, or of one variant; ModelError on any problem."""
    names = [variant] if variant else ["fp32"]
    for name in names:
        v = spec.variant(name)
        verify_file(v.path, v.sha256, f"the {name} file of backbone {spec.id!r}", paths)


# ---------------------------------------------------------------------------------- manifests


def _require(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: Path) -> Any:
    if key not in data:
        raise ModelError(f"{where}: manifest has no {key!r}")
    value = data[key]
    if not isinstance(value, kind):
        raise ModelError(f"{where}: manifest field {key!r} has the wrong type")
    return value


def load_manifest(path: Path, shipped: bool = False) -> BackboneSpec:
    """Parse one manifest; ModelError naming the file if it is unreadable or incomplete.

    Does not touch the ONNX file itself (see ``verify_spec``).
    """
    path = Path(path)
    data = read_json(path, fmt=MANIFEST_FORMAT, error=ModelError)
    folder = path.parent
    backbone_id = _require(data, "id", str, path)
    file_name = _require(data, "file", str, path)
    sha = _require(data, "sha256", str, path)
    outputs = _require(data, "outputs", dict, path)
    pre_data = _require(data, "preprocess", dict, path)
    try:
        pre = Preprocess.from_dict(pre_data)
    except (TypeError, ValueError) as err:
        raise ModelError(f"{path}: bad preprocess block ({err})") from None
    variants: dict[str, Variant] = {}
    raw_variants = data.get("variants") or {}
    if not isinstance(raw_variants, dict):
        raise ModelError(f"{path}: manifest field 'variants' has the wrong type")
    raw_variants = {"fp32": {"file": file_name, "sha256": sha}, **raw_variants}
    for name, info in raw_variants.items():
        if name not in VARIANTS or not isinstance(info, dict):
            raise ModelError(f"{path}: unknown variant {name!r}")
        if not isinstance(info.get("file"), str) or not isinstance(info.get("sha256"), str):
            raise ModelError(f"{path}: variant {name!r} needs 'file' and 'sha256'")
        variants[name] = Variant(
            name=name,
            path=folder / info["file"],
            sha256=info["sha256"],
            size_bytes=info.get("size_bytes"),
            cosine_min=info.get("cosine_min"),
            cosine_mean=info.get("cosine_mean"),
            within_tolerance=bool(info.get("within_tolerance", True)),
            info=info,
        )
    input_info = data.get("input") or {}
    licence_file = data.get("licence_file")
    return BackboneSpec(
        id=backbone_id,
        name=str(data.get("name", backbone_id)),
        architecture=str(data.get("architecture", "")),
        manifest_path=path,
        onnx_path=folder / file_name,
        sha256=sha,
        feature_dim=int(_require(data, "feature_dim", int, path)),
        num_classes=int(data.get("num_classes", 1000)),
        preprocess=pre,
        input_name=str(input_info.get("name", "image")),
        feature_output=str(outputs.get("features", "features")),
        logits_output=str(outputs.get("logits", "logits")),
        variants=variants,
        source=str(data.get("source", "")),
        licence=str(data.get("licence", "")),
        licence_file=folder / licence_file if isinstance(licence_file, str) else None,
        shipped=shipped,
        raw=data,
    )


def _search_folders(paths: Paths | None) -> list[tuple[Path, bool]]:
    folders: list[tuple[Path, bool]] = []
    if paths is not None:
        folders.append((paths.models, False))
    folders.append((models_dir(), True))
    return folders


def _is_manifest(path: Path) -> bool:
    if path.suffix != ".json" or path.name.startswith("."):
        return False
    try:
        with open(path, encoding="utf-8") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return MANIFEST_FORMAT in head


def available_backbones(paths: Paths | None = None) -> list[BackboneSpec]:
    """Every backbone with a readable manifest: installed ones first, then shipped ones.

    An installed backbone hides a shipped one of the same id. Files are not hashed here
    (``verify_spec`` does that); unreadable manifests are skipped.
    """
    paths = paths if paths is not None else resolve()
    seen: dict[str, BackboneSpec] = {}
    for folder, shipped in _search_folders(paths):
        if not folder.is_dir():
            continue
        for manifest in sorted(folder.glob("*.json")):
            if not _is_manifest(manifest):
                continue
            try:
                spec = load_manifest(manifest, shipped=shipped)
            except ModelError:
                continue
            seen.setdefault(spec.id, spec)
    return list(seen.values())


def find_manifest(backbone_id: str, paths: Paths | None = None) -> tuple[Path, bool] | None:
    """Where the manifest of ``backbone_id`` is: (path, shipped), or None."""
    for folder, shipped in _search_folders(paths):
        candidate = folder / f"{backbone_id}.json"
        if candidate.is_file():
            return candidate, shipped
    return None


def get_backbone(
    backbone_id: str = DEFAULT_BACKBONE, paths: Paths | None = None, verify: bool = True
) -> BackboneSpec:
    """The backbone with this id, its fp32 file checked against the manifest's sha256.

    Raises ModelError when there is no such backbone (saying which exist and how to install
    VGG-16) or when its file is missing or corrupt.
    """
    paths = paths if paths is not None else resolve()
    found = find_manifest(backbone_id, paths)
    if found is None:
        have = ", ".join(sorted(s.id for s in available_backbones(paths))) or "none"
        hint = " (install it with: stylist models install vgg16)" if backbone_id == "vgg16" else ""
        raise ModelError(f"no backbone {backbone_id!r} is installed{hint}; available: {have}")
    manifest, shipped = found
    spec = load_manifest(manifest, shipped=shipped)
    if spec.id != backbone_id:
        raise ModelError(f"{manifest}: manifest says id {spec.id!r}, expected {backbone_id!r}")
    if verify:
        verify_spec(spec, paths)
    return spec


def verify_backbone(spec: BackboneSpec, paths: Paths | None = None) -> dict[str, str]:
    """Check every file of a backbone: variant name -> "ok" or the reason it failed."""
    report: dict[str, str] = {}
    for name, variant in spec.variants.items():
        try:
            verify_file(variant.path, variant.sha256, f"the {name} file of {spec.id!r}", paths)
            report[name] = "ok"
        except ModelError as err:
            report[name] = str(err)
    return report
