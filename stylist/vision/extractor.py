"""Backbone features of photos with ONNX Runtime, on an NVIDIA GPU (CUDA) or on the CPU.

``Extractor(spec, device)`` opens one ONNX Runtime session for a backbone from the registry:

* device ``"cuda"`` insists on the CUDA provider and raises ``DeviceError`` saying why it cannot
  be used (no CUDA provider in this onnxruntime build, no NVIDIA driver or GPU, CUDA or cuDNN
  libraries missing); ``"cpu"`` uses the CPU; ``"auto"`` tries CUDA and quietly falls back to the
  CPU, remembering why in ``fallback_reason``.
* variant ``"auto"`` picks fp16 on CUDA and int8 on the CPU when the backbone has such a file
  (int8 only if its manifest says it stays within tolerance of fp32), else fp32.

``run_files`` decodes and preprocesses photos on a small thread pool while the previous batch runs
in ONNX Runtime (Pillow's decoder and ONNX Runtime both release the GIL), so decoding costs little
wall time. A photo that cannot be read ends up in ``failed`` with the reason; the rest go on.
Features are cached by the caller under ``spec.sha256`` (the fp32 reference file): every variant
computes the same features to within its stated tolerance.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import ctypes.util
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from stylist.errors import PhotoError, StylistError
from stylist.paths import Paths
from stylist.tasks import Cancel, Progress, is_cancelled
from stylist.vision.backbones import BackboneSpec, ModelError, verify_file
from stylist.vision.preprocess import Preprocess, load_and_preprocess, preprocess_image

DEVICES = ("auto", "cpu", "cuda")
VARIANT_CHOICES = ("auto", "fp32", "fp16", "int8")
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


class DeviceError(StylistError):
    """The device asked for cannot run the backbone; the message says why."""


@dataclass
class ExtractionResult:
    """Features of the photos that worked, in the order of ``ok_paths``, and why others failed."""

    features: np.ndarray  # (N_ok, D) float32
    logits: np.ndarray  # (N_ok, C) float32
    ok_paths: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    cancelled: bool = False

    @classmethod
    def empty(cls, dim: int, classes: int) -> ExtractionResult:
        return cls(np.zeros((0, dim), np.float32), np.zeros((0, classes), np.float32))

    @classmethod
    def concat(cls, parts: Sequence[ExtractionResult], dim: int, classes: int) -> ExtractionResult:
        if not parts:
            return cls.empty(dim, classes)
        return cls(
            features=np.concatenate([p.features for p in parts]).astype(np.float32, copy=False),
            logits=np.concatenate([p.logits for p in parts]).astype(np.float32, copy=False),
            ok_paths=[q for p in parts for q in p.ok_paths],
            failed=[f for p in parts for f in p.failed],
            cancelled=any(p.cancelled for p in parts),
        )


def default_threads() -> int:
    """Cores ONNX Runtime may use for one batch: all the machine's cores the process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def nvidia_gpu_problem() -> str | None:
    """Why there is no NVIDIA GPU to use (no driver, no device), or None if the driver sees one.

    Cheap (the driver library is asked directly), so it runs before onnxruntime is made to load
    hundreds of megabytes of CUDA libraries for nothing.
    """
    driver = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    try:
        libcuda = ctypes.CDLL(driver)
    except OSError:
        return f"no NVIDIA GPU driver was found ({driver} cannot be loaded): no usable NVIDIA GPU"
    try:
        count = ctypes.c_int(0)
        if libcuda.cuInit(0) != 0 or libcuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return "the NVIDIA driver is installed but reports no usable GPU (cuInit failed)"
        if count.value == 0:
            return "the NVIDIA driver is installed but finds no GPU"
    except AttributeError:
        pass
    return None


