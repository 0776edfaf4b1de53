"""Slice documents, their unique names, their build shards, and membership commits of builds.

``slices/<id>`` holds the definition; ``sliceNames/<hash of scope and lower-cased name>`` makes
names unique per scope (created and deleted in the same transaction as the slice);
``slices/<id>/buildShards/<hex prefix>`` holds one shard's build cursor. Every definition change
bumps the scope's slice-set version in the same transaction (see ``slice_sets``).
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.errors import AlreadyExists, FailedPrecondition, NotFound
from shared.store import slice_sets
from shared.store.client import BUILD_SHARDS, SLICE_CLEANUPS, SLICE_NAMES, SLICES, db
from shared.store.scopes import rows_collection

Document = dict[str, Any]

# Row ids are uniform hex digests, so their first hex digit splits a scope into 16 even shards.
SHARD_PREFIXES: tuple[str, ...] = tuple("0123456789abcdef")


def shard_range(prefix: str) -> tuple[str, str]:
    """The id range [start, end) of a shard."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def name_key(scope_key: str, name: str) -> str:
    """The id of the document that reserves a name in a scope: case-insensitive, and blind to
    how the name is composed (NFC before and after casefolding, which may decompose)."""
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", name.strip()).casefold())
    return hashlib.sha256(f"{scope_key}\n{folded}".encode()).hexdigest()


def _slice_ref(slice_id: str) -> firestore.DocumentReference:
    return db().collection(SLICES).document(slice_id)


def _name_ref(scope_key: str, name: str) -> firestore.DocumentReference:
    return db().collection(SLICE_NAMES).document(name_key(scope_key, name))


def _shard_refs(slice_id: str) -> list[firestore.DocumentReference]:
    shards = _slice_ref(slice_id).collection(BUILD_SHARDS)
    return [shards.document(prefix) for prefix in SHARD_PREFIXES]


def _reset_shards(transaction: firestore.Transaction, slice_id: str, generation: int) -> None:
    for ref in _shard_refs(slice_id):
        transaction.set(
            ref, {"generation": generation, "cursor": None, "done": False, "scanned": 0}
        )


def _name_taken(scope_key: str, name: str, transaction: firestore.Transaction) -> bool:
    return bool(_name_ref(scope_key, name).get(transaction=transaction).exists)


def _taken_error(name: str) -> AlreadyExists:
    return AlreadyExists(f"a slice named {name.strip()!r} already exists in this scope")


def create_slice(doc: Document) -> Document:
    """Store a new slice (``doc`` has id, name, scopeKey ...) and reset its build shards."""
    slice_id, scope_key, name = doc["id"], doc["scopeKey"], doc["name"]

    @firestore.transactional  # type: ignore[untyped-decorator]
    def apply(transaction: firestore.Transaction) -> None:
        if _name_taken(scope_key, name, transaction):
            raise _taken_error(name)
        transaction.create(_slice_ref(slice_id), doc)
        transaction.create(_name_ref(scope_key, name), {"sliceId": slice_id})
        _reset_shards(transaction, slice_id, doc["buildGeneration"])
        slice_sets.bump_version(transaction, scope_key)

    apply(db().transaction())
    return doc


def get_slice(slice_id: str) -> Document:
    snapshot = _slice_ref(slice_id).get()
    if not snapshot.exists:
        raise NotFound(f"slice {slice_id!r} does not exist")
    return snapshot.to_dict() or {}


def update_slice(
    slice_id: str, changes: Mapping[str, Any], *, etag: str | None, filter_changed: bool
) -> Document:
    """Apply ``changes`` if the stored etag is still ``etag``; a new filter restarts the build."""

    @firestore.transactional  # type: ignore[untyped-decorator]
    def apply(transaction: firestore.Transaction) -> Document:
        snapshot = _slice_ref(slice_id).get(transaction=transaction)
        if not snapshot.exists:
            raise NotFound(f"slice {slice_id!r} does not exist")
        current = snapshot.to_dict() or {}
        if etag is not None and etag != current["etag"]:
            raise FailedPrecondition(
                f"the slice changed since etag {etag!r} (now {current['etag']!r}): re-read it"
            )
        updated = {**current, **changes}
        renamed = name_key(current["scopeKey"], updated["name"]) != name_key(
            current["scopeKey"], current["name"]
        )
        if renamed and _name_taken(current["scopeKey"], updated["name"], transaction):
            raise _taken_error(updated["name"])
        if filter_changed:
            updated["buildGeneration"] = current["buildGeneration"] + 1
            updated["status"] = "building"
            updated["progress"] = {"shardsDone": 0, "shardsTotal": len(SHARD_PREFIXES)}
        updated["etag"] = new_etag(current["etag"])
        transaction.set(snapshot.reference, updated)
        if renamed:
            transaction.delete(_name_ref(current["scopeKey"], current["name"]))
            transaction.create(
                _name_ref(current["scopeKey"], updated["name"]), {"sliceId": slice_id}
            )
        if filter_changed:
            _reset_shards(transaction, slice_id, updated["buildGeneration"])
            slice_sets.bump_version(transaction, current["scopeKey"])
        return updated

    result: Document = apply(db().transaction())
    return result


