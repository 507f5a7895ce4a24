"""Stage two, partial: one person's fine-tune on cached features, as the app runs it.

Times ``fine_tune_partial`` for 200 liked outfits against 1,200 random negatives (six each) for
10 epochs on a wardrobe of 120 tops, 80 bottoms and 40 shoes with 1,280-d features (the compact
backbone's size), starting from a general net C. The baseline, measured in the same process, is
the same training with fc1 recomputed from the features at every step (a plain torch net over
the features, which is what precomputing W·a per item saves). Target: at most 5 s on a 2-core CPU.

Where CUDA can be used, also times one epoch of stage two ``whole`` for VGG-16 (the paper's
backbone, trained through the CNN) for the same person on the GPU.

Run: python -m tests.benchmarks learn
"""

from __future__ import annotations

import statistics
import time

import numpy as np

D = 1280
WARDROBE = {"top": 120, "bottom": 80, "shoes": 40}
LIKES, NEGATIVES_PER_LIKE, EPOCHS = 200, 6, 10
REPEATS = 3


def wardrobe(seed: int = 0) -> dict[str, dict[int, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out, next_id = {}, 1
    for slot, n in WARDROBE.items():
        # ReLU6-pooled features are non-negative; the scale matches the compact backbone's.
        out[slot] = {
            next_id + i: np.abs(rng.normal(0, 0.5, D)).astype(np.float32) for i in range(n)
        }
        next_id += n
    return out


def likes(items: dict[str, dict[int, np.ndarray]], n: int, seed: int = 1) -> list[tuple]:
    rng = np.random.default_rng(seed)
    ids = [list(items[s]) for s in ("top", "bottom", "shoes")]
    chosen: set[tuple] = set()
    while len(chosen) < n:
        chosen.add(tuple(int(rng.choice(i)) for i in ids))
    return sorted(chosen)


def general_net() -> tuple[dict, dict]:
    from stylist.learn.io import make_config, net_arrays
    from stylist.learn.nets import build_net

    net = build_net("C", D, seed=0, init="torch")
    config = make_config(
        "C", backbone="bench", backbone_sha256="0" * 64, feature_dim=D, trained_on="benchmark"
    )
    return net_arrays(net), config


def time_partial(items, liked, base) -> tuple[float, dict]:
    from stylist.learn.personal import fine_tune_partial

    # A quarter more likes than trained on: the app holds 20 % out for validation.
    start = time.perf_counter()
    result = fine_tune_partial(base, liked, [], items, epochs=EPOCHS, seed=0, val_fraction=0.2)
    return time.perf_counter() - start, result.metrics


def time_plain(items, liked, base) -> float:
    """The same training without precomputed projections: fc1 over the raw features each step."""
    from stylist.learn.io import net_from_arrays
    from stylist.learn.personal import FINE_TUNE, _Items
    from stylist.learn.sampling import NegativeSampler
    from stylist.learn.train import RankTask, feature_scorer, fit

    table = _Items(items)
    triples = np.asarray([table.triple(o) for o in liked])[:LIKES]
    pools = [np.asarray(p) for p in table.pools]
    sampler = NegativeSampler(triples, pools, mode="random", per_positive=NEGATIVES_PER_LIKE)
    net = net_from_arrays(*base)
    scorer = feature_scorer(net, table.matrix())
    task = RankTask(triples, sampler.sample)
    start = time.perf_counter()
    fit(scorer, task, FINE_TUNE)
    return time.perf_counter() - start


def bench_whole_vgg16_cuda() -> None:
    import torch

    if not torch.cuda.is_available():
        print("stage two whole, VGG-16: no CUDA device here, not timed")
        return
    from torchvision.models import vgg16

    from stylist.learn.nets import build_net
    from stylist.learn.train import RankTask, TrainConfig, fit, image_scorer

    # Timing only: ImageNet weights do not change the cost, so none are loaded.
    net = vgg16()

    class Trunk(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net.classifier[:5](self.net.avgpool(self.net.features(x)).flatten(1))

    n_items = 240
    images = np.random.default_rng(0).normal(size=(n_items, 3, 224, 224)).astype(np.float16)
    rng = np.random.default_rng(1)
    positives = np.column_stack(
        [rng.integers(0, 120, 200), rng.integers(120, 200, 200), rng.integers(200, 240, 200)]
    )
    task = RankTask(positives, lambda r: np.stack([positives[r.permutation(200)]] * 6, axis=1))
    scorer = image_scorer(build_net("C", 4096), images, trunk=Trunk(), mean=0.0, std=1.0)
    scorer = scorer.cuda()
    cfg = TrainConfig(epochs=1, lr=1e-3, optimizer="sgd", trunk_lr_scale=0.1)
    fit(scorer, RankTask(positives[:10], task.negatives), cfg)  # warm-up
    torch.cuda.synchronize()
    start = time.perf_counter()
    fit(scorer, task, cfg)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    print(
        f"stage two whole, VGG-16 on {torch.cuda.get_device_name()}: {seconds:.1f} s per epoch "
        f"of 200 liked outfits x 6 negatives ({seconds * 10:.0f} s for 10 epochs)"
    )


def main() -> None:
    import torch

    items = wardrobe()
    liked = likes(items, int(LIKES / 0.8))
    base = general_net()
    print(
        f"stage two partial: {LIKES} liked outfits, {LIKES * NEGATIVES_PER_LIKE} negatives, "
        f"{EPOCHS} epochs, wardrobe {WARDROBE}, {D}-d features, torch threads "
        f"{torch.get_num_threads()}"
    )
    runs = [time_partial(items, liked, base) for _ in range(REPEATS)]
    ours = statistics.median(t for t, _ in runs)
    metrics = runs[0][1]
    print(
        f"  fine_tune_partial (first layer precomputed per item): median {ours:.2f} s over "
        f"{REPEATS} runs (trained on {metrics['train_likes']} likes, validated on "
        f"{metrics['val_likes']}); target <= 5 s"
    )
    plain = statistics.median(time_plain(items, liked, base) for _ in range(REPEATS))
    print(
        f"  baseline, fc1 over raw features each step: median {plain:.2f} s; "
        f"speed-up x{plain / ours:.1f}"
    )
    bench_whole_vgg16_cuda()


if __name__ == "__main__":
    main()