def cuda_unavailable_reason() -> str:
    """Why the CUDA provider cannot be used here, as a sentence a person can act on."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if CUDA not in available:
        return (
            f"this onnxruntime build ({ort.__version__}) has no CUDA provider "
            f"(it has: {', '.join(available)}); install the onnxruntime-gpu package"
        )
    problem = nvidia_gpu_problem()
    if problem:
        return problem
    missing = [
        lib
        for lib in ("cudart", "cublas", "cublasLt", "cudnn")
        if ctypes.util.find_library(lib) is None
    ]
    detail = f" ({', '.join(missing)} not found on the library path)" if missing else ""
    return (
        "the CUDA or cuDNN libraries onnxruntime needs could not be loaded"
        f"{detail}; install the CUDA and cuDNN versions your onnxruntime-gpu was built for "
        "(pip install 'onnxruntime-gpu[cuda,cudnn]')"
    )


def _preload_cuda_libraries() -> None:
    """Let onnxruntime find CUDA/cuDNN from the nvidia-* pip wheels (torch installs them)."""
    import onnxruntime as ort

    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:
        try:
            preload()
        except Exception:  # best effort; the session start reports what is really missing
            pass


def decode_photo(path: Path, pre: Preprocess) -> tuple[np.ndarray | None, str | None]:
    """(preprocessed (3, S, S) array, None), or (None, why the photo cannot be used)."""
    try:
        return load_and_preprocess(path, pre), None
    except PhotoError as err:
        message = str(err)
        prefix = f"{path}: "
        return None, message[len(prefix) :] if message.startswith(prefix) else message
    except Exception as err:  # a photo must never stop the others
        return None, f"cannot read the photo ({type(err).__name__}: {err})"


Decoded = tuple[list[Path], list[np.ndarray], list[tuple[Path, str]]]


def decoded_batches(
    paths: Sequence[str | os.PathLike[str]],
    decode: Callable[[Path], tuple[np.ndarray | None, str | None]],
    batch_size: int,
    workers: int,
    prefetch: int = 1,
    cancel: Cancel | None = None,
) -> Iterator[Decoded]:
    """Photos decoded on a thread pool, batch by batch: (ok paths, arrays, failures).

    While the caller works on one batch, the next ``prefetch`` batches are being decoded.
    """
    files = [Path(p) for p in paths]
    batch_size = max(1, int(batch_size))
    chunks = [files[i : i + batch_size] for i in range(0, len(files), batch_size)]
    if not chunks:
        return
    pool = cf.ThreadPoolExecutor(max(1, workers), thread_name_prefix="stylist-decode")
    try:
        queued: list[list[cf.Future]] = []
        next_chunk = 0

        def fill() -> None:
            nonlocal next_chunk
            while len(queued) < 1 + prefetch and next_chunk < len(chunks):
                queued.append([pool.submit(decode, p) for p in chunks[next_chunk]])
                next_chunk += 1

        fill()
        for chunk in chunks:
            if is_cancelled(cancel):
                return
            decoded = [f.result() for f in queued.pop(0)]
            fill()  # keep the pool busy while the caller runs this batch
            arrays, ok, failed = [], [], []
            for path, (array, reason) in zip(chunk, decoded, strict=True):
                if array is None:
                    failed.append((path, reason or "unknown error"))
                else:
                    arrays.append(array)
                    ok.append(path)
            yield ok, arrays, failed
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class Extractor:
    """One ONNX Runtime session of one backbone; thread-safe ``run_*`` calls are serialised."""

    def __init__(
        self,
        spec: BackboneSpec,
        device: str = "auto",
        variant: str = "auto",
        threads: int | None = None,
        decode_workers: int | None = None,
        paths: Paths | None = None,
        verify: bool = True,
    ) -> None:
        import onnxruntime as ort

        if device not in DEVICES:
            raise DeviceError(f"unknown device {device!r} (choose one of: {', '.join(DEVICES)})")
        if variant not in VARIANT_CHOICES:
            raise ModelError(
                f"unknown variant {variant!r} (choose one of: {', '.join(VARIANT_CHOICES)})"
            )
        self.spec = spec
        self.device = device
        self.threads = threads or default_threads()
        self._decode_workers = decode_workers
        self.fallback_reason: str | None = None
        self._lock = threading.Lock()
        self._paths = paths
        self._verify = verify

        ort.set_default_logger_severity(3)
        want_cuda = (
            device in ("auto", "cuda")
            and CUDA in ort.get_available_providers()
            and nvidia_gpu_problem() is None
        )
        if device == "cuda" and not want_cuda:
            raise DeviceError(f"CUDA was asked for but cannot be used: {cuda_unavailable_reason()}")
        if device == "auto" and not want_cuda:
            self.fallback_reason = cuda_unavailable_reason()

        session = None
        if want_cuda:
            _preload_cuda_libraries()
            chosen = self._choose_variant(variant, on_cuda=True)
            session = self._open(chosen, [CUDA, CPU], quiet=True)
            if CUDA not in session.get_providers():
                reason = cuda_unavailable_reason()
                if device == "cuda":
                    raise DeviceError(f"CUDA was asked for but cannot be used: {reason}")
                self.fallback_reason = reason
                session = None
        if session is None:
            chosen = self._choose_variant(variant, on_cuda=False)
            session = self._open(chosen, [CPU], quiet=False)
        self.session = session
        self.variant = chosen
        self.provider = session.get_providers()[0]
        self._input = session.get_inputs()[0]
        self._input_dtype = np.float16 if "float16" in self._input.type else np.float32
        if self._decode_workers:
            self.decode_workers = self._decode_workers
        elif self.provider == CUDA:
            # The GPU does the network; every core can decode photos to keep it fed.
            self.decode_workers = max(2, (os.cpu_count() or 2))
        else:
            # On the CPU the network needs the cores; two decoders keep up without crowding it.
            self.decode_workers = max(1, min(2, self.threads))

    # ------------------------------------------------------------------ session set-up

    def _choose_variant(self, variant: str, on_cuda: bool) -> str:
        spec = self.spec
        if variant != "auto":
            spec.variant(variant)  # ModelError if there is no such file
            return variant
        if on_cuda and "fp16" in spec.variants:
            return "fp16"
        if not on_cuda and "int8" in spec.variants and spec.variants["int8"].within_tolerance:
            return "int8"
        return "fp32"

    def _open(self, variant: str, providers: list[str], quiet: bool) -> Any:
        import onnxruntime as ort

        v = self.spec.variant(variant)
        path = v.path
        what = f"the {variant} file of backbone {self.spec.id!r}"
        if self._verify:
            verify_file(path, v.sha256, what, self._paths)
        elif not path.is_file():
            raise ModelError(f"{path}: {what} is missing")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Idle ONNX Runtime threads would otherwise spin and steal the cores the photo decoders
        # need between batches.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 4 if quiet else 3
        if quiet:
            ort.set_default_logger_severity(4)
        try:
            return ort.InferenceSession(str(path), options, providers=providers)
        except Exception as err:  # onnxruntime raises its own exception types
            raise ModelError(f"{path}: ONNX Runtime cannot load it ({err})") from None
        finally:
            if quiet:
                ort.set_default_logger_severity(3)

    # ----------------------------------------------------------------------- properties

    @property
    def model_sha256(self) -> str:
        """The key features are cached under: the fp32 reference file's sha256."""
        return self.spec.sha256

    @property
    def feature_dim(self) -> int:
        return self.spec.feature_dim

    def describe(self) -> str:
        where = "GPU (CUDA)" if self.provider == CUDA else f"CPU, {self.threads} threads"
        text = f"{self.spec.id} {self.variant} on {where}"
        if self.fallback_reason and self.provider != CUDA:
            text += f" (no GPU: {self.fallback_reason})"
        return text

    # ------------------------------------------------------------------------ inference

    def run_batch(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3, S, S) float32 -> features (N, D), logits (N, C), both float32."""
        if batch.shape[0] == 0:
            return (
                np.zeros((0, self.spec.feature_dim), np.float32),
                np.zeros((0, self.spec.num_classes), np.float32),
            )
        feed = {self._input.name: np.ascontiguousarray(batch, dtype=self._input_dtype)}
        with self._lock:
            features, logits = self.session.run(list(self.spec.output_names), feed)
        return features.astype(np.float32, copy=False), logits.astype(np.float32, copy=False)

    def run_images(self, images: Sequence[Image.Image], batch_size: int = 32) -> ExtractionResult:
        """Features of PIL images already in memory (e.g. augmented crops), in order."""
        parts = []
        pre = self.spec.preprocess
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            batch = np.stack([preprocess_image(img, pre) for img in chunk])  # (n, 3, S, S)
            features, logits = self.run_batch(batch)
            parts.append(ExtractionResult(features, logits))
        return ExtractionResult.concat(parts, self.spec.feature_dim, self.spec.num_classes)

    def iter_batches(
        self,
        paths: Sequence[str | os.PathLike[str]],
        batch_size: int = 16,
        cancel: Cancel | None = None,
    ) -> Iterator[ExtractionResult]:
        """Results batch by batch; later batches are decoded while this one runs.

        Stops before the next batch once ``cancel.is_set()``.
        """
        pre = self.spec.preprocess
        prefetch = 2 if self.provider == CUDA else 1
        for ok, arrays, failed in decoded_batches(
            paths, lambda p: decode_photo(p, pre), batch_size, self.decode_workers, prefetch, cancel
        ):
            if arrays:
                features, logits = self.run_batch(np.stack(arrays))  # (n, 3, S, S) in
            else:
                features, logits = self.run_batch(np.zeros((0, 3, 1, 1), np.float32))
            yield ExtractionResult(features, logits, ok, failed)

    def run_files(
        self,
        paths: Sequence[str | os.PathLike[str]],
        batch_size: int = 16,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> ExtractionResult:
        """Features of photo files; failures listed with reasons; stops early on cancel."""
        total = len(paths)
        parts: list[ExtractionResult] = []
        done = 0
        if progress is not None:
            progress(0, total, "")
        for part in self.iter_batches(paths, batch_size, cancel):
            parts.append(part)
            done += len(part.ok_paths) + len(part.failed)
            if progress is not None:
                last = (part.ok_paths + [p for p, _ in part.failed])[-1:]
                progress(done, total, last[0].name if last else "")
        result = ExtractionResult.concat(parts, self.spec.feature_dim, self.spec.num_classes)
        result.cancelled = done < total
        return result

    def close(self) -> None:
        """Release the session (its memory goes with it)."""
        self.session = None

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
