"""The membership-aware write path against the Firestore emulator."""

from __future__ import annotations

import time
from typing import Any

import pytest
from google.cloud import firestore

from shared.errors import Aborted, TransientError
from shared.metadata import MetadataField, MetadataKind
from shared.store import rows, schema, slices
from shared.store.client import db
from tests.integration.store_helpers import CuttableLink, key_id, row_doc, slice_doc, split_is


def _declare_split() -> None:
    schema.add_fields({"split": MetadataField(kind=MetadataKind.STRING)})


def _put(key: str, **fields: Any) -> rows.MutationResult:
    doc = row_doc(key, **fields)
    return rows.mutate_rows("catalog", [key_id(key)], lambda _id, _cur: dict(doc))


def test_new_rows_land_with_the_slices_they_match() -> None:
    _declare_split()
    train = slices.create_slice(slice_doc("train rows", split_is("train")))
    valid = slices.create_slice(slice_doc("valid rows", split_is("valid")))

    _put("a/1.png", metadata={"split": "train"})
    _put("a/2.png", metadata={"split": "valid"})
    _put("a/3.png")

    assert rows.get_row("catalog", key_id("a/1.png"))["sliceIds"] == [train["id"]]  # type: ignore[index]
    second = rows.get_row("catalog", key_id("a/2.png"))
    assert second is not None
    assert second["sliceIds"] == [valid["id"]]
    assert set(second["sliceEnteredAt"]) == {valid["id"]}
    assert rows.get_row("catalog", key_id("a/3.png"))["sliceIds"] == []  # type: ignore[index]


def test_a_row_that_stops_matching_leaves_and_keeps_its_entry_time_while_it_stays() -> None:
    _declare_split()
    train = slices.create_slice(slice_doc("train rows", split_is("train")))
    _put("a/1.png", metadata={"split": "train"})
    entered = rows.get_row("catalog", key_id("a/1.png"))["sliceEnteredAt"][train["id"]]  # type: ignore[index]

    _put("a/1.png", metadata={"split": "train"}, labelCount=3)
    again = rows.get_row("catalog", key_id("a/1.png"))
    assert again is not None
    assert again["sliceEnteredAt"][train["id"]] == entered

    _put("a/1.png", metadata={"split": "test"})
    gone = rows.get_row("catalog", key_id("a/1.png"))
    assert gone is not None
    assert gone["sliceIds"] == []
    assert gone["sliceEnteredAt"] == {}


def test_keep_and_delete_decisions() -> None:
    _put("a/1.png")
    result = rows.mutate_rows("catalog", [key_id("a/1.png")], lambda _i, _c: rows.KEEP)
    assert result.unchanged == 1
    assert result.written == []

    result = rows.mutate_rows(
        "catalog", [key_id("a/1.png"), key_id("a/404.png")], lambda _i, _c: None
    )
    assert result.deleted == [key_id("a/1.png")]
    assert result.unchanged == 1
    assert rows.get_row("catalog", key_id("a/1.png")) is None


def test_a_concurrent_write_between_read_and_commit_is_not_lost() -> None:
    """The first round's commit fails its precondition; the retry decides on the fresh row."""
    _put("a/1.png", labelCount=1)
    row = key_id("a/1.png")
    calls: list[int] = []

    def decide(_id: str, current: dict[str, Any] | None) -> dict[str, Any]:
        assert current is not None
        calls.append(current["labelCount"])
        if len(calls) == 1:  # another writer lands while this one is deciding
            db().collection("dataRows").document(row).update({"labelCount": 10})
        fresh = {k: v for k, v in current.items() if not k.startswith("slice")}
        return {**fresh, "labelCount": current["labelCount"] + 1}

    result = rows.mutate_rows("catalog", [row], decide)

    assert calls == [1, 10]
    assert result.attempts == 2
    assert rows.get_row("catalog", row)["labelCount"] == 11  # type: ignore[index]


def test_rows_expected_new_are_created_unread_with_their_membership() -> None:
    _declare_split()
    train = slices.create_slice(slice_doc("train rows", split_is("train")))
    keys = ["a/1.png", "a/2.png"]
    seen: list[dict[str, Any] | None] = []

    def decide(row: str, current: dict[str, Any] | None) -> dict[str, Any]:
        seen.append(current)
        return row_doc(keys[0] if row == key_id(keys[0]) else keys[1], metadata={"split": "train"})

    result = rows.mutate_rows("catalog", [key_id(k) for k in keys], decide, expect_new=True)

    assert (result.created_unread, result.attempts, sorted(result.written)) == (
        True,
        1,
        sorted(key_id(k) for k in keys),
    )
    assert seen == [None, None]
    for key in keys:
        assert rows.get_row("catalog", key_id(key))["sliceIds"] == [train["id"]]  # type: ignore[index]


