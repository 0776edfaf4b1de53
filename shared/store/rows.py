"""Reading and writing the rows of a scope, with slice membership kept true on every write.

All row writes go through :func:`mutate_rows`: read the current documents, let the caller decide
each new document, set its membership from the scope's compiled slice set, and commit with a
precondition on each document's update time (optimistic concurrency: no locks, a concurrent
writer makes the commit fail and the round is retried on fresh reads). After the commit the
slice set's version is read again; if a slice was saved meanwhile, membership of the written
rows is recomputed, so a row is never missed by a slice saved while it was being written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.documents import MEMBERSHIP_FIELDS, set_membership
from shared.errors import Aborted, TransientError
from shared.store import slice_sets, transient
from shared.store.client import MAX_BATCH_WRITES, db
from shared.store.scopes import CATALOG, rows_collection

log = logging.getLogger(__name__)


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()
"""Returned by a decide function: leave this row exactly as it is."""

Document = dict[str, Any]
Decide = Callable[[str, Document | None], Document | _Keep | None]


@dataclass(frozen=True)
class RowChange:
    """One row a mutation writes: its document before and after (None: absent, deleted)."""

    row_id: str
    before: Document | None
    after: Document | None


# Extra documents to merge into the same commit as the rows (e.g. a model run's totals, kept
# by Increment deltas): ``also(changes) -> {reference: fields merged with set(merge=True)}``.
Also = Callable[[Sequence[RowChange]], Mapping[firestore.DocumentReference, Document]]

_CONFLICTS = (gexc.FailedPrecondition, gexc.Aborted, gexc.Conflict)
_UNAVAILABLE = transient.UNAVAILABLE
MAX_ATTEMPTS = 8
# A batch of several rows that conflicts this often is split (one busy row must not starve it).
SPLIT_AFTER_CONFLICTS = 3


@dataclass
class MutationResult:
    written: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    attempts: int = 0
    # With ``expect_new``: every row was absent, so they were created without being read.
    created_unread: bool = False


def _precondition(snapshot: firestore.DocumentSnapshot) -> Any:
    return db().write_option(last_update_time=snapshot.update_time)


def _put(
    batch: firestore.WriteBatch,
    ref: firestore.DocumentReference,
    snapshot: firestore.DocumentSnapshot | None,
    new: Document,
) -> None:
    """Replace the document, failing the batch if it changed since ``snapshot`` was read
    (no snapshot, or a missing one: create it, failing the batch if it exists)."""
    if snapshot is None or not snapshot.exists:
        batch.create(ref, new)
        return
    old = snapshot.to_dict() or {}
    update = {**new, **{key: firestore.DELETE_FIELD for key in old if key not in new}}
    batch.update(ref, update, option=_precondition(snapshot))


def mutate_rows(
    scope_key: str,
    ids: Sequence[str],
    decide: Decide,
    *,
    also: Also | None = None,
    expect_new: bool = False,
) -> MutationResult:
    """Read-modify-write up to 500 rows of a scope in one commit, with membership set.

    ``decide(row_id, current_document_or_None)`` returns the new document (without membership
    fields), ``None`` to delete, or :data:`KEEP`. It must be a pure function of its arguments:
    on a conflict it is called again with the fresh document. ``also`` adds writes to the same
    commit from the changes decided (its writes count against the 500 of one commit). A batch
    that keeps conflicting is split in halves, so that one busy row cannot starve the others.

    ``expect_new`` (a bulk import into rows that likely do not exist yet) first tries to create
    every row without reading it; if any exists, that commit fails as a whole and the rows are
    read and written as usual. ``created_unread`` on the result says which way it went.
    """
    if len(ids) > MAX_BATCH_WRITES:
        raise ValueError(f"at most {MAX_BATCH_WRITES} rows per mutation")
    collection = rows_collection(scope_key)
    refs = [collection.document(row_id) for row_id in dict.fromkeys(ids)]
    if expect_new:
        created = _round(scope_key, refs, decide, also, unread=True)
        if created is not None:
            # No model-run row to bring along: runs copy rows that exist, and a row's
            # deletion takes its copies with it (a deletion cut short is repaired when its
            # event is redelivered).
            created.attempts, created.created_unread = 1, True
            return created
    attempts = MAX_ATTEMPTS if len(refs) == 1 else SPLIT_AFTER_CONFLICTS
    for attempt in range(1, attempts + 1):
        result = _round(scope_key, refs, decide, also)
        if result is None:
            continue
        result.attempts = attempt
        if scope_key == CATALOG:
            _follow_data_rows(refs)
        return result
    if len(refs) == 1:
        raise Aborted(f"a row kept changing under {MAX_ATTEMPTS} attempts to write it")
    half = len(refs) // 2
    merged = MutationResult(attempts=attempts)
    failure: TransientError | None = None
    for part in (refs[:half], refs[half:]):
        try:  # the other half lands even when this one keeps failing
            done = mutate_rows(scope_key, [r.id for r in part], decide, also=also)
        except TransientError as error:
            failure = error
            continue
        merged.written += done.written
        merged.deleted += done.deleted
        merged.unchanged += done.unchanged
    if failure is not None:
        raise failure
    return merged


def _round(
    scope_key: str,
    refs: Sequence[firestore.DocumentReference],
    decide: Decide,
    also: Also | None,
    *,
    unread: bool = False,
) -> MutationResult | None:
    """One read-decide-commit round; None when a concurrent writer made the commit fail.

    ``unread``: decide every row as absent and create it without reading it; None when one
    exists (the create fails the whole commit)."""
    result = MutationResult()
    try:
        # The rows and the slice set's version come in one read.
        context = slice_sets.context_refs(scope_key)
        read = context if unread else [*refs, *context]
        snapshots = _get_all(read)
        slice_set = slice_sets.from_snapshots(scope_key, snapshots)
        rows = [None] * len(refs) if unread else snapshots[: len(refs)]
        # Entry times are taken just before each commit, never earlier: scheduled actions
        # take rows up to a settle delay behind now and must not miss a late commit.
        moment = datetime.now(UTC)
        batch = db().batch()
        changes: list[RowChange] = []
        for ref, snapshot in zip(refs, rows, strict=True):
            current = snapshot.to_dict() if snapshot and snapshot.exists else None
            new = decide(ref.id, current)
            if isinstance(new, _Keep) or (new is None and current is None):
                result.unchanged += 1
            elif new is None:
                batch.delete(ref, option=_precondition(snapshot))
                result.deleted.append(ref.id)
                changes.append(RowChange(ref.id, current, None))
            else:
                membership = {k: current[k] for k in MEMBERSHIP_FIELDS if current and k in current}
                new = {**new, **membership, "id": ref.id}
                set_membership(new, slice_set.match(new), moment)
                _put(batch, ref, snapshot, new)
                result.written.append(ref.id)
                changes.append(RowChange(ref.id, current, new))
        if also is not None and changes:
            extra = also(changes)
            if len(changes) + len(extra) > MAX_BATCH_WRITES:
                raise ValueError(f"at most {MAX_BATCH_WRITES} writes per mutation")
            for ref, fields in extra.items():
                batch.set(ref, fields, merge=True)
        if result.written or result.deleted:
            batch.commit(retry=transient.retry(), timeout=transient.TIMEOUT_SECONDS)
    except _CONFLICTS as conflict:  # (AlreadyExists too: a row created unread exists)
        log.info("row write conflict, retrying: %s", conflict)
        return None
    except _UNAVAILABLE as unavailable:
        raise TransientError(f"Firestore unavailable: {unavailable}") from unavailable
    if result.written:
        refresh_membership_until_stable(scope_key, result.written, slice_set.version)
    return result


def _follow_data_rows(refs: Sequence[firestore.DocumentReference]) -> None:
    """Model-run rows copy their data rows: bring them along. Every id is synced, written or
    not, so that a sync cut short by a crash is repaired when the write is repeated."""
    from shared.model_runs.sync import sync_model_run_rows  # noqa: PLC0415 (a higher layer)

    sync_model_run_rows([ref.id for ref in refs])


def refresh_membership_until_stable(scope_key: str, ids: Sequence[str], version: int) -> None:
    """Recompute membership of written rows while the slice set moved on since ``version``."""
    for _ in range(MAX_ATTEMPTS):
        if slice_sets.read_version(scope_key) == version:
            return
        version = refresh_membership(scope_key, ids)
    raise Aborted("slice definitions kept changing while rows were written")


def refresh_membership(scope_key: str, ids: Sequence[str]) -> int:
    """Re-evaluate these rows against the current slice set; the version used is returned."""
    collection = rows_collection(scope_key)
    refs = [collection.document(row_id) for row_id in ids]
    for _ in range(MAX_ATTEMPTS):
        slice_set = slice_sets.current(scope_key)
        moment = datetime.now(UTC)
        batch = db().batch()
        changed = False
        for snapshot in _get_all(refs):
            doc = snapshot.to_dict()
            if doc is None:
                continue
            if set_membership(doc, slice_set.match(doc), moment):
                changed = True
                batch.update(
                    snapshot.reference,
                    {"sliceIds": doc["sliceIds"], "sliceEnteredAt": doc["sliceEnteredAt"]},
                    option=_precondition(snapshot),
                )
        try:
            if changed:
                batch.commit(retry=transient.retry(), timeout=transient.TIMEOUT_SECONDS)
        except _CONFLICTS:
            continue
        return slice_set.version
    raise Aborted("rows kept changing while their membership was refreshed")


def _get_all(refs: Sequence[firestore.DocumentReference]) -> list[firestore.DocumentSnapshot]:
    """Snapshots in the order of ``refs`` (get_all answers in any order)."""
    found = db().get_all(refs, retry=transient.retry(), timeout=transient.TIMEOUT_SECONDS)
    by_path = {snapshot.reference.path: snapshot for snapshot in found}
    return [by_path[ref.path] for ref in refs]


def get_row(scope_key: str, row_id: str) -> Document | None:
    snapshot = rows_collection(scope_key).document(row_id).get()
    return snapshot.to_dict() if snapshot.exists else None


def get_rows(scope_key: str, ids: Sequence[str]) -> dict[str, Document]:
    collection = rows_collection(scope_key)
    snapshots = _get_all([collection.document(row_id) for row_id in ids])
    return {s.id: s.to_dict() or {} for s in snapshots if s.exists}


def iter_id_range(
    scope_key: str, start: str, end: str, *, after: str | None = None, page: int = 300
) -> Iterator[list[firestore.DocumentSnapshot]]:
    """The rows whose ids lie in [start, end), after ``after``, in id order, a page at a time."""
    collection = rows_collection(scope_key)
    cursor = after
    while True:
        query = collection.where(
            filter=firestore.FieldFilter("__name__", ">=", collection.document(start))
        ).where(filter=firestore.FieldFilter("__name__", "<", collection.document(end)))
        if cursor is not None:
            query = query.start_after({"__name__": collection.document(cursor)})
        chunk = list(query.order_by("__name__").limit(page).stream())
        if not chunk:
            return
        yield chunk
        cursor = chunk[-1].id
        if len(chunk) < page:
            return


def snapshots(scope_key: str, ids: Sequence[str]) -> list[firestore.DocumentSnapshot]:
    """Fresh snapshots of these rows, in order (missing rows come back with ``exists`` False)."""
    collection = rows_collection(scope_key)
    return _get_all([collection.document(row_id) for row_id in ids])
