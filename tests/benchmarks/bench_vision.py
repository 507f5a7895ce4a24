"""Vision benchmark: backbone images/s and peak memory on this machine's CPU, from JPEG files.

Measured, at batch 8 and 32, from the JPEG files of ../shared/data/wardrobe-photos/images
(decoded, resized and normalised by the extractor's own thread pool, overlapping inference):

* the shipped compact backbone (EfficientNet-Lite0, real ImageNet weights) in ONNX Runtime, fp32
  and its shipped int8 variant;
* VGG-16 in ONNX Runtime, fp32 and int8 (static QDQ), full size with random weights, since the
  real ones cannot be downloaded here (speed does not depend on the weight values);
* VGG-16 in torch eager mode, the baseline, fed by the same decoding pipeline.

Each configuration runs in a child process of its own, so its peak resident memory (RSS) is its
own. Images/s is the median over repeated runs over the same files; the same batches are also
timed on tensors already in memory, to show what decoding from files costs. CPU ms per image
(all threads) is printed too: on a shared machine it shows what a quiet one would give. The int8
error is measured on the compact backbone with its real weights (cosine similarity of features to
fp32 on held-out photos), and also reported for VGG-16's random weights.

Exported models are kept in build/bench-vision/ between runs. ``BENCH_QUICK=1`` runs a smoke
version: fewer photos, one run, VGG-16 at 1/4 width.

Usage: python -m tests.benchmarks.bench_vision
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
PHOTOS = REPO.parent / "shared" / "data" / "wardrobe-photos" / "images"
QUICK = os.environ.get("BENCH_QUICK") == "1"
CACHE = REPO / "build" / ("bench-vision-quick" if QUICK else "bench-vision")
VGG_WIDTH = 4 if QUICK else 1
RUNS = 1 if QUICK else 3
BATCHES = (8, 32)
# Photos per timed run: enough for several batches and a few seconds of work.
FILES = {
    "compact": 64 if QUICK else 320,
    "vgg-int8": 32 if QUICK else 128,
    "vgg-fp32": 32 if QUICK else 64,
    "torch": 32 if QUICK else 48,
}
CALIBRATION = 32 if QUICK else 100
HELD_OUT = 32 if QUICK else 128


def photo_list() -> list[Path]:
    files = sorted(PHOTOS.glob("*.jpg"))
    if not files:
        raise SystemExit(f"no photos in {PHOTOS}")
    return files


def split_photos() -> tuple[list[Path], list[Path], list[Path]]:
    """(calibration, held-out check, timing) photos: the first two never overlap."""
    files = photo_list()
    order = np.random.default_rng(0).permutation(len(files))
    calib = [files[i] for i in order[:CALIBRATION]]
    held = [files[i] for i in order[CALIBRATION : CALIBRATION + HELD_OUT]]
    return calib, held, files


# ------------------------------------------------------------------------------ preparation


def prepare() -> dict[str, Any]:
    """Export/quantize what the runs need (cached in build/), and measure int8 agreement."""
    from stylist.paths import for_home
    from stylist.vision import quantize
    from stylist.vision.backbones import get_backbone
    from stylist.vision.export import install_vgg16, vgg16_module
    from stylist.vision.preprocess import load_and_preprocess

    CACHE.mkdir(parents=True, exist_ok=True)
    home = for_home(CACHE / "home")
    calib, held, _ = split_photos()
    info: dict[str, Any] = {"home": str(home.data_dir)}

    # The int8 error, measured on the compact backbone with its real weights (the shipped int8
    # variant against fp32), on photos that were not used to calibrate it.
    lite = get_backbone("efficientnet-lite0", home)
    held_batch = np.stack([load_and_preprocess(p, lite.preprocess) for p in held])
    chunks = [held_batch[i : i + 32] for i in range(0, len(held_batch), 32)]
    info["lite_int8_agreement"] = quantize.agreement(
        lite.onnx_path, lite.variants["int8"].path, chunks
    )

    weights = CACHE / f"vgg16-random-w{VGG_WIDTH}.pth"
    try:
        vgg = get_backbone("vgg16", home)
        if "int8" not in vgg.variants:
            raise LookupError
    except Exception:
        import torch

        torch.manual_seed(0)
        print("exporting VGG-16 (random weights) and its int8 variant …", flush=True)
        torch.save(vgg16_module(VGG_WIDTH).state_dict(), weights)
        started = time.perf_counter()
        vgg = install_vgg16(
            home,
            weights,
            width=VGG_WIDTH,
            photos=held[:8] + calib,
            check_photos=8,
            calibration_photos=len(calib),
            variants=("int8",),
        )
        info["vgg_install_s"] = time.perf_counter() - started
    info["vgg_weights"] = str(weights)
    info["vgg_int8_agreement"] = {
        k: vgg.variants["int8"].info.get(k) for k in ("cosine_min", "cosine_mean", "checked_photos")
    }
    return info


# ------------------------------------------------------------------------------ child runs


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM starts afresh at exec, unlike ru_maxrss,
    which a child inherits from the parent that forked it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed_runs(run_files, run_tensor, files: list[Path], batch: int) -> dict[str, Any]:
    """Median images/s from files and from tensors in memory."""
    run_files(files[:batch], batch)  # warm-up: first session run, page cache
    from_files, cpu_ms = [], []
    for _ in range(RUNS):
        started, cpu = time.perf_counter(), time.process_time()
        done = run_files(files, batch)
        from_files.append(done / (time.perf_counter() - started))
        cpu_ms.append((time.process_time() - cpu) * 1000.0 / done)
    in_memory = []
    steps = max(1, len(files) // batch)
    for _ in range(RUNS):
        started = time.perf_counter()
        for _ in range(steps):
            run_tensor()
        in_memory.append(steps * batch / (time.perf_counter() - started))
    return {
        "files_img_s": statistics.median(from_files),
        "files_runs": from_files,
        # CPU time of all threads per photo: what the machine's cores must supply, independent
        # of other load on a shared machine.
        "cpu_ms_per_img": statistics.median(cpu_ms),
        "memory_img_s": statistics.median(in_memory),
        "photos": len(files),
    }


def child(config: dict[str, Any]) -> dict[str, Any]:
    from stylist.paths import for_home
    from stylist.vision.backbones import get_backbone
    from stylist.vision.extractor import Extractor, decode_photo, decoded_batches

    batch = config["batch"]
    files = photo_list()[200 : 200 + FILES[config["files"]]]
    home = for_home(config["home"])

    if config["engine"] == "ort":
        spec = get_backbone(config["backbone"], home)
        extractor = Extractor(spec, device="cpu", variant=config["variant"], paths=home)
        tensor = np.random.default_rng(0).standard_normal((batch, 3, 224, 224), np.float32)

        def run_files(paths, bs):
            return len(extractor.run_files(paths, batch_size=bs).ok_paths)

        result = timed_runs(run_files, lambda: extractor.run_batch(tensor), files, batch)
        result["threads"] = extractor.threads
        result["decode_workers"] = extractor.decode_workers
    else:
        import torch

        from stylist.vision.export import VGG16_PREPROCESS, vgg16_features_and_logits, vgg16_module

        model = vgg16_module(VGG_WIDTH)
        model.load_state_dict(torch.load(config["weights"], weights_only=True))
        net = vgg16_features_and_logits(model)
        pre = VGG16_PREPROCESS

        def run_files(paths, bs):
            done = 0
            for ok, arrays, _failed in decoded_batches(
                paths, lambda p: decode_photo(p, pre), bs, workers=2
            ):
                with torch.inference_mode():
                    net(torch.from_numpy(np.stack(arrays)))
                done += len(ok)
            return done

        tensor = torch.randn(batch, 3, 224, 224)

        def run_tensor():
            with torch.inference_mode():
                net(tensor)

        result = timed_runs(run_files, run_tensor, files, batch)
        result["threads"] = torch.get_num_threads()
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def run_child(config: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.bench_vision", "--child", json.dumps(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed: {config}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------ report


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        print(json.dumps(child(json.loads(argv[1]))))
        return 0

    started = time.perf_counter()
    mode = "QUICK (smoke run)" if QUICK else "full"
    print(f"# vision benchmark, {mode}; {os.cpu_count()} CPUs; photos from {PHOTOS}")
    info = prepare()
    vgg_name = "VGG-16" if VGG_WIDTH == 1 else f"VGG-16/{VGG_WIDTH}"
    configs = [
        ("compact ORT fp32", {"engine": "ort", "backbone": "efficientnet-lite0", "variant": "fp32",
                              "files": "compact"}),
        ("compact ORT int8", {"engine": "ort", "backbone": "efficientnet-lite0", "variant": "int8",
                              "files": "compact"}),
        (f"{vgg_name} ORT fp32", {"engine": "ort", "backbone": "vgg16", "variant": "fp32",
                                  "files": "vgg-fp32"}),
        (f"{vgg_name} ORT int8", {"engine": "ort", "backbone": "vgg16", "variant": "int8",
                                  "files": "vgg-int8"}),
        (f"{vgg_name} torch eager", {"engine": "torch", "weights": info["vgg_weights"],
                                     "files": "torch"}),
    ]  # fmt: skip
    results: dict[tuple[str, int], dict[str, Any]] = {}
    cores = len(os.sched_getaffinity(0))
    print(
        f"\n{'configuration':<24}{'batch':>6}{'img/s files':>13}{'img/s memory':>14}"
        f"{'CPU ms/img':>12}{'peak RSS MB':>13}  runs (img/s)"
    )
    for name, config in configs:
        for batch in BATCHES:
            r = run_child({**config, "batch": batch, "home": info["home"]})
            results[(name, batch)] = r
            runs = ", ".join(f"{x:.1f}" for x in r["files_runs"])
            print(
                f"{name:<24}{batch:>6}{r['files_img_s']:>13.1f}{r['memory_img_s']:>14.1f}"
                f"{r['cpu_ms_per_img']:>12.1f}{r['peak_rss_mb']:>13.0f}  {runs}",
                flush=True,
            )

    lite_agree = info["lite_int8_agreement"]
    vgg_agree = info["vgg_int8_agreement"]
    print("\n# int8 agreement with fp32 (cosine similarity of features, held-out photos)")
    print(
        f"compact (real ImageNet weights): min {lite_agree['cosine_min']:.4f}, "
        f"mean {lite_agree['cosine_mean']:.4f} over {lite_agree['checked_photos']} photos"
    )
    print(
        f"{vgg_name} (random weights):     min {vgg_agree['cosine_min']:.4f}, "
        f"mean {vgg_agree['cosine_mean']:.4f} over {vgg_agree['checked_photos']} photos"
    )

    print("\n# ratios and targets (from files unless noted)")
    checks = []
    for batch in BATCHES:
        fp32 = results[(f"{vgg_name} ORT fp32", batch)]
        eager = results[(f"{vgg_name} torch eager", batch)]
        int8 = results[(f"{vgg_name} ORT int8", batch)]
        compact = results[("compact ORT fp32", batch)]
        compact_cpu = results[("compact ORT int8", batch)]  # what the app runs on a CPU
        ratio = fp32["files_img_s"] / eager["files_img_s"]
        ratio_mem = fp32["memory_img_s"] / eager["memory_img_s"]
        print(
            f"batch {batch}: ORT fp32 / torch eager = {ratio:.2f}x (in memory {ratio_mem:.2f}x); "
            f"ORT int8 / fp32 = {int8['files_img_s'] / fp32['files_img_s']:.2f}x; "
            f"files / memory: int8 {int8['files_img_s'] / int8['memory_img_s']:.2f}, "
            f"compact {compact['files_img_s'] / compact['memory_img_s']:.2f}"
        )
        checks += [
            (f"{vgg_name} int8 >= 25 img/s (batch {batch})", int8["files_img_s"] >= 25),
            (f"ORT fp32 >= 1.7x torch eager (batch {batch})", ratio >= 1.7),
            (
                f"compact >= 150 img/s (int8, the app's CPU variant; batch {batch})",
                compact_cpu["files_img_s"] >= 150,
            ),
        ]
    checks.append(("int8 cosine >= 0.99 on the compact backbone", lite_agree["cosine_min"] >= 0.99))
    for label, ok in checks:
        print(f"  [{'ok' if ok else 'MISSED'}] {label}")
    load = os.getloadavg()[0]
    if load > cores + 0.5:
        print(
            f"  note: load average {load:.1f} on {cores} cores: other work shared the CPU, so "
            f"wall-clock figures are low; {cores} cores / CPU ms per image bounds what a quiet "
            "machine gives"
        )
    if VGG_WIDTH != 1:
        print("  (quick mode: VGG-16 at reduced width, so its targets do not apply)")
    print(f"\nbenchmark took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
