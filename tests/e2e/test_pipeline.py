"""Through the real chain: storage emulator -> notification -> bridge -> ingest -> Firestore -> API.

Objects are written with the google-cloud-storage client and rows read over HTTP from the API,
as a user of the local stack would. Every wait polls with a timeout.
"""

from __future__ import annotations

import json
import struct
import time
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from google.cloud import storage

from local.bridge import replay
from local.stack import NOTIFICATIONS_TOPIC, PROJECT
from shared.ids import row_id
from tests.e2e.conftest import RunningStack

WAIT_SECONDS = 60.0
T = TypeVar("T")


def tiny_png(width: int, height: int) -> bytes:
    """A valid grayscale PNG, so ingest sees a real image header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\x80" * width for _ in range(height)))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = WAIT_SECONDS) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def get_row(stack: RunningStack, name: str) -> tuple[int, dict[str, Any] | None]:
    """GET /v1/dataRows/{id} for the object's row: (status, body or None)."""
    rid = row_id(f"gs://{stack.bucket}/{name}")
    try:
        with urllib.request.urlopen(f"{stack.api}/v1/dataRows/{rid}", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None
    except OSError:
        return 0, None  # the API is not answering (yet)


def row_present(
    stack: RunningStack, name: str, generation: int | None = None
) -> Callable[[], dict[str, Any] | None]:
    def probe() -> dict[str, Any] | None:
        status, body = get_row(stack, name)
        if status != 200 or body is None:
            return None
        if generation is not None and str(body.get("generation")) != str(generation):
            return None
        return body

    return probe


def row_gone(stack: RunningStack, name: str) -> Callable[[], bool | None]:
    return lambda: True if get_row(stack, name)[0] == 404 else None


def delivered(
    stack: RunningStack, name: str, kind: str, generation: int, event_id: str | None = None
) -> Callable[[], dict[str, Any] | None]:
    """The journal entry of the bridge's delivery of that event, once it is delivered."""

    def probe() -> dict[str, Any] | None:
        for entry in stack.journal.entries():
            event = entry["event"]
            if (
                entry["outcome"] == "delivered"
                and event["attributes"]["type"] == f"google.cloud.storage.object.v1.{kind}"
                and event["attributes"]["subject"] == f"objects/{name}"
                and event["data"]["generation"] == str(generation)
                and (event_id is None or event["attributes"]["id"] == event_id)
            ):
                return entry
        return None

    return probe


@pytest.fixture
def dataset(stack: RunningStack) -> str:
    """A dataset of the test's own (the stack's Firestore is shared by the whole session); and
    every test here goes through the ingest function and the API."""
    stack.require("ingest", "slices")
    return f"e2e-{uuid.uuid4().hex[:12]}"


def upload(bucket: storage.Bucket, name: str, data: bytes, content_type: str) -> int:
    blob = bucket.blob(name)
    blob.metadata = {"source": "e2e"}
    blob.upload_from_string(data, content_type=content_type)
    return int(blob.generation)


def test_an_uploaded_object_becomes_a_data_row(
    stack: RunningStack, bucket: storage.Bucket, dataset: str
) -> None:
    name = f"{dataset}/images/cat.png"
    generation = upload(bucket, name, tiny_png(3, 2), "image/png")
    row = wait_for(f"the data row of {name}", row_present(stack, name))
    assert row["id"] == row_id(f"gs://{stack.bucket}/{name}")
    assert row["globalKey"] == f"gs://{stack.bucket}/{name}"
    assert row["dataset"] == dataset
    assert str(row["generation"]) == str(generation)


def test_a_deleted_object_disappears(
    stack: RunningStack, bucket: storage.Bucket, dataset: str
) -> None:
    name = f"{dataset}/docs/note.txt"
    upload(bucket, name, b"short-lived", "text/plain")
    wait_for(f"the data row of {name}", row_present(stack, name))
    bucket.blob(name).delete()
    wait_for(f"the data row of {name} to be deleted", row_gone(stack, name))


def test_an_overwrite_keeps_the_row_at_the_new_generation(
    stack: RunningStack, bucket: storage.Bucket, dataset: str
) -> None:
    # An overwrite emits `deleted` for the old generation as well as `finalized` for the new
    # one, in either order: the row must stay, at the new generation.
    name = f"{dataset}/images/dog.png"
    first = upload(bucket, name, tiny_png(2, 2), "image/png")
    wait_for(f"the data row of {name}", row_present(stack, name, first))
    second = upload(bucket, name, tiny_png(4, 4), "image/png")
    wait_for("the old generation's deleted event", delivered(stack, name, "deleted", first))
    wait_for("the new generation's finalized event", delivered(stack, name, "finalized", second))
    status, row = get_row(stack, name)
    assert status == 200
    assert row is not None
    assert str(row["generation"]) == str(second)


@pytest.fixture
def pubsub_env(stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", stack.env["PUBSUB_EMULATOR_HOST"])


def test_an_event_delivered_twice_changes_nothing(
    stack: RunningStack, bucket: storage.Bucket, dataset: str, pubsub_env: None
) -> None:
    name = f"{dataset}/images/bird.png"
    generation = upload(bucket, name, tiny_png(5, 5), "image/png")
    wait_for(f"the data row of {name}", row_present(stack, name, generation))
    first = wait_for("the finalized event", delivered(stack, name, "finalized", generation))
    status, before = get_row(stack, name)
    assert status == 200

    # The same event (same id) once more, as Eventarc redelivers it.
    again = replay(stack.journal, stack.urls["ingest"] + "/", first["event"]["attributes"]["id"])
    assert again.outcome == "delivered"
    assert get_row(stack, name) == (200, before)

    # The same notification published again: the bridge delivers it as a new event.
    from google.cloud import pubsub_v1  # noqa: PLC0415 (needs PUBSUB_EMULATOR_HOST set first)

    data = first["event"]["data"]
    publisher = pubsub_v1.PublisherClient()
    try:
        message_id = publisher.publish(
            publisher.topic_path(PROJECT, NOTIFICATIONS_TOPIC),
            json.dumps(data).encode(),
            eventType="OBJECT_FINALIZE", payloadFormat="JSON_API_V1", bucketId=stack.bucket,
            objectId=name, objectGeneration=data["generation"],
        ).result(timeout=30)  # fmt: skip
    finally:
        publisher.transport.close()
    wait_for(
        "the republished notification's delivery",
        delivered(stack, name, "finalized", generation, event_id=message_id),
    )
    assert get_row(stack, name) == (200, before)
