"""Forged page tokens on every list endpoint: a token is only a cursor, but a client can edit
it, so whatever it says must be a 400, never a 500.

Each list gets two items and is read with ``pageSize=1``; the real token of its second page is
decoded, edited (the last id, the sort values) and sent back, so the edit reaches the query.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from shared.actions import runner
from shared.config import settings
from shared.int64 import INT64_MAX
from shared.store import imports
from tests.functions import conftest_api as api
from tests.functions.conftest_api import assert_error, put_rows, row_doc

empty_firestore, api_app, client = api.empty_firestore, api.api_app, api.client


def two_rows(dataset: str = "ds") -> list[str]:
    return put_rows(row_doc(f"gs://b/{dataset}/{i}.png", dataset=dataset, width=i) for i in (1, 2))


def post(client: FlaskClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(url, json=body)
    assert response.status_code == 200, response.get_json()
    created: dict[str, Any] = response.get_json()
    return created


def all_rows_slice(client: FlaskClient, name: str = "everything") -> str:
    return str(post(client, "/v1/slices", {"name": name, "filter": ""})["id"])


def datasets(client: FlaskClient) -> str:
    two_rows("ds1")
    two_rows("ds2")
    return "/v1/datasets"


def dataset_rows(client: FlaskClient) -> str:
    two_rows()
    return "/v1/datasets/ds/dataRows?orderBy=media.width"


def data_rows(client: FlaskClient) -> str:
    two_rows()
    return "/v1/dataRows?orderBy=media.width%20desc"


def data_rows_by_id(client: FlaskClient) -> str:
    two_rows()
    return "/v1/dataRows"


def slices(client: FlaskClient) -> str:
    all_rows_slice(client, "first")
    all_rows_slice(client, "second")
    return "/v1/slices"


def slice_rows(client: FlaskClient) -> str:
    two_rows()
    return f"/v1/slices/{all_rows_slice(client)}/dataRows?orderBy=media.width"


def actions(client: FlaskClient) -> str:
    slice_id = all_rows_slice(client)
    for tag in ("a", "b"):
        post(client, f"/v1/slices/{slice_id}/actions", {"type": "tag", "config": {"tags": [tag]}})
    return f"/v1/slices/{slice_id}/actions"


def action_runs(client: FlaskClient) -> str:
    slice_id = all_rows_slice(client)
    action = post(
        client, f"/v1/slices/{slice_id}/actions", {"type": "tag", "config": {"tags": ["a"]}}
    )
    for dataset in ("ds1", "ds2"):
        two_rows(dataset)
        post(client, f"/v1/actions/{action['id']}:run", {})
        assert runner.run_due(deadline=time.monotonic() + 30)
    return f"/v1/actions/{action['id']}/runs"


def model_runs(client: FlaskClient) -> str:
    for name in ("first", "second"):
        post(client, "/v1/modelRuns", {"name": name, "model": "m"})
    return "/v1/modelRuns"


def model_run_rows(client: FlaskClient) -> str:
    two_rows()
    run = post(client, "/v1/modelRuns", {"name": "run", "model": "m"})
    lines = [{"globalKey": f"gs://b/ds/{i}.png", "predictions": []} for i in (1, 2)]
    post(client, f"/v1/modelRuns/{run['id']}/predictions", {"lines": lines})
    return f"/v1/modelRuns/{run['id']}/rows?orderBy=media.width"


def import_reports(client: FlaskClient) -> str:
    for generation in (1, 2):
        now = datetime(2026, 5, 1, 10, generation, tzinfo=UTC)
        imports.open_report(
            imports.new_report("b", "imports/x.ndjson", generation, kind="manifest",
                               status=imports.DONE, now=now)
        )  # fmt: skip
    return "/v1/importReports"


LISTS: list[Callable[[FlaskClient], str]] = [
    datasets, dataset_rows, data_rows, data_rows_by_id, slices, slice_rows, actions,
    action_runs, model_runs, model_run_rows, import_reports,
]  # fmt: skip

# Edits of the decoded token that no page could have made: an id that is no resource id (it
# becomes a document reference), integers beyond 64 bits, times without an offset or outside
# Firestore's range (years 1 to 9999 in UTC).
FORGED: list[tuple[str, Any]] = [
    ("id", "a/b"),
    ("id", ""),
    ("id", ".."),
    ("id", "x" * 129),
    ("v", [INT64_MAX + 1]),
    ("v", [-INT64_MAX - 2]),
    ("v", [10**400]),
    ("v", [{"$dt": "9999-12-31T23:59:59-05:00"}]),
    ("v", [{"$dt": "0001-01-01T00:00:00+05:00"}]),
    ("v", [{"$dt": "2026-05-01T10:00:00"}]),
]


def encode(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    return payload


@pytest.fixture(autouse=True)
def actions_settle_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTIONS_SETTLE_SECONDS", "0")
    settings.cache_clear()


@pytest.mark.parametrize("make_list", LISTS, ids=lambda make: make.__name__)
def test_a_forged_page_token_is_a_400_on_every_list(
    client: FlaskClient, make_list: Callable[[FlaskClient], str]
) -> None:
    url = make_list(client)
    joiner = "&" if "?" in url else "?"
    first = client.get(f"{url}{joiner}pageSize=1")
    assert first.status_code == 200, first.get_json()
    token = first.get_json()["nextPageToken"]
    assert token, "the list needs a second page"
    second = client.get(f"{url}{joiner}pageSize=1&pageToken={token}")
    assert second.status_code == 200, second.get_json()  # the real token works

    for key, value in FORGED:
        forged = encode({**decode(token), key: value})
        response = client.get(f"{url}{joiner}pageSize=1&pageToken={forged}")
        error = assert_error(response, 400, "INVALID_ARGUMENT")
        assert error["message"] == "pageToken is not valid", (key, value)
