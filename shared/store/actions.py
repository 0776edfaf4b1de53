"""Slice actions and their runs in Firestore, and the query for rows that entered a slice.

``actions/<id>`` holds the definition and the run state: ``due`` (when the scheduler runs it
next; absent while suspended), the watermark (``watermark``, ``watermarkRowId``: the last row
acted on, by entry time then id), a lease (``leaseOwner``, ``leaseUntil``) and the run in
progress (``pendingRun``). ``actions/<id>/actionRuns/<runId>`` records what each run did.

The state changes of a run are decided by the caller (pure functions of the current document,
as ``rows.mutate_rows`` takes them) and applied here in transactions: taking the lease, pinning
the rows of a run, finishing it. Only the holder of the lease can pin or finish.

Indexes (all automatic single-field ones): due actions (``due <=``, ordered by ``due``), a
slice's actions (``sliceId ==``, ordered by id), an action's runs (``startedAt`` descending,
collection scope), rows that entered a slice (``sliceEnteredAt.<slice> >``, ordered by it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.field_path import FieldPath

from shared.errors import NotFound
from shared.store import transient
from shared.store.client import ACTION_RUNS, ACTIONS, MAX_BATCH_WRITES, db
from shared.store.scopes import rows_collection

Document = dict[str, Any]
Decide = Callable[[Document], Document | None]

ID_PATH = "__name__"


class LeaseLost(Exception):
    """Another tick holds the action now (ours expired), or the action was deleted."""


def _ref(action_id: str) -> firestore.DocumentReference:
    return db().collection(ACTIONS).document(action_id)


def _runs(action_id: str) -> firestore.CollectionReference:
    return _ref(action_id).collection(ACTION_RUNS)


# --- definitions -------------------------------------------------------------------------------


def create_action(doc: Document) -> None:
    transient.create(_ref(doc["id"]), doc, "create action")


def get_action(action_id: str) -> Document:
    snapshot = transient.get(_ref(action_id), "read action")
    if not snapshot.exists:
        raise NotFound(f"action {action_id!r} does not exist")
    return snapshot.to_dict() or {}


def list_actions(slice_id: str, *, limit: int, after: str | None = None) -> list[Document]:
    """A slice's actions in id order (index: automatic, ``sliceId``)."""
    query = (
        db()
        .collection(ACTIONS)
        .where(filter=firestore.FieldFilter("sliceId", "==", slice_id))
        .order_by(ID_PATH)
    )
    if after is not None:
        query = query.start_after([after])
    return [s.to_dict() or {} for s in transient.stream(query.limit(limit), "list actions")]


def delete_action(action_id: str) -> None:
    """Remove the action, then its run records (a run that is underway cannot finish)."""
    snapshot = transient.get(_ref(action_id), "read action")
    if not snapshot.exists:
        raise NotFound(f"action {action_id!r} does not exist")
    transient.call("delete action", snapshot.reference.delete)
    while True:
        refs = [s.reference for s in transient.stream(_runs(action_id).limit(MAX_BATCH_WRITES),
                                                      "list runs to delete")]  # fmt: skip
        if not refs:
            return
        batch = db().batch()
        for ref in refs:
            batch.delete(ref)
        transient.call("delete runs", batch.commit)


def due_actions(now: datetime, *, limit: int) -> list[Document]:
    """Actions whose ``due`` has come, earliest first (index: automatic, ``due``)."""
    query = (
        db()
        .collection(ACTIONS)
        .where(filter=firestore.FieldFilter("due", "<=", now))
        .order_by("due")
        .limit(limit)
    )
    return [s.to_dict() or {} for s in transient.stream(query, "list due actions")]


def update_action(action_id: str, decide: Decide) -> Document:
    """Apply ``decide(current)`` (changed fields, or None for no change) in a transaction."""

    @firestore.transactional  # type: ignore[untyped-decorator]
    def apply(transaction: firestore.Transaction) -> Document:
        snapshot = _ref(action_id).get(transaction=transaction)
        if not snapshot.exists:
            raise NotFound(f"action {action_id!r} does not exist")
        current = snapshot.to_dict() or {}
        changes = decide(current)
        if not changes:
            return current
        transaction.update(snapshot.reference, changes)
        return _applied(current, changes)

    result: Document = transient.call("update action", lambda: apply(db().transaction()))
    return result


# --- runs --------------------------------------------------------------------------------------


