"""Automatic categories: the shipped head on people it never saw, the person's word, adaptation,
and the ImageNet mapping for a backbone without a head.

The held-out photos go the way a person's photos go: imported into a real library (working
copies), features from the shipped ONNX backbone in ONNX Runtime, then ``categorise_library``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stylist.domain import Category, CategorySource
from stylist.library import Library
from stylist.library.importer import import_photos
from stylist.paths import for_home, models_dir
from stylist.vision.categories import (
    CATEGORIES,
    IMAGENET_CLASSES,
    MIN_CORRECTIONS,
    SHAPE_FEATURES,
    CategoryClassifier,
    CategoryHead,
    CategoryHeadError,
    categorise_library,
    garment_shape,
    head_inputs,
    head_path,
    imagenet_probabilities,
    logits_key,
    photo_key,
)

BACKBONE = "efficientnet-lite0"
# Over all five categories of people the head never saw (contributor-grouped cross-validation,
# the head's JSON): at least this share of the photos it sorts by itself is right, and at most
# this share is left unsorted.
TARGET_PRECISION = 0.95
MAX_UNSORTED = 0.10
# The 240 photos of the contributors kept aside are few: one photo is 0.4 points, and the
# shipped head, at 95.7% in cross-validation, sorts 93.9% of them right. This floor catches a
# head that has clearly fallen short, not the sampling error.
HELD_OUT_PRECISION_FLOOR = 0.93
# The aim for dresses is 90% guessed one-piece; the shipped head reaches 85% in cross-validation
# over 110 dresses (its JSON says how much exactly), 10 of the 14 dresses of the contributors
# kept aside. These floors catch a head that has stopped telling dresses from tops.
DRESSES_FLOOR_CV = 0.8
DRESSES_FLOOR = 0.5
# Hats (and other accessories) are told apart much better since the product photos joined.
OTHER_FLOOR = 0.8


def true_category(entry: dict) -> Category:
    if entry["label"] == "Dress":
        return Category.ONE_PIECE
    if entry["slot"] == "other":
        return Category.OTHER
    return Category(entry["slot"])


@pytest.fixture(scope="session")
def head_config() -> dict:
    return json.loads(head_path(BACKBONE).read_text())


@pytest.fixture(scope="session")
def held_out(tmp_path_factory, shared_data, wardrobe_items, head_config):
    """The contributors the shipped head never saw, imported, cut out and run through the
    backbone as the app does it (``Service.extract_features``), then put together as the
    shipped head reads them (``head_inputs``)."""
    from stylist.library.cutouts import compute_cutouts
    from stylist.vision.backbones import get_backbone
    from stylist.vision.extractor import Extractor
    from stylist.vision.features import compute_features

    unseen = set(head_config["test_contributors"]) | {head_config["demo_contributor"]}
    entries = [e for e in wardrobe_items if e["contributor_id"] in unseen]
    home = tmp_path_factory.mktemp("held-out-home")
    paths = for_home(home)
    spec = get_backbone(BACKBONE, paths=paths)
    library = Library.open(paths)
    files = [shared_data / "wardrobe-photos" / e["file"] for e in entries]
    report = import_photos(library, files)
    assert not report.failed
    items = library.items()
    truth_by_name = {Path(e["file"]).name: true_category(e) for e in entries}
    extractor = Extractor(spec, device="cpu", paths=paths)
    classifier = CategoryClassifier.load(spec)
    cutouts = compute_cutouts(library)
    assert cutouts.computed == len(items) and not cutouts.failed
    report = compute_features(
        library,
        extractor,
        logits_id=logits_key(spec.id),
        photo_id=None if classifier.reads_cutouts else photo_key(spec.id),
    )
    assert not report.failed and not report.cancelled
    items = library.items()
    photo = library.features(photo_key(spec.id), spec.sha256)
    features = head_inputs(classifier, library, library.features(spec.id, spec.sha256), photo)
    # The ImageNet mapping reads the logits of what the models see.
    logits = library.features(logits_key(spec.id), spec.sha256)
    assert len(features) == len(logits) == len(items) == len(entries)
    yield {
        "spec": spec,
        "library": library,
        "items": items,
        "truth": {i.id: truth_by_name[i.original_name] for i in items},
        "sha": {i.sha256: i.id for i in items},
        "features": features,
        "logits": logits,
        "files": {i.id: files[[f.name for f in files].index(i.original_name)] for i in items},
    }
    library.close()


@pytest.fixture
def small_library(paths, held_out):
    """A fresh library of a few held-out photos (features looked up by content hash)."""
    chosen: list[int] = []
    for category in (Category.TOP, Category.BOTTOM, Category.SHOES):
        chosen += [i for i, c in held_out["truth"].items() if c == category][:4]
    lib = Library.open(paths)
    import_photos(lib, [held_out["files"][i] for i in chosen])
    by_sha = held_out["sha"]
    features = {i.id: held_out["features"][by_sha[i.sha256]] for i in lib.items()}
    logits = {i.id: held_out["logits"][by_sha[i.sha256]] for i in lib.items()}
    truth = {i.id: held_out["truth"][by_sha[i.sha256]] for i in lib.items()}
    yield lib, features, logits, truth
    lib.close()


# ------------------------------------------------------------------------ the shipped head


def test_shipped_head_sorts_unseen_contributors_to_target(held_out, head_config):
    classifier = CategoryClassifier.load(held_out["spec"])
    assert classifier.source == "head"
    library = held_out["library"]
    report = categorise_library(library, classifier, held_out["features"], held_out["logits"])
    assert report.guessed == len(held_out["items"]) and report.kept_user == 0

    right = wrong = unsorted = 0
    guessed: dict[Category, list[Category]] = {c: [] for c in CATEGORIES}
    for item in library.items():
        truth = held_out["truth"][item.id]
        # Every item keeps the guess and its confidence, sorted or not.
        assert item.guess in CATEGORIES and 0.0 < item.guess_confidence <= 1.0
        guessed[truth].append(item.guess)
        if item.category == Category.UNSORTED:
            unsorted += 1
            assert item.category_source is None
            assert item.guess_confidence < classifier.threshold_for(item.guess)
        else:
            assert item.category_source == CategorySource.AUTO
            assert item.category == item.guess
            assert item.guess_confidence >= classifier.threshold_for(item.guess)
            right += item.category == truth
            wrong += item.category != truth
    total = right + wrong + unsorted
    # All five categories are there: dresses and hats too, not only top/bottom/shoes.
    assert total >= 200 and all(len(guessed[c]) >= 5 for c in CATEGORIES), guessed
    precision = right / (right + wrong)
    assert precision >= HELD_OUT_PRECISION_FLOOR, (right, wrong, unsorted)
    assert unsorted / total <= MAX_UNSORTED, (right, wrong, unsorted)
    dresses = guessed[Category.ONE_PIECE]
    assert np.mean([g == Category.ONE_PIECE for g in dresses]) >= DRESSES_FLOOR, dresses
    hats = guessed[Category.OTHER]
    assert np.mean([g == Category.OTHER for g in hats]) >= OTHER_FLOOR, hats
    # The figures in the head's JSON are these photos' figures (the training script measured
    # them on the same photos through run_images; the app's path gives the same features).
    recorded = head_config["metrics"]["final_head_test_and_demo"]["all_classes"]
    assert recorded["photos"] == total
    assert abs(recorded["precision"] - precision) <= 1.5 / (right + wrong)
    assert abs(recorded["unsorted"] - unsorted / total) <= 1.5 / total


def test_run_files_and_in_memory_images_give_the_same_features(held_out):
    """Training used ``run_images`` on decoded working copies; the app uses ``run_files``."""
    from PIL import Image

    from stylist.vision.extractor import Extractor

    library = held_out["library"]
    files = [library.file_path(i.working_file) for i in held_out["items"][:4]]
    extractor = Extractor(held_out["spec"], device="cpu", variant="fp32")
    in_memory = extractor.run_images([Image.open(f).convert("RGB") for f in files])
    from_files = extractor.run_files(files)
    assert np.abs(in_memory.features - from_files.features).max() < 1e-4


def test_head_config_records_its_recipe_and_held_out_metrics(head_config, held_out):
    assert head_config["backbone"] == BACKBONE
    assert head_config["backbone_sha256"] == held_out["spec"].sha256
    assert head_config["classes"] == [c.value for c in CATEGORIES]
    assert "train_category_head.py" in head_config["command"]
    # Trained with the product photos beside people's own; the products are never shipped.
    assert "outfits-mango" in head_config["trained_on"]
    assert head_config["training"]["mango_weight"] > 0
    assert not list(models_dir().rglob("20??_*.jpg"))
    assert set(head_config["thresholds"]) == {c.value for c in CATEGORIES}
    assert head_config["threshold"] == min(head_config["thresholds"].values())
    metrics = head_config["metrics"]
    # Contributor-grouped cross-validation over all five categories.
    held = metrics["held_out"]
    assert held["all_classes"]["photos"] >= 1500
    assert held["all_classes"]["precision"] >= TARGET_PRECISION
    assert held["all_classes"]["unsorted"] <= MAX_UNSORTED
    dresses = held["per_class"]["one-piece"]
    assert dresses["photos"] >= 100 and dresses["accuracy"] >= DRESSES_FLOOR_CV
    assert held["per_class"]["other"]["photos"] >= 40
    assert held["per_class"]["other"]["accuracy"] >= OTHER_FLOOR
    # The JSON says plainly whether the whole target (dresses at 90% too) is met.
    target = metrics["target"]
    met = (
        held["all_classes"]["precision"] >= target["precision_min"]
        and held["all_classes"]["unsorted"] <= target["unsorted_max"]
        and dresses["accuracy"] >= target["one_piece_accuracy_min"]
    )
    assert metrics["target_met"] is met
    # The product photos earn their place: the same recipe on people's photos alone tells the
    # five categories apart less evenly (the mean of their accuracies), hats above all.
    configs = metrics["configs_held_out"]
    chosen = configs[head_config["config_name"]]
    without = [c for c in configs.values() if c["mango_weight"] == 0]
    assert without and chosen["mango_weight"] > 0
    for other in without:
        mean = np.mean(list(other["per_class_accuracy"].values()))
        assert np.mean(list(chosen["per_class_accuracy"].values())) > mean
        assert chosen["per_class_accuracy"]["other"] > other["per_class_accuracy"]["other"]


def test_a_guess_needs_its_own_categorys_threshold(held_out):
    classifier = CategoryClassifier.load(held_out["spec"])
    ids = sorted(held_out["truth"])
    features = np.stack([held_out["features"][i] for i in ids])
    guesses = classifier.predict(features)
    assert any(g.sure for g in guesses)
    for g in guesses:
        assert g.sure == (g.confidence >= classifier.threshold_for(g.category))
    # Raising one category's threshold above every confidence leaves all its guesses unsorted
    # and changes no other category's.
    top = [g for g in guesses if g.category == Category.TOP and g.sure]
    assert top
    classifier.thresholds = {**classifier.thresholds, Category.TOP: 1.01}
    stricter = classifier.predict(features)
    for before, after in zip(guesses, stricter, strict=True):
        assert after.category == before.category
        assert after.sure == (before.sure and before.category != Category.TOP)
    assert "top 1.01" in classifier.describe()


def test_head_is_plain_arrays_and_runs_without_torch_or_onnxruntime():
    code = (
        "import sys, numpy as np\n"
        "from stylist.vision.categories import CategoryClassifier\n"
        f"c = CategoryClassifier.load({BACKBONE!r})\n"
        "g = c.predict(np.zeros((2, c.head.feature_dim), np.float32))\n"
        "assert len(g) == 2\n"
        "print(sorted(m for m in ('torch', 'onnxruntime', 'onnx') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
    with np.load(head_path(BACKBONE).with_suffix(".npz"), allow_pickle=False) as data:
        assert all(data[k].dtype == np.float32 for k in data.files)


def test_a_corrupt_or_foreign_head_is_refused_with_its_name(tmp_path, held_out):
    source = head_path(BACKBONE)
    config = json.loads(source.read_text())
    target = tmp_path / source.name
    target.write_text(json.dumps(config))
    target.with_suffix(".npz").write_bytes(b"not an npz file")
    with pytest.raises(CategoryHeadError, match="category-head-efficientnet-lite0.npz"):
        CategoryClassifier.load(held_out["spec"], folder=tmp_path)

    target.with_suffix(".npz").write_bytes(source.with_suffix(".npz").read_bytes())
    config["backbone_sha256"] = "0" * 64
    target.write_text(json.dumps(config))
    with pytest.raises(CategoryHeadError, match="made for backbone file 000000000000"):
        CategoryClassifier.load(held_out["spec"], folder=tmp_path)

    config["backbone_sha256"] = held_out["spec"].sha256
    config["thresholds"] = {"sandals": 0.5}
    target.write_text(json.dumps(config))
    with pytest.raises(CategoryHeadError, match="thresholds must map categories"):
        CategoryClassifier.load(held_out["spec"], folder=tmp_path)
    del config["thresholds"]
    target.write_text(json.dumps(config))
    assert CategoryClassifier.load(held_out["spec"], folder=tmp_path).thresholds == {}

    arrays = dict(np.load(source.with_suffix(".npz"), allow_pickle=False))
    arrays["fc2.bias"] = arrays["fc2.bias"][:3]
    np.savez(target.with_suffix(".npz"), **arrays)
    config["backbone_sha256"] = held_out["spec"].sha256
    target.write_text(json.dumps(config))
    with pytest.raises(CategoryHeadError, match="fc2.bias has shape"):
        CategoryHead.load(target)


# ------------------------------------------------------------------ the garment's shape


def _silhouette(widths: list[float], height: int = 300, side: int = 400) -> np.ndarray:
    """A symmetric garment mask: its width (share of 200 px) at each of its bands of rows."""
    mask = np.zeros((side, side), np.uint8)
    band = height // len(widths)
    for k, w in enumerate(widths):
        half = int(100 * w)
        mask[50 + k * band : 50 + (k + 1) * band, 200 - half : 200 + half] = 255
    return mask


def test_garment_shape_tells_a_long_dress_from_a_top():
    dress = garment_shape(_silhouette([0.35, 0.3, 0.25, 0.4, 0.5, 0.6], height=330))
    top = garment_shape(_silhouette([0.95, 0.95, 0.55, 0.55], height=160))
    at = {name: k for k, name in enumerate(SHAPE_FEATURES)}
    assert dress.shape == (len(SHAPE_FEATURES),) and dress.dtype == np.float32
    assert dress[at["aspect"]] > 0.5 > 0 > top[at["aspect"]]  # taller than wide, or not
    assert dress[at["elongation"]] > top[at["elongation"]]
    assert dress[at["width_90"]] > dress[at["width_30"]]  # wider at the hem than the waist
    assert top[at["width_10"]] > top[at["width_90"]]  # widest at the sleeves
    assert dress[at["symmetry"]] > 0.95 and dress[at["upright"]] > 0.95
    assert dress[at["pair"]] == 0 and dress[at["rejected"]] == 0
    # Turned on its side, a dress is still long, but no longer upright.
    lying = garment_shape(np.ascontiguousarray(_silhouette([0.35, 0.3, 0.4, 0.6], 330).T))
    assert lying[at["elongation"]] > 0.5 and lying[at["upright"]] < 0.1
    # An empty mask (nothing cut out) measures the whole photo; every value is finite.
    empty = garment_shape(np.zeros((120, 90), np.uint8))
    assert np.isfinite(empty).all() and empty[at["area"]] == 1.0 and empty[at["rejected"]] == 1


def _blocks_head(folder: Path, spec, power: float = 0.5) -> dict:
    """A small head reading photo, cut-out and shape side by side, written to ``folder``."""
    rng = np.random.default_rng(0)
    dim = spec.feature_dim
    total = 2 * dim + len(SHAPE_FEATURES)
    arrays = {
        "input.mean": rng.normal(size=total).astype(np.float32),
        "input.std": np.ones(total, np.float32),
        "fc2.weight": rng.normal(size=(len(CATEGORIES), total)).astype(np.float32),
        "fc2.bias": np.zeros(len(CATEGORIES), np.float32),
    }
    config = {
        "format": "stylist-category-head/1",
        "backbone": spec.id,
        "backbone_sha256": spec.sha256,
        "feature_dim": total,
        "inputs": [
            {"name": "photo", "dim": dim},
            {"name": "cutout", "dim": dim},
            {"name": "shape", "dim": len(SHAPE_FEATURES)},
        ],
        "hidden": 0,
        "input_power": power,
        "threshold": 0.5,
    }
    path = head_path(spec.id, folder)
    np.savez(path.with_suffix(".npz"), **arrays)
    path.write_text(json.dumps(config))
    return config


def test_a_head_reads_photo_cutout_and_shape_side_by_side(tmp_path, paths, held_out):
    from stylist.library.cutouts import compute_cutouts, read_mask

    spec = held_out["spec"]
    config = _blocks_head(tmp_path, spec)
    classifier = CategoryClassifier.load(spec, folder=tmp_path)
    assert classifier.head.inputs == [(b["name"], b["dim"]) for b in config["inputs"]]
    assert not classifier.reads_cutouts  # it wants the photos' own features too

    library = Library.open(paths)
    ids = [i for i, c in held_out["truth"].items() if c == Category.ONE_PIECE][:3]
    import_photos(library, [held_out["files"][i] for i in ids])
    items = library.items()
    rng = np.random.default_rng(1)
    cut = {i.id: rng.normal(size=spec.feature_dim).astype(np.float32) for i in items}
    photo = {i.id: rng.normal(size=spec.feature_dim).astype(np.float32) for i in items}
    # No mask yet: the head cannot read these items.
    assert head_inputs(classifier, library, cut, photo) == {}
    compute_cutouts(library)
    inputs = head_inputs(classifier, library, cut, photo)
    assert sorted(inputs) == sorted(i.id for i in items)
    dim = spec.feature_dim
    for item in library.items():
        row = inputs[item.id]
        assert row.shape == (config["feature_dim"],)
        assert np.array_equal(row[:dim], photo[item.id])
        assert np.array_equal(row[dim : 2 * dim], cut[item.id])
        assert np.array_equal(row[2 * dim :], garment_shape(read_mask(library, item)))
    # An item lacking one block is left out (categorise_library then counts it).
    del photo[items[0].id]
    assert items[0].id not in head_inputs(classifier, library, cut, photo)
    # The input power evens out the backbone's features, never the shape measures.
    x = np.stack([inputs[i.id] for i in items])
    z = classifier.head.standardise(x)
    mean = classifier.head.arrays["input.mean"]
    assert np.allclose(z[:, 2 * dim :], x[:, 2 * dim :] - mean[2 * dim :])
    assert np.allclose(z[:, :dim], np.sign(x[:, :dim]) * np.abs(x[:, :dim]) ** 0.5 - mean[:dim])
    assert np.array_equal(x, np.stack([inputs[i.id] for i in items]))  # the input is untouched
    assert len(classifier.predict(x)) == len(items)
    library.close()

    # A head of one vector, trained on photos as they are, reads the photo's features where
    # the library holds them, else the cut-out's; the ImageNet mapping reads the cut-out's.
    one = CategoryHead({}, {"feature_dim": dim, "hidden": 0})
    plain = CategoryClassifier(backbone_id=spec.id, threshold=0.5, head=one)
    assert one.inputs is None and not plain.reads_cutouts
    merged = head_inputs(plain, library, cut, photo)
    assert merged[items[0].id] is cut[items[0].id]
    assert all(merged[i.id] is photo[i.id] for i in items[1:])
    mapping = CategoryClassifier(backbone_id=spec.id, threshold=0.5)
    assert all(v is cut[k] for k, v in head_inputs(mapping, library, cut, photo).items())


def test_a_head_of_one_vector_still_loads_and_reads_the_photos(tmp_path, held_out):
    """Heads made before the input blocks (one backbone vector, no ``inputs``) keep working."""
    spec = held_out["spec"]
    config = _blocks_head(tmp_path, spec)
    path = head_path(spec.id, tmp_path)
    arrays = dict(np.load(path.with_suffix(".npz")))
    dim = spec.feature_dim
    arrays = {
        "input.mean": arrays["input.mean"][:dim],
        "input.std": arrays["input.std"][:dim],
        "fc2.weight": arrays["fc2.weight"][:, :dim],
        "fc2.bias": arrays["fc2.bias"],
    }
    np.savez(path.with_suffix(".npz"), **arrays)
    del config["inputs"]
    config["feature_dim"] = dim
    path.write_text(json.dumps(config))
    classifier = CategoryClassifier.load(spec, folder=tmp_path)
    assert classifier.head.inputs is None and not classifier.reads_cutouts
    features = np.random.default_rng(2).normal(size=(3, dim)).astype(np.float32)
    expected = np.sign(features) * np.abs(features) ** 0.5 - arrays["input.mean"]
    assert np.allclose(classifier.head.standardise(features), expected)
    assert len(classifier.predict(features)) == 3


def test_a_head_with_inputs_that_do_not_add_up_is_refused(tmp_path, held_out):
    spec = held_out["spec"]
    config = _blocks_head(tmp_path, spec)
    path = head_path(spec.id, tmp_path)
    config["inputs"][2]["dim"] = 5
    path.write_text(json.dumps(config))
    with pytest.raises(CategoryHeadError, match="add up to feature_dim"):
        CategoryClassifier.load(spec, folder=tmp_path)
    config["inputs"][2] = {"name": "colour", "dim": len(SHAPE_FEATURES)}
    path.write_text(json.dumps(config))
    with pytest.raises(CategoryHeadError, match="inputs must be distinct blocks"):
        CategoryClassifier.load(spec, folder=tmp_path)


# --------------------------------------------------------------------- the person's word


def test_the_head_never_overrides_a_category_the_person_set(small_library, held_out):
    library, features, logits, truth = small_library
    items = library.items()
    shoe = next(i for i in items if truth[i.id] == Category.SHOES)
    top = next(i for i in items if truth[i.id] == Category.TOP)
    # The person files a shoe under "other" (their choice, even if the head disagrees).
    library.set_category(shoe.id, Category.OTHER, CategorySource.USER)
    library.set_category(top.id, Category.TOP, CategorySource.USER)

    classifier = CategoryClassifier.load(held_out["spec"])
    report = categorise_library(library, classifier, features, logits)
    assert report.kept_user == 2
    assert report.guessed == len(items) - 2
    after = library.item(shoe.id)
    assert (after.category, after.category_source) == (Category.OTHER, CategorySource.USER)
    assert library.item(top.id).category_source == CategorySource.USER
    # The head does not even store a guess over the person's own category.
    assert after.guess is None

    # Running again (e.g. after new photos) still leaves them alone, and AUTO ones may change.
    again = categorise_library(library, classifier, features, logits)
    assert again.kept_user == 2
    assert library.item(shoe.id).category == Category.OTHER
    others = [i for i in library.items() if i.category_source == CategorySource.AUTO]
    assert others and all(i.category == truth[i.id] for i in others)


def test_progress_and_cancel(small_library, held_out):
    library, features, logits, _ = small_library
    classifier = CategoryClassifier.load(held_out["spec"])
    calls = []

    class Cancelled:
        def is_set(self) -> bool:
            return True

    report = categorise_library(
        library,
        classifier,
        features,
        logits,
        progress=lambda *a: calls.append(a),
        cancel=Cancelled(),
    )
    assert report.cancelled and report.guessed == 0
    assert all(i.guess is None for i in library.items())
    report = categorise_library(
        library, classifier, features, logits, batch_size=5, progress=lambda *a: calls.append(a)
    )
    assert not report.cancelled and report.guessed == len(library.items())
    assert calls[-1][0] == calls[-1][1] == len(library.items())


def test_items_without_features_are_left_alone(small_library, held_out):
    library, features, logits, _ = small_library
    first = library.items()[0]
    partial = {k: v for k, v in features.items() if k != first.id}
    report = categorise_library(library, CategoryClassifier.load(held_out["spec"]), partial)
    assert report.without_features == 1
    assert library.item(first.id).guess is None


# ------------------------------------------------------------------------- adaptation


def _shoes_the_head_is_sure_of(held_out, classifier):
    ids = [i for i, c in held_out["truth"].items() if c == Category.SHOES]
    f = np.stack([held_out["features"][i] for i in ids])
    p = classifier.probabilities(f)
    return [i for i, row in zip(ids, p, strict=True) if row.argmax() == 2 and row.max() > 0.9]


def test_corrections_adapt_the_classifier(held_out):
    """A person who files shoes under "other" (say, they keep slippers apart): after three
    corrections, shoes like theirs follow them; with fewer, nothing changes."""
    classifier = CategoryClassifier.load(held_out["spec"])
    shoes = _shoes_the_head_is_sure_of(held_out, classifier)
    assert len(shoes) >= MIN_CORRECTIONS + 4
    corrected, rest = shoes[:MIN_CORRECTIONS], shoes[MIN_CORRECTIONS:]
    features = held_out["features"]
    before = classifier.predict(np.stack([features[i] for i in rest]))
    assert all(g.category == Category.SHOES for g in before)

    too_few = [(features[i], Category.OTHER) for i in corrected[: MIN_CORRECTIONS - 1]]
    assert classifier.adapt(too_few) == {}
    unchanged = classifier.predict(np.stack([features[i] for i in rest]))
    assert [g.confidence for g in unchanged] == [g.confidence for g in before]

    tops = [i for i, c in held_out["truth"].items() if c in (Category.TOP, Category.BOTTOM)]
    # The person also confirmed a few tops and bottoms the classifier got right.
    confirmed = [(features[i], held_out["truth"][i]) for i in tops[:8]]
    learned = classifier.adapt([(features[i], Category.OTHER) for i in corrected] + confirmed)
    assert learned == {Category.OTHER: MIN_CORRECTIONS}
    after = classifier.predict(np.stack([features[i] for i in rest]))
    moved = sum(g.category == Category.OTHER for g in after)
    assert moved >= 0.5 * len(rest)
    # Only shoes moved: tops and bottoms do not look like the corrected shoes.
    plain = CategoryClassifier.load(held_out["spec"]).predict(np.stack([features[i] for i in tops]))
    adapted = classifier.predict(np.stack([features[i] for i in tops]))
    changed = sum(a.category != b.category for a, b in zip(plain, adapted, strict=True))
    assert changed <= 0.02 * len(tops)


def test_categorise_library_learns_from_user_categories(small_library, held_out):
    library, features, logits, truth = small_library
    classifier = CategoryClassifier.load(held_out["spec"])
    shoes = [i.id for i in library.items() if truth[i.id] == Category.SHOES]
    # Make the corrected items' look unmistakable: the remaining shoe is a near copy of one.
    for item_id in shoes[:MIN_CORRECTIONS]:
        library.set_category(item_id, Category.OTHER, CategorySource.USER)
    twin = shoes[MIN_CORRECTIONS]
    features = dict(features)
    features[twin] = features[shoes[0]] * 1.01
    report = categorise_library(library, classifier, features, logits)
    assert report.adapted == {"other": MIN_CORRECTIONS}
    assert library.item(twin).guess == Category.OTHER
    # Without adaptation (a classifier that has learned nothing) the head's own guess returns.
    fresh = CategoryClassifier.load(held_out["spec"])
    report = categorise_library(library, fresh, features, logits, adapt=False)
    assert report.adapted == {}
    assert library.item(twin).guess == Category.SHOES


# ---------------------------------------------------------------- ImageNet classes mapping


def test_backbone_without_a_head_uses_the_imagenet_mapping(held_out, tmp_path):
    classifier = CategoryClassifier.load(held_out["spec"], folder=tmp_path)  # no head there
    assert classifier.source == "imagenet" and classifier.needs_logits
    ids = [i for i, c in held_out["truth"].items() if c in CATEGORIES[:3]]
    guesses = classifier.predict(
        np.stack([held_out["features"][i] for i in ids]),
        np.stack([held_out["logits"][i] for i in ids]),
    )
    sure = [(g, held_out["truth"][i]) for g, i in zip(guesses, ids, strict=True) if g.sure]
    assert len(sure) >= 0.3 * len(ids)
    precision = np.mean([g.category == truth for g, truth in sure])
    assert precision >= 0.8
    for g in guesses:
        assert abs(g.confidence - g.probabilities[g.category]) < 1e-9
        assert sum(g.probabilities.values()) <= 1.0 + 1e-6

    with pytest.raises(ValueError, match="logits are needed"):
        classifier.predict(np.stack([held_out["features"][i] for i in ids]))


def test_imagenet_mapping_sums_the_mass_of_a_categorys_classes():
    logits = np.full((2, 1000), -10.0, np.float32)
    logits[0, 770] = logits[0, 774] = 5.0  # running shoe, sandal
    logits[1, 608] = 5.0  # jean
    logits[1, 610] = 4.0  # jersey
    p = imagenet_probabilities(logits)
    assert p[0].argmax() == CATEGORIES.index(Category.SHOES) and p[0, 2] > 0.99
    assert p[1].argmax() == CATEGORIES.index(Category.BOTTOM)
    assert 0.7 < p[1, 1] < 0.75 and 0.25 < p[1, 0] < 0.3
    classifier = CategoryClassifier.load("a-backbone-without-head")
    guess = classifier.predict(None, logits)[1]
    assert guess.category == Category.BOTTOM and guess.sure
    # Every mapped index is a real ImageNet class, used once.
    indices = [i for classes in IMAGENET_CLASSES.values() for i in classes]
    assert len(indices) == len(set(indices)) and all(0 <= i < 1000 for i in indices)


def test_categorise_library_with_the_imagenet_mapping_needs_logits(small_library, held_out):
    library, features, logits, _ = small_library
    classifier = CategoryClassifier.load("a-backbone-without-head")
    report = categorise_library(library, classifier, features)  # no logits given
    assert report.without_features == len(library.items()) and report.guessed == 0
    report = categorise_library(library, classifier, features, logits)
    assert report.guessed == len(library.items())
    assert all(i.guess is not None for i in library.items())


def test_shipped_head_is_found_in_the_models_folder():
    assert head_path(BACKBONE) == models_dir() / "category-head-efficientnet-lite0.json"
    assert head_path(BACKBONE).with_suffix(".npz").is_file()


def test_product_photos_are_filed_as_a_person_would_file_them(shared_data):
    """The training script's reading of outfits-mango: dresses and jumpsuits one-piece, coats
    tops, bags and jewellery other, and garments MANGO files under "other" (pyjamas, swimwear)
    left out rather than taught as accessories."""
    import importlib.util

    source = Path(__file__).resolve().parents[1] / "models" / "train_category_head.py"
    spec = importlib.util.spec_from_file_location("train_category_head", source)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.MANGO.resolve() == (shared_data / "outfits-mango").resolve()
    products = script.mango_products()
    by_label: dict[str, set[Category]] = {}
    for p in products:
        assert (script.MANGO / p["file"]).is_file()
        by_label.setdefault(p["label"], set()).add(CATEGORIES[p["class"]])
    assert by_label["Dress"] == by_label["Jumpsuit"] == {Category.ONE_PIECE}
    assert by_label["Coat"] == by_label["Blazer"] == by_label["Sweater"] == {Category.TOP}
    assert by_label["Jeans"] == by_label["Skirt"] == {Category.BOTTOM}
    assert by_label["Sandals"] == by_label["Ankle Boots"] == {Category.SHOES}
    assert by_label["Handbag"] == by_label["Earrings"] == by_label["Hat"] == {Category.OTHER}
    assert "Pyjama Trousers" not in by_label and "Swimsuit" not in by_label
    assert len({p["file"] for p in products}) == len(products) > 6000
