"""Outfit datasets: the outfits-ccp file, splits, labels, user ids and bad files."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from stylist.learn.datasets import DatasetError, assign_splits, load_dataset


@pytest.fixture(scope="session")
def ccp(shared_data):
    return load_dataset(shared_data / "outfits-ccp" / "outfits.json")


def test_outfits_ccp_loads_with_a_deterministic_65_15_20_split(ccp, shared_data) -> None:
    # 487 top-bottom-shoes outfits plus 11 one-piece outfits that also have all three slots.
    assert len(ccp.outfits) == 498
    assert len(ccp.skipped) == 742 - 498
    assert all(o.label == 1 and o.user_id is None for o in ccp.outfits)
    counts = Counter(o.split for o in ccp.outfits)
    assert counts == {"train": round(0.65 * 498), "val": round(0.15 * 498), "test": 498 - 324 - 75}
    again = load_dataset(shared_data / "outfits-ccp" / "outfits.json")
    assert [o.split for o in again.outfits] == [o.split for o in ccp.outfits]
    assert ccp.crop_path(ccp.outfits[0].top).is_file()


def test_alternate_garments_give_further_positives(ccp) -> None:
    first = next(o for o in ccp.outfits if o.outfit_id == "ccp_0001")
    # A vest over a blouse: both tops make an outfit with the skirt and shoes.
    assert first.top == "crops/0001_vest.jpg"
    assert first.alternates[0] == ("crops/0001_blouse.jpg",)
    assert first.combinations()[0] == first.crops
    assert ("crops/0001_blouse.jpg", first.bottom, first.shoes) in first.combinations()


def test_adding_an_outfit_moves_no_other_split(ccp) -> None:
    some = ccp.outfits[:100]
    fresh = [o.__class__(**{**o.__dict__, "split": None}) for o in some]
    before = {o.outfit_id: o.split for o in assign_splits(fresh)}
    extra = fresh[0].__class__(**{**fresh[0].__dict__, "outfit_id": "new-one"})
    after = {o.outfit_id: o.split for o in assign_splits([*fresh, extra])}
    moved = [k for k in before if before[k] != after[k]]
    assert len(moved) <= 2  # only outfits at the cut points can change sides


def _copy_crops(shared_data: Path, folder: Path, names: list[str]) -> None:
    (folder / "crops").mkdir(parents=True)
    for name in names:
        shutil.copy(shared_data / "outfits-ccp" / "crops" / name, folder / "crops" / name)


def test_user_ids_splits_and_labels(tmp_path, shared_data) -> None:
    names = ["0001_vest.jpg", "0001_skirt.jpg", "0001_shoes.jpg"]
    _copy_crops(shared_data, tmp_path, names)
    entries = [
        {
            "outfit_id": f"o{i}",
            "top": "crops/0001_vest.jpg",
            "bottom": "crops/0001_skirt.jpg",
            "shoes": "crops/0001_shoes.jpg",
            "user_id": 7 if i < 20 else "ann",
            "label": 0 if i % 4 == 0 else 1,
        }
        for i in range(40)
    ]
    entries[0]["split"] = "test"
    entries.append({"outfit_id": "half", "top": "crops/0001_vest.jpg", "bottom": None})
    path = tmp_path / "people.json"
    path.write_text(json.dumps(entries))
    ds = load_dataset(path)
    assert ds.users() == ["7", "ann"]
    assert ds.skipped == [("half", "no bottom and no shoes")]
    assert ds.outfits[0].split == "test"
    ann = ds.select(user="ann")
    assert len(ann) == 20 and {o.label for o in ann} == {0, 1}
    liked = ds.select(user="ann", label=1)
    assert Counter(o.split for o in liked) == {"train": 10, "val": 2, "test": 3}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot read the dataset"),
        ('{"a": 1}', "JSON list of outfits"),
        ('[{"top": "x.jpg", "bottom": "y.jpg", "shoes": "z.jpg", "split": "dev"}]', "split 'dev'"),
        ('[{"top": "x.jpg", "bottom": "y.jpg", "shoes": "z.jpg", "label": 5}]', "label 5"),
        ('[{"top": "x.jpg"}]', "no outfit with a top, a bottom and shoes"),
        ('[{"top": "x.jpg", "bottom": "y.jpg", "shoes": "z.jpg"}]', "missing photos x.jpg"),
    ],
)
def test_bad_datasets_name_the_file_and_the_reason(tmp_path, content, message) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message) as err:
        load_dataset(path)
    assert str(path) in str(err.value)


def test_missing_dataset_file(tmp_path) -> None:
    with pytest.raises(DatasetError, match="no such dataset file"):
        load_dataset(tmp_path / "nope.json")
