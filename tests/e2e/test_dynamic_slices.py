"""Dynamic slices through the real chain: storage emulator -> notification -> bridge -> ingest ->
Firestore -> API.

Each test saves a slice over a dataset of its own through the API, then only writes objects to
the bucket (or has the bridge deliver an event again), and reads the slice back by exploring it
over HTTP: a row enters the slices it matches when it lands, and leaves them when its object is
deleted or changes so that it no longer matches.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from google.cloud import storage

from local.bridge import replay
from local.demo_client import Api
from shared.ids import row_id
from tests.e2e.conftest import RunningStack
from tests.e2e.test_pipeline import delivered, get_row, row_gone, row_present, tiny_png, wait_for

# A metadata field of this module's own: the stack's schema is shared by the whole session.
FIELD = "e2eWeather"


@pytest.fixture(scope="module")
def weather_field(api: Api) -> str:
    api.patch("/v1/metadataSchema", {"fields": {FIELD: {"kind": "string"}}})
    return FIELD


@pytest.fixture
def dataset(stack: RunningStack, weather_field: str) -> str:
    stack.require("ingest", "slices")
    return f"e2e-{uuid.uuid4().hex[:12]}"


def rainy_slice(api: Api, dataset: str) -> dict[str, Any]:
    """A saved slice: this dataset's rows whose weather is rain."""
    created: dict[str, Any] = api.post(
        "/v1/slices",
        {
            "name": f"rain {dataset}",
            "filter": f'dataset = "{dataset}" AND metadata.{FIELD} = "rain"',
        },
    )
    return created


def put(bucket: storage.Bucket, name: str, weather: str, size: int = 3) -> int:
    blob = bucket.blob(name)
    blob.metadata = {FIELD: weather}
    blob.upload_from_string(tiny_png(size, size), content_type="image/png")
    return int(blob.generation)


def members(api: Api, slice_id: str) -> dict[str, dict[str, Any]]:
    """Every row of the slice (exploring it page by page), by id."""
    rows = api.list_all(f"/v1/slices/{slice_id}/dataRows", "dataRows")
    return {row["id"]: row for row in rows}


def in_slice(
    api: Api, slice_id: str, rid: str, present: bool = True
) -> Callable[[], dict[str, dict[str, Any]] | None]:
    def probe() -> dict[str, dict[str, Any]] | None:
        found = members(api, slice_id)
        return found if (rid in found) == present else None

    return probe


def key(stack: RunningStack, name: str) -> str:
    return row_id(f"gs://{stack.bucket}/{name}")


def test_a_new_upload_that_matches_a_saved_slice_appears_in_it(
    stack: RunningStack, api: Api, bucket: storage.Bucket, dataset: str
) -> None:
    saved = rainy_slice(api, dataset)
    assert saved["status"] == "ready"
    rainy, sunny = f"{dataset}/rainy.png", f"{dataset}/sunny.png"
    put(bucket, sunny, "sun")
    put(bucket, rainy, "rain")

    found = wait_for("the rainy row in the slice", in_slice(api, saved["id"], key(stack, rainy)))
    row = wait_for("the sunny row", row_present(stack, sunny))
    assert set(members(api, saved["id"])) == {key(stack, rainy)}
    assert saved["id"] in found[key(stack, rainy)]["sliceIds"]
    assert saved["id"] not in row["sliceIds"]
    assert api.get(f"/v1/slices/{saved['id']}")["rowCount"] == 1


def test_a_deleted_object_disappears_from_its_slices(
    stack: RunningStack, api: Api, bucket: storage.Bucket, dataset: str
) -> None:
    saved = rainy_slice(api, dataset)
    name = f"{dataset}/gone.png"
    put(bucket, name, "rain")
    wait_for("the row in the slice", in_slice(api, saved["id"], key(stack, name)))

    bucket.blob(name).delete()
    wait_for("the row to leave the slice", in_slice(api, saved["id"], key(stack, name), False))
    wait_for("the row to be deleted", row_gone(stack, name))
    assert api.get(f"/v1/slices/{saved['id']}")["rowCount"] == 0


