"""Small builders for store tests: row documents and slice documents as the services make them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.ids import new_id, row_id

NOW = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def row_doc(key: str, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "globalKey": key,
        "rowData": f"gs://bucket/{key}",
        "dataset": key.split("/", maxsplit=1)[0],
        "mediaType": "image",
        "media": {"mimeType": "image/png", "sizeBytes": 10, "width": None, "height": None},
        "metadata": {},
        "labels": [],
        "labelClasses": [],
        "labelCount": 0,
        "createdAt": NOW,
        "updatedAt": NOW,
        "generation": 1,
    }
    doc.update(fields)
    return doc


def slice_doc(name: str, filter_tree: dict[str, Any], scope_key: str = "catalog") -> dict[str, Any]:
    return {
        "id": new_id(),
        "name": name,
        "description": "",
        "scopeKey": scope_key,
        "filter": filter_tree,
        "filterText": "",
        "orderBy": None,
        "auto": None,
        "status": "building",
        "progress": {"shardsDone": 0, "shardsTotal": 16},
        "etag": "1",
        "buildGeneration": 1,
        "createdAt": NOW,
        "updatedAt": NOW,
    }


def split_is(value: str) -> dict[str, Any]:
    return {"field": "metadata.split", "op": "eq", "value": value}


def key_id(key: str) -> str:
    return row_id(key)
