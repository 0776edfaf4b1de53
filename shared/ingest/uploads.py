"""Media objects (``<dataset>/<path>``): a finalized generation writes its row, a delete removes it.

Ordering and redelivery are settled by the object's generation record (``store.objects``):

- finalized(g): create the dataset and settle the metadata (these depend on the event alone);
  claim g on the record (STALE if a later generation, or g's delete, is recorded); read the
  header, write the row through ``mutate_rows`` with a decide that keeps a row of a
  later generation; then read the record again: if a delete of g or later was recorded while we
  wrote, remove the row now (the delete may have run before our write landed).
- deleted/archived(g): if a newer generation is live, this is the old half of an overwrite and
  the row stays (its finalized event writes it; model-run rows are kept). Otherwise claim the
  delete on the record and remove the row unless it is of a later generation (``mutate_rows``
  removes its model-run rows with it).

Every step is idempotent, so a repeated event leaves the same state, whatever the order.
"""

from __future__ import annotations

from datetime import datetime

from shared import storage
from shared.documents import media_fields
from shared.ids import row_id
from shared.ingest import media as media_types
from shared.ingest import merge
from shared.ingest import metadata as meta
from shared.ingest.events import StorageObject
from shared.ingest.outcome import Action, Outcome
from shared.ingest.reports import error_entry
from shared.models import Media, MediaType
from shared.store import imports, objects
from shared.store import rows as row_store
from shared.store.objects import Claim
from shared.store.schema import load_schema
from shared.store.scopes import CATALOG

KIND = "media"


def on_finalized(obj: StorageObject, dataset: str, now: datetime) -> Outcome:
    # The dataset, the schema's new fields and the report on bad values depend on this event
    # alone, so they are settled even for a stale event: they end the same in any order.
    objects.ensure_dataset(dataset, now=now)
    metadata, errors = _metadata(obj)
    report = _report_problems(obj, errors, now) if errors else None
    claim = objects.claim(obj.bucket, obj.name, obj.generation, deleted=False, kind=KIND, now=now)
    if claim is Claim.STALE:
        return Outcome(Action.STALE, obj.uri, obj.generation, report)
    mime = media_types.mime_type(obj.content_type, obj.name)
    kind = media_types.media_type(mime)
    media = Media(mime_type=mime, size_bytes=obj.size)
    if kind is MediaType.IMAGE and obj.size > 0:
        try:
            header = storage.read_image_header(obj.bucket, obj.name, obj.generation, obj.size)
            media.width, media.height = header.width, header.height
        except storage.ObjectGone:
            pass  # deleted since: its delete event is recorded or on its way
    fields = {
        "globalKey": obj.uri,
        "rowData": obj.uri,
        "dataset": dataset,
        "mediaType": str(kind),
        **media_fields(media),
        "metadata": metadata,
    }
    rid = row_id(obj.uri)
    result = row_store.mutate_rows(CATALOG, [rid], merge.object_write(fields, obj.generation, now))
    record = objects.get_record(obj.bucket, obj.name)
    if record is not None and record.deleted and record.generation >= obj.generation:
        remove_row(rid, record.generation)
        return Outcome(Action.STALE, obj.uri, obj.generation, report, "deleted while written")
    action = Action.WRITTEN if result.written else Action.UNCHANGED
    return Outcome(action, obj.uri, obj.generation, report, "; ".join(errors) or None)


def _metadata(obj: StorageObject) -> tuple[dict[str, object], list[str]]:
    """The object's custom metadata checked against the schema; invalid values are left out."""
    schema = load_schema()
    found = meta.prepare(obj.metadata, schema)
    schema = meta.declare(schema, found.additions)
    checked, problems = meta.check(found.values, schema, text=True)
    return dict(checked), found.errors + problems


def _report_problems(obj: StorageObject, errors: list[str], now: datetime) -> str:
    """Record the metadata values left out of the object's row (the row lands without them)."""
    doc = imports.new_report(
        obj.bucket, obj.name, obj.generation, kind=imports.OBJECT, status=imports.DONE, now=now
    )
    doc.update(
        errors=[error_entry(None, reason) for reason in errors],
        message="metadata values left out of the row: see errors",
    )
    imports.open_report(doc)
    return str(doc["id"])


def on_deleted(obj: StorageObject, now: datetime) -> Outcome:
    live = storage.live_generation(obj.bucket, obj.name)
    if live is not None and live >= obj.generation:
        return Outcome(Action.OVERWRITTEN, obj.uri, obj.generation, detail=f"live: {live}")
    claim = objects.claim(obj.bucket, obj.name, obj.generation, deleted=True, kind=KIND, now=now)
    if claim is Claim.STALE:
        return Outcome(Action.STALE, obj.uri, obj.generation)
    removed = remove_row(row_id(obj.uri), obj.generation)
    return Outcome(Action.DELETED if removed else Action.UNCHANGED, obj.uri, obj.generation)


def remove_row(rid: str, generation: int) -> bool:
    """Remove the catalog row unless it is of a later generation; True if it was removed.

    ``mutate_rows`` brings the row's model-run rows along (they are deleted with it).
    """
    result = row_store.mutate_rows(CATALOG, [rid], merge.object_delete(generation))
    return bool(result.deleted)