def acquire_lease(
    action_id: str, owner: str, *, until: datetime, decide: Decide
) -> Document | None:
    """Take the action's lease until ``until`` if ``decide(current)`` says to run it now.

    ``decide`` returns the fields to set with the lease (it checks due time, status and any
    lease held), or None to leave the action alone. While leased, ``due`` is the lease's expiry:
    the due query does not see a running action, and sees it again if its run dies.
    """

    @firestore.transactional  # type: ignore[untyped-decorator]
    def apply(transaction: firestore.Transaction) -> Document | None:
        snapshot = _ref(action_id).get(transaction=transaction)
        if not snapshot.exists:
            return None
        current = snapshot.to_dict() or {}
        changes = decide(current)
        if changes is None:
            return None
        changes = {**changes, "leaseOwner": owner, "leaseUntil": until, "due": until}
        transaction.update(snapshot.reference, changes)
        return _applied(current, changes)

    result: Document | None = transient.call("lease action", lambda: apply(db().transaction()))
    return result


def update_leased(action_id: str, owner: str, changes: Document) -> Document:
    """Set fields of an action we hold the lease of; :class:`LeaseLost` if we do not."""

    @firestore.transactional  # type: ignore[untyped-decorator]
    def apply(transaction: firestore.Transaction) -> Document:
        current = _held(transaction, action_id, owner)
        transaction.update(_ref(action_id), changes)
        return _applied(current, changes)

    result: Document = transient.call("update leased action", lambda: apply(db().transaction()))
    return result


def finish_run(action_id: str, owner: str, *, decide: Decide, run: Document | None) -> Document:
    """Release the lease with ``decide(current)``'s changes and record ``run`` (if any), at once.

    :class:`LeaseLost` when the lease is no longer ours: nothing is written, and the tick that
    holds it now finishes the same run (same run id, same rows).
    """

    @firestore.transactional  # type: ignore[untyped-decorator]
    def apply(transaction: firestore.Transaction) -> Document:
        current = _held(transaction, action_id, owner)
        changes = {**(decide(current) or {}), "leaseOwner": None, "leaseUntil": None}
        transaction.update(_ref(action_id), changes)
        if run is not None:
            transaction.set(_runs(action_id).document(run["id"]), run)
        return _applied(current, changes)

    result: Document = transient.call("finish action run", lambda: apply(db().transaction()))
    return result


def _held(transaction: firestore.Transaction, action_id: str, owner: str) -> Document:
    snapshot = _ref(action_id).get(transaction=transaction)
    current: Document | None = snapshot.to_dict() if snapshot.exists else None
    if current is None or current.get("leaseOwner") != owner:
        raise LeaseLost(action_id)
    return current


def _applied(current: Document, changes: Document) -> Document:
    """The document after an update of top-level fields (DELETE_FIELD removes one)."""
    doc = dict(current)
    for key, value in changes.items():
        if value is firestore.DELETE_FIELD:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def list_runs(
    action_id: str, *, limit: int, after: tuple[datetime, str] | None = None
) -> list[Document]:
    """An action's runs, newest first (index: automatic, ``startedAt`` descending)."""
    query = (
        _runs(action_id)
        .order_by("startedAt", direction=firestore.Query.DESCENDING)
        .order_by(ID_PATH, direction=firestore.Query.DESCENDING)
    )
    if after is not None:
        query = query.start_after([after[0], _runs(action_id).document(after[1])])
    return [s.to_dict() or {} for s in transient.stream(query.limit(limit), "list runs")]


def get_run(action_id: str, run_id: str) -> Document | None:
    snapshot = transient.get(_runs(action_id).document(run_id), "read action run")
    return snapshot.to_dict() if snapshot.exists else None


# --- rows that entered a slice -----------------------------------------------------------------


def entered_path(slice_id: str) -> str:
    """The field path of a slice's entry time on a row (quoted: ids may start with a digit)."""
    return str(FieldPath("sliceEnteredAt", slice_id).to_api_repr())


def entered_rows(
    scope_key: str,
    slice_id: str,
    *,
    after: tuple[datetime, str | None],
    through: datetime | tuple[datetime, str],
    limit: int,
    fields: list[str] | None = None,
) -> list[firestore.DocumentSnapshot]:
    """Rows of the scope in order of entry into the slice (time, then id), one page.

    ``after``: the watermark (time, and the id of the last row acted on at that time, or None
    for "every row after this time"). ``through``: the last entry time to include, or a pinned
    (time, id) position to end at. ``fields`` projects the documents to those paths.
    Index: the automatic single-field one on ``sliceEnteredAt.<slice>``.
    """
    path = entered_path(slice_id)
    collection = rows_collection(scope_key)
    query: Any = collection
    at, row_id = after
    if row_id is None:
        query = query.where(filter=firestore.FieldFilter(path, ">", at))
    if isinstance(through, datetime):
        query = query.where(filter=firestore.FieldFilter(path, "<=", through))
    query = query.order_by(path).order_by(ID_PATH)
    if row_id is not None:
        query = query.start_after([at, collection.document(row_id)])
    if isinstance(through, tuple):
        query = query.end_at([through[0], collection.document(through[1])])
    if fields is not None:
        query = query.select(fields)
    return transient.stream(query.limit(limit), "list rows that entered a slice")
