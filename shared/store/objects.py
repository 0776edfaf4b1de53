"""What ingest remembers about bucket objects: per-object generation records.

``objects/<key>`` (key: a hash of ``gs://bucket/name``) keeps the highest generation of the object
that any event has named and whether that generation is deleted. Events arrive at least once
and in any order; the record turns each into one of three answers (:func:`decide_claim`):

- APPLY: the event is the newest word on the object; the caller acts on it.
- REPEAT: the record already says exactly this; the caller acts again, idempotently (a crash may
  have cut the first delivery short), and the outcome is the same.
- STALE: a later generation, or this generation's delete, is already recorded: change nothing.
  This is what makes "deleted, then a late create of the same or an older generation" leave
  no row: the record is a tombstone that outlives the row.

Records are written with create-if-absent or update-time preconditions (optimistic, no
transaction locks), so two events racing on one object serialize on the record.

:func:`ensure_dataset` creates the dataset an object name implies, within ingest's retry budget.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.errors import Aborted
from shared.store import transient
from shared.store.client import DATASETS, OBJECTS, db

MAX_CLAIM_ATTEMPTS = 8
_LOST_RACE: tuple[type[BaseException], ...] = (gexc.AlreadyExists, *transient.CONFLICTS)


class Claim(StrEnum):
    APPLY = "apply"
    REPEAT = "repeat"
    STALE = "stale"


@dataclass(frozen=True)
class ObjectRecord:
    bucket: str
    name: str
    generation: int
    deleted: bool
    kind: str

    def to_document(self, now: datetime) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "name": self.name,
            "generation": self.generation,
            "deleted": self.deleted,
            "kind": self.kind,
            "updatedAt": now,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> ObjectRecord:
        return cls(
            doc["bucket"], doc["name"], int(doc["generation"]), bool(doc["deleted"]), doc["kind"]
        )


def object_key(bucket: str, name: str) -> str:
    """The record's document id: object names may hold '/' and exceed an id's length."""
    return hashlib.sha256(f"gs://{bucket}/{name}".encode()).hexdigest()[:32]


def decide_claim(record: ObjectRecord | None, generation: int, *, deleted: bool) -> Claim:
    """What an event (``generation``, created or ``deleted``) means given the stored record."""
    if record is None or generation > record.generation:
        return Claim.APPLY
    if generation < record.generation:
        return Claim.STALE
    if record.deleted == deleted:
        return Claim.REPEAT
    # Same generation: its delete supersedes its create, never the other way round.
    return Claim.APPLY if deleted else Claim.STALE


def _ref(bucket: str, name: str) -> firestore.DocumentReference:
    return db().collection(OBJECTS).document(object_key(bucket, name))


def get_record(bucket: str, name: str) -> ObjectRecord | None:
    snapshot = transient.get(_ref(bucket, name), "read object record")
    return ObjectRecord.from_document(snapshot.to_dict()) if snapshot.exists else None


def claim(
    bucket: str, name: str, generation: int, *, deleted: bool, kind: str, now: datetime
) -> Claim:
    """Record an event on the object's record if it is the newest word; say what it means."""
    ref = _ref(bucket, name)
    new = ObjectRecord(bucket, name, generation, deleted, kind).to_document(now)
    for _ in range(MAX_CLAIM_ATTEMPTS):
        snapshot = transient.get(ref, "read object record")
        current = ObjectRecord.from_document(snapshot.to_dict()) if snapshot.exists else None
        answer = decide_claim(current, generation, deleted=deleted)
        if answer is not Claim.APPLY:
            return answer
        try:
            if current is None:
                transient.create(ref, new, "create object record")
            else:
                transient.update_if_unchanged(snapshot, new, "update object record")
        except _LOST_RACE:
            continue  # another event on this object won the race: decide again on its record
        return Claim.APPLY
    raise Aborted(f"the record of gs://{bucket}/{name} kept changing")


def ensure_dataset(dataset_id: str, *, now: datetime) -> bool:
    """Create ``datasets/{id}`` unless it exists (as ``store.datasets.ensure_dataset`` does, but
    within the retry budget: it is often an event's first call, so an outage fails it fast)."""
    ref = db().collection(DATASETS).document(dataset_id)
    doc = {"id": dataset_id, "name": dataset_id, "description": "", "createdAt": now}
    try:
        transient.create(ref, doc, "create dataset")
    except gexc.AlreadyExists:
        return False
    return True
