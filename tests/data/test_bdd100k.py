"""BDD100K: images/100k/<split>/*.jpg with the detection labels JSON, and the 10k layout."""

from __future__ import annotations

import json

import pytest

from fognet.data.layouts import detect, open_source
from fognet.data.source import Box
from fognet.data.survey import survey
from fognet.errors import DatasetError, FrameError
from tests.data.helpers import grey, truncated_jpeg, write_image

LABELS = [
    {
        "name": "b1c66a42-6f7d68ca.jpg",
        "attributes": {"weather": "overcast", "scene": "city street", "timeofday": "daytime"},
        "timestamp": 10000,
        "labels": [
            {"category": "car", "attributes": {"occluded": False}, "manualShape": True,
             "box2d": {"x1": 1.5, "y1": 2.0, "x2": 10.25, "y2": 12.0}, "id": 0},
            {"category": "lane", "attributes": {"laneDirection": "parallel"},
             "poly2d": [{"vertices": [[0, 0], [5, 5]], "types": "LL", "closed": False}], "id": 1},
            {"category": "traffic sign", "box2d": {"x1": 20, "y1": 3, "x2": 25, "y2": 9}, "id": 2},
        ],
    },
    {"name": "b1c81faa-3df17267.jpg",
     "attributes": {"weather": "rainy", "scene": "highway", "timeofday": "night"}, "labels": []},
    {"name": "b1d0091f-75824d0d.jpg", "attributes": {}, "labels": []},  # listed, not on disk
]


@pytest.fixture
def bdd(tmp_path):
    root = tmp_path / "bdd100k"
    val = root / "images" / "100k" / "val"
    write_image(val / "b1c66a42-6f7d68ca.jpg", 40)
    write_image(val / "b1c81faa-3df17267.jpg", 120)
    truncated_jpeg(val / "b1c9c847-3bda4659.jpg")
    write_image(root / "images" / "100k" / "test" / "cabc30fc-e7726578.jpg", 200)
    (root / "labels").mkdir()
    (root / "labels" / "bdd100k_labels_images_val.json").write_text(json.dumps(LABELS))
    return root


def test_images_come_with_their_boxes_and_attributes(bdd):
    assert detect(bdd) == "bdd100k"
    source = open_source(bdd)
    assert source.layout == "bdd100k" and len(source) == 4 and not source.timed
    names = [e.path.name for e in source.entries]
    assert names == ["b1c66a42-6f7d68ca.jpg", "b1c81faa-3df17267.jpg", "b1c9c847-3bda4659.jpg",
                     "cabc30fc-e7726578.jpg"]
    first = source[0]
    assert first.sequence == "val" and first.image.shape == (24, 32, 3) and abs(grey(first.image) - 40) < 3
    assert first.labels.boxes == (Box("car", 1.5, 2.0, 10.25, 12.0), Box("traffic sign", 20, 3, 25, 9))
    assert first.labels.attribute("weather") == "overcast" and first.labels.attribute("scene") == "city street"
    assert source[1].labels.attribute("timeofday") == "night" and source[1].labels.boxes == ()
    test_frame = source[3]
    assert test_frame.sequence == "test" and test_frame.labels is None  # test split: no labels
    assert [f.timestamp for f in (source[0], source[1])] == pytest.approx([0.0, 1 / 30])


def test_a_listed_but_missing_image_and_a_truncated_jpeg_are_one_line_each(bdd):
    source = open_source(bdd)
    assert source.problems == (
        f"{bdd}/images/100k/val/b1d0091f-75824d0d.jpg: in the labels JSON but no such file",)
    with pytest.raises(FrameError, match=r"b1c9c847-3bda4659\.jpg: truncated image"):
        source[2]
    found = survey(source)
    assert found.frames == 3 and found.sizes == (((32, 24), 3),)
    assert len(found.problems) == 2 and "b1c9c847-3bda4659.jpg: truncated image" in found.problems[1]
    assert dict(found.labels) == {"boxes": 1, "attributes": 2}


def test_one_split_by_option_or_by_path(bdd):
    assert len(open_source(bdd, split="test")) == 1
    val = open_source(bdd / "images" / "100k" / "val")
    assert len(val) == 3 and val.root == bdd and val[0].labels.boxes  # labels found from the split
    with pytest.raises(DatasetError, match="no split 'train'"):
        open_source(bdd, split="train")


def test_the_10k_layout_with_det_20_labels(tmp_path):
    root = tmp_path / "bdd"
    write_image(root / "images" / "10k" / "train" / "0a0a0b1a-7c39d841.jpg", 60)
    det = root / "labels" / "det_20"
    det.mkdir(parents=True)
    (det / "det_train.json").write_text(json.dumps([
        {"name": "0a0a0b1a-7c39d841.jpg", "attributes": {"weather": "snowy"},
         "labels": [{"category": "pedestrian", "box2d": {"x1": 0, "y1": 0, "x2": 4, "y2": 8}}]}]))
    source = open_source(root)
    assert source.layout == "bdd100k" and len(source) == 1
    assert source[0].labels.boxes == (Box("pedestrian", 0, 0, 4, 8),)


def test_a_labels_file_that_is_not_a_list_is_a_dataset_error(bdd):
    (bdd / "labels" / "bdd100k_labels_images_val.json").write_text('{"frames": []}')
    with pytest.raises(DatasetError, match="bdd100k_labels_images_val.json: expected a list"):
        open_source(bdd)
