"""Ordered, cursor-paged queries over the rows of a scope.

Explore of a saved slice is ``sliceIds array-contains S`` ordered by one sort field: it reads one
page of documents whatever the catalog size, with the composite index (sliceIds, field) that
Terraform declares for each sort field. Ad-hoc filters push what single-field indexes can serve
(the planner decides) and the caller evaluates the rest.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from google.cloud import firestore

from shared.store.scopes import rows_collection

ID_PATH = "__name__"

# (document path, Firestore operator as the client spells it, value)
Constraint = tuple[str, str, Any]


def ordered_query(
    scope_key: str,
    constraints: Sequence[Constraint],
    *,
    sort_path: str = ID_PATH,
    descending: bool = False,
    after: tuple[list[Any], str] | None = None,
) -> Any:
    """The query for ``constraints``, ordered by ``sort_path`` then id, resuming after a row."""
    collection = rows_collection(scope_key)
    query: Any = collection
    for path, op, value in constraints:
        query = query.where(filter=firestore.FieldFilter(path, op, value))
    direction = firestore.Query.DESCENDING if descending else firestore.Query.ASCENDING
    if sort_path != ID_PATH:
        query = query.order_by(sort_path, direction=direction)
    query = query.order_by(ID_PATH, direction=direction)
    if after is not None:
        values, last_id = after
        cursor: dict[str, Any] = {ID_PATH: collection.document(last_id)}
        if sort_path != ID_PATH:
            cursor[sort_path] = values[0] if values else None
        query = query.start_after(cursor)
    return query


def slice_page(
    scope_key: str,
    slice_id: str,
    *,
    limit: int,
    sort_path: str = ID_PATH,
    descending: bool = False,
    after: tuple[list[Any], str] | None = None,
) -> list[firestore.DocumentSnapshot]:
    """One page of a slice's rows: exactly ``limit`` documents read at most."""
    query = ordered_query(
        scope_key,
        [("sliceIds", "array_contains", slice_id)],
        sort_path=sort_path,
        descending=descending,
        after=after,
    )
    return list(query.limit(limit).stream())


def stream(
    scope_key: str,
    constraints: Sequence[Constraint],
    *,
    sort_path: str = ID_PATH,
    descending: bool = False,
    after: tuple[list[Any], str] | None = None,
    max_reads: int,
) -> Iterator[firestore.DocumentSnapshot]:
    """Matching documents in order, at most ``max_reads`` of them (the read budget)."""
    query = ordered_query(
        scope_key, constraints, sort_path=sort_path, descending=descending, after=after
    )
    yield from query.limit(max_reads).stream()
