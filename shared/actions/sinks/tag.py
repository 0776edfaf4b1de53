"""The tag sink: adds the configured tags to a metadata tags field of the new rows.

Tags are added as a set (sorted, distinct), never appended, so a retried run, or a row tagged
twice, ends the same. Rows are written through ``rows.mutate_rows``, so their slice membership
stays true (a slice filtering on the tags gains or loses them at once). A row that already has
the tags is not written; one that would pass the metadata limit of tags is left as it is.

Tags are metadata of the data row, so a model-run slice's rows are tagged on their data rows
(a model-run row has its data row's id); ``mutate_rows`` brings every run's copy along.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from shared.actions.models import TagConfig
from shared.actions.sinks import EnteredRow, RunContext
from shared.documents import MEMBERSHIP_FIELDS
from shared.errors import FailedPrecondition
from shared.metadata import MAX_TAGS, MetadataKind
from shared.store import rows as row_store
from shared.store.client import MAX_BATCH_WRITES
from shared.store.schema import load_schema
from shared.store.scopes import CATALOG

Document = dict[str, Any]


def tagged(
    current: Document | None, field: str, tags: list[str], now: datetime
) -> Document | row_store._Keep:
    """The row with ``tags`` added to ``metadata.<field>``, or KEEP when nothing changes."""
    if current is None:
        return row_store.KEEP
    metadata = dict(current.get("metadata") or {})
    existing = metadata.get(field)
    have = existing if isinstance(existing, list) else []
    merged = sorted({*have, *tags})
    if merged == have or len(merged) > MAX_TAGS:
        return row_store.KEEP
    metadata[field] = merged
    new = {k: v for k, v in current.items() if k not in MEMBERSHIP_FIELDS}
    new["metadata"] = metadata
    new["updatedAt"] = now
    return new


def _decide(
    _row_id: str, current: Document | None, *, field: str, tags: list[str], now: datetime
) -> Document | row_store._Keep:
    return tagged(current, field, tags, now)


class TagSink:
    needs_documents = False

    def __init__(self, context: RunContext) -> None:
        if not isinstance(context.config, TagConfig):
            raise TypeError("a tag sink needs a tag config")
        self.context = context
        self.config = context.config
        self.ids: list[str] = []

    def add(self, row: EnteredRow) -> None:
        self.ids.append(row.id)

    def full(self) -> bool:
        return False

    def deliver(self) -> str:
        field = self.config.field
        declared = load_schema().fields.get(field)
        if declared is None or declared.kind is not MetadataKind.TAGS:
            raise FailedPrecondition(f"metadata field {field!r} is not a tags field")
        tags = sorted(set(self.config.tags))
        written = unchanged = 0
        for start in range(0, len(self.ids), MAX_BATCH_WRITES):
            chunk = self.ids[start : start + MAX_BATCH_WRITES]
            decide = partial(_decide, field=field, tags=tags, now=datetime.now(UTC))
            result = row_store.mutate_rows(CATALOG, chunk, decide)
            written += len(result.written)
            unchanged += result.unchanged
        return f"{written} rows tagged, {unchanged} already had the tags"
