"""The saved slices of a scope, compiled together, and the version that says when they changed.

Every change to a scope's slice definitions (create, filter edit, delete) increments
``sliceSets/<scope>.version`` in the same transaction. Writers of rows compile the set once per
version and re-check the version after they write (see ``rows.mutate_rows``): that closes the
race with a slice saved while a row is being written (docs/architecture.md, consistency).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.cloud import firestore
from pydantic import TypeAdapter

from shared.filters import FieldRegistry, Filter, compile_slices
from shared.store import transient
from shared.store.client import SLICE_SETS, SLICES, db
from shared.store.schema import schema_from, schema_ref
from shared.store.scopes import scope_kind

_FILTER = TypeAdapter(Filter)


@dataclass(frozen=True)
class SliceSet:
    scope_key: str
    version: int
    schema_version: int
    match: Callable[[Mapping[str, Any]], list[str]]


_cache: dict[str, SliceSet] = {}
_lock = threading.Lock()


def version_ref(scope_key: str) -> firestore.DocumentReference:
    return db().collection(SLICE_SETS).document(scope_key.replace("/", "_"))


def read_version(scope_key: str) -> int:
    snapshot = transient.get(version_ref(scope_key), "read slice set version")
    return int((snapshot.to_dict() or {}).get("version", 0)) if snapshot.exists else 0


def bump_version(transaction: firestore.Transaction, scope_key: str) -> None:
    """Call inside the transaction that changes a slice definition of this scope."""
    transaction.set(version_ref(scope_key), {"version": firestore.Increment(1)}, merge=True)


def context_refs(scope_key: str) -> list[firestore.DocumentReference]:
    """The documents a slice set is compiled from: read them with the rows being written,
    in the same round trip, and pass the snapshots to :func:`from_snapshots`."""
    return [version_ref(scope_key), schema_ref()]


def current(scope_key: str) -> SliceSet:
    """The compiled slice set at the scope's current version (cached per process).

    The set's version and the schema's are read in one round trip, and the schema is only
    parsed when the set is compiled.
    """
    refs = context_refs(scope_key)
    found = db().get_all(refs, retry=transient.retry(), timeout=transient.TIMEOUT_SECONDS)
    return from_snapshots(scope_key, list(found))


def from_snapshots(scope_key: str, snapshots: list[firestore.DocumentSnapshot]) -> SliceSet:
    """The compiled set for the version and schema in ``snapshots`` (of :func:`context_refs`,
    in any order, among other documents)."""
    by_path = {snapshot.reference.path: snapshot for snapshot in snapshots}
    set_snapshot = by_path[version_ref(scope_key).path]
    schema_snapshot = by_path[schema_ref().path]
    version = int(set_snapshot.get("version") or 0) if set_snapshot.exists else 0
    schema_version = int(schema_snapshot.get("version") or 0) if schema_snapshot.exists else 0
    with _lock:
        cached = _cache.get(scope_key)
        if cached and cached.version == version and cached.schema_version == schema_version:
            return cached
    schema = schema_from(schema_snapshot)
    registry = FieldRegistry(scope_kind(scope_key), schema)
    query = db().collection(SLICES).where(filter=firestore.FieldFilter("scopeKey", "==", scope_key))
    snapshots = query.stream(retry=transient.retry(), timeout=transient.TIMEOUT_SECONDS)
    filters = {snap.id: _FILTER.validate_python(snap.get("filter")) for snap in snapshots}
    compiled = SliceSet(scope_key, version, schema.version, compile_slices(filters, registry))
    with _lock:
        _cache[scope_key] = compiled
    return compiled


def clear_cache() -> None:
    """Forget compiled sets (tests wipe the database, which restarts versions at zero)."""
    with _lock:
        _cache.clear()
