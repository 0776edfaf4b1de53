"""Slice definitions: unique names per scope, etags, deletion and membership builds."""

from __future__ import annotations

import time
from typing import Any

import pytest

from shared import builds
from shared.errors import AlreadyExists, FailedPrecondition, NotFound
from shared.metadata import MetadataField, MetadataKind
from shared.store import rows, schema, slice_sets, slices
from shared.store.client import db
from tests.integration.store_helpers import key_id, row_doc, slice_doc, split_is

FAR = 1e12  # a deadline that never comes


def _rows(count: int, split_of: Any) -> list[str]:
    ids = []
    docs = {}
    for n in range(count):
        key = f"a/{n}.png"
        docs[key_id(key)] = row_doc(key, metadata={"split": split_of(n)})
        ids.append(key_id(key))
    rows.mutate_rows("catalog", ids, lambda row_id, _c: dict(docs[row_id]))
    return ids


def _members(slice_id: str) -> set[str]:
    return {
        doc.id
        for doc in db().collection("dataRows").stream()
        if slice_id in (doc.get("sliceIds") or [])
    }


@pytest.fixture(autouse=True)
def _split_field() -> None:
    schema.add_fields({"split": MetadataField(kind=MetadataKind.STRING)})


def test_names_are_unique_per_scope_case_insensitively() -> None:
    slices.create_slice(slice_doc("Night Cars", split_is("a")))
    with pytest.raises(AlreadyExists):
        slices.create_slice(slice_doc("night cars ", split_is("b")))
    slices.create_slice(slice_doc("night cars", split_is("b"), "modelRun:r1"))


def test_rename_frees_the_old_name_and_takes_the_new_one() -> None:
    first = slices.create_slice(slice_doc("first", split_is("a")))
    slices.create_slice(slice_doc("taken", split_is("a")))
    with pytest.raises(AlreadyExists):
        slices.update_slice(first["id"], {"name": "TAKEN"}, etag=None, filter_changed=False)
    slices.update_slice(first["id"], {"name": "renamed"}, etag=None, filter_changed=False)
    slices.create_slice(slice_doc("first", split_is("a")))


def test_a_stale_etag_changes_nothing() -> None:
    created = slices.create_slice(slice_doc("original", split_is("a")))
    winner = slices.update_slice(
        created["id"], {"description": "one"}, etag=created["etag"], filter_changed=False
    )
    with pytest.raises(FailedPrecondition):
        slices.update_slice(
            created["id"], {"description": "two"}, etag=created["etag"], filter_changed=False
        )
    stored = slices.get_slice(created["id"])
    assert stored["description"] == "one"
    assert stored["etag"] == winner["etag"] != created["etag"]


def test_definition_changes_bump_the_slice_set_version() -> None:
    before = slice_sets.read_version("catalog")
    created = slices.create_slice(slice_doc("versioned", split_is("a")))
    slices.update_slice(created["id"], {"description": "x"}, etag=None, filter_changed=False)
    assert slice_sets.read_version("catalog") == before + 1
    slices.update_slice(created["id"], {"filter": split_is("b")}, etag=None, filter_changed=True)
    slices.delete_slice(created["id"])
    assert slice_sets.read_version("catalog") == before + 3


def test_build_puts_exactly_the_matching_rows_in_the_slice() -> None:
    ids = _rows(120, lambda n: "train" if n % 3 else "valid")
    created = slices.create_slice(slice_doc("valid rows", split_is("valid")))
    # Rows written before the slice existed are not members until the build runs.
    assert _members(created["id"]) == set()

    report = builds.advance_build(created["id"], deadline=time.monotonic() + FAR)

    assert report.ready
    assert report.rows_scanned == 120
    expected = {row for n, row in enumerate(ids) if n % 3 == 0}
    assert _members(created["id"]) == expected
    assert slices.count_members("catalog", created["id"]) == len(expected)
    stored = slices.get_slice(created["id"])
    assert stored["status"] == "ready"
    assert stored["progress"] == {"shardsDone": 16, "shardsTotal": 16}


def test_a_build_stopped_at_its_deadline_resumes_where_it_stopped() -> None:
    _rows(200, lambda n: "train")
    created = slices.create_slice(slice_doc("train rows", split_is("train")))
    first = builds.advance_build(created["id"], deadline=0, chunk_rows=10)  # one chunk, then stop
    assert not first.ready
    assert slices.get_slice(created["id"])["status"] == "building"

    rest = builds.advance_build(created["id"], deadline=time.monotonic() + FAR)

    assert rest.ready
    assert first.rows_scanned + rest.rows_scanned == 200
    assert len(_members(created["id"])) == 200


def test_an_edited_filter_supersedes_the_running_build() -> None:
    _rows(40, lambda n: "train" if n < 10 else "valid")
    created = slices.create_slice(slice_doc("edited", split_is("train")))
    builds.advance_build(created["id"], deadline=time.monotonic() + FAR)
    assert len(_members(created["id"])) == 10

    slices.update_slice(
        created["id"], {"filter": split_is("valid")}, etag=None, filter_changed=True
    )
    assert slices.get_slice(created["id"])["status"] == "building"
    builds.advance_build(created["id"], deadline=time.monotonic() + FAR)

    assert len(_members(created["id"])) == 30
    assert slices.get_slice(created["id"])["status"] == "ready"


def test_deleting_a_slice_strips_it_from_rows() -> None:
    _rows(30, lambda n: "train")
    created = slices.create_slice(slice_doc("doomed", split_is("train")))
    builds.advance_build(created["id"], deadline=time.monotonic() + FAR)
    slices.delete_slice(created["id"])
    while slices.remove_from_rows("catalog", created["id"], limit=7):
        pass
    assert _members(created["id"]) == set()
    with pytest.raises(NotFound):
        slices.get_slice(created["id"])
    # New rows no longer see it either.
    _rows(1, lambda n: "train")
    assert _members(created["id"]) == set()


def test_one_builder_at_a_time_and_a_released_lease_is_free() -> None:
    _rows(20, lambda n: "train")
    created = slices.create_slice(slice_doc("leased", split_is("train")))
    assert slices.acquire_build_lease(created["id"], "other worker", seconds=60)

    busy = builds.advance_build(created["id"], deadline=time.monotonic() + FAR)

    assert busy.busy
    assert not busy.ready
    assert _members(created["id"]) == set()
    slices.release_build_lease(created["id"], "other worker")
    done = builds.advance_build(created["id"], deadline=time.monotonic() + FAR)
    assert done.ready
    assert len(_members(created["id"])) == 20
    assert "buildLease" not in slices.get_slice(created["id"])


def test_an_expired_lease_is_taken_over() -> None:
    _rows(5, lambda n: "train")
    created = slices.create_slice(slice_doc("stale lease", split_is("train")))
    assert slices.acquire_build_lease(created["id"], "crashed worker", seconds=0)
    assert builds.advance_build(created["id"], deadline=time.monotonic() + FAR).ready
