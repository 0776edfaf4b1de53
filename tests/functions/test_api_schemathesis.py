"""Fuzz the API against its own served OpenAPI document with schemathesis.

Every operation gets a bounded number of generated requests (valid and invalid ones) on a
small seeded catalog. Checked on every response: no 5xx; the status code, content type,
headers and body are what the document declares; every error is an AIP-193 body.
"""

from __future__ import annotations

import itertools
from typing import Any

import functions_framework
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shared.config import settings as app_settings
from shared.ingest.reports import Progress, error_entry
from shared.store import imports
from tests.functions import conftest_api as api
from tests.functions.conftest_api import put_rows, row_doc

empty_firestore = api.empty_firestore

TOKEN = "fuzz-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXAMPLES_PER_OPERATION = 15


# Loaded from the served document at collection time (no database is needed to serve it).
# schemathesis' lazy fixture loader does not work with this pytest (it reads a private
# attribute that pytest 9 removed), so the app is made here rather than by a fixture.
APP = functions_framework.create_app(target="slices", source=str(api.SOURCE))
schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", APP)

# Ids of the seeded resources: every other generated request names them instead of its random
# ids, so that operations on existing slices and rows are fuzzed too, not only their 404s.
KNOWN_IDS: dict[str, str] = {}
_calls = itertools.count()


@pytest.fixture(autouse=True)
def seeded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A small catalog, one slice and one import report; every request then needs the bearer
    token."""
    monkeypatch.setenv("API_TOKEN", TOKEN)
    app_settings.cache_clear()
    seeded = APP.test_client()
    declare_ok = seeded.patch(
        "/v1/metadataSchema",
        json={"fields": {"split": {"kind": "enum", "values": ["train", "valid"]}}},
        headers=AUTH,
    )
    assert declare_ok.status_code == 200
    ids = put_rows(
        row_doc(f"gs://b/ds/{i}.png", metadata={"split": "train" if i % 2 else "valid"}, width=i)
        for i in range(8)
    )
    created = seeded.post(
        "/v1/slices", json={"name": "seeded", "filter": 'metadata.split = "train"'}, headers=AUTH
    )
    assert created.status_code == 200
    report = imports.new_report(
        "landing", "imports/seeded.ndjson", 1, kind="manifest", status=imports.DONE, now=api.NOW
    )
    imports.open_report({**report, **Progress().fields(), "errors": [error_entry(3, "bad line")]})
    KNOWN_IDS.update(
        sliceId=created.get_json()["id"],
        dataRowId=ids[0],
        datasetId="ds",
        importReportId=report["id"],
    )


def aip193_errors(ctx: Any, response: Any, case: Any) -> None:
    """Every 4xx/5xx is {"error": {"code", "status", "message", "details"}} with its code."""
    if response.status_code < 400:
        return
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "status", "message", "details"}, error
    assert error["code"] == response.status_code
    assert error["status"].isupper()
    assert error["message"]
    assert error["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case) -> None:
    if case.path_parameters and next(_calls) % 2:
        case.path_parameters = {
            name: KNOWN_IDS.get(name, value) for name, value in case.path_parameters.items()
        }
    case.call_and_validate(
        headers=AUTH,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_headers_conformance,
            response_schema_conformance,
            ignored_auth,
            aip193_errors,
        ],
    )
