"""Storage events, routes, media types and generation claims: pure logic, table-driven."""

from __future__ import annotations

from itertools import permutations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import InvalidArgument
from shared.ingest.events import EventKind, Route, parse_event, route
from shared.ingest.media import media_type, mime_type
from shared.models import MediaType
from shared.store.objects import Claim, ObjectRecord, decide_claim

RESOURCE = {
    "bucket": "landing", "name": "street/0001.jpg", "generation": "1714557600123456",
    "metageneration": "1", "contentType": "image/jpeg", "size": "2048", "md5Hash": "x",
    "crc32c": "y", "timeCreated": "2026-05-01T10:00:00Z", "updated": "2026-05-01T10:00:00Z",
    "metadata": {"weather": "rain"},
}  # fmt: skip


@pytest.mark.parametrize(
    ("suffix", "kind"),
    [("finalized", EventKind.FINALIZED), ("deleted", EventKind.DELETED),
     ("archived", EventKind.DELETED)],
)  # fmt: skip
def test_the_three_triggers_parse_with_string_numbers(suffix: str, kind: EventKind) -> None:
    parsed_kind, obj = parse_event(f"google.cloud.storage.object.v1.{suffix}", RESOURCE)
    assert parsed_kind is kind
    assert (obj.generation, obj.metageneration, obj.size) == (1714557600123456, 1, 2048)
    assert obj.uri == "gs://landing/street/0001.jpg"
    assert obj.metadata == {"weather": "rain"}


@pytest.mark.parametrize(
    ("event_type", "data", "message"),
    [
        ("google.cloud.storage.object.v1.metadataUpdated", RESOURCE, "not a storage object event"),
        ("google.cloud.storage.object.v1.finalized", "text", "not a JSON object resource"),
        ("google.cloud.storage.object.v1.finalized", {**RESOURCE, "generation": "0"},
         "generation: Input should be greater than 0"),
        ("google.cloud.storage.object.v1.finalized", {"bucket": "b"}, "name: Field required"),
        ("google.cloud.storage.object.v1.finalized", {**RESOURCE, "size": "-1"}, "size:"),
    ],
)  # fmt: skip
def test_bad_events_are_invalid_arguments(event_type: str, data: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_event(event_type, data)


def test_metadata_values_arrive_as_strings_even_from_a_loose_bridge() -> None:
    _, obj = parse_event(
        "google.cloud.storage.object.v1.finalized", {**RESOURCE, "metadata": {"n": 5}}
    )
    assert obj.metadata == {"n": "5"}
    _, obj = parse_event("google.cloud.storage.object.v1.finalized", {**RESOURCE, "metadata": None})
    assert obj.metadata == {}


@pytest.mark.parametrize(
    ("name", "expected", "dataset"),
    [
        ("street/0001.jpg", Route.MEDIA, "street"),
        ("street/deep/er/0001.jpg", Route.MEDIA, "street"),
        ("street/", Route.FOLDER, None),
        ("imports/batch.ndjson", Route.MANIFEST, None),
        ("imports/nested/batch.ndjson", Route.MANIFEST, None),
        ("imports/.ndjson", Route.INVALID, None),
        ("imports/batch.csv", Route.INVALID, None),
        ("model-runs/run1/predictions.ndjson", Route.PREDICTIONS, None),
        ("loose.jpg", Route.INVALID, None),
        ("-x/a.jpg", Route.INVALID, None),
        ("a b/c.jpg", Route.INVALID, None),
    ],
)
def test_routes(name: str, expected: Route, dataset: str | None) -> None:
    destination = route(name)
    assert destination.route is expected
    assert destination.dataset == dataset
    assert (destination.reason is not None) == (expected is Route.INVALID)


@pytest.mark.parametrize(
    ("content_type", "name", "mime", "kind"),
    [
        ("image/png", "a/b", "image/png", MediaType.IMAGE),
        ("IMAGE/JPEG; q=1", "a/b.txt", "image/jpeg", MediaType.IMAGE),
        (None, "a/b.JPG", "image/jpeg", MediaType.IMAGE),
        ("application/octet-stream", "a/b.webp", "image/webp", MediaType.IMAGE),
        ("binary/octet-stream", "a/b.mp4", "video/mp4", MediaType.VIDEO),
        (None, "a/b.wav", "audio/x-wav", MediaType.AUDIO),
        (None, "a/b.md", "text/markdown", MediaType.TEXT),
        ("application/json", "a/b", "application/json", MediaType.TEXT),
        (None, "a/b.pdf", "application/pdf", MediaType.DOCUMENT),
        (None, "a/b", None, MediaType.OTHER),
        (None, "a.d/b", None, MediaType.OTHER),
        ("application/octet-stream", "a/b.zzz", "application/octet-stream", MediaType.OTHER),
    ],
)
def test_media_types(
    content_type: str | None, name: str, mime: str | None, kind: MediaType
) -> None:
    assert mime_type(content_type, name) == mime
    assert media_type(mime) is kind


def record(generation: int, *, deleted: bool) -> ObjectRecord:
    return ObjectRecord("b", "n", generation, deleted, "media")


@pytest.mark.parametrize(
    ("stored", "generation", "deleted", "claim"),
    [
        (None, 5, False, Claim.APPLY),
        (None, 5, True, Claim.APPLY),
        (record(5, deleted=False), 6, False, Claim.APPLY),
        (record(5, deleted=False), 4, False, Claim.STALE),
        (record(5, deleted=False), 4, True, Claim.STALE),
        (record(5, deleted=False), 5, False, Claim.REPEAT),
        (record(5, deleted=False), 5, True, Claim.APPLY),  # the live generation's delete
        (record(5, deleted=True), 5, False, Claim.STALE),  # a late create after its delete
        (record(5, deleted=True), 5, True, Claim.REPEAT),
        (record(5, deleted=True), 6, False, Claim.APPLY),  # a new object under the same name
    ],
)
def test_claims(stored: ObjectRecord | None, generation: int, deleted: bool, claim: Claim) -> None:
    assert decide_claim(stored, generation, deleted=deleted) is claim


events = st.lists(st.tuples(st.integers(1, 4), st.booleans()), min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(events)
def test_the_record_after_any_order_of_events_is_the_same(script: list[tuple[int, bool]]) -> None:
    """Folding claims over the events in any order, repeated or not, gives one record."""

    def fold(order: tuple[tuple[int, bool], ...]) -> ObjectRecord | None:
        stored = None
        for generation, deleted in order:
            if decide_claim(stored, generation, deleted=deleted) is Claim.APPLY:
                stored = record(generation, deleted=deleted)
        return stored

    results = {fold(order) for order in permutations(script + script[:2])}
    assert len(results) == 1
    top = max(generation for generation, _ in script)
    only = results.pop()
    assert only is not None
    assert only.generation == top
    assert only.deleted == any(d for g, d in script if g == top)
