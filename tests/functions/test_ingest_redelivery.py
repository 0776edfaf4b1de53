"""At least once, out of order: every event of a scenario delivered twice, shuffled, ends in
exactly the state one in-order delivery leaves (rows, membership, generation records, datasets,
the schema's fields, import reports), and a report written by an event's first delivery is kept
as it is by the repeats (its ``createdAt`` too, which orders the list of reports).

A scenario is a run of uploads, overwrites and deletes of media objects and manifests on the
storage emulator (a versioned bucket, as the landing bucket is); its events are those Eventarc
would send, an overwrite emitting the old generation's deleted or archived event before or
after the new one's finalized event. Different objects never write the same row here: between
two objects there is no order to keep (docs/ingest.md).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.emulators import wipe_firestore
from shared import storage
from shared.metadata import MetadataField, MetadataKind
from shared.models import SliceCreate
from shared.services import slices as slice_service
from shared.store import slice_sets
from shared.store.client import db
from shared.store.schema import add_fields, load_schema
from tests.conftest import PROJECT
from tests.functions.conftest import Landing, post_event, resource_of, storage_event, tiny_png

MEDIA = ("cams/a.png", "cams/b.png", "docs/c.txt")
MANIFESTS = ("imports/m.ndjson", "imports/n.ndjson")
STRAYS = ("stray.bin",)  # fits no route: a failed report
SLICES = {
    "rainy": 'metadata.weather = "rain"',
    "wide": "media.width >= 4",
    "cars": 'labels.classes CONTAINS "car"',
}
# Timestamps and leases say when, not what: they are left out of the comparison.
VOLATILE = frozenset({"createdAt", "updatedAt", "finishedAt", "leaseOwner", "leaseUntil"})


@dataclass(frozen=True)
class Upload:
    name: str
    variant: int  # picks the content: image width, weather, manifest rows
    old_event: str  # how the overwritten generation's end is announced: deleted or archived
    old_first: bool  # whether that event comes before the new generation's finalized event


@dataclass(frozen=True)
class Delete:
    name: str
    event: str


names = st.sampled_from(MEDIA + MANIFESTS + STRAYS)
ends = st.sampled_from(["deleted", "archived"])
operations = st.one_of(
    st.builds(Upload, names, st.integers(0, 3), ends, st.booleans()),
    st.builds(Delete, names, ends),
)


def content(name: str, variant: int) -> tuple[bytes, str, dict[str, str]]:
    """The body, content type and custom metadata of one version of an object."""
    # Variant 3 has an invalid value: the row lands without it and a report says so.
    weather = {"weather": ["rain", "sun"][variant % 2]} if variant < 3 else {"count": "many"}
    if name in STRAYS:
        return f"stray {variant}".encode(), "application/octet-stream", {}
    if name.endswith(".png"):
        return tiny_png([2, 8][variant // 2 % 2], 2), "image/png", weather
    if name.endswith(".txt"):
        return f"version {variant}".encode(), "text/plain", weather
    prefix = name.removeprefix("imports/").removesuffix(".ndjson")
    lines = [
        json.dumps({
            "globalKey": f"{prefix}{key}", "rowData": f"gs://elsewhere/{prefix}{key}",
            "dataset": "manifested", "metadata": {"v": variant},
            "labels": [{"name": "car"}] if (key + variant) % 2 else [],
        })
        for key in range(3) if (key + variant) % 3
    ]  # fmt: skip
    return "\n".join([*lines, '{"bad": true}']).encode(), "application/x-ndjson", {}


def play(landing: Landing, script: list[Upload | Delete]) -> list[tuple[str, dict[str, Any]]]:
    """Apply the operations to the bucket; the events they emit, in the order they happen."""
    live: dict[str, dict[str, Any]] = {}
    events: list[tuple[str, dict[str, Any]]] = []
    for op in script:
        old = live.get(op.name)
        if isinstance(op, Upload):
            body, content_type, metadata = content(op.name, op.variant)
            new = landing.upload(op.name, body, content_type=content_type, metadata=metadata)
            live[op.name] = new
            emitted = [("finalized", new)]
            if old is not None:
                end = (op.old_event, old)
                emitted = [end, *emitted] if op.old_first else [*emitted, end]
            events += emitted
        elif old is not None:
            landing.delete(op.name)
            del live[op.name]
            events.append((op.event, old))
    return events


def fresh_catalog(firestore_host: str) -> None:
    wipe_firestore(firestore_host, PROJECT)
    slice_sets.clear_cache()
    db.cache_clear()
    add_fields(
        {
            "weather": MetadataField(kind=MetadataKind.STRING),
            "count": MetadataField(kind=MetadataKind.NUMBER),
        }
    )
    for name, text in SLICES.items():
        slice_service.create_slice(SliceCreate(name=name, filter=text), build_seconds=30)


def state() -> dict[str, Any]:
    names = {s.id: (s.to_dict() or {})["name"] for s in db().collection("slices").stream()}

    def collection(name: str) -> dict[str, Any]:
        docs = {}
        for snapshot in db().collection(name).stream():
            doc = {k: v for k, v in (snapshot.to_dict() or {}).items() if k not in VOLATILE}
            if "sliceIds" in doc:
                doc["sliceIds"] = sorted(names[i] for i in doc["sliceIds"])
                doc["sliceEnteredAt"] = sorted(names[i] for i in doc["sliceEnteredAt"])
            docs[snapshot.id] = doc
        return docs

    return {
        "rows": collection("dataRows"),
        "objects": collection("objects"),
        "datasets": collection("datasets"),
        "reports": collection("importReports"),
        "schema": load_schema().model_dump()["fields"],
    }


def report_times() -> dict[str, Any]:
    """Each import report's ``createdAt``."""
    reports = db().collection("importReports").stream()
    return {s.id: (s.to_dict() or {})["createdAt"] for s in reports}


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(script=st.lists(operations, min_size=1, max_size=7), data=st.data())
def test_every_event_twice_in_any_order_ends_as_one_in_order_delivery(
    firestore_host: str, storage_host: str, ingest_app: Any, script: list[Any], data: Any
) -> None:
    client = ingest_app.test_client()
    storage.client.cache_clear()
    bucket = storage.client().bucket(f"landing-{uuid.uuid4().hex[:12]}")
    bucket.versioning_enabled = True
    storage.client().create_bucket(bucket)
    events = play(Landing(bucket.name), script)

    fresh_catalog(firestore_host)
    for kind, resource in events:
        assert post_event(client, storage_event(kind, resource)) == 200
    in_order = state()

    fresh_catalog(firestore_host)
    shuffled = data.draw(st.permutations(events * 2), label="deliveries")
    modes = data.draw(st.lists(st.sampled_from(["binary", "structured"]), min_size=len(shuffled),
                               max_size=len(shuffled)), label="modes")  # fmt: skip
    first_created: dict[str, Any] = {}
    for (kind, resource), mode in zip(shuffled, modes, strict=True):
        assert post_event(client, storage_event(kind, resource), mode) == 200
        for report_id, created in report_times().items():
            first_created.setdefault(report_id, created)
    assert state() == in_order
    assert report_times() == first_created
    # The live objects are exactly the rows the media objects left.
    live = {blob.name for blob in bucket.list_blobs()}
    media_rows = {row["globalKey"] for row in in_order["rows"].values() if row["generation"]}
    assert media_rows == {f"gs://{bucket.name}/{name}" for name in live if name in MEDIA}


def test_the_scenario_player_emits_what_eventarc_would(storage_host: str) -> None:
    storage.client.cache_clear()
    bucket = storage.client().bucket(f"landing-{uuid.uuid4().hex[:12]}")
    bucket.versioning_enabled = True
    storage.client().create_bucket(bucket)
    events = play(
        Landing(bucket.name),
        [Upload("cams/a.png", 0, "archived", True), Upload("cams/a.png", 2, "deleted", False),
         Delete("cams/a.png", "archived"), Delete("cams/a.png", "deleted")],
    )  # fmt: skip
    kinds = [(kind, int(resource["generation"])) for kind, resource in events]
    first, second = kinds[0][1], kinds[1][1]
    assert kinds == [("finalized", first), ("finalized", second), ("deleted", first),
                     ("archived", second)]  # fmt: skip
    assert resource_of(bucket.get_blob("cams/a.png", generation=second)) is not None
