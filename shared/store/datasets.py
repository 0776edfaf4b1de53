"""Dataset documents (``datasets/{id}``): read by the API; ingest creates them.

Listing is ordered by id (the built-in ``__name__`` index), so it needs no index of its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc

from shared.store.client import DATASETS, db

Document = dict[str, Any]


def get_dataset(dataset_id: str) -> Document | None:
    snapshot = db().collection(DATASETS).document(dataset_id).get()
    return (snapshot.to_dict() or {}) | {"id": snapshot.id} if snapshot.exists else None


def list_datasets(*, limit: int, after: str | None = None) -> list[Document]:
    """Datasets in id order, starting after the id ``after`` (index: built in, document ids)."""
    collection = db().collection(DATASETS)
    query = collection.order_by("__name__")
    if after is not None:
        query = query.start_after({"__name__": collection.document(after)})
    return [(snap.to_dict() or {}) | {"id": snap.id} for snap in query.limit(limit).stream()]


def ensure_dataset(dataset_id: str, *, now: datetime) -> bool:
    """Create ``datasets/{id}`` unless it exists (name = id); True when this call created it."""
    ref = db().collection(DATASETS).document(dataset_id)
    doc = {"id": dataset_id, "name": dataset_id, "description": "", "createdAt": now}
    try:
        ref.create(doc)
    except gexc.AlreadyExists:
        return False
    return True
