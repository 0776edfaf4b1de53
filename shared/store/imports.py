"""Import reports: what ingest did with one object generation, readable later through the API.

``importReports/<id>`` (id: a hash of ``gs://bucket/name#generation``, so a redelivered event
finds its report) holds the status (``running``, ``done``, ``failed``), counts, the first errors
with their line numbers, and for a manifest the resume cursor (byte offset and line number)
with a lease: the worker holding the lease advances the cursor chunk by chunk, each advance
conditional on the cursor it started from, so two workers never both count a chunk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.errors import NotFound
from shared.store import transient
from shared.store.client import IMPORT_REPORTS, db
from shared.store.objects import object_key

Document = dict[str, Any]

MAX_LEASE_ATTEMPTS = 8
# A conditional write of a report failing because it was written since, or deleted.
_WRITTEN_SINCE: tuple[type[BaseException], ...] = (*transient.CONFLICTS, gexc.NotFound)

RUNNING = "running"
DONE = "done"
FAILED = "failed"

# The kind of a media object's report (invalid metadata values, or a name no route takes).
OBJECT = "object"


class LeaseLost(Exception):
    """Another worker took over this import (or finished it): stop without writing."""


def report_id(bucket: str, name: str, generation: int) -> str:
    return hashlib.sha256(f"gs://{bucket}/{name}#{generation}".encode()).hexdigest()[:32]


def _ref(report: str) -> firestore.DocumentReference:
    return db().collection(IMPORT_REPORTS).document(report)


def new_report(
    bucket: str, name: str, generation: int, *, kind: str, status: str, now: datetime
) -> Document:
    """A report document with zero counts (callers add their fields)."""
    return {
        "id": report_id(bucket, name, generation),
        "bucket": bucket,
        "object": name,
        "objectKey": object_key(bucket, name),
        "generation": generation,
        "kind": kind,
        "status": status,
        "createdAt": now,
        "updatedAt": now,
    }


def open_report(doc: Document) -> Document:
    """Create the report if it does not exist; the stored report either way.

    A redelivered event so finds its first report as it is (``createdAt`` included, which
    orders the list of reports), whether that report is finished or still running.
    """
    ref = _ref(doc["id"])
    try:
        transient.create(ref, doc, "create import report")
    except gexc.AlreadyExists:
        return transient.get(ref, "read import report").to_dict() or {}
    return doc


def get_report(report: str) -> Document:
    snapshot = transient.get(_ref(report), "read import report")
    if not snapshot.exists:
        raise NotFound(f"import report {report!r} does not exist")
    return snapshot.to_dict() or {}


def acquire_lease(report: str, owner: str, *, now: datetime, until: datetime) -> Document | None:
    """Take the lease of a running import; None if it is finished or another worker holds it."""
    ref = _ref(report)
    for _ in range(MAX_LEASE_ATTEMPTS):
        snapshot = transient.get(ref, "read import report")
        doc = snapshot.to_dict()
        if doc is None or doc.get("status") != RUNNING:
            return None
        holder, expires = doc.get("leaseOwner"), doc.get("leaseUntil")
        if holder not in (None, owner) and expires is not None and expires > now:
            return None
        change = {"leaseOwner": owner, "leaseUntil": until, "updatedAt": now}
        try:
            transient.update_if_unchanged(snapshot, change, "lease import")
        except transient.CONFLICTS:
            continue
        return {**doc, **change}
    return None


def save_progress(
    report: str,
    owner: str,
    *,
    expected_offset: int,
    fields: Mapping[str, Any],
    now: datetime,
    written_at: datetime | None = None,
) -> datetime:
    """Advance the cursor from ``expected_offset``; :class:`LeaseLost` if it is not ours now.

    ``written_at`` is what the worker's previous call returned, the update time of its own last
    write: while nobody else has written the report since, it still holds this worker's lease
    and cursor, so the cursor moves in one call, without reading the report first.
    """
    update = {**fields, "updatedAt": now}
    if written_at is not None:
        try:
            return transient.update_if_written_at(_ref(report), written_at, update, "save progress")
        except _WRITTEN_SINCE:
            pass  # written since (by whom, the report says) or gone
    snapshot = transient.get(_ref(report), "read import report")
    doc = snapshot.to_dict() or {}
    if (
        doc.get("status") != RUNNING
        or doc.get("leaseOwner") != owner
        or (doc.get("cursor") or {}).get("offset", 0) != expected_offset
    ):
        raise LeaseLost(report)
    try:
        return transient.update_if_unchanged(snapshot, update, "save progress")
    except transient.CONFLICTS as conflict:
        raise LeaseLost(report) from conflict


def release(
    report: str,
    owner: str,
    *,
    expected_offset: int,
    now: datetime,
    status: str | None = None,
    message: str | None = None,
    written_at: datetime | None = None,
) -> None:
    """Give the lease up; with a status, finish the report (and say why, with a message)."""
    fields: dict[str, Any] = {"leaseOwner": None, "leaseUntil": None}
    if status is not None:
        fields.update(status=status, finishedAt=now)
    if message is not None:
        fields["message"] = message
    save_progress(
        report, owner, expected_offset=expected_offset, fields=fields, now=now,
        written_at=written_at,
    )  # fmt: skip


def unfinished(*, limit: int = 50, kinds: Sequence[str] | None = None) -> list[Document]:
    """Running imports, of these kinds if given (indexes: the automatic ones on ``status``
    and ``kind``, merged)."""
    query = (
        db().collection(IMPORT_REPORTS).where(filter=firestore.FieldFilter("status", "==", RUNNING))
    )
    if kinds is not None:
        query = query.where(filter=firestore.FieldFilter("kind", "in", list(kinds)))
    query = query.limit(limit)
    return [s.to_dict() or {} for s in transient.stream(query, "list running imports")]


def reports_for_object(bucket: str, name: str) -> list[Document]:
    """Every report of one object, newest generation first (index: automatic, ``objectKey``)."""
    query = (
        db()
        .collection(IMPORT_REPORTS)
        .where(filter=firestore.FieldFilter("objectKey", "==", object_key(bucket, name)))
    )
    docs = [s.to_dict() or {} for s in transient.stream(query, "list object reports")]
    return sorted(docs, key=lambda doc: doc.get("generation", 0), reverse=True)


def list_reports(
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
    object_name: str | None = None,
    kind: str | None = None,
) -> list[Document]:
    """Reports newest first, a page at a time, optionally of one object name and one kind;
    ``after`` is the last (createdAt, id) seen.

    Indexes: the automatic one on ``createdAt`` (descending); with filters, the composite
    (object, createdAt desc) and (kind, createdAt desc), merged when both apply. Ties are
    broken by id.
    """
    query: Any = db().collection(IMPORT_REPORTS)
    if object_name is not None:
        query = query.where(filter=firestore.FieldFilter("object", "==", object_name))
    if kind is not None:
        query = query.where(filter=firestore.FieldFilter("kind", "==", kind))
    query = query.order_by("createdAt", direction=firestore.Query.DESCENDING).order_by(
        "__name__", direction=firestore.Query.DESCENDING
    )
    if after is not None:
        query = query.start_after({"createdAt": after[0], "__name__": _ref(after[1])})
    return [s.to_dict() or {} for s in transient.stream(query.limit(limit), "list reports")]
