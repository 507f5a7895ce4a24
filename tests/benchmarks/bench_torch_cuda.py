"""GPU figures in torch: VGG-16 fp16 features from JPEG files, and stage two ``whole`` for VGG-16.

Runs only where torch sees a CUDA GPU (prints why not and returns elsewhere). Weights are random:
speed does not depend on them. The photos are the demo wardrobe's JPEGs, read and decoded from
disk on every pass with the same Pillow preprocessing the app uses.

* Feature extraction: VGG-16 up to fc7 in fp16, batch 128, images/s (median of 3 passes over
  1,024 files), decoding on a thread pool overlapped with the GPU.
* Stage two ``whole``: VGG-16 (conv layers and fc6/fc7) with net C on top, trained end to end
  with the rank loss, SGD momentum 0.9, 30 (positive, negative) outfit pairs a batch (180
  photos a step), mixed precision; the time of one person's 10 epochs of 1,212 pairs (the
  paper's stage two) is extrapolated from timed steps.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU visible to torch: skipped")
        return
    import torchvision

    from stylist.learn.nets import build_net
    from stylist.learn.train import rank_loss
    from stylist.vision.preprocess import Preprocess, load_and_preprocess

    dev = torch.device("cuda")
    print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    pre = Preprocess(
        input_size=224,
        resize="longer",
        crop="pad",
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        pad_fill=(124, 116, 104),
    )
    photos = sorted((REPO / "resources" / "demo-wardrobe").rglob("*.jpg"))
    files = [photos[i % len(photos)] for i in range(1024)]

    vgg = torchvision.models.vgg16()
    vgg.classifier = torch.nn.Sequential(*list(vgg.classifier.children())[:5])  # to fc7 + ReLU
    vgg = vgg.to(dev).eval().half()

    def passes(batch: int) -> float:
        with ThreadPoolExecutor(12) as pool, torch.inference_mode():
            start = time.perf_counter()
            chunks = [files[i : i + batch] for i in range(0, len(files), batch)]
            pending = pool.map(lambda p: load_and_preprocess(p, pre), chunks[0])
            for n in range(len(chunks)):
                x = np.stack(list(pending))
                if n + 1 < len(chunks):
                    pending = pool.map(lambda p: load_and_preprocess(p, pre), chunks[n + 1])
                out = vgg(torch.from_numpy(x).to(dev, non_blocking=True).half())
            torch.cuda.synchronize()
            assert out.shape[1] == 4096
        return len(files) / (time.perf_counter() - start)

    passes(128)  # warm-up: cuDNN picks its kernels
    for batch in (64, 128):
        rates = [passes(batch) for _ in range(3)]
        print(
            f"VGG-16 fp16 features from JPEG files, batch {batch}: "
            f"{statistics.median(rates):,.0f} images/s (median of 3)"
        )

    # Stage two, whole: the CNN and net C trained together.
    trunk = torchvision.models.vgg16()
    trunk.classifier = torch.nn.Sequential(*list(trunk.classifier.children())[:5])
    trunk = trunk.to(dev).train()
    net_c = build_net("C", 4096, seed=0, init="authors").to(dev).train()
    params = list(trunk.parameters()) + list(net_c.parameters())
    opt = torch.optim.SGD(params, lr=3e-4, momentum=0.9, weight_decay=5e-4)
    images = torch.from_numpy(np.stack([load_and_preprocess(p, pre) for p in photos])).to(dev)
    rng = np.random.default_rng(0)
    pairs = 30

    def step() -> float:
        # 30 positives and 30 negatives, three photos each: (60, 3) indices into the photos
        idx = torch.as_tensor(rng.integers(0, len(photos), size=(2 * pairs, 3)), device=dev)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            f = trunk(images[idx.reshape(-1)]).float().view(2 * pairs, 3, -1)
            s = net_c(f[:, 0], f[:, 1], f[:, 2])  # (60,) outfit scores
            loss = rank_loss(s[:pairs], s[pairs:].view(pairs, 1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    for _ in range(5):
        step()
    torch.cuda.synchronize()
    timed = 40
    start = time.perf_counter()
    for _ in range(timed):
        step()
    torch.cuda.synchronize()
    per_step = (time.perf_counter() - start) / timed
    steps = 10 * 1212 // pairs
    print(
        f"stage two whole (VGG-16 + net C), {pairs} pairs a step: {per_step * 1000:.1f} ms a "
        f"step; 10 epochs of 1,212 pairs ({steps} steps): {per_step * steps:.1f} s"
    )
    print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()
