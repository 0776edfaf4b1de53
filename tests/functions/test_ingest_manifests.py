"""The ingest function on manifests (``imports/*.ndjson``): rows land, bad lines are reported."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from google.cloud.firestore import FieldFilter

from shared.ids import row_id
from shared.ingest import Action, continue_imports, handle_storage_event, manifests
from shared.metadata import MetadataField, MetadataKind
from shared.models import SliceCreate
from shared.ndjson import MAX_LINE_BYTES
from shared.services import slices as slice_service
from shared.store import datasets, imports
from shared.store import rows as row_store
from shared.store.client import db
from shared.store.schema import add_fields
from shared.store.scopes import CATALOG
from tests.functions.conftest import Landing, Mode, ndjson, post_event, storage_event

pytestmark = pytest.mark.usefixtures("landing")

EXAMPLE = {
    "globalKey": "street/0001.jpg",
    "rowData": "gs://bucket/street/0001.jpg",
    "dataset": "street",
    "mediaType": "image",
    "metadata": {"split": "train", "weather": "rain", "capturedAt": "2026-05-01T10:00:00Z"},
    "labels": [
        {"name": "car", "bbox": {"left": 10, "top": 20, "width": 30, "height": 40}},
        {"name": "daytime"},
    ],
}


def line(key: str, **fields: Any) -> dict[str, Any]:
    return {"globalKey": key, "rowData": f"gs://bucket/{key}", "dataset": "street", **fields}


def report_of(landing: Landing, resource: dict[str, Any]) -> dict[str, Any]:
    return imports.get_report(
        imports.report_id(landing.bucket, resource["name"], int(resource["generation"]))
    )


def all_rows() -> dict[str, dict[str, Any]]:
    return {s.id: s.to_dict() or {} for s in db().collection("dataRows").stream()}


def import_event(
    client: FlaskClient, landing: Landing, body: bytes, name: str = "imports/batch.ndjson",
    mode: Mode = "binary",
) -> dict[str, Any]:  # fmt: skip
    resource = landing.upload(name, body, content_type="application/x-ndjson")
    assert post_event(client, storage_event("finalized", resource), mode) == 200
    return resource


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_the_example_line_lands_with_labels_metadata_and_membership(
    landing: Landing, ingest_client: FlaskClient, mode: Mode
) -> None:
    add_fields({"weather": MetadataField(kind=MetadataKind.STRING)})
    rainy_cars = 'metadata.weather = "rain" AND labels.classes CONTAINS "car"'
    rainy = slice_service.create_slice(
        SliceCreate(name="rainy cars", filter=rainy_cars), build_seconds=30
    ).id
    resource = import_event(ingest_client, landing, ndjson(EXAMPLE), mode=mode)

    row = row_store.get_row(CATALOG, row_id("street/0001.jpg"))
    assert row is not None
    assert row["globalKey"] == "street/0001.jpg"
    assert row["rowData"] == "gs://bucket/street/0001.jpg"
    assert (row["dataset"], row["mediaType"]) == ("street", "image")
    assert row["metadata"] == {
        "split": "train",
        "weather": "rain",
        "capturedAt": datetime(2026, 5, 1, 10, tzinfo=UTC),
    }
    assert row["labels"] == EXAMPLE["labels"]
    assert (row["labelClasses"], row["labelCount"]) == (["car", "daytime"], 2)
    assert row["generation"] is None  # a manifest row follows no object of its own
    assert row["sliceIds"] == [rainy]
    assert set(row["sliceEnteredAt"]) == {rainy}
    assert datasets.get_dataset("street") is not None
    report = report_of(landing, resource)
    assert report["status"] == "done"
    counts = [report[k] for k in ("linesRead", "rowsWritten", "linesRejected", "linesBlank")]
    assert counts == [1, 1, 0, 0]
    assert report["errors"] == []


def test_a_malformed_manifest_lands_its_good_lines_and_reports_the_bad_ones_exactly(
    landing: Landing, ingest_client: FlaskClient
) -> None:
    add_fields({"weather": MetadataField(kind=MetadataKind.STRING)})
    body = b"".join(
        [
            b"\xef\xbb\xbf" + json.dumps(line("street/bom.jpg")).encode() + b"\r\n",  # 1 BOM, CRLF
            json.dumps(line("street/crlf.jpg", mediaType="image")).encode() + b"\r\n",  # 2
            b'{"globalKey": \n',  # 3
            json.dumps(line("street/wrong.jpg", labels="car")).encode() + b"\n",  # 4
            json.dumps({"globalKey": "street/missing.jpg"}).encode() + b"\n",  # 5
            b'{"globalKey": "' + b"x" * MAX_LINE_BYTES + b'"}\n',  # 6 over the limit
            b'{"globalKey": "\xff\xfe", "rowData": "r", "dataset": "street"}\n',  # 7 not UTF-8
            b"   \n",  # 8 blank
            json.dumps(line("street/extra.jpg", colour="red")).encode() + b"\n",  # 9
            json.dumps(line("street/type.jpg", metadata={"weather": 5})).encode() + b"\n",  # 10
            b"[1, 2]\n",  # 11
            b'{"globalKey": "a", "rowData": "b", "dataset": "street", "media": {"width": NaN}}\n',
            json.dumps(line("street/box.jpg", labels=[{"name": "car", "bbox": {
                "left": 0, "top": 0, "width": -1, "height": 1}}])).encode() + b"\n",  # 13
            b"[" * 100_000 + b"\n",  # 14
            b"\xef\xbb\xbf" + json.dumps(line("street/late-bom.jpg")).encode() + b"\n",  # 15
            json.dumps(line("street/last.jpg")).encode(),  # 16, no final newline
        ]
    )  # fmt: skip
    resource = import_event(ingest_client, landing, body)

    keys = {doc["globalKey"] for doc in all_rows().values()}
    assert keys == {"street/bom.jpg", "street/crlf.jpg", "street/last.jpg"}
    report = report_of(landing, resource)
    assert report["status"] == "done"
    counts = [report[k] for k in ("linesRead", "rowsWritten", "linesRejected", "linesBlank")]
    assert counts == [16, 3, 12, 1]
    errors = {error["line"]: error["reason"] for error in report["errors"]}
    assert sorted(errors) == [3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15]
    assert errors[3] == "invalid JSON: Expecting value (column 15)"
    assert errors[4] == "labels: Input should be a valid list"
    assert errors[5] == "rowData: Field required; dataset: Field required"
    assert errors[6] == f"line longer than {MAX_LINE_BYTES} bytes"
    assert errors[7] == "not valid UTF-8 (byte 16)"
    assert errors[9] == "colour: Extra inputs are not permitted"
    assert errors[10] == "metadata.weather: expected a string, got a number"
    assert errors[11] == "expected a JSON object, got an array"
    assert errors[12] == "invalid JSON: NaN is not valid JSON"
    assert errors[13] == "labels[0].bbox.width: Input should be greater than or equal to 0"
    assert errors[14] == "invalid JSON: nested too deeply"
    assert errors[15].startswith("invalid JSON: Unexpected UTF-8 BOM")


def test_a_number_firestore_cannot_store_rejects_its_line_not_the_import(
    landing: Landing, ingest_client: FlaskClient
) -> None:
    body = ndjson(
        line("street/huge.jpg", media={"width": 2**64}),
        line("street/far.jpg", metadata={"seenAt": "9999-12-31T23:59:59-05:00"}),
        line("street/fine.jpg", media={"width": 2**63 - 1}),
    )
    resource = import_event(ingest_client, landing, body)
    assert {doc["globalKey"] for doc in all_rows().values()} == {"street/fine.jpg"}
    report = report_of(landing, resource)
    assert report["status"] == "done"
    assert [error["line"] for error in report["errors"]] == [1, 2]
    assert report["errors"][0]["reason"].startswith("media.width: Input should be less than")


def test_an_empty_manifest_is_done_with_nothing_read(
    landing: Landing, ingest_client: FlaskClient
) -> None:
    resource = import_event(ingest_client, landing, b"")
    report = report_of(landing, resource)
    assert report["status"] == "done"
    assert [report["linesRead"], report["rowsWritten"], report["linesRejected"]] == [0, 0, 0]
    assert all_rows() == {}


def test_ten_thousand_bad_lines_report_the_first_hundred_and_count_all(
    landing: Landing, ingest_client: FlaskClient
) -> None:
    good = [json.dumps(line(f"street/{i}.jpg")).encode() for i in range(3)]
    bad = [b'{"globalKey": 1}'] * 10_000
    body = b"\n".join([good[0], *bad[:5000], good[1], *bad[5000:], good[2]]) + b"\n"
    resource = import_event(ingest_client, landing, body)
    report = report_of(landing, resource)
    assert [report["linesRead"], report["rowsWritten"], report["linesRejected"]] == [
        10_003,
        3,
        10_000,
    ]
    assert [error["line"] for error in report["errors"]] == list(range(2, 102))
    assert len(all_rows()) == 3


def test_duplicate_keys_in_one_manifest_end_with_the_last_line(
    landing: Landing, ingest_client: FlaskClient
) -> None:
    body = ndjson(line("street/a.jpg", metadata={"n": 1}), line("street/a.jpg", metadata={"n": 2}))
    resource = import_event(ingest_client, landing, body)
    rows = list(all_rows().values())
    assert [row["metadata"] for row in rows] == [{"n": 2}]
    assert report_of(landing, resource)["rowsWritten"] == 2


def test_a_redelivered_manifest_event_changes_nothing(
    landing: Landing, ingest_client: FlaskClient
) -> None:
    resource = import_event(
        ingest_client, landing, ndjson(*(line(f"street/{i}.jpg") for i in range(20)))
    )
    before = {s.id: s.update_time for s in db().collection("dataRows").stream()}
    report = report_of(landing, resource)
    assert post_event(ingest_client, storage_event("finalized", resource), "structured") == 200
    assert {s.id: s.update_time for s in db().collection("dataRows").stream()} == before
    assert report_of(landing, resource) == report


def test_a_late_older_manifest_generation_lands_only_rows_the_newer_one_does_not_state(
    landing: Landing, ingest_client: FlaskClient
) -> None:
    old = landing.upload(
        "imports/m.ndjson",
        ndjson(line("street/a.jpg", metadata={"v": 1}), line("street/b.jpg", metadata={"v": 1})),
    )
    new = landing.upload("imports/m.ndjson", ndjson(line("street/a.jpg", metadata={"v": 2})))
    assert post_event(ingest_client, storage_event("finalized", new)) == 200
    assert post_event(ingest_client, storage_event("finalized", old)) == 200
    rows = {row["globalKey"]: row for row in all_rows().values()}
    assert {key: row["metadata"] for key, row in rows.items()} == {
        "street/a.jpg": {"v": 2},  # the newer generation's, as in-order delivery would leave it
        "street/b.jpg": {"v": 1},
    }
    assert rows["street/a.jpg"]["manifest"] == {
        "uri": f"gs://{landing.bucket}/imports/m.ndjson",
        "generation": int(new["generation"]),
    }
    assert report_of(landing, old)["rowsWritten"] == 2


def test_a_deleted_manifest_keeps_its_rows(landing: Landing, ingest_client: FlaskClient) -> None:
    resource = import_event(ingest_client, landing, ndjson(line("street/a.jpg")))
    landing.delete("imports/batch.ndjson")
    assert post_event(ingest_client, storage_event("deleted", resource)) == 200
    assert len(all_rows()) == 1


def test_an_import_past_its_deadline_continues_from_its_cursor(
    landing: Landing, ingest_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [line(f"street/{i}.jpg") for i in range(1200)]
    lines[700] = {"globalKey": 7}
    body = ndjson(*lines)
    monkeypatch.setenv("INGEST_BUDGET_SECONDS", "0")
    resource = import_event(ingest_client, landing, body)
    report = report_of(landing, resource)
    assert report["status"] == "running"
    assert (report["cursor"]["line"], report["rowsWritten"]) == (500, 500)
    assert report["leaseOwner"] is None  # released at the deadline: anyone may continue
    assert body[: report["cursor"]["offset"]].count(b"\n") == 500

    # A redelivery continues it (one chunk per call with no time left) ...
    assert post_event(ingest_client, storage_event("finalized", resource)) == 200
    assert report_of(landing, resource)["cursor"]["line"] == 1001  # 500 good and line 701
    # ... and so does the scheduled continuation.
    outcomes = continue_imports(deadline=time.monotonic() + 60)
    assert [o.action for o in outcomes] == [Action.IMPORTED]
    report = report_of(landing, resource)
    assert report["status"] == "done"
    counts = [report[k] for k in ("linesRead", "rowsWritten", "linesRejected", "linesBlank")]
    assert counts == [1200, 1199, 1, 0]
    assert [e["line"] for e in report["errors"]] == [701]
    assert len(all_rows()) == 1199
    assert continue_imports(deadline=time.monotonic() + 60) == []


def test_an_import_whose_worker_holds_the_lease_is_not_run_twice(
    landing: Landing,
) -> None:
    resource = landing.upload("imports/m.ndjson", ndjson(line("street/a.jpg")))
    deadline = time.monotonic() + 60
    report_id = imports.report_id(landing.bucket, resource["name"], int(resource["generation"]))
    doc = imports.new_report(landing.bucket, resource["name"], int(resource["generation"]),
                             kind="manifest", status="running", now=datetime.now(UTC))  # fmt: skip
    doc.update(sizeBytes=int(resource["size"]), cursor={"offset": 0, "line": 0})
    imports.open_report(doc)
    held = imports.acquire_lease(report_id, "other-worker", now=datetime.now(UTC),
                                 until=datetime(2100, 1, 1, tzinfo=UTC))  # fmt: skip
    assert held is not None
    outcome = handle_storage_event(
        "google.cloud.storage.object.v1.finalized", resource, deadline=deadline
    )
    assert outcome.action is Action.BUSY
    assert all_rows() == {}


def test_two_generations_imported_chunk_by_chunk_in_turn_end_as_in_order(
    landing: Landing, ingest_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INGEST_BUDGET_SECONDS", "0")  # one chunk per call
    first = [line(f"street/{i}.jpg", metadata={"v": 1}) for i in range(1100)]
    second = [line(f"street/{i}.jpg", metadata={"v": 2}) for i in range(600, 1700)]
    old = import_event(ingest_client, landing, ndjson(*first), name="imports/m.ndjson")
    new = import_event(ingest_client, landing, ndjson(*second), name="imports/m.ndjson")
    reports = [report_of(landing, new), report_of(landing, old)]
    while any(report["status"] == "running" for report in reports):
        for report in reports:  # the newer generation first, then the older, a chunk each
            manifests.resume(report, deadline=time.monotonic())
        reports = [imports.get_report(report["id"]) for report in reports]
    assert report_of(landing, old)["status"] == report_of(landing, new)["status"] == "done"
    versions = {row["globalKey"]: row["metadata"]["v"] for row in all_rows().values()}
    assert versions == {f"street/{i}.jpg": 1 if i < 600 else 2 for i in range(1700)}


def test_labels_from_a_manifest_survive_their_objects_upload_metadata_follows_the_object(
    landing: Landing, ingest_client: FlaskClient
) -> None:
    key = f"gs://{landing.bucket}/street/cam.jpg"
    import_event(ingest_client, landing, ndjson({**EXAMPLE, "globalKey": key, "rowData": key}))
    resource = landing.upload("street/cam.jpg", b"not really a jpeg", content_type="image/jpeg")
    assert post_event(ingest_client, storage_event("finalized", resource)) == 200
    row = row_store.get_row(CATALOG, row_id(key))
    assert row is not None
    assert row["labels"] == EXAMPLE["labels"]
    assert row["generation"] == int(resource["generation"])
    # Metadata is the object's (none here): replacing, not merging, keeps events order-free.
    assert row["metadata"] == {}
    hits = (
        db()
        .collection("dataRows")
        .where(filter=FieldFilter("labelClasses", "array_contains", "car"))
    )
    assert [s.id for s in hits.stream()] == [row_id(key)]
