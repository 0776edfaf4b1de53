"""Fixtures of the API tests: an empty Firestore per test, the in-process HTTP client, rows.

A test module binds the fixtures in its namespace, where pytest finds them::

    from tests.functions import conftest_api as api

    empty_firestore, api_app, client = api.empty_firestore, api.api_app, api.client
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from flask.testing import FlaskClient

from local.emulators import wipe_firestore
from shared.documents import label_fields, media_fields
from shared.ids import row_id
from shared.models import Annotation, Media
from shared.store import rows as row_store
from shared.store import slice_sets
from shared.store.client import db
from shared.store.datasets import ensure_dataset
from shared.store.scopes import CATALOG
from tests.conftest import PROJECT

SOURCE = Path(__file__).resolve().parents[2] / "functions" / "slices" / "main.py"
NOW = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def empty_firestore(firestore_host: str) -> None:
    wipe_firestore(firestore_host, PROJECT)
    slice_sets.clear_cache()
    db.cache_clear()


@pytest.fixture(scope="session")
def api_app() -> Any:
    return functions_framework.create_app(target="slices", source=str(SOURCE))


@pytest.fixture
def client(api_app: Any) -> FlaskClient:
    return api_app.test_client()  # type: ignore[no-any-return]


def row_doc(
    key: str,
    *,
    dataset: str = "ds",
    metadata: dict[str, Any] | None = None,
    labels: Iterable[str] = (),
    width: int | None = None,
    created: datetime = NOW,
) -> dict[str, Any]:
    """A data row document as ingest writes it (membership fields are set by the store)."""
    return {
        "globalKey": key,
        "rowData": key,
        "dataset": dataset,
        "mediaType": "image",
        **media_fields(Media(mime_type="image/png", size_bytes=100, width=width, height=None)),
        "metadata": dict(metadata or {}),
        **label_fields(Annotation(name=name) for name in labels),
        "createdAt": created,
        "updatedAt": created,
        "generation": 1,
    }


def put_rows(docs: Iterable[dict[str, Any]]) -> list[str]:
    """Write rows through the store (membership evaluated as ingest would); their ids."""
    by_id = {row_id(doc["globalKey"]): doc for doc in docs}
    ids = list(by_id)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        row_store.mutate_rows(CATALOG, chunk, lambda rid, _current: dict(by_id[rid]))
    for dataset in {doc["dataset"] for doc in by_id.values()}:
        ensure_dataset(dataset, now=NOW)
    return ids


def declare(client: FlaskClient, **fields: dict[str, Any]) -> None:
    """Declare metadata fields through the API."""
    response = client.patch("/v1/metadataSchema", json={"fields": fields})
    assert response.status_code == 200, response.get_json()


def assert_error(response: Any, code: int, status: str) -> dict[str, Any]:
    """The response is an AIP-193 error with this code and status; its ``error`` object."""
    assert response.status_code == code, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "status", "message", "details"}
    assert error["code"] == code
    assert error["status"] == status
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    return error
