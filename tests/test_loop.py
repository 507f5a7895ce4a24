"""The thumbs up/down loop on the demo wardrobe: a consistent taste changes the ranking."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys

import numpy as np

from stylist.domain import Category, Outfit, Verdict
from stylist.service import Stylist


def _taste(stylist: Stylist) -> tuple[set[int], set[int]]:
    """A person who wears skirts and never trousers."""
    bottoms = stylist.items(Category.BOTTOM)
    skirts = {i.id for i in bottoms if i.original_name.startswith("skirt")}
    pants = {i.id for i in bottoms if i.original_name.startswith("pants")}
    assert len(skirts) == 4 and len(pants) == 5
    return skirts, pants


def _gap(stylist: Stylist, outfits: list[Outfit], skirts: set[int]) -> float:
    """Mean score of skirt outfits minus mean score of trouser outfits."""
    ranker = stylist.ranker()
    scores = np.array([ranker.rate(*o.ids(), explain=False).score for o in outfits])
    is_skirt = np.array([o.bottom in skirts for o in outfits])
    return float(scores[is_skirt].mean() - scores[~is_skirt].mean())


def test_twenty_verdicts_of_one_taste_move_unjudged_outfits_that_way(demo):
    skirts, pants = _taste(demo)
    tops = [i.id for i in demo.items(Category.TOP)]
    shoes = [i.id for i in demo.items(Category.SHOES)]
    rng = random.Random(7)
    judged = set()
    for n in range(20):
        bottom = rng.choice(sorted(skirts if n % 2 == 0 else pants))
        outfit = Outfit(rng.choice(tops), bottom, rng.choice(shoes))
        judged.add(outfit)
        demo.rate(outfit, Verdict.LIKE if bottom in skirts else Verdict.DISLIKE)
    unjudged = [
        Outfit(t, b, s)
        for t in tops
        for b in sorted(skirts | pants)
        for s in shoes
        if Outfit(t, b, s) not in judged
    ]
    before = _gap(demo, unjudged, skirts)
    assert demo.training_due()
    report = demo.train(seed=0)
    assert report.version_id is not None
    versions = demo.model_versions()
    # One verdict per outfit counts (an outfit judged twice counts once).
    liked = {o for o in judged if o.bottom in skirts}
    assert versions[-1].metrics["likes"] == len(liked)
    assert versions[-1].metrics["dislikes"] == len(judged) - len(liked)
    if not report.accepted:
        demo.use_model_version(report.version_id)
    after = _gap(demo, unjudged, skirts)
    top20 = demo.suggest(20, max_per_item=None, exploration=0.0)
    assert after > before + 0.05, (before, after)
    assert sum(o.bottom in skirts for o in top20) >= 15


def test_a_kill_during_training_leaves_the_model_in_use(demo):
    skirts, pants = _taste(demo)
    tops = [i.id for i in demo.items(Category.TOP)]
    shoes = [i.id for i in demo.items(Category.SHOES)]
    for n, bottom in enumerate(sorted(skirts) * 2):
        demo.rate(Outfit(tops[n], bottom, shoes[n % len(shoes)]), Verdict.LIKE)
    first = demo.train()
    assert first.version_id is not None
    in_use = [v.id for v in demo.model_versions() if v.active]

    env = {**os.environ, "STYLIST_HOME": str(demo.paths.data_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "stylist", "train", "--wait"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout.readline().startswith("Training started")  # it holds the lock now
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert [v.id for v in demo.model_versions() if v.active] == in_use
    assert len(demo.model_versions()) <= 2
    assert demo.check().consistent
    assert demo.suggest(5)  # the model in use still loads and ranks
    leftovers = list((demo.paths.models / "personal").rglob("*.tmp*"))
    assert all(p.stat().st_size >= 0 for p in leftovers)


def test_after_twenty_verdicts_the_top_twenty_scores_still_tell_outfits_apart(demo):
    """Fine-tuning stays near the general model: no page of 100 % and 0 % matches."""
    from stylist.gui.outfits import match_text

    skirts, pants = _taste(demo)
    tops = [i.id for i in demo.items(Category.TOP)]
    shoes = [i.id for i in demo.items(Category.SHOES)]
    rng = random.Random(7)
    for n in range(20):
        bottom = rng.choice(sorted(skirts if n % 2 == 0 else pants))
        outfit = Outfit(rng.choice(tops), bottom, rng.choice(shoes))
        demo.rate(outfit, Verdict.LIKE if bottom in skirts else Verdict.DISLIKE)
    report = demo.train(seed=0)
    if not report.accepted:
        demo.use_model_version(report.version_id)
    suggested = demo.suggest(20, max_per_item=None, exploration=0.0)
    best = [o.score for o in suggested]
    assert all(0.5 < 100 * m < 99.5 for m in best), best  # the best 20 are not saturated
    # The figure shown on a card, and in `suggest --json` as "match", separates the best 20.
    texts = [match_text(m) for m in best]
    assert len(set(texts)) >= 10, [round(m, 4) for m in best]
    assert [f"{o.to_dict()['match']:.1f}% match" for o in suggested] == texts
    # As the page shows them (three outfits per item at most): far weaker outfits come in, and
    # still no card reads 0 % or 100 %.
    shown = [o.score for o in demo.suggest(20, max_per_item=3, exploration=0.0)]
    assert all(0.5 < 100 * m < 99.5 for m in shown), shown
    assert len({match_text(m) for m in shown}) >= 10, shown
    assert "your model" in demo.ranker_origin
