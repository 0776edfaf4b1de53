"""Actions through the HTTP API: attach, list, read, run now, runs, delete, and the 400s of
malformed configs (AIP-193, with the bad field named)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from shared.actions import runner
from shared.config import settings
from tests.functions import conftest_api as api
from tests.functions.conftest_api import assert_error, declare, put_rows, row_doc

empty_firestore, api_app, client = api.empty_firestore, api.api_app, api.client


@pytest.fixture(autouse=True)
def webhook_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_ALLOWED_HOSTS", "hooks.example.com,other.example.org")
    monkeypatch.setenv("ACTIONS_SETTLE_SECONDS", "0")
    settings.cache_clear()


@pytest.fixture
def slice_id(client: FlaskClient) -> str:
    declare(client, split={"kind": "enum", "values": ["train", "valid"]})
    response = client.post(
        "/v1/slices", json={"name": "train", "filter": 'metadata.split = "train"'}
    )
    assert response.status_code == 200, response.get_json()
    return str(response.get_json()["id"])


def attach(client: FlaskClient, slice_id: str, **body: Any) -> dict[str, Any]:
    response = client.post(f"/v1/slices/{slice_id}/actions", json=body)
    assert response.status_code == 200, response.get_json()
    created: dict[str, Any] = response.get_json()
    return created


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_attach_and_read_an_action(client: FlaskClient, slice_id: str) -> None:
    before = datetime.now(UTC)
    created = attach(client, slice_id, type="export", config={}, schedule="*/5 * * * *")
    assert created["sliceId"] == slice_id
    assert created["type"] == "export"
    assert created["config"] == {"format": "ndjson"}
    assert created["schedule"] == "*/5 * * * *"
    assert created["timeZone"] == "UTC"
    assert created["status"] == "active"
    assert created["failures"] == 0
    watermark = parse_time(created["watermark"])
    assert watermark >= before  # only rows entering from now on count
    next_run = parse_time(created["nextRunAt"])
    assert watermark < next_run <= watermark + timedelta(minutes=5)
    assert next_run.minute % 5 == 0
    fetched = client.get(f"/v1/actions/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.get_json() == created


def test_list_a_slices_actions_page_by_page(client: FlaskClient, slice_id: str) -> None:
    ids = {attach(client, slice_id, type="tag", config={"tags": [f"t{i}"]})["id"] for i in range(3)}
    seen: list[str] = []
    token = ""
    for _ in range(5):
        page = client.get(f"/v1/slices/{slice_id}/actions?pageSize=2&pageToken={token}")
        assert page.status_code == 200, page.get_json()
        body = page.get_json()
        assert len(body["actions"]) <= 2
        seen += [a["id"] for a in body["actions"]]
        token = body["nextPageToken"]
        if not token:
            break
    assert sorted(seen) == sorted(ids)
    other = client.post("/v1/slices", json={"name": "other", "filter": 'metadata.split = "valid"'})
    empty = client.get(f"/v1/slices/{other.get_json()['id']}/actions")
    assert empty.get_json() == {"actions": [], "nextPageToken": ""}


def test_run_now_then_the_run_is_listed(client: FlaskClient, slice_id: str) -> None:
    action = attach(client, slice_id, type="tag", config={"tags": ["fresh"]})
    (row,) = put_rows([row_doc("gs://b/ds/new.png", metadata={"split": "train"})])
    assert client.get(f"/v1/actions/{action['id']}/runs").get_json() == {
        "runs": [],
        "nextPageToken": "",
    }

    ran = client.post(f"/v1/actions/{action['id']}:run")
    assert ran.status_code == 200, ran.get_json()
    assert parse_time(ran.get_json()["nextRunAt"]) <= datetime.now(UTC)
    (report,) = runner.run_due(deadline=time.monotonic() + 30)  # the next scheduler tick
    assert report.outcome == "succeeded"

    runs = client.get(f"/v1/actions/{action['id']}/runs").get_json()["runs"]
    assert len(runs) == 1
    (run,) = runs
    assert run["id"] == report.run_id
    assert (run["status"], run["rows"], run["attempts"]) == ("succeeded", 1, 1)
    assert run["actionId"] == action["id"]
    assert run["output"] == "1 rows tagged, 0 already had the tags"
    assert client.get(f"/v1/dataRows/{row}").get_json()["metadata"]["tags"] == ["fresh"]
    after = client.get(f"/v1/actions/{action['id']}").get_json()
    assert after["lastRunId"] == report.run_id
    assert parse_time(after["nextRunAt"]) > datetime.now(UTC)


def test_delete_an_action(client: FlaskClient, slice_id: str) -> None:
    action = attach(client, slice_id, type="publish")
    deleted = client.delete(f"/v1/actions/{action['id']}")
    assert deleted.status_code == 200
    assert deleted.get_json() == {}
    assert_error(client.get(f"/v1/actions/{action['id']}"), 404, "NOT_FOUND")
    assert_error(client.delete(f"/v1/actions/{action['id']}"), 404, "NOT_FOUND")
    assert_error(client.post(f"/v1/actions/{action['id']}:run"), 404, "NOT_FOUND")
    assert_error(client.get(f"/v1/actions/{action['id']}/runs"), 404, "NOT_FOUND")


def test_unknown_slice_or_action_is_404(client: FlaskClient) -> None:
    assert_error(client.post("/v1/slices/nope/actions", json={"type": "export"}), 404, "NOT_FOUND")
    assert_error(client.get("/v1/slices/nope/actions"), 404, "NOT_FOUND")
    assert_error(client.get("/v1/actions/nope"), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "email"}, "type"),
        ({}, "type"),
        ({"type": "export", "config": "ndjson"}, "config"),
        ({"type": "export", "config": {"format": "csv"}}, "config.format"),
        ({"type": "export", "config": {"bucket": "elsewhere"}}, "config.bucket"),
        ({"type": "publish", "config": {"topic": "projects/x/topics/y"}}, "config.topic"),
        ({"type": "webhook"}, "config.url"),
        ({"type": "webhook", "config": {"url": "http://hooks.example.com/x"}}, "config.url"),
        ({"type": "webhook", "config": {"url": "https://evil.example.net/x"}}, "config.url"),
        ({"type": "webhook", "config": {"url": "https://169.254.169.254/x"}}, "config.url"),
        ({"type": "webhook", "config": {"url": "https://[::1]/x"}}, "config.url"),
        ({"type": "webhook", "config": {"url": "https://u:p@hooks.example.com/"}}, "config.url"),
        ({"type": "tag", "config": {"tags": []}}, "config.tags"),
        ({"type": "tag", "config": {"tags": "review"}}, "config.tags"),
        ({"type": "tag", "config": {"tags": ["x"], "field": "split"}}, "config.field"),
        ({"type": "export", "schedule": "every 5 minutes"}, "schedule"),
        ({"type": "export", "schedule": "0 0 31 2 *"}, "schedule"),
        ({"type": "export", "schedule": "* * * * * *"}, "schedule"),
        ({"type": "export", "timeZone": "Mars/Olympus"}, "timeZone"),
        ({"type": "export", "watermark": "2020-01-01T00:00:00Z"}, "watermark"),
    ],
)
def test_malformed_actions_are_400_naming_the_field(
    client: FlaskClient, slice_id: str, body: dict[str, Any], field: str
) -> None:
    error = assert_error(
        client.post(f"/v1/slices/{slice_id}/actions", json=body), 400, "INVALID_ARGUMENT"
    )
    violations = [d for d in error["details"] if d["@type"].endswith("BadRequest")]
    assert violations, error
    assert violations[0]["fieldViolations"][0]["field"] == field
    assert client.get(f"/v1/slices/{slice_id}/actions").get_json()["actions"] == []


def test_a_body_that_is_not_json_is_refused(client: FlaskClient, slice_id: str) -> None:
    assert_error(
        client.post(f"/v1/slices/{slice_id}/actions", data="type=export"),
        415,
        "INVALID_ARGUMENT",
    )


def test_the_openapi_document_describes_the_actions(client: FlaskClient) -> None:
    paths = client.get("/v1/openapi.json").get_json()["paths"]
    assert set(paths["/v1/slices/{sliceId}/actions"]) == {"get", "post"}
    assert set(paths["/v1/actions/{actionId}"]) == {"get", "delete"}
    assert set(paths["/v1/actions/{actionId}/runs"]) == {"get"}
    assert set(paths["/v1/actions/{actionId}:run"]) == {"post"}
