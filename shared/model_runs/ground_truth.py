"""COCO ground truth lands on data rows: each image's boxes become the row's labels.

The COCO file owns a row's ``labels`` (and fills ``media`` width and height when unknown); it
keeps every other field, and creates the row when its image has not landed yet (the image
object, when it lands, keeps these labels: an object owns no labels). Like a manifest, each row
remembers the file generation that labelled it (``groundTruth`` {uri, generation}), and an
older generation of the same file does not relabel it, so the end state does not depend on the
order events arrive in. Rows go through ``rows.mutate_rows``: their membership, and the model-run
rows that copy them, follow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.documents import MEMBERSHIP_FIELDS, label_fields
from shared.ids import row_id
from shared.ingest import media as media_types
from shared.model_runs.coco import CocoImage, global_key
from shared.store import rows as row_store
from shared.store.scopes import CATALOG

Document = dict[str, Any]
_BOOKKEEPING = frozenset({"id", "createdAt", "updatedAt", *MEMBERSHIP_FIELDS})


def _new_row(key: str, dataset: str, image: CocoImage) -> Document:
    mime = media_types.mime_type(None, image.file_name)
    return {
        "globalKey": key,
        "rowData": key,
        "dataset": dataset,
        "mediaType": str(media_types.media_type(mime)),
        "media": {"mimeType": mime, "sizeBytes": None, "width": image.width,
                  "height": image.height},
        "metadata": {},
        "generation": None,
    }  # fmt: skip


def labelled(
    images: Mapping[str, tuple[str, CocoImage]],
    dataset: str,
    source: Mapping[str, Any],
    now: datetime,
) -> row_store.Decide:
    """The decide function that labels rows (row id -> (global key, image)) from ``source``."""
    generation = int(source["generation"])

    def decide(rid: str, current: Document | None) -> Any:
        prior = (current or {}).get("groundTruth") or {}
        if prior.get("uri") == source["uri"] and int(prior.get("generation") or 0) > generation:
            return row_store.KEEP
        key, image = images[rid]
        if current is None:
            new = _new_row(key, dataset, image)
        else:
            new = {k: v for k, v in current.items() if k not in _BOOKKEEPING}
            media = dict(new.get("media") or {})
            if media.get("width") is None and media.get("height") is None:
                media["width"], media["height"] = image.width, image.height
            new["media"] = media
        new |= {**label_fields(image.labels), "groundTruth": dict(source)}
        if current is not None and all(
            current.get(k) == new.get(k) for k in (set(current) | set(new)) - _BOOKKEEPING
        ):
            return row_store.KEEP
        created = (current or {}).get("createdAt") or now
        return {**new, "createdAt": created, "updatedAt": now}

    return decide


def land(
    bucket: str,
    dataset: str,
    images: Sequence[CocoImage],
    source: Mapping[str, Any],
    now: datetime,
) -> dict[int, str]:
    """Label one chunk of images (at most 500); {image id: global key} of the images."""
    by_id = {}
    keys = {}
    for image in images:
        key = global_key(bucket, dataset, image.file_name)
        by_id[row_id(key)] = (key, image)
        keys[image.id] = key
    row_store.mutate_rows(CATALOG, list(by_id), labelled(by_id, dataset, source, now))
    return keys