def test_an_object_whose_metadata_stops_matching_leaves_the_slice(
    stack: RunningStack, api: Api, bucket: storage.Bucket, dataset: str
) -> None:
    # Custom metadata changes with a new upload of the object (a new generation).
    saved = rainy_slice(api, dataset)
    name = f"{dataset}/changing.png"
    first = put(bucket, name, "rain")
    wait_for("the row in the slice", in_slice(api, saved["id"], key(stack, name)))

    second = put(bucket, name, "sun")
    assert second > first
    row = wait_for("the row at the new generation", row_present(stack, name, second))
    assert row["metadata"][FIELD] == "sun"
    assert saved["id"] not in row["sliceIds"]
    assert key(stack, name) not in members(api, saved["id"])

    # And back: matching again, it comes back.
    third = put(bucket, name, "rain")
    wait_for("the row back in the slice", in_slice(api, saved["id"], key(stack, name)))
    assert str(get_row(stack, name)[1]["generation"]) == str(third)  # type: ignore[index]


def test_a_manifest_line_that_stops_matching_leaves_the_slice(
    stack: RunningStack, api: Api, bucket: storage.Bucket, dataset: str
) -> None:
    # Labels come from manifests: a new version of the manifest relabels the row.
    saved = api.post(
        "/v1/slices",
        {
            "name": f"cats {dataset}",
            "filter": f'dataset = "{dataset}" AND labels.classes CONTAINS "cat"',
        },
    )
    global_key = f"gs://{stack.bucket}/{dataset}/pets/1.png"
    rid = row_id(global_key)
    manifest = bucket.blob(f"imports/{dataset}.ndjson")

    def publish(label: str) -> None:
        line = {"globalKey": global_key, "rowData": global_key, "dataset": dataset,
                "labels": [{"name": label}]}  # fmt: skip
        manifest.upload_from_string(json.dumps(line) + "\n", content_type="application/x-ndjson")

    publish("cat")
    wait_for("the cat in the slice", in_slice(api, saved["id"], rid))
    publish("dog")
    wait_for("the relabelled row to leave the slice", in_slice(api, saved["id"], rid, False))
    assert [label["name"] for label in api.get(f"/v1/dataRows/{rid}")["labels"]] == ["dog"]


def test_an_event_delivered_twice_changes_no_slice(
    stack: RunningStack, api: Api, bucket: storage.Bucket, dataset: str
) -> None:
    saved = rainy_slice(api, dataset)
    name = f"{dataset}/twice.png"
    generation = put(bucket, name, "rain")
    wait_for("the row in the slice", in_slice(api, saved["id"], key(stack, name)))
    finalized = wait_for("the finalized event", delivered(stack, name, "finalized", generation))
    before_row = get_row(stack, name)
    before_slice = members(api, saved["id"])

    # The same finalized event again: the row, its membership and entry time stay as they were.
    ingest = stack.urls["ingest"] + "/"
    assert replay(stack.journal, ingest, finalized["event"]["attributes"]["id"]).outcome == (
        "delivered"
    )
    assert get_row(stack, name) == before_row
    assert members(api, saved["id"]) == before_slice

    # Deleted, then both events delivered again, in either order: the row stays gone.
    bucket.blob(name).delete()
    wait_for("the row to leave the slice", in_slice(api, saved["id"], key(stack, name), False))
    deleted = wait_for("the deleted event", delivered(stack, name, "deleted", generation))
    for event in (deleted, finalized, deleted):
        assert replay(stack.journal, ingest, event["event"]["attributes"]["id"]).outcome == (
            "delivered"
        )
    assert get_row(stack, name)[0] == 404
    assert members(api, saved["id"]) == {}


def test_a_slice_saved_after_the_rows_landed_holds_them(
    stack: RunningStack, api: Api, bucket: storage.Bucket, dataset: str
) -> None:
    # The other side of dynamic: a slice saved later is built over the rows already there.
    names = [f"{dataset}/{i}.png" for i in range(3)]
    for i, name in enumerate(names):
        put(bucket, name, "rain" if i else "sun")
    for name in names:
        wait_for(f"the row of {name}", row_present(stack, name))
    saved = rainy_slice(api, dataset)
    while saved["status"] != "ready":
        saved = api.post(f"/v1/slices/{saved['id']}:build", None)
    assert set(members(api, saved["id"])) == {key(stack, n) for n in names[1:]}