def new_etag(previous: str) -> str:
    """Etags count versions; opaque to clients."""
    return str(int(previous or "0") + 1)


def delete_slice(slice_id: str) -> Document:
    """Remove the slice, its name and its shards; rows are cleaned by ``remove_from_rows``."""

    @firestore.transactional  # type: ignore[untyped-decorator]
    def apply(transaction: firestore.Transaction) -> Document:
        snapshot = _slice_ref(slice_id).get(transaction=transaction)
        if not snapshot.exists:
            raise NotFound(f"slice {slice_id!r} does not exist")
        current = snapshot.to_dict() or {}
        transaction.delete(snapshot.reference)
        transaction.delete(_name_ref(current["scopeKey"], current["name"]))
        for ref in _shard_refs(slice_id):
            transaction.delete(ref)
        slice_sets.bump_version(transaction, current["scopeKey"])
        # Rows still carry the id until they are stripped; the record survives a crash.
        transaction.set(
            _cleanup_ref(slice_id), {"sliceId": slice_id, "scopeKey": current["scopeKey"]}
        )
        return current

    result: Document = apply(db().transaction())
    return result


def _cleanup_ref(slice_id: str) -> firestore.DocumentReference:
    return db().collection(SLICE_CLEANUPS).document(slice_id)


def pending_cleanups(limit: int = 50) -> list[Document]:
    """Deleted slices whose id may still be on rows (see ``remove_from_rows``)."""
    return [s.to_dict() or {} for s in db().collection(SLICE_CLEANUPS).limit(limit).stream()]


def finish_cleanup(slice_id: str) -> None:
    _cleanup_ref(slice_id).delete()


def list_slices(
    scope_key: str | None, *, limit: int, after: tuple[datetime, str] | None = None
) -> list[Document]:
    """Slices newest first, optionally of one scope. Index: (scopeKey, createdAt desc) for a
    scope, else the automatic one on ``createdAt`` (descending)."""
    query: Any = db().collection(SLICES)
    if scope_key is not None:
        query = query.where(filter=firestore.FieldFilter("scopeKey", "==", scope_key))
    query = query.order_by("createdAt", direction=firestore.Query.DESCENDING).order_by(
        "__name__", direction=firestore.Query.DESCENDING
    )
    if after is not None:
        created, slice_id = after
        query = query.start_after({"createdAt": created, "__name__": _slice_ref(slice_id)})
    return [snap.to_dict() or {} for snap in query.limit(limit).stream()]


def find_auto_slice(scope_key: str, auto: str) -> Document | None:
    query = (
        db()
        .collection(SLICES)
        .where(filter=firestore.FieldFilter("scopeKey", "==", scope_key))
        .where(filter=firestore.FieldFilter("auto", "==", auto))
        .limit(1)
    )
    for snapshot in query.stream():
        return snapshot.to_dict() or {}
    return None


def building_slices(limit: int = 50) -> list[Document]:
    query = db().collection(SLICES).where(filter=firestore.FieldFilter("status", "==", "building"))
    return [snap.to_dict() or {} for snap in query.limit(limit).stream()]


def shards(slice_id: str) -> list[Document]:
    return [{"prefix": s.id, **(s.to_dict() or {})} for s in db().get_all(_shard_refs(slice_id))]


def acquire_build_lease(slice_id: str, owner: str, *, seconds: float) -> bool:
    """Take the slice's build lease unless another worker holds an unexpired one.

    One builder per slice: two builders finishing shards of one slice at once contend on the
    slice document in every transaction (and the emulator deadlocks such pairs).
    """

    @firestore.transactional  # type: ignore[untyped-decorator]
    def apply(transaction: firestore.Transaction) -> bool:
        snapshot = _slice_ref(slice_id).get(transaction=transaction)
        if not snapshot.exists:
            raise NotFound(f"slice {slice_id!r} does not exist")
        now = datetime.now(UTC)
        lease = (snapshot.to_dict() or {}).get("buildLease") or {}
        if lease.get("owner") not in (None, owner) and lease.get("until") and lease["until"] > now:
            return False
        until = now + timedelta(seconds=seconds)
        transaction.update(snapshot.reference, {"buildLease": {"owner": owner, "until": until}})
        return True

    result: bool = apply(db().transaction())
    return result