def test_rows_expected_new_that_exist_are_read_and_decided_on_what_is_stored() -> None:
    _put("a/1.png", labelCount=4)
    old, new = key_id("a/1.png"), key_id("a/2.png")
    seen: dict[str, list[int | None]] = {old: [], new: []}

    def decide(row: str, current: dict[str, Any] | None) -> dict[str, Any]:
        seen[row].append(current["labelCount"] if current else None)
        count = (current["labelCount"] if current else 0) + 1
        return row_doc("a/1.png" if row == old else "a/2.png", labelCount=count)

    result = rows.mutate_rows("catalog", [old, new], decide, expect_new=True)

    assert not result.created_unread
    assert seen == {old: [None, 4], new: [None, None]}  # the unread try, then the stored row
    assert rows.get_row("catalog", old)["labelCount"] == 5  # type: ignore[index]
    assert rows.get_row("catalog", new)["labelCount"] == 1  # type: ignore[index]


def test_a_slice_saved_while_rows_are_created_unread_still_gets_them() -> None:
    _declare_split()
    row = key_id("a/1.png")
    saved: list[dict[str, Any]] = []

    def decide(_id: str, _current: dict[str, Any] | None) -> dict[str, Any]:
        if not saved:
            saved.append(slices.create_slice(slice_doc("train rows", split_is("train"))))
        return row_doc("a/1.png", metadata={"split": "train"})

    assert rows.mutate_rows("catalog", [row], decide, expect_new=True).created_unread
    assert rows.get_row("catalog", row)["sliceIds"] == [saved[0]["id"]]  # type: ignore[index]


def test_a_slice_saved_while_a_row_is_written_still_gets_the_row() -> None:
    """The race of docs/architecture.md: the slice set changes between compile and commit."""
    _declare_split()
    row = key_id("a/1.png")
    saved: list[dict[str, Any]] = []

    def decide(_id: str, _current: dict[str, Any] | None) -> dict[str, Any]:
        if not saved:  # the slice is saved after the writer compiled the (empty) slice set
            saved.append(slices.create_slice(slice_doc("train rows", split_is("train"))))
        return row_doc("a/1.png", metadata={"split": "train"})

    rows.mutate_rows("catalog", [row], decide)

    stored = rows.get_row("catalog", row)
    assert stored is not None
    assert stored["sliceIds"] == [saved[0]["id"]]


def test_membership_is_per_scope() -> None:
    _declare_split()
    db().collection("modelRuns").document("run1").set({"id": "run1"})
    in_run = slices.create_slice(slice_doc("train rows", split_is("train"), "modelRun:run1"))
    _put("a/1.png", metadata={"split": "train"})
    doc = row_doc("a/1.png", metadata={"split": "train"})
    rows.mutate_rows("modelRun:run1", [key_id("a/1.png")], lambda _i, _c: dict(doc))

    assert rows.get_row("catalog", key_id("a/1.png"))["sliceIds"] == []  # type: ignore[index]
    assert rows.get_row("modelRun:run1", key_id("a/1.png"))["sliceIds"] == [in_run["id"]]  # type: ignore[index]


def test_a_row_that_never_stops_changing_does_not_starve_the_rest_of_its_batch() -> None:
    keys = [f"a/{n}.png" for n in range(6)]
    for key in keys:
        _put(key, labelCount=0)
    hot = key_id(keys[0])

    def decide(row: str, current: dict[str, Any] | None) -> dict[str, Any]:
        assert current is not None
        if row == hot:  # another writer changes this row between every read and commit
            db().collection("dataRows").document(hot).update({"touched": firestore.Increment(1)})
        fresh = {k: v for k, v in current.items() if not k.startswith("slice")}
        return {**fresh, "labelCount": 7}

    with pytest.raises(Aborted, match="kept changing"):
        rows.mutate_rows("catalog", [key_id(k) for k in keys], decide)

    landed = rows.get_rows("catalog", [key_id(k) for k in keys[1:]])
    assert {doc["labelCount"] for doc in landed.values()} == {7}
    assert rows.get_row("catalog", hot)["labelCount"] == 0  # type: ignore[index]


def test_an_outage_during_a_write_fails_it_within_the_retry_budget(
    firestore_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # docs/ingest.md: ingest's calls give up after INGEST_RETRY_SECONDS, where the client's
    # own retry would wait minutes, so that Eventarc retries the event instead.
    _put("a/1.png")
    link = CuttableLink(firestore_host)
    monkeypatch.setenv("INGEST_RETRY_SECONDS", "1")
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", link.host)
    db.cache_clear()

    def decide(_row: str, current: dict[str, Any] | None) -> dict[str, Any]:
        link.cut()  # Firestore goes away between the read and the commit
        return row_doc("a/1.png", labelCount=3)

    started = time.monotonic()
    try:
        with pytest.raises(TransientError, match="unavailable"):
            rows.mutate_rows("catalog", [key_id("a/1.png")], decide)
        assert time.monotonic() - started < 15
        # And a write that finds it gone from the start.
        started = time.monotonic()
        with pytest.raises(TransientError, match="unavailable"):
            _put("a/2.png")
        assert time.monotonic() - started < 15
    finally:
        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_host)
        db.cache_clear()
    assert rows.get_row("catalog", key_id("a/1.png"))["labelCount"] == 0  # type: ignore[index]
