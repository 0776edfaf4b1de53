"""Prediction files and COCO files through the ingest function: what lands, what is reported,
re-uploads, resumption, and COCO ground truth then COCO results scored like pycocotools."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient

from shared.auto_slices import AUTO_SLICES
from shared.ids import row_id
from shared.ingest import continue_imports, handle_storage_event
from shared.model_runs import imports as model_run_imports
from shared.model_runs import uploads as model_run_uploads
from shared.models import (
    Annotation,
    AutoSlice,
    BBox,
    ModelRunCreate,
    Prediction,
    SliceUpdate,
)
from shared.services import model_runs as run_service
from shared.services import slices as slice_service
from shared.store import imports
from shared.store import model_runs as run_store
from shared.store import rows as row_store
from shared.store import slices as slice_store
from shared.store.client import db
from shared.store.scopes import CATALOG
from tests.functions.conftest import Landing, ndjson, post_event, storage_event, tiny_png
from tests.unit.metrics.coco_reference import reference_counts

pytestmark = pytest.mark.usefixtures("landing")

CAR = {"left": 10, "top": 20, "width": 30, "height": 40}


def new_run(classes: list[str] | None = None) -> str:
    body = ModelRunCreate(name="run", model="detector", classes=classes or ["car", "daytime"])
    return run_service.create_run(body).id


def land_manifest(client: FlaskClient, landing: Landing, count: int) -> list[str]:
    lines = [
        {"globalKey": f"street/{i:04d}.jpg", "rowData": f"gs://b/street/{i:04d}.jpg",
         "dataset": "street", "labels": [{"name": "car", "bbox": CAR}, {"name": "daytime"}]}
        for i in range(count)
    ]  # fmt: skip
    resource = landing.upload("imports/rows.ndjson", ndjson(*lines))
    assert post_event(client, storage_event("finalized", resource)) == 200
    return [row_id(line["globalKey"]) for line in lines]


def deliver(client: FlaskClient, landing: Landing, name: str, body: bytes) -> dict[str, Any]:
    resource = landing.upload(name, body, content_type="application/x-ndjson")
    assert post_event(client, storage_event("finalized", resource)) == 200
    return report_of(landing, resource)


def report_of(landing: Landing, resource: dict[str, Any]) -> dict[str, Any]:
    return imports.get_report(
        imports.report_id(landing.bucket, resource["name"], int(resource["generation"]))
    )


def run_rows(run_id: str) -> dict[str, dict[str, Any]]:
    collection = row_store.rows_collection(run_store.scope_key(run_id))
    return {s.id: s.to_dict() or {} for s in collection.stream()}


def counts(report: dict[str, Any]) -> list[int]:
    return [report[k] for k in ("linesRead", "rowsWritten", "linesRejected", "linesBlank")]


def test_a_prediction_file_lands_good_lines_and_reports_each_bad_one(
    landing: Landing, ingest_client: FlaskClient
) -> None:
    ids = land_manifest(ingest_client, landing, 3)
    run = new_run()
    body = b"".join([
        json.dumps({"globalKey": "street/0000.jpg", "predictions": [
            {"name": "car", "bbox": {"left": 11, "top": 19, "width": 31, "height": 42},
             "confidence": 0.92},
            {"name": "daytime", "confidence": 0.81}]}).encode() + b"\n",
        json.dumps({"dataRowId": ids[1], "predictions": [{"name": "daytime"}]}).encode() + b"\n",
        b'{"globalKey": "street/0002.jpg", "predictions": [{"name": "car", "confidence": NaN}]}\n',
        b'{"globalKey": "street/0002.jpg", "predictions": [{"name": "car", "confidence": -0.2}]}\n',
        b'{"globalKey": "street/0002.jpg", "predictions": [{"name": "car", "confidence": 1.2}]}\n',
        b'{"globalKey": "street/9999.jpg", "predictions": []}\n',
        b'{"globalKey": "street/0002.jpg", "predictions": [}\n',
        b"\n",
    ])  # fmt: skip
    report = deliver(ingest_client, landing, f"model-runs/{run}/batch-1.ndjson", body)
    assert (report["status"], report["kind"], report["runId"]) == ("done", "predictions", run)
    assert counts(report) == [8, 2, 5, 1]
    assert report["errors"] == [
        {"line": 3, "reason": "predictions[0].confidence: must be a number from 0 to 1, got nan"},
        {"line": 4, "reason": "predictions[0].confidence: must be a number from 0 to 1, got -0.2"},
        {"line": 5, "reason": "predictions[0].confidence: must be a number from 0 to 1, got 1.2"},
        {"line": 6, "reason": "no data row with globalKey 'street/9999.jpg'"},
        {"line": 7, "reason": "invalid JSON: Expecting value (column 50)"},
    ]
    rows = run_rows(run)
    assert set(rows) == {ids[0], ids[1]}
    assert (rows[ids[0]]["metrics"]["tp"], rows[ids[0]]["metrics"]["fn"]) == (2, 0)
    # A missing confidence counts as 1.0.
    assert rows[ids[1]]["metrics"]["confidence"] == 1.0
    assert rows[ids[1]]["metrics"]["fn"] == 1
    # The upload made the run's nine slices, and its rows are in them.
    slices = run_service.generate_slices(run).slices
    assert len(slices) == 9
    assert slices[0].row_count == 2  # true positives: both rows


def test_a_second_file_replaces_the_rows_it_names(
    landing: Landing, ingest_client: FlaskClient
) -> None:
    ids = land_manifest(ingest_client, landing, 2)
    run = new_run()
    first = ndjson(*({"globalKey": f"street/{i:04d}.jpg", "predictions": [{"name": "daytime"}]}
                     for i in range(2)))  # fmt: skip
    deliver(ingest_client, landing, f"model-runs/{run}/a.ndjson", first)
    second = ndjson({"globalKey": "street/0001.jpg", "predictions": [{"name": "car"}]})
    deliver(ingest_client, landing, f"model-runs/{run}/b.ndjson", second)
    rows = run_rows(run)
    assert rows[ids[0]]["predictions"] == [{"name": "daytime"}]
    assert rows[ids[1]]["predictions"] == [{"name": "car"}]
    assert rows[ids[1]]["predictionClasses"] == ["car"]
    got = run_service.get_run(run).metrics
    # Row 0: daytime found, its car box missed; row 1: the classification "car" is a false
    # positive (a classification never matches a box), daytime and the car box are missed.
    assert (got["rows"], got["tp"], got["fp"], got["fn"]) == (2, 1, 1, 3)


def test_a_redelivered_file_changes_nothing(landing: Landing, ingest_client: FlaskClient) -> None:
    land_manifest(ingest_client, landing, 3)
    run = new_run()
    body = ndjson(*({"globalKey": f"street/{i:04d}.jpg", "predictions": [{"name": "daytime"}]}
                    for i in range(3)))  # fmt: skip
    resource = landing.upload(f"model-runs/{run}/p.ndjson", body)
    assert post_event(ingest_client, storage_event("finalized", resource)) == 200
    before = {rid: doc["metrics"] for rid, doc in run_rows(run).items()}
    run_before = run_store.get_run(run)
    assert post_event(ingest_client, storage_event("finalized", resource)) == 200
    assert {rid: doc["metrics"] for rid, doc in run_rows(run).items()} == before
    assert run_store.get_run(run)["totals"] == run_before["totals"]


def test_generated_slices_that_keep_changing_fail_the_event_so_it_is_retried(
    landing: Landing, ingest_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    land_manifest(ingest_client, landing, 3)
    run = new_run()
    key = run_store.scope_key(run)
    body = ndjson(*({"globalKey": f"street/{i:04d}.jpg", "predictions": [{"name": "daytime"}]}
                    for i in range(3)))  # fmt: skip
    resource = landing.upload(f"model-runs/{run}/p.ndjson", body)
    event = storage_event("finalized", resource)
    real_land, real_update = model_run_uploads.land, slice_service.update_slice
    low_f1 = str(AutoSlice.LOW_F1)

    def land_then_user_edits(run_id: str, lines: Any) -> Any:
        # While the rows land, a user edits a generated slice: the import's last refresh
        # must restore it.
        landed = real_land(run_id, lines)
        edited = slice_store.find_auto_slice(key, low_f1)
        assert edited is not None
        real_update(edited["id"], SliceUpdate(description="mine"), etag=edited["etag"])
        return landed

    def rival_edits_first(slice_id: str, update: SliceUpdate, **kwargs: Any) -> Any:
        # Another editor commits just before each attempt: every attempt's etag is stale.
        current = slice_store.get_slice(slice_id)
        real_update(slice_id, SliceUpdate(description=uuid.uuid4().hex), etag=current["etag"])
        return real_update(slice_id, update, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(model_run_uploads, "land", land_then_user_edits)
        patch.setattr(slice_service, "update_slice", rival_edits_first)
        assert post_event(ingest_client, event) == 500
    report = report_of(landing, resource)
    assert report["status"] == "running"  # not done: the redelivery picks it up
    assert counts(report) == [3, 3, 0, 0]

    assert post_event(ingest_client, event) == 200
    report = report_of(landing, resource)
    assert (report["status"], counts(report)) == ("done", [3, 3, 0, 0])
    restored = slice_store.find_auto_slice(key, low_f1)
    assert restored is not None
    assert restored["description"] == next(
        spec.description for spec in AUTO_SLICES if str(spec.kind) == low_f1
    )


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("model-runs/no-such-run/p.ndjson", "model run 'no-such-run' does not exist"),
        ("model-runs/{run}/notes.txt", "objects under model-runs/<run>/ must be .ndjson"),
        ("model-runs/{run}/results.json", "cannot tell the dataset of 'results.json'"),
        ("imports/instances.json", "cannot tell the dataset of 'instances.json'"),
    ],
)
def test_model_run_objects_that_cannot_import_are_reported(
    landing: Landing, ingest_client: FlaskClient, name: str, reason: str
) -> None:
    run = new_run()
    report = deliver(ingest_client, landing, name.format(run=run), b"{}\n")
    assert report["status"] == "failed"
    assert report["message"].startswith(reason)


def test_a_large_file_stops_at_its_deadline_and_the_scheduler_finishes_it(
    landing: Landing, ingest_client: FlaskClient
) -> None:
    land_manifest(ingest_client, landing, 3)
    run = new_run()
    lines = [{"globalKey": f"street/{i % 3:04d}.jpg", "predictions": [{"name": "daytime"}]}
             for i in range(1200)]  # fmt: skip
    lines[-1]["predictions"] = [{"name": "car"}]
    resource = landing.upload(f"model-runs/{run}/big.ndjson", ndjson(*lines))
    outcome = handle_storage_event(
        "google.cloud.storage.object.v1.finalized", resource, deadline=time.monotonic() - 1
    )
    assert str(outcome.action) == "continuing"
    partial = report_of(landing, resource)
    assert partial["status"] == "running"
    assert 0 < partial["linesRead"] < 1200
    for _ in range(10):
        if report_of(landing, resource)["status"] == "done":
            break
        continue_imports(deadline=time.monotonic() - 1)
    report = report_of(landing, resource)
    assert report["status"] == "done"
    assert counts(report) == [1200, 1200, 0, 0]
    last = run_rows(run)[row_id("street/0002.jpg")]
    assert last["predictions"] == [{"name": "car"}]  # the file's last word on the row


# ---- COCO -------------------------------------------------------------------------------

CATEGORIES = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}]
IMAGES = [{"id": i, "file_name": f"{i:012d}.jpg", "width": 640, "height": 480} for i in (1, 2, 3)]
ANNOTATIONS = [
    {"id": 1, "image_id": 1, "category_id": 3, "bbox": [10, 20, 30, 40], "iscrowd": 0},
    {"id": 2, "image_id": 1, "category_id": 1, "bbox": [100, 100, 50, 80], "iscrowd": 0},
    {"id": 3, "image_id": 2, "category_id": 3, "bbox": [0, 0, 20, 20], "iscrowd": 0},
    {"id": 4, "image_id": 2, "category_id": 3, "bbox": [5, 5, 5, 5], "iscrowd": 1},
    {"id": 5, "image_id": 3, "category_id": 3, "bbox": [300, 300, 10, 10], "iscrowd": 0},
    {"id": 6, "image_id": 3, "category_id": 9, "bbox": [1, 1, 1, 1], "iscrowd": 0},
]
RESULTS = [
    {"image_id": 1, "category_id": 3, "bbox": [11, 19, 31, 42], "score": 0.9},
    {"image_id": 1, "category_id": 1, "bbox": [400, 400, 50, 80], "score": 0.8},
    {"image_id": 1, "category_id": 3, "bbox": [12, 21, 29, 38], "score": 0.6},
    {"image_id": 7, "category_id": 3, "bbox": [0, 0, 1, 1], "score": 0.9},
    {"image_id": 2, "category_id": 3, "bbox": [0, 0, 1, 1], "score": 1.7},
    {"image_id": 2, "category_id": 3, "bbox": [0, 0, 20, 20], "score": 0.95},
]


def test_coco_ground_truth_then_results_score_each_image_like_pycocotools(
    landing: Landing, ingest_client: FlaskClient
) -> None:
    instances = {"images": IMAGES, "annotations": ANNOTATIONS, "categories": CATEGORIES}
    truth = deliver(ingest_client, landing, "imports/instances_val2017.json",
                    json.dumps(instances).encode())  # fmt: skip
    assert (truth["status"], truth["kind"], truth["dataset"]) == ("done", "cocoInstances",
                                                                  "val2017")  # fmt: skip
    assert (truth["rowsWritten"], truth["crowdSkipped"], truth["annotationsRejected"]) == (3, 1, 1)
    assert truth["annotationErrors"] == [{"line": 6, "reason": "annotations: unknown "
                                          "category_id 9"}]  # fmt: skip
    first_key = f"gs://{landing.bucket}/val2017/000000000001.jpg"
    row = row_store.get_row(CATALOG, row_id(first_key))
    assert row is not None
    assert (row["dataset"], row["mediaType"], row["media"]["width"]) == ("val2017", "image", 640)
    assert row["labelClasses"] == ["car", "person"]
    assert row["labels"][0] == {"name": "car", "bbox": {"left": 10, "top": 20, "width": 30,
                                                        "height": 40}}  # fmt: skip

    run = new_run(["person", "car"])
    results = deliver(ingest_client, landing, f"model-runs/{run}/results_val2017.json",
                      json.dumps(RESULTS).encode())  # fmt: skip
    assert (results["status"], results["kind"]) == ("done", "cocoResults")
    assert counts(results) == [6, 3, 3, 0]
    assert results["imagesWithoutDetections"] == 1
    assert results["errors"] == [
        {"line": 4, "reason": "unknown image_id 7 (not in the COCO ground truth of val2017)"},
        {"line": 5, "reason": "score must be a number from 0 to 1, got 1.7"},
        {"line": 6, "reason": "image 2 has a rejected detection (entry 5)"},
    ]
    rows = {doc["globalKey"].rsplit("/", 1)[-1]: doc for doc in run_rows(run).values()}
    assert set(rows) == {"000000000001.jpg", "000000000003.jpg"}
    expected = _pycocotools_counts(instances, [r for r in RESULTS if r["image_id"] == 1], [1, 3])
    for image_id, name in ((1, "000000000001.jpg"), (3, "000000000003.jpg")):
        metrics = rows[name]["metrics"]
        assert (metrics["tp"], metrics["fp"], metrics["fn"]) == expected[image_id], image_id


def _pycocotools_counts(
    instances: dict[str, Any], detections: list[dict[str, Any]], image_ids: list[int]
) -> dict[int, tuple[int, int, int]]:
    """tp, fp, fn per image from pycocotools (IoU 0.5, all areas, no crowd, score >= 0.5)."""
    names = {c["id"]: c["name"] for c in instances["categories"]}

    def box(values: list[float]) -> BBox:
        return BBox(left=values[0], top=values[1], width=values[2], height=values[3])

    rows = [
        (
            [Annotation(name=names[a["category_id"]], bbox=box(a["bbox"]))
             for a in instances["annotations"]
             if a["image_id"] == image_id and a["category_id"] in names and not a["iscrowd"]],
            [Prediction(name=names[d["category_id"]], bbox=box(d["bbox"]), confidence=d["score"])
             for d in detections if d["image_id"] == image_id],
        )
        for image_id in image_ids
    ]  # fmt: skip
    reference = reference_counts(rows, ["person", "car"], 0.5, 0.5)
    out = {}
    for index, image_id in enumerate(image_ids):
        found = [c for (i, _), c in reference.items() if i == index]
        out[image_id] = (sum(c.tp for c in found), sum(c.fp for c in found),
                         sum(c.fn for c in found))  # fmt: skip
    return out


def test_coco_results_directly_under_a_run_use_the_only_dataset_with_ground_truth(
    landing: Landing, ingest_client: FlaskClient
) -> None:
    instances = {"images": IMAGES, "annotations": ANNOTATIONS, "categories": CATEGORIES}
    deliver(ingest_client, landing, "imports/instances_val2017.json",
            json.dumps(instances).encode())  # fmt: skip
    run = new_run(["person", "car"])
    name = f"model-runs/{run}/results.json"
    resource = landing.upload(name, json.dumps(RESULTS).encode())
    event = storage_event("finalized", resource)
    stopped = handle_storage_event(event["type"], event.data, deadline=time.monotonic() - 1)
    assert str(stopped.action) == "continuing"
    assert report_of(landing, resource)["dataset"] == "val2017"

    # A second ground truth lands: the redelivered event still finishes against val2017.
    deliver(ingest_client, landing, "imports/night/instances.json", json.dumps(instances).encode())
    assert post_event(ingest_client, event) == 200
    results = report_of(landing, resource)
    assert (results["status"], results["kind"], results["dataset"]) == ("done", "cocoResults",
                                                                        "val2017")  # fmt: skip
    assert counts(results) == [6, 3, 3, 0]
    assert len(run_rows(run)) == 2

    # A new upload is now ambiguous: it must say which dataset it scores.
    again = deliver(ingest_client, landing, name, json.dumps(RESULTS).encode())
    assert (again["status"], again["kind"]) == ("failed", "cocoResults")
    assert again["message"] == (
        "cannot tell the dataset of 'results.json': several datasets have a COCO ground truth "
        "('night', 'val2017'); put it in model-runs/<run>/<dataset>/ or name it "
        "results_<dataset>.json"
    )


def test_an_image_without_detections_whose_row_was_deleted_is_reported_by_its_id(
    landing: Landing, ingest_client: FlaskClient
) -> None:
    instances = {"images": IMAGES, "annotations": ANNOTATIONS, "categories": CATEGORIES}
    deliver(ingest_client, landing, "imports/instances_val2017.json",
            json.dumps(instances).encode())  # fmt: skip
    # Image 3's object lands and is deleted again: its data row goes with it.
    image = landing.upload("val2017/000000000003.jpg", tiny_png(4, 4), content_type="image/png")
    assert post_event(ingest_client, storage_event("finalized", image)) == 200
    landing.delete("val2017/000000000003.jpg")
    assert post_event(ingest_client, storage_event("deleted", image)) == 200
    gone = f"gs://{landing.bucket}/val2017/000000000003.jpg"
    assert row_store.get_row(CATALOG, row_id(gone)) is None

    run = new_run(["person", "car"])
    only_image_1 = [r for r in RESULTS if r["image_id"] == 1]
    report = deliver(ingest_client, landing, f"model-runs/{run}/results_val2017.json",
                     json.dumps(only_image_1).encode())  # fmt: skip
    assert report["status"] == "done"
    assert counts(report) == [3, 3, 0, 0]  # the file's three detections
    assert report["imagesWithoutDetections"] == 2
    assert report["imagesRejected"] == 1
    assert report["imageErrors"] == [
        {"imageId": 3, "reason": f"no data row with globalKey {gone!r}"}
    ]
    scored = {doc["globalKey"].rsplit("/", 1)[-1] for doc in run_rows(run).values()}
    assert scored == {"000000000001.jpg", "000000000002.jpg"}


@pytest.mark.parametrize("late_older", [False, True])
def test_a_new_instances_file_replaces_the_image_ids_results_are_scored_on(
    landing: Landing, ingest_client: FlaskClient, late_older: bool
) -> None:
    name = "imports/instances_val2017.json"
    older = {"images": IMAGES, "annotations": ANNOTATIONS, "categories": CATEGORIES}
    newer = {**older, "images": IMAGES[:2]}  # image 3 is no longer in the ground truth
    first = landing.upload(name, json.dumps(older).encode())
    second = landing.upload(name, json.dumps(newer).encode())
    order = [second, first] if late_older else [first, second]
    for resource in order:
        assert post_event(ingest_client, storage_event("finalized", resource)) == 200
    assert report_of(landing, order[-1])["status"] == "done"

    run = new_run(["person", "car"])
    only_image_1 = [r for r in RESULTS if r["image_id"] == 1]
    report = deliver(ingest_client, landing, f"model-runs/{run}/results_val2017.json",
                     json.dumps(only_image_1).encode())  # fmt: skip
    assert report["imagesWithoutDetections"] == 1
    scored = {doc["globalKey"].rsplit("/", 1)[-1] for doc in run_rows(run).values()}
    assert scored == {"000000000001.jpg", "000000000002.jpg"}  # no empty row for image 3
    images = db().collection("cocoDatasets").document("val2017").collection("images")
    assert sorted(s.id for s in images.stream()) == ["1", "2"]


def test_coco_results_need_their_ground_truth(landing: Landing, ingest_client: FlaskClient) -> None:
    run = new_run()
    report = deliver(ingest_client, landing, f"model-runs/{run}/val2017/results.json",
                     json.dumps(RESULTS).encode())  # fmt: skip
    assert report["status"] == "failed"
    assert report["message"].startswith("no COCO ground truth for dataset 'val2017'")
    broken = deliver(ingest_client, landing, "imports/instances_x.json", b"{not json")
    assert broken["status"] == "failed"
    assert broken["message"].startswith("invalid JSON")


def test_model_run_imports_resume_only_their_own_reports() -> None:
    assert "manifest" not in model_run_imports.KINDS
