"""The ingest function on media objects: real CloudEvents in, rows in the Firestore emulator.

Objects live in the storage emulator; events carry the object resources it answers.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from google.cloud.firestore import FieldFilter

from shared.errors import TransientError
from shared.ids import row_id
from shared.metadata import MetadataField, MetadataKind
from shared.model_runs import writes
from shared.models import ModelRunCreate, Prediction, SliceCreate
from shared.services import model_runs as run_service
from shared.services import slices as slice_service
from shared.store import datasets, imports, slice_sets
from shared.store import model_runs as run_store
from shared.store import rows as row_store
from shared.store.client import db
from shared.store.schema import add_fields, load_schema
from shared.store.scopes import CATALOG
from tests.functions.conftest import (
    Landing,
    Mode,
    jpeg_header,
    post_event,
    storage_event,
    tiny_png,
)

pytestmark = pytest.mark.usefixtures("landing")


def row_of(landing: Landing, name: str) -> dict[str, Any] | None:
    return row_store.get_row(CATALOG, row_id(f"gs://{landing.bucket}/{name}"))


def deliver(
    client: FlaskClient, kind: str, resource: dict[str, Any], mode: Mode = "binary"
) -> None:
    assert post_event(client, storage_event(kind, resource), mode) == 200


def make_slice(name: str, filter_text: str) -> str:
    return slice_service.create_slice(
        SliceCreate(name=name, filter=filter_text), build_seconds=30
    ).id


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_an_image_becomes_a_row_with_its_header_size_and_typed_metadata(
    landing: Landing, ingest_client: FlaskClient, mode: Mode
) -> None:
    add_fields({"split": MetadataField(kind=MetadataKind.ENUM, values=["train", "valid"])})
    add_fields({"score": MetadataField(kind=MetadataKind.NUMBER)})
    resource = landing.upload(
        "street/0001.png",
        tiny_png(7, 3),
        content_type="image/png",
        metadata={"split": "train", "score": "0.25", "capturedAt": "2026-05-01T10:00:00Z"},
    )
    deliver(ingest_client, "finalized", resource, mode)

    row = row_of(landing, "street/0001.png")
    assert row is not None
    key = f"gs://{landing.bucket}/street/0001.png"
    assert row["id"] == row_id(key)
    assert row["globalKey"] == row["rowData"] == key
    assert row["dataset"] == "street"
    assert row["mediaType"] == "image"
    assert row["media"] == {"mimeType": "image/png", "sizeBytes": int(resource["size"]),
                            "width": 7, "height": 3}  # fmt: skip
    assert row["generation"] == int(resource["generation"])
    assert row["metadata"]["split"] == "train"
    assert row["metadata"]["score"] == 0.25
    assert row["metadata"]["capturedAt"] == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert row["labels"] == []
    assert row["labelCount"] == 0
    # An undeclared field declared itself from its first value.
    assert load_schema().fields["capturedAt"].kind is MetadataKind.DATETIME
    assert datasets.get_dataset("street") is not None


def test_media_type_comes_from_the_content_type_or_else_the_extension(
    landing: Landing, ingest_client: FlaskClient
) -> None:
    cases = {
        "docs/readme.txt": ("text/plain", "text", "text/plain"),
        "clips/a.mp4": (None, "video", "video/mp4"),
        "scans/a.pdf": ("application/octet-stream", "document", "application/pdf"),
        "misc/blob": (None, "other", "application/octet-stream"),
    }
    for name, (content_type, media_type, mime) in cases.items():
        deliver(ingest_client, "finalized", landing.upload(name, b"x", content_type=content_type))
        row = row_of(landing, name)
        assert row is not None
        assert (row["mediaType"], row["media"]["mimeType"]) == (media_type, mime), name
        assert row["media"]["width"] is None


def test_jpeg_size_is_read_past_a_large_exif_block(
    landing: Landing, ingest_client: FlaskClient
) -> None:
    body = jpeg_header(640, 480, exif_bytes=65_000, tail_bytes=3_000_000)
    deliver(
        ingest_client, "finalized", landing.upload("cams/big.jpg", body, content_type="image/jpeg")
    )
    row = row_of(landing, "cams/big.jpg")
    assert row is not None
    assert (row["media"]["width"], row["media"]["height"]) == (640, 480)


def test_an_invalid_metadata_value_is_reported_and_the_row_lands_without_it(
    landing: Landing, ingest_client: FlaskClient
) -> None:
    add_fields({"score": MetadataField(kind=MetadataKind.NUMBER)})
    resource = landing.upload(
        "street/bad.png", tiny_png(2, 2), content_type="image/png",
        metadata={"score": "high", "weather": "rain", "bad-name": "x"},
    )  # fmt: skip
    deliver(ingest_client, "finalized", resource)
    row = row_of(landing, "street/bad.png")
    assert row is not None
    assert row["metadata"] == {"weather": "rain"}
    report = imports.get_report(imports.report_id(landing.bucket, "street/bad.png",
                                                  int(resource["generation"])))  # fmt: skip
    reasons = sorted(error["reason"] for error in report["errors"])
    assert len(reasons) == 2
    assert reasons[0].startswith("metadata.bad-name: field names must match")
    assert reasons[1] == "metadata.score: expected a number, got 'high'"
    assert report["status"] == "done"
    assert report["kind"] == "object"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("loose.png", "media objects go under a dataset folder: <dataset>/<path>"),
        ("-bad/x.png", "'-bad' is not a dataset id"),
        ("imports/readme.txt", "objects under imports/ must be .ndjson manifests"),
        ("model-runs/run1/preds.ndjson", "model run 'run1' does not exist"),
    ],
)
def test_objects_that_fit_no_route_get_a_failed_report_and_are_acknowledged(
    landing: Landing, ingest_client: FlaskClient, name: str, reason: str
) -> None:
    resource = landing.upload(name, b"{}", content_type="application/json")
    deliver(ingest_client, "finalized", resource)
    report = imports.get_report(
        imports.report_id(landing.bucket, name, int(resource["generation"]))
    )
    assert report["status"] == "failed"
    assert report["message"].startswith(reason)
    assert list(db().collection("dataRows").limit(1).stream()) == []


def test_malformed_events_are_acknowledged(
    landing: Landing, ingest_client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    resource = landing.upload("street/a.png", tiny_png(1, 1), content_type="image/png")
    assert post_event(ingest_client, storage_event("metadataUpdated", resource)) == 200
    broken = {**resource, "generation": "not-a-number"}
    assert post_event(ingest_client, storage_event("finalized", broken)) == 200
    assert post_event(ingest_client, storage_event("finalized", {"bucket": landing.bucket})) == 200
    assert row_of(landing, "street/a.png") is None
    acknowledged = [r for r in caplog.records if r.getMessage() == "acknowledged a permanent error"]
    assert len(acknowledged) == 3


def test_a_folder_placeholder_is_ignored(landing: Landing, ingest_client: FlaskClient) -> None:
    deliver(ingest_client, "finalized", landing.upload("street/", b""))
    assert list(db().collection("dataRows").limit(1).stream()) == []


@pytest.mark.parametrize("kind", ["deleted", "archived"])
def test_a_delete_removes_the_row_its_model_run_rows_and_so_its_slice_membership(
    landing: Landing, ingest_client: FlaskClient, kind: str
) -> None:
    images = make_slice("images", 'mediaType = "image"')
    resource = landing.upload("street/gone.png", tiny_png(4, 4), content_type="image/png")
    deliver(ingest_client, "finalized", resource)
    row = row_of(landing, "street/gone.png")
    assert row is not None
    assert row["sliceIds"] == [images]
    rid = row["id"]
    run = run_service.create_run(ModelRunCreate(name="run", model="m", classes=["car"])).id
    writes.put_predictions(run, {rid: writes.NewPredictions([Prediction(name="car")], None)})
    run_rows = row_store.rows_collection(run_store.scope_key(run))
    assert run_rows.document(rid).get().exists

    landing.delete("street/gone.png")
    deliver(ingest_client, kind, resource)

    assert row_of(landing, "street/gone.png") is None
    assert not run_rows.document(rid).get().exists
    assert [
        s.id
        for s in db()
        .collection("dataRows")
        .where(filter=FieldFilter("sliceIds", "array_contains", images))
        .stream()
    ] == []


def test_an_overwrite_updates_the_row_and_its_membership_whatever_the_event_order(
    landing: Landing, ingest_client: FlaskClient
) -> None:
    wide = make_slice("wide images", "media.width >= 100")
    small = make_slice("small images", "media.width < 100")
    for order in (("finalized", "deleted"), ("deleted", "finalized")):
        name = f"street/{order[0]}-first.png"
        old = landing.upload(name, tiny_png(10, 10), content_type="image/png")
        deliver(ingest_client, "finalized", old)
        assert row_of(landing, name)["sliceIds"] == [small]  # type: ignore[index]
        new = landing.upload(name, tiny_png(200, 10), content_type="image/png")
        for kind in order:
            deliver(ingest_client, kind, new if kind == "finalized" else old)
        row = row_of(landing, name)
        assert row is not None, order
        assert row["generation"] == int(new["generation"])
        assert row["media"]["width"] == 200
        assert row["sliceIds"] == [wide]
        assert set(row["sliceEnteredAt"]) == {wide}


def test_a_delete_then_a_late_create_of_the_same_or_an_older_generation_leaves_no_row(
    landing: Landing, ingest_client: FlaskClient
) -> None:
    first = landing.upload("street/late.png", tiny_png(3, 3), content_type="image/png")
    second = landing.upload("street/late.png", tiny_png(5, 5), content_type="image/png")
    landing.delete("street/late.png")
    deliver(ingest_client, "deleted", second)
    deliver(ingest_client, "finalized", second)
    deliver(ingest_client, "finalized", first)
    deliver(ingest_client, "deleted", first)
    assert row_of(landing, "street/late.png") is None


def test_a_repeated_event_changes_nothing(landing: Landing, ingest_client: FlaskClient) -> None:
    resource = landing.upload("street/twice.png", tiny_png(3, 3), content_type="image/png",
                              metadata={"weather": "rain"})  # fmt: skip
    event = storage_event("finalized", resource)
    assert post_event(ingest_client, event) == 200
    first = (
        db()
        .collection("dataRows")
        .document(row_id(f"gs://{landing.bucket}/street/twice.png"))
        .get()
    )
    assert post_event(ingest_client, event, "structured") == 200
    again = db().collection("dataRows").document(first.id).get()
    assert again.to_dict() == first.to_dict()
    assert again.update_time == first.update_time


def test_a_repeated_event_keeps_the_report_it_wrote(
    landing: Landing, ingest_client: FlaskClient
) -> None:
    add_fields({"count": MetadataField(kind=MetadataKind.NUMBER)})
    stray = landing.upload("stray.bin", b"?")
    invalid = landing.upload("street/n.png", tiny_png(1, 1), content_type="image/png",
                             metadata={"count": "many"})  # fmt: skip
    events = [storage_event("finalized", stray), storage_event("finalized", invalid)]
    for event in events:
        assert post_event(ingest_client, event) == 200
    first = imports.list_reports(limit=10)
    assert [r["object"] for r in first] == ["street/n.png", "stray.bin"]
    for event in reversed(events):
        assert post_event(ingest_client, event) == 200
    assert imports.list_reports(limit=10) == first


def test_firestore_unavailable_raises_so_the_event_is_retried(
    landing: Landing,
    ingest_client: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    resource = landing.upload("street/retry.png", tiny_png(2, 2), content_type="image/png")
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("INGEST_RETRY_SECONDS", "1")
    db.cache_clear()
    slice_sets.clear_cache()
    try:
        assert post_event(ingest_client, storage_event("finalized", resource)) == 500
        raised = [r.exc_info[0] for r in caplog.records if r.exc_info and r.exc_info[0]]
        assert raised == [TransientError]
    finally:
        db.cache_clear()
    monkeypatch.undo()
    assert os.environ.get("FIRESTORE_EMULATOR_HOST") != "127.0.0.1:9"
    # Redelivered once Firestore is back, the event lands.
    assert post_event(ingest_client, storage_event("finalized", resource)) == 200
    assert row_of(landing, "street/retry.png") is not None
