"""Data rows: the catalog's "All data" listing, one row, metadata patches, deletion.

Rows are created by ingest. A metadata patch or a deletion goes through
:func:`shared.store.rows.mutate_rows`, so the row's slice membership is re-evaluated in the same
write: a row patched to match a slice is in it when the call returns, and a deleted row is in
no slice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from shared.documents import MEMBERSHIP_FIELDS, row_to_api
from shared.errors import NotFound
from shared.filters import And, Filter, load
from shared.metadata import MetadataField, MetadataSchema
from shared.models import DataRow, DataRowUpdate
from shared.services.filtering import load_filter, registry_for
from shared.services.listing import RowPage, filtered_page
from shared.services.ordering import parse_ordering
from shared.services.paging import page_size
from shared.services.problems import invalid_fields
from shared.store import rows as row_store
from shared.store.schema import add_fields, load_schema, merge_fields
from shared.store.scopes import CATALOG

Document = dict[str, Any]


def list_rows(
    *,
    filter_value: str | dict[str, Any] | None,
    order_by: str | None,
    size: int | None,
    page_token: str | None,
    within: Filter | None = None,
) -> tuple[list[DataRow], RowPage]:
    """A page of catalog rows that match the filter (and ``within``, e.g. one dataset)."""
    registry = registry_for(CATALOG)
    tree = load_filter(filter_value, registry)
    if within is not None:
        tree = load(And(and_=[within, tree]), registry)
    ordering = parse_ordering(order_by, registry)
    page = filtered_page(
        CATALOG, tree, registry, ordering, size=page_size(size), page_token=page_token
    )
    return [row_to_api(doc) for doc in page.docs], page


def get_row(row_id: str) -> DataRow:
    doc = row_store.get_row(CATALOG, row_id)
    if doc is None:
        raise NotFound(f"data row {row_id!r} does not exist")
    return row_to_api(doc)


def update_row(row_id: str, update: DataRowUpdate) -> DataRow:
    """Merge a metadata patch (null removes a field) and re-evaluate the row's membership."""
    checked = _checked_metadata(row_id, update.metadata)
    moment = datetime.now(UTC)

    def decide(_: str, current: Document | None) -> Document | row_store._Keep:
        if current is None:
            return row_store.KEEP
        new = {k: v for k, v in current.items() if k not in MEMBERSHIP_FIELDS}
        metadata = dict(current.get("metadata") or {})
        for name, value in checked.items():
            if value is None:
                metadata.pop(name, None)
            else:
                metadata[name] = value
        new["metadata"] = metadata
        new["updatedAt"] = moment
        return new

    result = row_store.mutate_rows(CATALOG, [row_id], decide)
    if not result.written:
        raise NotFound(f"data row {row_id!r} does not exist")
    return get_row(row_id)


def delete_row(row_id: str) -> None:
    """Remove the row, and so its membership of every slice."""

    def decide(_: str, current: Document | None) -> row_store._Keep | None:
        return None if current is not None else row_store.KEEP

    if not row_store.mutate_rows(CATALOG, [row_id], decide).deleted:
        raise NotFound(f"data row {row_id!r} does not exist")


def _checked_metadata(row_id: str, patch: dict[str, Any]) -> dict[str, Any]:
    """Each value in its stored type; a field not declared yet is declared by its first value,
    as ingest does, but only once the whole patch is valid and the row exists: a refused
    request declares nothing. A wrong type is a 400 naming every bad field."""
    schema = load_schema()
    undeclared = {n: v for n, v in patch.items() if v is not None and n not in schema.fields}
    if not undeclared:
        return _checked(patch, schema)
    additions = _inferred(undeclared, schema)
    _checked(patch, _within_limits(lambda: merge_fields(schema, additions, first_wins=True)))
    get_row(row_id)
    # Checked again: a concurrent writer may have declared one of the fields otherwise.
    return _checked(patch, _within_limits(lambda: add_fields(additions, first_wins=True)))


def _within_limits(schema: Callable[[], MetadataSchema]) -> MetadataSchema:
    try:
        return schema()
    except ValidationError as too_many:  # e.g. over the schema's field limit
        raise invalid_fields(
            [{"field": "metadata", "description": e["msg"]} for e in too_many.errors()]
        ) from None


def _checked(patch: dict[str, Any], schema: MetadataSchema) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    problems: list[dict[str, str]] = []
    for name, value in patch.items():
        if value is None:
            checked[name] = None
            continue
        try:
            checked[name] = schema.check(name, value)
        except (KeyError, ValueError) as bad:
            problems.append({"field": f"metadata.{name}", "description": str(bad)})
    if problems:
        raise invalid_fields(problems)
    return checked


def _inferred(values: dict[str, Any], schema: MetadataSchema) -> dict[str, MetadataField]:
    fields: dict[str, MetadataField] = {}
    problems: list[dict[str, str]] = []
    for name, value in values.items():
        try:
            fields[name] = schema.infer(name, value)
        except ValueError as bad:
            problems.append({"field": f"metadata.{name}", "description": str(bad)})
    if problems:
        raise invalid_fields(problems)
    return fields
