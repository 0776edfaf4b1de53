"""The local Eventarc bridge: notification -> CloudEvent translation, and delivery retries.

The event must be what Eventarc delivers in production, so its data is checked with Google's
own parser of the payload (google-events' StorageObjectData) and the HTTP form with the
CloudEvents SDK that functions-framework uses to read it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import pytest
from cloudevents.http import from_http
from google.events.cloud.storage import StorageObjectData
from hypothesis import given, settings
from hypothesis import strategies as st

from local.bridge import (
    EVENT_TYPES,
    BadNotification,
    RetryPolicy,
    StorageEvent,
    deliver,
    object_etag,
    rfc3339,
    to_storage_event,
)

# Recorded from fake-gcs-server 1.54 (the one the wrapper on PyPI bundles): an upload with
# custom metadata, then a delete of that object.
FINALIZE_ATTRIBUTES = {
    "objectId": "ds1/a.txt",
    "eventTime": "2026-12-03T18:38:49Z",
    "objectGeneration": "1796323129801761",
    "payloadFormat": "JSON_API_V1",
    "bucketId": "land",
    "eventType": "OBJECT_FINALIZE",
}
FINALIZE_PAYLOAD = {
    "kind": "storage#object",
    "id": "land/ds1/a.txt#1796323129801761",
    "name": "ds1/a.txt",
    "bucket": "land",
    "generation": "1796323129801761",
    "contentType": "text/plain",
    "timeCreated": "2026-12-03T18:38:49.801746Z",
    "updated": "2026-12-03T18:38:49.801751Z",
    "storageClass": "STANDARD",
    "size": "5",
    "md5Hash": "XUFAKrxLKna5cZ2REBfFkg==",
    "crc32c": "mnG7TA==",
    "metadata": {"k": "v"},
}
DELETE_ATTRIBUTES = {**FINALIZE_ATTRIBUTES, "eventType": "OBJECT_DELETE"}
DELETE_PAYLOAD = {
    key: FINALIZE_PAYLOAD[key]
    for key in ("kind", "id", "name", "bucket", "generation", "contentType", "timeCreated")
} | {"updated": "2026-12-03T18:38:49.801751Z", "storageClass": "STANDARD", "size": "0"}
TIMESTAMPS = ("timeCreated", "updated", "timeStorageClassUpdated", "timeDeleted")


def translate(
    attributes: dict[str, str], payload: dict[str, Any], message_id: str = "7"
) -> StorageEvent:
    return to_storage_event(message_id, attributes, json.dumps(payload).encode())


def parsed_by_google_events(data: dict[str, Any]) -> dict[str, Any]:
    """Parse strictly (an unknown field fails) and print back in canonical proto JSON."""
    message = StorageObjectData.from_json(json.dumps(data), ignore_unknown_fields=False)
    printed: dict[str, Any] = json.loads(
        StorageObjectData.to_json(message, always_print_fields_with_no_presence=False)
    )
    return printed


def assert_same_object(data: dict[str, Any], canonical: dict[str, Any]) -> None:
    """Equal field by field; timestamps as instants (proto JSON drops a zero fraction), and a
    field proto JSON leaves out only when it holds its default (``"size": "0"``)."""
    assert set(canonical) <= set(data)
    for key, value in data.items():
        if key not in canonical:
            assert value in ("0", "", False, {}), key
            continue
        if key in TIMESTAMPS:
            assert datetime.fromisoformat(value) == datetime.fromisoformat(canonical[key])
        else:
            assert value == canonical[key], key


def test_finalize_becomes_eventarcs_cloud_event() -> None:
    event = translate(FINALIZE_ATTRIBUTES, FINALIZE_PAYLOAD)
    assert event.attributes == {
        "specversion": "1.0",
        "id": "7",
        "source": "//storage.googleapis.com/projects/_/buckets/land",
        "type": "google.cloud.storage.object.v1.finalized",
        "subject": "objects/ds1/a.txt",
        "time": "2026-12-03T18:38:49.000Z",
        "datacontenttype": "application/json",
        "bucket": "land",
    }


def test_finalize_data_is_the_json_api_object_google_events_reads() -> None:
    data = translate(FINALIZE_ATTRIBUTES, FINALIZE_PAYLOAD).data
    assert_same_object(data, parsed_by_google_events(data))
    for key in ("generation", "metageneration", "size"):
        assert isinstance(data[key], str), key
    assert data["generation"] == "1796323129801761"
    assert data["metageneration"] == "1"
    assert data["size"] == "5"
    assert data["id"] == "land/ds1/a.txt/1796323129801761"  # production's form, not fake-gcs's
    assert data["metadata"] == {"k": "v"}
    assert data["timeCreated"] == "2026-12-03T18:38:49.801Z"
    assert data["md5Hash"] == FINALIZE_PAYLOAD["md5Hash"]


def test_delete_becomes_deleted_for_that_generation() -> None:
    event = translate(DELETE_ATTRIBUTES, DELETE_PAYLOAD)
    assert event.type == "google.cloud.storage.object.v1.deleted"
    assert event.data["generation"] == "1796323129801761"
    assert_same_object(event.data, parsed_by_google_events(event.data))


def test_binary_mode_reads_back_with_the_cloudevents_sdk() -> None:
    event = translate(FINALIZE_ATTRIBUTES, FINALIZE_PAYLOAD)
    headers, body = event.to_http()
    assert headers["Content-Type"] == "application/json"
    assert "ce-datacontenttype" not in headers
    parsed = from_http(headers, body)
    for name, value in event.attributes.items():
        assert parsed[name] == value, name
    assert parsed.data == event.data


def test_header_values_are_percent_encoded_as_the_http_binding_says() -> None:
    event = translate({**FINALIZE_ATTRIBUTES, "objectId": 'ds1/a "b" 100%ü.txt'}, FINALIZE_PAYLOAD)
    headers, _ = event.to_http()
    assert headers["ce-subject"] == "objects/ds1/a%20%22b%22%20100%25%C3%BC.txt"
    assert event.data["name"] == 'ds1/a "b" 100%ü.txt'


def test_integer_generation_from_an_older_emulator_becomes_a_string() -> None:
    payload = {**FINALIZE_PAYLOAD, "generation": 1796323129801761}
    assert translate(FINALIZE_ATTRIBUTES, payload).data["generation"] == "1796323129801761"


def test_etag_matches_cloud_storages_encoding() -> None:
    # A finalized event as Cloud Storage sent it (generation 1743752582769318, metageneration 1).
    assert object_etag(1743752582769318, 1) == "CKbVlsrwvYwDEAE="
    assert object_etag(1, 1) == "CAEQAQ=="


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-12-03T18:38:49Z", "2026-12-03T18:38:49.000Z"),
        ("2026-12-03T18:38:49.801746123Z", "2026-12-03T18:38:49.801Z"),
        ("2026-12-03T20:38:49.5+02:00", "2026-12-03T18:38:49.500Z"),
    ],
)
def test_timestamps_are_utc_with_milliseconds(raw: str, expected: str) -> None:
    assert rfc3339(raw) == expected


@pytest.mark.parametrize(
    "attributes",
    [
        {**FINALIZE_ATTRIBUTES, "eventType": "OBJECT_SHRUNK"},
        {**FINALIZE_ATTRIBUTES, "payloadFormat": "NONE"},
        {k: v for k, v in FINALIZE_ATTRIBUTES.items() if k != "bucketId"},
    ],
)
def test_a_message_that_is_no_storage_notification_is_refused(attributes: dict[str, str]) -> None:
    with pytest.raises(BadNotification):
        translate(attributes, FINALIZE_PAYLOAD)


def test_a_payload_that_is_not_json_is_refused() -> None:
    with pytest.raises(BadNotification):
        to_storage_event("1", FINALIZE_ATTRIBUTES, b"<xml/>")


names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60).filter(
    lambda name: not name.startswith(".")
)
metadata = st.dictionaries(
    st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=8),
    st.text(max_size=20),
    max_size=4,
)


@settings(max_examples=60, deadline=None)
@given(
    name=names,
    generation=st.integers(1, 2**63 - 1),
    size=st.integers(0, 5 * 2**40),
    kind=st.sampled_from(sorted(EVENT_TYPES)),
    user_metadata=metadata,
)
def test_every_translated_event_parses_and_keeps_int64_as_strings(
    name: str, generation: int, size: int, kind: str, user_metadata: dict[str, str]
) -> None:
    attributes = {
        **FINALIZE_ATTRIBUTES, "objectId": name, "objectGeneration": str(generation),
        "eventType": kind,
    }  # fmt: skip
    payload = {
        **FINALIZE_PAYLOAD, "name": name, "generation": str(generation), "size": str(size),
        "metadata": user_metadata,
    }  # fmt: skip
    event = translate(attributes, payload)
    assert event.subject == f"objects/{name}"
    headers, _ = event.to_http()
    assert all(value.isascii() and value.isprintable() for value in headers.values())
    assert unquote(headers["ce-subject"]) == event.subject
    assert event.type == EVENT_TYPES[kind]
    canonical = parsed_by_google_events(event.data)
    assert_same_object(event.data, canonical)
    assert canonical["generation"] == str(generation)
    assert canonical.get("size", "0") == str(size)
    assert canonical["name"] == name


class FakeEndpoint:
    """Answers each POST with the next status (an exception is raised instead)."""

    def __init__(self, answers: list[int | OSError]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, dict[str, str], bytes]] = []

    def __call__(self, url: str, headers: dict[str, str], body: bytes, timeout: float) -> int:
        self.calls.append((url, headers, body))
        answer = self.answers[min(len(self.calls), len(self.answers)) - 1]
        if isinstance(answer, OSError):
            raise answer
        return answer


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


EVENT = to_storage_event("9", FINALIZE_ATTRIBUTES, json.dumps(FINALIZE_PAYLOAD).encode())
POLICY = RetryPolicy(first_delay=0.25, factor=2.0, max_delay=1.0, give_up_after=5.0)


def run_delivery(answers: list[int | OSError]) -> tuple[Any, FakeEndpoint, FakeTime]:
    endpoint, fake_time = FakeEndpoint(answers), FakeTime()
    delivery = deliver(
        EVENT, "http://ingest/", POLICY, send=endpoint, sleep=fake_time.sleep,
        clock=fake_time.clock,
    )  # fmt: skip
    return delivery, endpoint, fake_time


def test_5xx_and_refused_connections_are_retried_with_backoff() -> None:
    delivery, endpoint, fake_time = run_delivery([ConnectionRefusedError(), 503, 500, 204])
    assert (delivery.outcome, delivery.status, delivery.attempts) == ("delivered", 204, 4)
    assert fake_time.sleeps == [0.25, 0.5, 1.0]
    # Every attempt carries the same event.
    assert len({body for _, _, body in endpoint.calls}) == 1
    assert endpoint.calls[0][1]["ce-id"] == "9"


def test_429_is_retried_but_other_4xx_are_rejected_at_once() -> None:
    assert run_delivery([429, 200])[0].outcome == "delivered"
    delivery, endpoint, fake_time = run_delivery([400])
    assert (delivery.outcome, delivery.status, len(endpoint.calls)) == ("rejected", 400, 1)
    assert fake_time.sleeps == []


def test_after_give_up_the_message_goes_back_to_pubsub() -> None:
    delivery, _, fake_time = run_delivery([502])
    assert delivery.outcome == "requeued"
    assert max(fake_time.sleeps) == POLICY.max_delay
    assert sum(fake_time.sleeps) <= POLICY.give_up_after


def test_journal_form_round_trips() -> None:
    assert StorageEvent.from_json(json.loads(json.dumps(EVENT.to_json()))) == EVENT
