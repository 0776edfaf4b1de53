"""Row documents: the one layout the store writes, filters evaluate and the API reads back.

A data row document carries the API fields plus what filtering and membership need:
``labelClasses``/``labelCount`` (the labels flattened, since the ``labels`` array itself is
exempt from indexing), ``sliceIds`` and ``sliceEnteredAt`` (materialized membership: DESIGN
section 5). Media fields are always present, as null when unknown, so that ordering by them
never drops a row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from shared.models import Annotation, DataRow, Media, ModelRunRow

MEMBERSHIP_FIELDS = ("sliceIds", "sliceEnteredAt")


def label_fields(labels: Iterable[Annotation]) -> dict[str, Any]:
    """The flattened label fields filters read: sorted distinct class names and a count."""
    labels = list(labels)
    return {
        "labels": [label.model_dump(by_alias=True, exclude_none=True) for label in labels],
        "labelClasses": sorted({label.name for label in labels}),
        "labelCount": len(labels),
    }


def media_fields(media: Media) -> dict[str, Any]:
    return {"media": media.model_dump(by_alias=True)}


def row_to_api(doc: Mapping[str, Any]) -> DataRow:
    """A stored data row document as the API shows it (membership entry times stay internal)."""
    return DataRow.model_validate(
        {
            "id": doc["id"],
            "globalKey": doc["globalKey"],
            "rowData": doc["rowData"],
            "dataset": doc["dataset"],
            "mediaType": doc.get("mediaType", "other"),
            "media": {k: v for k, v in (doc.get("media") or {}).items() if v is not None},
            "metadata": doc.get("metadata") or {},
            "labels": doc.get("labels") or [],
            "sliceIds": doc.get("sliceIds") or [],
            "generation": doc.get("generation"),
            "createdAt": doc.get("createdAt"),
            "updatedAt": doc.get("updatedAt"),
        }
    )


def run_row_to_api(run_id: str, doc: Mapping[str, Any]) -> ModelRunRow:
    """A stored model-run row as the API shows it: its data row, predictions and metrics."""
    return ModelRunRow.model_validate(
        {
            "id": doc["id"],
            "modelRun": run_id,
            "dataRow": row_to_api(doc),
            "predictions": doc.get("predictions") or [],
            "metrics": doc.get("metrics") or {},
            "split": doc.get("split"),
        }
    )


def set_membership(doc: dict[str, Any], matched: Iterable[str], now: datetime) -> bool:
    """Set ``sliceIds`` and ``sliceEnteredAt`` to the slices matched; True when they changed.

    A row keeps the time it entered a slice for as long as it stays in it, so an action's
    watermark never sees it enter twice.
    """
    before = doc.get("sliceEnteredAt") or {}
    ids = sorted(set(matched))
    entered = {slice_id: before.get(slice_id, now) for slice_id in ids}
    changed = ids != (doc.get("sliceIds") or []) or entered != before
    doc["sliceIds"] = ids
    doc["sliceEnteredAt"] = entered
    return changed
