"""How an object or a manifest line becomes a row document: the decide functions of ingest.

Each source owns some fields and overlays them on the stored row, keeping the rest:

- a media object owns ``globalKey rowData dataset mediaType media metadata generation``; it keeps
  the row's labels (an upload carries none) and any field another writer added;
- a manifest line owns ``globalKey rowData dataset mediaType metadata labels`` (and ``media``
  when it states one) and records itself in ``manifest`` ({uri, generation}); it keeps the
  row's ``generation``, so a row that also has an object still follows that object's life.

Each source orders its own writes by generation: an object's row is not replaced by an older
generation of that object, nor a manifest's row by an older generation of that manifest. So
the end state does not depend on the order events arrive in. Writes from different objects
to one row (two manifests, or a manifest and the object itself) have no order between them:
the last one applied wins.

A decide function is pure (``rows.mutate_rows`` may call it again on a conflict) and answers
``KEEP`` when the result would equal the stored row, so a repeated event writes nothing and
``updatedAt`` only moves when something changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.documents import MEMBERSHIP_FIELDS, label_fields
from shared.store.rows import KEEP, Decide, Document

# Fields that never decide whether a row changed.
_BOOKKEEPING = frozenset({"id", "createdAt", "updatedAt", *MEMBERSHIP_FIELDS})


def _generation(doc: Mapping[str, Any] | None) -> int:
    return int((doc or {}).get("generation") or 0)


def _same(current: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    keys = (set(current) | set(new)) - _BOOKKEEPING
    return all(current.get(key) == new.get(key) for key in keys) and all(
        (key in current) == (key in new) for key in keys
    )


def _finish(current: Document | None, new: Document, now: datetime) -> Document | Any:
    """``new`` stamped with its times, or KEEP when it equals ``current``."""
    if current is not None and _same(current, new):
        return KEEP
    created = current.get("createdAt") if current else None
    return {**new, "createdAt": created or now, "updatedAt": now}


def _base(current: Document | None) -> Document:
    """What an overlay starts from: the stored row (less bookkeeping), or an empty row."""
    if current is None:
        return {**label_fields([]), "metadata": {}, "generation": None}
    return {k: v for k, v in current.items() if k not in _BOOKKEEPING}


def object_write(fields: Mapping[str, Any], generation: int, now: datetime) -> Decide:
    """Write an object's row unless the stored row comes from a later generation."""

    def decide(_row_id: str, current: Document | None) -> Any:
        if current is not None and _generation(current) > generation:
            return KEEP
        new = {**_base(current), **fields, "generation": generation}
        new["media"] = dict(new["media"])
        stored_media = (current or {}).get("media") or {}
        if _generation(current) == generation and new["media"].get("width") is None:
            # The header could not be read this time (the generation is gone); keep what the
            # first delivery read from it.
            for key in ("width", "height"):
                new["media"][key] = stored_media.get(key)
        return _finish(current, new, now)

    return decide


def object_delete(generation: int) -> Decide:
    """Remove the row unless it comes from a later generation of the object."""

    def decide(_row_id: str, current: Document | None) -> Any:
        if current is None or _generation(current) > generation:
            return KEEP
        return None

    return decide


def manifest_write(
    fields_by_id: Mapping[str, Mapping[str, Any]], uri: str, generation: int, now: datetime
) -> Decide:
    """Write the rows of one manifest generation (``fields_by_id``: each line's fields), except
    rows a later generation of the same manifest wrote."""
    source = {"uri": uri, "generation": generation}

    def decide(row_id: str, current: Document | None) -> Any:
        prior = (current or {}).get("manifest") or {}
        if prior.get("uri") == uri and int(prior.get("generation") or 0) > generation:
            return KEEP
        new = {**_base(current), **fields_by_id[row_id], "manifest": source}
        if "media" not in new:
            new["media"] = {"mimeType": None, "sizeBytes": None, "width": None, "height": None}
        return _finish(current, new, now)

    return decide
