"""Writes that lose to concurrent ones answer 409 ABORTED, and succeed when tried again.

The Firestore emulator locks a document that an open transaction has read: a write to it waits
for the lock and is aborted at the lock timeout (2 s), at every attempt. So holding that lock
while the API writes makes it give up deterministically, through the real client's retries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask.testing import FlaskClient
from google.cloud import firestore

from shared.store.client import db
from shared.store.schema import schema_ref
from shared.store.scopes import CATALOG, rows_collection
from tests.functions import conftest_api as api
from tests.functions.conftest_api import assert_error, declare, put_rows, row_doc

empty_firestore, api_app, client = api.empty_firestore, api.api_app, api.client

T = TypeVar("T")
TRY_AGAIN = "concurrent changes to the same data won every attempt; try again"


def while_locked(ref: firestore.DocumentReference, action: Callable[[], T]) -> T:
    """Run ``action`` while another transaction holds a lock on ``ref``."""

    @firestore.transactional  # type: ignore[untyped-decorator]
    def hold(transaction: firestore.Transaction) -> T:
        ref.get(transaction=transaction)
        return action()

    result: T = hold(db().transaction(max_attempts=1))
    return result


def test_a_transaction_that_keeps_being_aborted_is_409_then_the_retry_succeeds(
    client: FlaskClient,
) -> None:
    declare(client, split={"kind": "string"})  # the schema document exists
    patch = {"fields": {"weather": {"kind": "string"}}}

    response: Any = while_locked(
        schema_ref(), lambda: client.patch("/v1/metadataSchema", json=patch)
    )

    error = assert_error(response, 409, "ABORTED")
    assert error["message"] == TRY_AGAIN
    assert error["details"][0]["reason"] == "ABORTED"
    assert set(client.get("/v1/metadataSchema").get_json()["fields"]) == {"split"}
    retried = client.patch("/v1/metadataSchema", json=patch)
    assert retried.status_code == 200, retried.get_json()
    assert set(retried.get_json()["fields"]) == {"split", "weather"}


def test_a_row_that_keeps_changing_under_a_patch_is_409_then_the_retry_succeeds(
    client: FlaskClient,
) -> None:
    declare(client, split={"kind": "string"})
    (rid,) = put_rows([row_doc("gs://b/ds/busy.png", metadata={"split": "train"})])
    body = {"metadata": {"split": "valid"}}

    response: Any = while_locked(
        rows_collection(CATALOG).document(rid),
        lambda: client.patch(f"/v1/dataRows/{rid}", json=body),
    )

    error = assert_error(response, 409, "ABORTED")
    assert "kept changing" in error["message"]
    assert client.get(f"/v1/dataRows/{rid}").get_json()["metadata"] == {"split": "train"}
    retried = client.patch(f"/v1/dataRows/{rid}", json=body)
    assert retried.status_code == 200, retried.get_json()
    assert retried.get_json()["metadata"] == {"split": "valid"}
