"""Slice services on the emulator: builds that outlast a request, deletes of large slices."""

from __future__ import annotations

import time
from typing import Any

import pytest

from shared.documents import MEMBERSHIP_FIELDS
from shared.ids import row_id
from shared.models import DataRowUpdate, SliceCreate
from shared.services import data_rows, slices
from shared.store import rows as row_store
from shared.store import slices as slice_store
from shared.store.scopes import CATALOG
from tests.functions.conftest_api import row_doc

pytestmark = pytest.mark.emulator


def _put(count: int) -> list[str]:
    """``count`` rows labelled 'car'."""
    keys = [f"gs://b/ds/{i}.png" for i in range(count)]
    docs = {row_id(key): row_doc(key, labels=["car"]) for key in keys}
    ids = list(docs)
    for start in range(0, len(ids), 500):
        row_store.mutate_rows(CATALOG, ids[start : start + 500], lambda rid, _: dict(docs[rid]))
    return ids


def _members(slice_id: str) -> set[str]:
    return {doc["id"] for doc in _all_rows() if slice_id in doc.get("sliceIds", [])}


def _all_rows() -> list[dict[str, Any]]:
    return [
        s.to_dict() or {} for chunk in row_store.iter_id_range(CATALOG, "0", "g") for s in chunk
    ]


def test_delete_strips_the_slice_from_every_row(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _put(650)  # more than two strip batches of 300
    created = slices.create_slice(SliceCreate(name="cars", filter='labels.classes CONTAINS "car"'))
    assert created.status == "ready"
    assert created.row_count == 650
    slices.delete_slice(created.id)
    rows = _all_rows()
    assert len(rows) == len(ids)
    assert not any(created.id in row.get("sliceIds", []) for row in rows)
    assert not any(created.id in (row.get("sliceEnteredAt") or {}) for row in rows)


def test_rows_edited_during_a_build_end_up_right(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _put(40)
    monkeypatch.setattr("shared.builds.CHUNK_ROWS", 3)
    # The first patch declares the field; then the build goes in small steps while rows
    # change under it.
    data_rows.update_row(ids[0], DataRowUpdate(metadata={"hot": 1}))
    created = slices.create_slice(
        SliceCreate(name="hot", filter="metadata.hot = 1"), build_seconds=0
    )
    assert created.status == "building"
    hot = set(ids[::3])
    for step, rid in enumerate(ids):
        data_rows.update_row(rid, DataRowUpdate(metadata={"hot": 1 if rid in hot else 0}))
        if step % 5 == 0:
            slices.build(created.id, build_seconds=0)
    deadline = time.monotonic() + 60
    while slices.get_slice(created.id).status != "ready" and time.monotonic() < deadline:
        slices.build(created.id)
    final = slices.get_slice(created.id)
    assert final.status == "ready"
    assert _members(created.id) == hot
    assert final.row_count == len(hot)
    assert all(set(MEMBERSHIP_FIELDS) <= set(row) for row in _all_rows())
    assert slice_store.count_members(CATALOG, created.id) == len(hot)
