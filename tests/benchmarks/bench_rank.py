"""Ranking speed: pair matrices and the exact top 50 of every outfit, against the naive way.

For random wardrobes of 100×100×100 (a million outfits) and 1,000×1,000×500 (500 million) items
with 1,280-d features and a random net C as wide as the shipped one, prints:
- the time to compute the three pair matrices (first layer split per item),
- the time to the exact top 50 after that (bounds + pruned search), and with diversity,
- peak memory of both steps (tracemalloc) and the process's peak RSS,
- the naive baseline: every outfit through the whole net, one batch at a time, timed on a sample
  and extrapolated to the whole wardrobe (a full run would take minutes to days),
and the ratios. Random features give near-uniform scores, the worst case for pruning; a
"structured" wardrobe (items drawn around a few styles) is reported too.

Run alone: ``python -m tests.benchmarks rank`` (``BENCH_QUICK=1`` for a short run).
"""

from __future__ import annotations

import os
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from stylist.rank.matching import FORMAT, MatchingNet, expected_shapes
from stylist.rank.query import Query, Ranker
from stylist.rank.topk import PairMatrices, TopKSearch, brute_force_top_k


def _shipped_hidden() -> int:
    """The hidden width of the shipped general net C: the width the app ranks with."""
    from stylist.files import read_json
    from stylist.paths import models_dir

    config = read_json(models_dir() / "fashionnet-c-efficientnet-lite0.json")
    return int(config.get("hidden", 512))


DIM, HIDDEN, K = 1280, _shipped_hidden(), 50
TARGET_1M_S, TARGET_500M_S, TARGET_RATIO = 0.050, 1.0, 1000.0