def release_build_lease(slice_id: str, owner: str) -> None:
    """Give the lease back (a no-op if it expired and someone else took it, or the slice went)."""

    @firestore.transactional  # type: ignore[untyped-decorator]
    def apply(transaction: firestore.Transaction) -> None:
        snapshot = _slice_ref(slice_id).get(transaction=transaction)
        lease = (snapshot.to_dict() or {}).get("buildLease") or {} if snapshot.exists else {}
        if lease.get("owner") == owner:
            transaction.update(snapshot.reference, {"buildLease": firestore.DELETE_FIELD})

    apply(db().transaction())


class BuildSuperseded(Exception):
    """The slice was edited or deleted: this build's generation is over."""


class RowsChanged(Exception):
    """Some rows changed since they were read; re-read and decide again."""


def commit_build_chunk(
    slice_id: str,
    *,
    generation: int,
    decisions: Iterable[tuple[firestore.DocumentSnapshot, bool]],
    shard: str,
    cursor: str,
    scanned: int,
    now: datetime,
) -> None:
    """Atomically: add/remove the slice on rows and advance the shard's cursor.

    The transaction reads the slice, so an edit of its filter (which bumps the generation)
    either happens before, and this chunk is refused, or after, and the new build rescans.
    Each row write carries its update time as a precondition: a row changed since it was read
    fails the chunk with :class:`RowsChanged`.
    """
    decisions = list(decisions)
    shard_ref = _slice_ref(slice_id).collection(BUILD_SHARDS).document(shard)

    @firestore.transactional  # type: ignore[untyped-decorator]
    def apply(transaction: firestore.Transaction) -> None:
        snapshot = _slice_ref(slice_id).get(transaction=transaction)
        if not snapshot.exists or snapshot.get("buildGeneration") != generation:
            raise BuildSuperseded(slice_id)
        for row, member in decisions:
            if member:
                update = {"sliceIds": firestore.ArrayUnion([slice_id]),
                          f"sliceEnteredAt.{slice_id}": now}  # fmt: skip
            else:
                update = {"sliceIds": firestore.ArrayRemove([slice_id]),
                          f"sliceEnteredAt.{slice_id}": firestore.DELETE_FIELD}  # fmt: skip
            transaction.update(
                row.reference, update, option=db().write_option(last_update_time=row.update_time)
            )
        transaction.update(shard_ref, {"cursor": cursor, "scanned": firestore.Increment(scanned)})

    try:
        apply(db().transaction())
    except gexc.FailedPrecondition as changed:
        raise RowsChanged(str(changed)) from changed


def finish_shard(slice_id: str, generation: int, shard: str) -> bool:
    """Mark a shard done; when it was the last, the slice becomes ready. True when ready."""
    shard_ref = _slice_ref(slice_id).collection(BUILD_SHARDS).document(shard)

    @firestore.transactional  # type: ignore[untyped-decorator]
    def apply(transaction: firestore.Transaction) -> bool:
        snapshot = _slice_ref(slice_id).get(transaction=transaction)
        if not snapshot.exists or snapshot.get("buildGeneration") != generation:
            raise BuildSuperseded(slice_id)
        states = {s.id: s.to_dict() or {} for s in transaction.get_all(_shard_refs(slice_id))}
        states[shard] = {**states.get(shard, {}), "done": True}
        done = sum(1 for s in states.values() if s.get("done"))
        transaction.update(shard_ref, {"done": True})
        ready = done == len(SHARD_PREFIXES)
        transaction.update(
            snapshot.reference,
            {
                "progress": {"shardsDone": done, "shardsTotal": len(SHARD_PREFIXES)},
                "status": "ready" if ready else "building",
            },
        )
        return ready

    result: bool = apply(db().transaction())
    return result


def remove_from_rows(scope_key: str, slice_id: str, *, limit: int = 300) -> int:
    """Strip a deleted slice from up to ``limit`` rows; returns how many were stripped."""
    query = (
        rows_collection(scope_key)
        .where(filter=firestore.FieldFilter("sliceIds", "array_contains", slice_id))
        .limit(limit)
    )
    batch = db().batch()
    count = 0
    for snapshot in query.stream():
        batch.update(
            snapshot.reference,
            {
                "sliceIds": firestore.ArrayRemove([slice_id]),
                f"sliceEnteredAt.{slice_id}": firestore.DELETE_FIELD,
            },
        )
        count += 1
    if count:
        batch.commit()
    return count


def count_members(scope_key: str, slice_id: str) -> int:
    """How many rows are in the slice (an aggregation: one read per 1,000 index entries)."""
    query = rows_collection(scope_key).where(
        filter=firestore.FieldFilter("sliceIds", "array_contains", slice_id)
    )
    result = query.count().get()
    return int(result[0][0].value)
