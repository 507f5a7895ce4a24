"""Vision on an NVIDIA GPU: images/s with ONNX Runtime's CUDA provider, and parity with the CPU.

For VGG-16 (fp16 and fp32, full size, random weights since real ones cannot be downloaded on a
build machine) and the shipped compact backbone (fp32, and an fp16 copy made here), from the
JPEG files of ../shared/data/wardrobe-photos/images, at several batch sizes:

* images/s from files (median of runs; decoding on every CPU core, overlapping the GPU) and on
  tensors already in memory (what the GPU alone does);
* max abs difference and min cosine of features (and logits) against fp32 on the CPU.

Target: VGG-16 fp16 from JPEG files at least 1,500 images/s. On a machine without a usable GPU it
says why and returns at once (no test needs a GPU). ``BENCH_QUICK=1``: fewer photos, one run.

Usage: python -m tests.benchmarks vision_cuda
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
PHOTOS = REPO.parent / "shared" / "data" / "wardrobe-photos" / "images"
QUICK = os.environ.get("BENCH_QUICK") == "1"
CACHE = REPO / "build" / "bench-vision-cuda"
RUNS = 1 if QUICK else 3
BATCHES = (32, 64) if QUICK else (32, 64, 128)
PARITY_PHOTOS = 16
TARGET_VGG_FP16 = 1500.0


def cuda_status() -> str | None:
    """None if the CUDA provider works here, else why not."""
    from stylist.paths import for_home
    from stylist.vision.backbones import get_backbone
    from stylist.vision.extractor import DeviceError, Extractor

    home = for_home(CACHE / "home")
    try:
        Extractor(get_backbone("efficientnet-lite0", home), device="cuda", paths=home)
    except DeviceError as err:
        return str(err)
    return None


def prepare(photos: list[Path]):
    """The compact backbone with an fp16 copy, and full-size VGG-16 with its fp16 variant."""
    import torch

    from stylist.paths import for_home
    from stylist.vision import quantize
    from stylist.vision.backbones import Variant, get_backbone, sha256_file
    from stylist.vision.export import install_vgg16, vgg16_module

    CACHE.mkdir(parents=True, exist_ok=True)
    home = for_home(CACHE / "home")
    lite = get_backbone("efficientnet-lite0", home)
    lite_fp16 = CACHE / "efficientnet-lite0-fp16.onnx"
    if not lite_fp16.is_file():
        quantize.convert_fp16(lite.onnx_path, lite_fp16)
    lite = replace(
        lite,
        variants={**lite.variants, "fp16": Variant("fp16", lite_fp16, sha256_file(lite_fp16))},
    )
    try:
        vgg = get_backbone("vgg16", home)
        if "fp16" not in vgg.variants:
            raise LookupError
    except Exception:
        print("exporting full-size VGG-16 (random weights) with its fp16 variant …", flush=True)
        torch.manual_seed(0)
        weights = CACHE / "vgg16-random.pth"
        torch.save(vgg16_module(1).state_dict(), weights)
        vgg = install_vgg16(home, weights, photos=photos[:8], check_photos=4, variants=("fp16",))
    return home, lite, vgg


def throughput(extractor, photos: list[Path], batch: int) -> tuple[float, float]:
    """(median images/s from files, median images/s from a tensor in memory)."""
    extractor.run_files(photos[: batch * 2], batch_size=batch)  # warm-up: cuDNN algorithm search
    files = []
    for _ in range(RUNS):
        started = time.perf_counter()
        done = len(extractor.run_files(photos, batch_size=batch).ok_paths)
        files.append(done / (time.perf_counter() - started))
    tensor = np.random.default_rng(0).standard_normal((batch, 3, 224, 224), np.float32)
    steps = max(4, len(photos) // batch)
    memory = []
    for _ in range(RUNS):
        started = time.perf_counter()
        for _ in range(steps):
            extractor.run_batch(tensor)
        memory.append(steps * batch / (time.perf_counter() - started))
    return statistics.median(files), statistics.median(memory)


def parity(gpu, cpu_reference, photos: list[Path]) -> str:
    from stylist.vision.quantize import cosine_rows

    a = gpu.run_files(photos, batch_size=len(photos))
    b = cpu_reference.run_files(photos, batch_size=len(photos))
    cos = cosine_rows(a.features, b.features)
    return (
        f"features max|diff| {np.abs(a.features - b.features).max():.2e}, min cosine "
        f"{cos.min():.5f}; logits max|diff| {np.abs(a.logits - b.logits).max():.2e}"
    )


def main() -> int:
    import onnxruntime as ort

    providers = ", ".join(ort.get_available_providers())
    print(f"# vision on CUDA; onnxruntime {ort.__version__} ({providers})")
    reason = cuda_status()
    if reason is not None:
        print(f"no usable NVIDIA GPU here, nothing measured: {reason}")
        return 0
    from stylist.vision.extractor import Extractor

    photos = sorted(PHOTOS.glob("*.jpg"))
    if QUICK:
        photos = photos[:512]
    home, lite, vgg = prepare(photos)
    print(f"{len(photos)} JPEG files, {os.cpu_count()} CPU cores for decoding")
    check = photos[:PARITY_PHOTOS]
    rows = []
    for spec in (vgg, lite):
        cpu = Extractor(spec, device="cpu", variant="fp32", paths=home, verify=False)
        for variant in ("fp16", "fp32"):
            gpu = Extractor(spec, device="cuda", variant=variant, paths=home, verify=False)
            print(f"\n{gpu.describe()}, {gpu.decode_workers} decoding threads")
            print(f"  parity with fp32 on the CPU ({len(check)} photos): {parity(gpu, cpu, check)}")
            for batch in BATCHES:
                from_files, in_memory = throughput(gpu, photos, batch)
                rows.append((spec.id, variant, batch, from_files, in_memory))
                print(
                    f"  batch {batch:>4}: {from_files:8.0f} img/s from files, "
                    f"{in_memory:8.0f} img/s from memory"
                )
            gpu.close()
    best = max(r[3] for r in rows if r[0] == "vgg16" and r[1] == "fp16")
    verdict = "ok" if best >= TARGET_VGG_FP16 else "MISSED"
    print(f"\n[{verdict}] VGG-16 fp16 from JPEG files: best {best:.0f} img/s (target 1,500)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
