"""Import reports through the HTTP API: made by the ingest function from real CloudEvents on
the storage and Firestore emulators, then read by id and listed, newest first, by object, by
kind and by page."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from shared.store import imports
from tests.functions import conftest_api as api
from tests.functions.conftest import Landing, ndjson, post_event, storage_event, tiny_png
from tests.functions.conftest_api import assert_error

api_app, client = api.api_app, api.client

pytestmark = pytest.mark.usefixtures("landing")


def line(key: str) -> dict[str, Any]:
    return {"globalKey": key, "rowData": f"gs://bucket/{key}", "dataset": "street"}


def deliver(ingest: FlaskClient, landing: Landing, name: str, body: bytes, **kw: Any) -> str:
    """Upload an object, deliver its finalized event; the id of the report it makes."""
    resource = landing.upload(name, body, **kw)
    assert post_event(ingest, storage_event("finalized", resource)) == 200
    return imports.report_id(landing.bucket, name, int(resource["generation"]))


def get_json(client: FlaskClient, url: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def all_pages(client: FlaskClient, query: str, size: int) -> list[list[str]]:
    """The ids of every page of the list, following tokens to the end."""
    pages, token = [], ""
    while True:
        body = get_json(client, f"/v1/importReports?{query}&pageSize={size}&pageToken={token}")
        pages.append([report["id"] for report in body["importReports"]])
        token = body["nextPageToken"]
        if not token:
            return pages


def test_a_manifest_with_bad_lines_is_served_with_exact_counts_and_errors(
    landing: Landing, ingest_client: FlaskClient, client: FlaskClient
) -> None:
    body = ndjson(
        line("street/1.jpg"),
        '{"globalKey": ',
        "",
        "[1, 2]",
        line("street/2.jpg"),
        {"globalKey": "street/missing.jpg"},
    )
    report_id = deliver(
        ingest_client, landing, "imports/batch.ndjson", body, content_type="application/x-ndjson"
    )

    report = get_json(client, f"/v1/importReports/{report_id}")

    generation = imports.get_report(report_id)["generation"]
    assert {k: v for k, v in report.items() if not k.endswith("At")} == {
        "id": report_id,
        "kind": "manifest",
        "bucket": landing.bucket,
        "object": "imports/batch.ndjson",
        "generation": generation,
        "status": "done",
        "message": None,
        "linesRead": 6,
        "rowsWritten": 2,
        "linesRejected": 3,
        "linesBlank": 1,
        "errors": [
            {"line": 2, "reason": "invalid JSON: Expecting value (column 15)"},
            {"line": 4, "reason": "expected a JSON object, got an array"},
            {"line": 6, "reason": "rowData: Field required; dataset: Field required"},
        ],
        "cursor": {"offset": len(body), "line": 6},
        "sizeBytes": len(body),
        "modelRun": None,
        "dataset": None,
        "annotations": None,
        "crowdSkipped": None,
        "annotationsRejected": None,
        "annotationErrors": None,
        "imagesWithoutDetections": None,
    }
    created, finished = (datetime.fromisoformat(report[k]) for k in ("createdAt", "finishedAt"))
    assert created <= finished
    assert "leaseOwner" not in report
    listed = get_json(client, "/v1/importReports?object=imports/batch.ndjson")
    assert listed == {"importReports": [report], "nextPageToken": ""}


def test_a_media_object_report_has_no_line_counts(
    landing: Landing, ingest_client: FlaskClient, client: FlaskClient
) -> None:
    report_id = deliver(ingest_client, landing, "loose.png", tiny_png(1, 1))
    report = get_json(client, f"/v1/importReports/{report_id}")
    assert (report["kind"], report["status"]) == ("object", "failed")
    assert report["message"] == "media objects go under a dataset folder: <dataset>/<path>"
    assert [report["linesRead"], report["errors"], report["cursor"]] == [None, [], None]


def test_an_unknown_report_is_a_404(client: FlaskClient) -> None:
    error = assert_error(client.get("/v1/importReports/0123abcd"), 404, "NOT_FOUND")
    assert error["message"] == "import report '0123abcd' does not exist"
    assert_error(client.get("/v1/importReports/a:b"), 404, "NOT_FOUND")


def test_reports_are_listed_newest_first_by_object_and_kind_in_pages(
    landing: Landing, ingest_client: FlaskClient, client: FlaskClient
) -> None:
    made = [
        deliver(ingest_client, landing, "imports/a.ndjson", ndjson(line("street/a.jpg"))),
        deliver(ingest_client, landing, "loose.png", tiny_png(1, 1)),
        deliver(ingest_client, landing, "imports/b.ndjson", ndjson(line("street/b.jpg"))),
        deliver(ingest_client, landing, "imports/a.ndjson", ndjson(line("street/c.jpg"))),
        deliver(ingest_client, landing, "-bad/x.png", tiny_png(1, 1)),
    ]
    newest_first = made[::-1]

    assert all_pages(client, "", 2) == [newest_first[:2], newest_first[2:4], newest_first[4:]]
    assert all_pages(client, "", 5) == [newest_first, []]
    assert all_pages(client, "object=imports/a.ndjson", 1) == [[made[3]], [made[0]], []]
    assert all_pages(client, "kind=object", 50) == [[made[4], made[1]]]
    assert all_pages(client, "kind=manifest&object=imports/b.ndjson", 50) == [[made[2]]]
    assert all_pages(client, "object=imports/none.ndjson", 50) == [[]]


def test_a_bad_page_token_kind_or_object_is_a_400(
    landing: Landing, ingest_client: FlaskClient, client: FlaskClient
) -> None:
    for name in ("imports/a.ndjson", "imports/b.ndjson"):
        deliver(ingest_client, landing, name, ndjson(line("street/a.jpg")))
    token = get_json(client, "/v1/importReports?object=imports/a.ndjson&pageSize=1")[
        "nextPageToken"
    ]
    assert token

    error = assert_error(
        client.get(f"/v1/importReports?object=imports/b.ndjson&pageToken={token}"),
        400,
        "INVALID_ARGUMENT",
    )
    assert error["message"] == "pageToken belongs to another query: keep filter and orderBy"
    for bad in ("garbage", token[:-4], json.dumps({"q": 1})):
        response = client.get("/v1/importReports", query_string={"pageToken": bad})
        assert assert_error(response, 400, "INVALID_ARGUMENT")["message"].startswith("pageToken")
    error = assert_error(client.get("/v1/importReports?kind=csv"), 400, "INVALID_ARGUMENT")
    assert error["details"][1]["fieldViolations"][0]["field"] == "kind"
    error = assert_error(
        client.get("/v1/importReports", query_string={"object": "é" * 513}),
        400,
        "INVALID_ARGUMENT",
    )
    assert error["message"] == "object: an object name is at most 1024 bytes"
