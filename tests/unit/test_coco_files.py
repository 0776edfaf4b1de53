"""COCO files read into our annotations, the prefix rule, and where model-run objects go."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.model_runs import coco
from shared.model_runs.objects import (
    Kind,
    Target,
    coco_instances,
    default_dataset,
    is_coco_instances,
    target,
)

INSTANCES: dict[str, Any] = {
    "images": [
        {"id": 1, "file_name": "000000000001.jpg", "width": 640, "height": 480},
        {"id": 2, "file_name": "000000000002.jpg", "width": 320, "height": 240},
        {"id": 0, "file_name": "zero.jpg"},
    ],
    "annotations": [
        {"id": 10, "image_id": 1, "category_id": 3, "bbox": [10, 20, 30, 40], "iscrowd": 0},
        {"id": 11, "image_id": 1, "category_id": 1, "bbox": [1.5, 2.5, 3, 4]},
        {"id": 12, "image_id": 2, "category_id": 3, "bbox": [0, 0, 5, 5], "iscrowd": 1},
        {"id": 13, "image_id": 0, "category_id": 1, "bbox": [0, 0, 1, 1]},
        {"id": 14, "image_id": 9, "category_id": 1, "bbox": [0, 0, 1, 1]},
        {"id": 15, "image_id": 2, "category_id": 7, "bbox": [0, 0, 1, 1]},
        {"id": 16, "image_id": 2, "category_id": 1, "bbox": [0, 0, -1, 1]},
    ],
    "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}],
}


def test_instances_become_images_with_labels_crowds_left_out() -> None:
    truth = coco.parse_instances(json.dumps(INSTANCES).encode())
    assert truth.categories == {1: "person", 3: "car"}
    assert [(i.id, i.file_name, i.width, i.height) for i in truth.images] == [
        (1, "000000000001.jpg", 640, 480),
        (2, "000000000002.jpg", 320, 240),
        (0, "zero.jpg", None, None),
    ]
    first, second, zero = truth.images
    boxes = [(a.name, a.bbox and (a.bbox.left, a.bbox.top, a.bbox.width, a.bbox.height))
             for a in first.labels]  # fmt: skip
    assert boxes == [("car", (10, 20, 30, 40)), ("person", (1.5, 2.5, 3, 4))]
    assert second.labels == []
    assert [a.name for a in zero.labels] == ["person"]
    assert (truth.annotations, truth.crowd) == (7, 1)
    assert truth.errors == [
        (5, "annotations: unknown image_id 9"),
        (6, "annotations: unknown category_id 7"),
        (7, "annotations: bbox width and height must not be negative"),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{", "invalid JSON: Expecting property name enclosed in double quotes"),
        (b"[]", "a COCO instances file is an object with 'images'"),
        (b'{"images": [], "categories": [{"id": "x"}]}', "categories entry 1: needs an integer"),
        (b'{"images": [], "annotations": {}}', "'annotations' must be an array"),
    ],
)
def test_instances_files_that_are_not_coco_fail_whole(data: bytes, message: str) -> None:
    with pytest.raises(coco.CocoError, match=message.replace("(", r"\(")):
        coco.parse_instances(data)


def test_results_entries_parse_or_say_why_not() -> None:
    data = json.dumps([
        {"image_id": 1, "category_id": 3, "bbox": [10, 20, 30, 40], "score": 0.9},
        {"image_id": 1, "category_id": 3, "bbox": [10, 20, 30, 40]},
        {"image_id": 2, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 1.5},
        {"image_id": 2, "category_id": 3, "bbox": [1, 2, 3, 4], "score": -0.1},
        {"image_id": 2, "category_id": 3, "segmentation": [[1, 2, 3]], "score": 0.5},
        {"category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.5},
        "nope",
    ]).encode() + b"\n"  # fmt: skip
    entries = coco.parse_results(data)
    assert [(e.number, e.image_id) for e in entries] == [
        (1, 1), (2, 1), (3, 2), (4, 2), (5, 2), (6, None), (7, None),
    ]  # fmt: skip
    first, second = entries[0].detection, entries[1].detection
    assert first is not None
    assert second is not None
    assert (first.score, second.score) == (0.9, 1.0)  # a missing score counts as 1
    assert [e.reason for e in entries[2:]] == [
        "score must be a number from 0 to 1, got 1.5",
        "score must be a number from 0 to 1, got -0.1",
        "only box detections ('bbox') are supported",
        "needs an integer 'image_id' and 'category_id'",
        "expected an object",
    ]


def test_a_nan_score_is_rejected() -> None:
    entries = coco.parse_results(b'[{"image_id": 1, "category_id": 1, "bbox": [0,0,1,1], '
                                 b'"score": NaN}]')  # fmt: skip
    assert entries[0].reason == "score must be a number from 0 to 1, got nan"


def test_the_prefix_rule() -> None:
    assert coco.global_key("b", "val2017", "000000397133.jpg") == (
        "gs://b/val2017/000000397133.jpg"
    )
    assert coco.global_key("b", "val2017", "/sub/x.jpg") == "gs://b/val2017/sub/x.jpg"
    assert coco.global_key("b", "val2017", "gs://other/x.jpg") == "gs://other/x.jpg"


@pytest.mark.parametrize(
    ("name", "kind", "run", "dataset"),
    [
        ("imports/instances_val2017.json", Kind.COCO_INSTANCES, None, "val2017"),
        ("imports/street/instances.json", Kind.COCO_INSTANCES, None, "street"),
        ("imports/street/instances_train.json", Kind.COCO_INSTANCES, None, "street"),
        ("model-runs/r1/preds.ndjson", Kind.PREDICTIONS, "r1", None),
        ("model-runs/r1/day/2/preds.ndjson", Kind.PREDICTIONS, "r1", None),
        ("model-runs/r1/results_val2017.json", Kind.COCO_RESULTS, "r1", "val2017"),
        ("model-runs/r1/val2017/results.json", Kind.COCO_RESULTS, "r1", "val2017"),
        ("model-runs/r1/val2017/detections_results.json", None, "r1", None),
        ("model-runs/r1/results.json", Kind.COCO_RESULTS, "r1", None),  # the importer decides
        ("model-runs/r1/results_.json", None, "r1", None),
        ("model-runs/r1/notes.txt", None, "r1", None),
        ("model-runs/r1/.ndjson", None, "r1", None),
        ("model-runs/r:1/x.ndjson", None, None, None),
        ("imports/instances.json", None, None, None),
        ("imports/a/b/instances.json", None, None, None),
    ],
)
def test_where_model_run_objects_go(
    name: str, kind: Kind | None, run: str | None, dataset: str | None
) -> None:
    found = target(name)
    assert (found.kind, found.run_id, found.dataset) == (kind, run, dataset)
    assert (found.reason is None) == (kind is not None)


def test_a_results_file_that_names_no_dataset_takes_the_only_one_with_ground_truth() -> None:
    found = target("model-runs/r1/results.json")
    assert default_dataset(found, "model-runs/r1/results.json", ["val2017"]) == Target(
        Kind.COCO_RESULTS, run_id="r1", dataset="val2017"
    )
    none = default_dataset(found, "model-runs/r1/results.json", [])
    assert (none.kind, none.run_id) == (None, "r1")
    assert none.reason == (
        "cannot tell the dataset of 'results.json': no dataset has a COCO ground truth yet "
        "(import imports/instances_<dataset>.json); put it in model-runs/<run>/<dataset>/ or "
        "name it results_<dataset>.json"
    )
    many = default_dataset(found, "model-runs/r1/results.json", [f"d{i}" for i in range(6)])
    assert many.kind is None
    assert "several datasets have a COCO ground truth ('d0', 'd1', 'd2', 'd3', 'd4', ...)" in str(
        many.reason
    )


def test_only_instances_json_under_imports_is_ground_truth() -> None:
    assert is_coco_instances("imports/instances_x.json")
    assert not is_coco_instances("imports/batch.ndjson")
    assert not is_coco_instances("imports/person_keypoints_val2017.json")
    assert not is_coco_instances("street/instances_x.json")
    assert coco_instances("imports/instances.json").reason == (
        "cannot tell the dataset of 'instances.json': put it in a dataset folder or name it "
        "instances_<dataset>.json"
    )