def random_net(seed: int, relu_after_fc1: bool = True) -> MatchingNet:
    """Net C with He-scaled random weights: scores spread over (0, 3) like a trained net's."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for name, shape in expected_shapes("C", DIM, HIDDEN).items():
        fan_in = shape[1] if len(shape) == 2 else HIDDEN
        scale = np.sqrt(2.0 / fan_in) if len(shape) == 2 else 0.01
        arrays[name] = (rng.standard_normal(shape) * scale).astype(np.float32)
    config = {
        "format": FORMAT,
        "net": "C",
        "backbone": "random",
        "feature_dim": DIM,
        "hidden": HIDDEN,
        "relu_after_fc1": relu_after_fc1,
        "trained_on": "random weights (benchmark)",
    }
    return MatchingNet.from_arrays(arrays, config)


def wardrobe(sizes: tuple[int, int, int], seed: int, structured: bool) -> list[np.ndarray]:
    """Non-negative features like a backbone's pooled output; optionally grouped in styles."""
    rng = np.random.default_rng(seed)
    if not structured:
        return [np.abs(rng.standard_normal((n, DIM), dtype=np.float32)) for n in sizes]
    styles = np.abs(rng.standard_normal((12, DIM), dtype=np.float32)) * 1.5
    out = []
    for n in sizes:
        which = rng.integers(0, len(styles), n)
        noise = np.abs(rng.standard_normal((n, DIM), dtype=np.float32)) * 0.5
        out.append(styles[which] + noise)
    return out


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median seconds over repeats, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def peak_bytes(fn: Callable[[], object]) -> int:
    """Peak memory Python and numpy allocate while fn runs (tracemalloc)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def naive_seconds_per_outfit(
    net: MatchingNet, feats: list[np.ndarray], m: PairMatrices, sample: int, seed: int
) -> tuple[float, float]:
    """Time whole outfits through the net one batch at a time; also check it scores as we do."""
    rng = np.random.default_rng(seed)
    idx = [rng.integers(0, len(f), sample) for f in feats]
    batch = 4096
    times, err = [], 0.0
    for i0 in range(0, sample, batch):
        sl = slice(i0, i0 + batch)
        start = time.perf_counter()
        # Gathering each outfit's features is part of the naive way.
        scores = net.score_outfits(*(f[i[sl]] for f, i in zip(feats, idx, strict=True)), batch)
        times.append((time.perf_counter() - start) / len(scores))
        err = max(err, float(np.abs(scores - m.scores(*(i[sl] for i in idx))).max()))
    return statistics.median(times), err


def fmt_s(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 60:
        return f"{s / 60:.1f} min"
    if s >= 1:
        return f"{s:.2f} s"
    return f"{s * 1e3:.2f} ms"


def mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def run_case(
    name: str, sizes: tuple[int, int, int], structured: bool, quick: bool, target: float | None
) -> None:
    nt, nb, ns = sizes
    n_outfits = nt * nb * ns
    net = random_net(seed=1)
    feats = wardrobe(sizes, seed=2, structured=structured)
    big = n_outfits > 10**7
    print(f"\n{name}: {nt} tops x {nb} bottoms x {ns} shoes = {n_outfits:,} outfits, {DIM}-d")

    if big:  # one run (tens of seconds), timed and traced at once
        box: list = []
        pm_peak = peak_bytes(lambda: box.append(timed(lambda: net.pair_matrices(*feats), 1)))
        pm_s, m = box[0]
    else:
        pm_s, m = timed(lambda: net.pair_matrices(*feats), 3)
        pm_peak = peak_bytes(lambda: net.pair_matrices(*feats))
    n_pairs = nt * nb + nt * ns + nb * ns
    print(f"  pair matrices        : {fmt_s(pm_s):>10}  ({n_pairs:,} pairs, peak {mib(pm_peak)})")
    # The authors' files have no ReLU after fc1: fc1 and fc2 then fold into the projections.
    folded = random_net(seed=1, relu_after_fc1=False)
    fold_s, _ = timed(lambda: folded.pair_matrices(*feats), 1 if big else 3)
    print(f"    same net without ReLU after fc1 (authors' layout): {fmt_s(fold_s)}")

    spread = float(np.std(m.top_bottom))
    print(f"    pair scores: mean {float(np.mean(m.top_bottom)):.3f}, std {spread:.3f}")

    repeats = 5 if big else 20
    top_s, ranking = timed(lambda: TopKSearch(m).top(K), repeats)
    search = TopKSearch(m)
    search.top(K)
    st = search.stats
    top_peak = peak_bytes(lambda: TopKSearch(m).top(K))
    print(
        f"  top {K} (exact)        : {fmt_s(top_s):>10}  (median of {repeats}; expanded "
        f"{st.pairs_expanded:,} of {st.pairs_total:,} top-bottom pairs = "
        f"{st.outfits_scored:,} outfits; peak {mib(top_peak)})"
    )
    if target is not None:
        verdict = "met" if top_s <= target else "MISSED"
        print(f"    target <= {fmt_s(target)}: {verdict}")
    if not big:
        brute = brute_force_top_k(m, K)
        same = brute.triples() == ranking.triples()
        print(f"    identical to brute force over all {n_outfits:,} sums: {same}")

    ranker = Ranker(*(np.arange(n) + 10**6 * slot for slot, n in enumerate(sizes)), m)
    div_s, diverse = timed(lambda: ranker.suggest(Query(k=K, max_per_item=3)), 3)
    exp_s, _ = timed(lambda: ranker.suggest(Query(k=K, max_per_item=3, explain=True)), 3)
    print(
        f"  top {K}, <= 3 per item : {fmt_s(div_s):>10}  (with explanations {fmt_s(exp_s)}; "
        f"{len({o.top for o in diverse})} different tops)"
    )

    sample = 4096 if quick else 16384
    per_outfit, err = naive_seconds_per_outfit(net, feats, m, sample, seed=3)
    naive_total = per_outfit * n_outfits
    print(
        f"  naive (whole net per outfit, batches of 4096): {per_outfit * 1e6:.1f} us/outfit "
        f"on {sample:,} sampled outfits -> {fmt_s(naive_total)} for all (extrapolated); "
        f"max |naive - pair sums| = {err:.1e}"
    )
    ratio_all = naive_total / (pm_s + top_s)
    ratio_top = naive_total / top_s
    print(f"  speed-up, pair matrices + top {K}: {ratio_all:,.0f}x")
    print(f"  speed-up, top {K} once matrices exist: {ratio_top:,.0f}x")
    verdict = "met" if ratio_all >= TARGET_RATIO else "MISSED"
    print(f"    target >= {TARGET_RATIO:,.0f}x end to end: {verdict}")
    m_fold = folded.pair_matrices(*feats)
    fold_top_s, _ = timed(lambda: TopKSearch(m_fold).top(K), repeats)
    fold_per_outfit, fold_err = naive_seconds_per_outfit(folded, feats, m_fold, 4096, seed=4)
    fold_ratio = fold_per_outfit * n_outfits / (fold_s + fold_top_s)
    print(
        f"  without ReLU after fc1: naive {fold_per_outfit * 1e6:.1f} us/outfit, top {K} "
        f"{fmt_s(fold_top_s)}, end to end {fold_ratio:,.0f}x (max diff {fold_err:.1e})"
    )


def run_cache_case(sizes: tuple[int, int, int], repeats: int) -> None:
    """Pair matrices of the next run (kept on disk), and after one item is added."""
    import json
    import tempfile
    from pathlib import Path

    from stylist.rank.cache import PairCache

    net = random_net(3)
    feats = wardrobe(sizes, 4, structured=False)
    slots = [{i + 1 + 10_000 * s: f[i] for i in range(len(f))} for s, f in enumerate(feats)]
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "c.npz", **net.arrays)
        (Path(tmp) / "c.json").write_text(json.dumps(net.config))
        saved = MatchingNet.load(Path(tmp) / "c.npz")
        sha = "0" * 64
        first, _ = timed(lambda: PairCache(Path(tmp) / "cache").matrices(saved, sha, slots), 1)
        again, _ = timed(
            lambda: PairCache(Path(tmp) / "cache").matrices(saved, sha, slots), repeats
        )
        grown = [dict(x) for x in slots]
        grown[0][0] = feats[0][0]

        def one_more() -> None:
            (Path(tmp) / "cache" / "x").mkdir(exist_ok=True)
            for f in (Path(tmp) / "cache").glob("pairs-*.npz"):
                (Path(tmp) / "cache" / "x" / f.name).write_bytes(f.read_bytes())
            PairCache(Path(tmp) / "cache" / "x").matrices(saved, sha, grown)

        added, _ = timed(one_more, repeats)
    n = "x".join(map(str, sizes))
    print(f"\npair matrices kept on disk ({n} wardrobe, the next run):")
    print(f"  first run (computed, written): {fmt_s(first):>10}")
    print(f"  next run (read)             : {fmt_s(again):>10}  ({first / again:,.0f}x faster)")
    print(f"  next run with one new top   : {fmt_s(added):>10}  (includes copying the cache)")


def main() -> None:
    quick = os.environ.get("BENCH_QUICK") == "1"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"ranking benchmark, {cores} CPU cores usable, numpy {np.__version__}, float32")
    print("random net C (He-scaled weights), features |N(0,1)|; times are medians")
    run_case("random, small", (100, 100, 100), False, quick, TARGET_1M_S)
    if quick:
        run_case("structured, small", (100, 100, 100), True, quick, TARGET_1M_S)
    else:
        run_case("random, large", (1000, 1000, 500), False, quick, TARGET_500M_S)
        run_case("structured, large", (1000, 1000, 500), True, quick, TARGET_500M_S)
    run_cache_case((100, 100, 100) if quick else (1000, 1000, 500), 3)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"\npeak RSS of the whole benchmark process: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
