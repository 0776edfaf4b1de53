"""Deleting a slice: its actions go with it, and rows are stripped now or by a later tick."""

from __future__ import annotations

import time

import pytest

from shared import builds
from shared.actions.models import ActionCreate
from shared.actions.service import create_action
from shared.errors import NotFound
from shared.metadata import MetadataField, MetadataKind
from shared.models import ActionType
from shared.services import slices as slice_service
from shared.store import actions as action_store
from shared.store import rows, schema, slices
from shared.store.client import db
from tests.integration.store_helpers import key_id, row_doc, slice_doc, split_is


def _members(slice_id: str) -> set[str]:
    return {
        doc.id
        for doc in db().collection("dataRows").stream()
        if slice_id in (doc.get("sliceIds") or [])
    }


def _built_slice(row_count: int) -> str:
    schema.add_fields({"split": MetadataField(kind=MetadataKind.STRING)})
    docs = {key_id(f"a/{n}.png"): row_doc(f"a/{n}.png", metadata={"split": "train"})
            for n in range(row_count)}  # fmt: skip
    ids = list(docs)
    for start in range(0, len(ids), 500):
        rows.mutate_rows("catalog", ids[start : start + 500], lambda row_id, _c: dict(docs[row_id]))
    created = slices.create_slice(slice_doc("doomed", split_is("train")))
    builds.advance_build(created["id"], deadline=time.monotonic() + 1e9)
    assert len(_members(created["id"])) == row_count
    return str(created["id"])


def test_a_deletion_cut_short_is_finished_by_the_scheduled_cleanup() -> None:
    slice_id = _built_slice(650)  # more than one strip batch of 300

    slice_service.delete_slice(slice_id, cleanup_seconds=0)  # stop after the first batch

    assert 0 < len(_members(slice_id)) < 650
    assert [c["sliceId"] for c in slices.pending_cleanups()] == [slice_id]
    assert slice_service.continue_cleanups(deadline=time.monotonic() + 60) == [slice_id]
    assert _members(slice_id) == set()
    assert slices.pending_cleanups() == []


def test_a_deleted_slice_takes_its_actions_with_it() -> None:
    slice_id = _built_slice(3)
    action = create_action(slice_id, ActionCreate(type=ActionType.PUBLISH))

    slice_service.delete_slice(slice_id)

    with pytest.raises(NotFound):
        action_store.get_action(action.id)
    assert _members(slice_id) == set()
    assert slices.pending_cleanups() == []
