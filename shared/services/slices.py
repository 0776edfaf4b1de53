"""Slices: saved, named filters whose membership is materialized on the rows.

Creating a slice (or changing its filter) stores the definition at once and starts a
membership build (:mod:`shared.builds`): the request advances it for up to
:data:`REQUEST_BUILD_SECONDS`, and the scheduled function or ``:build`` continue it. The slice
says ``building`` until every row has been decided, then ``ready``. Exploring reads one page of
the slice's rows through the ``sliceIds`` index, whatever the catalog size.

Edits need the slice's current etag (optimistic concurrency, AIP-154): of two edits made from
the same version, exactly one wins and the other gets a 412.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared import builds, page_tokens
from shared.documents import row_to_api, run_row_to_api
from shared.errors import FailedPrecondition, InvalidArgument, NotFound
from shared.filters import FieldRegistry
from shared.ids import new_id
from shared.models import DataRow, ModelRunRow, Slice, SliceCreate, SliceSaveAs, SliceUpdate
from shared.models import scope_key as scope_key_of
from shared.services.filtering import both_forms, load_filter, registry_for
from shared.services.listing import cursor_of, query_key
from shared.services.ordering import canonical_order_by, parse_ordering
from shared.services.paging import page_size
from shared.services.problems import invalid
from shared.services.resource_ids import is_resource_id
from shared.store import actions as action_store
from shared.store import model_runs as model_run_store
from shared.store import queries
from shared.store import slices as slice_store
from shared.store.scopes import CATALOG, MODEL_RUN_PREFIX, model_run_of, scope_kind

Document = dict[str, Any]

REQUEST_BUILD_SECONDS = 8.0
"""How long a create, edit or ``:build`` request advances the membership build."""
DELETE_CLEANUP_SECONDS = 30.0
"""How long a delete strips the slice's id from its rows before answering."""
_COUNT_WORKERS = 8


@dataclass
class SliceRows:
    """One page of a slice's rows; ``complete`` is False while the slice is building."""

    rows: list[DataRow]
    next_page_token: str
    complete: bool
    documents_read: int
    run_rows: list[ModelRunRow] | None = None  # a model-run slice's rows, with their metrics


def create_slice(body: SliceCreate, *, build_seconds: float | None = None) -> Slice:
    key = scope_key_of(body.scope)
    _require_scope(key)
    return _create(
        key,
        name=body.name,
        description=body.description,
        filter_value=body.filter,
        order_by=body.order_by,
        build_seconds=build_seconds,
    )


def create_auto_slice(
    key: str,
    *,
    auto: str,
    name: str,
    description: str,
    filter_value: dict[str, Any],
    order_by: str,
    build_seconds: float | None = None,
) -> Slice:
    """A generated slice of a model run (``auto`` says which kind): a slice like any other,
    created in one transaction with its kind, so that a generator finds it by ``auto``."""
    _require_scope(key)
    return _create(
        key,
        name=name,
        description=description,
        filter_value=filter_value,
        order_by=order_by,
        build_seconds=build_seconds,
        auto=auto,
    )


def save_as(
    slice_id: str, body: SliceSaveAs, *, etag: str | None, build_seconds: float | None = None
) -> Slice:
    """A new slice from an existing one, with a new name and optionally edited fields."""
    source = slice_store.get_slice(slice_id)
    given = _etag(etag, body.etag, required=False)
    if given is not None and given != source["etag"]:
        raise _stale(given, source["etag"])
    fields = body.model_dump(exclude_unset=True)
    return _create(
        source["scopeKey"],
        name=body.name,
        description=(fields["description"] if "description" in fields else source["description"])
        or "",
        filter_value=fields["filter"] if fields.get("filter") is not None else source["filter"],
        order_by=fields["order_by"] if "order_by" in fields else source.get("orderBy"),
        build_seconds=build_seconds,
    )


def _create(
    key: str,
    *,
    name: str,
    description: str,
    filter_value: str | dict[str, Any],
    order_by: str | None,
    build_seconds: float | None,
    auto: str | None = None,
) -> Slice:
    registry = registry_for(key)
    tree_json, text = both_forms(load_filter(filter_value, registry))
    now = datetime.now(UTC)
    doc: Document = {
        "id": new_id(),
        "name": name,
        "description": description,
        "scopeKey": key,
        "scope": _scope_json(key),
        "filter": tree_json,
        "filterText": text,
        "orderBy": _order_by(order_by, registry),
        "auto": auto,
        "status": "building",
        "progress": {"shardsDone": 0, "shardsTotal": len(slice_store.SHARD_PREFIXES)},
        "etag": slice_store.new_etag(""),
        "buildGeneration": 1,
        "createdAt": now,
        "updatedAt": now,
    }
    slice_store.create_slice(doc)
    _build(doc["id"], build_seconds)
    return get_slice(doc["id"])


def get_slice(slice_id: str) -> Slice:
    doc = slice_store.get_slice(slice_id)
    scanned = sum(int(shard.get("scanned") or 0) for shard in slice_store.shards(slice_id))
    return to_api(doc, slice_store.count_members(doc["scopeKey"], slice_id), scanned)


def list_slices(
    *, scope: str | None, size: int | None, page_token: str | None
) -> tuple[list[Slice], str]:
    """Slices newest first, optionally of one scope (``catalog`` or ``modelRun:<id>``)."""
    key = _scope_param(scope)
    limit = page_size(size)
    token_key = query_key("slices", key or "")
    after = None
    if page_token:
        after = page_tokens.decode_time(page_token, token_key)
    docs = slice_store.list_slices(key, limit=limit, after=after)
    with ThreadPoolExecutor(max_workers=_COUNT_WORKERS) as pool:
        counts = list(pool.map(lambda d: slice_store.count_members(d["scopeKey"], d["id"]), docs))
    token = ""
    if len(docs) == limit:
        token = page_tokens.encode(token_key, [docs[-1]["createdAt"]], docs[-1]["id"])
    return [to_api(doc, count) for doc, count in zip(docs, counts, strict=True)], token


def update_slice(
    slice_id: str, body: SliceUpdate, *, etag: str | None, build_seconds: float | None = None
) -> Slice:
    """Edit in place; needs the current etag. A changed filter rebuilds membership."""
    expected = _etag(etag, body.etag, required=True)
    current = slice_store.get_slice(slice_id)
    fields = body.model_dump(exclude_unset=True)
    registry = registry_for(current["scopeKey"])
    changes: Document = {}
    for required in ("name", "filter"):
        if required in fields and fields[required] is None:
            raise invalid(required, "cannot be null")
    if "name" in fields:
        changes["name"] = fields["name"]
    if "description" in fields:
        changes["description"] = fields["description"] or ""
    filter_changed = False
    if "filter" in fields:
        tree_json, text = both_forms(load_filter(fields["filter"], registry))
        filter_changed = tree_json != current["filter"]
        changes |= {"filter": tree_json, "filterText": text}
    if "order_by" in fields:
        changes["orderBy"] = _order_by(fields["order_by"], registry)
    changes["updatedAt"] = datetime.now(UTC)
    slice_store.update_slice(slice_id, changes, etag=expected, filter_changed=filter_changed)
    if filter_changed:
        _build(slice_id, build_seconds)
    return get_slice(slice_id)


def delete_slice(slice_id: str, *, cleanup_seconds: float = DELETE_CLEANUP_SECONDS) -> None:
    """Remove the slice, then strip its id from the rows that were in it.

    The definition goes first (in one transaction with the slice-set version), so no writer
    adds the id again; stripping is idempotent and bounded by ``cleanup_seconds``.
    """
    doc = slice_store.delete_slice(slice_id)
    while actions := action_store.list_actions(slice_id, limit=100):
        for action in actions:
            action_store.delete_action(action["id"])
    strip_deleted(slice_id, doc["scopeKey"], deadline=time.monotonic() + cleanup_seconds)


def strip_deleted(slice_id: str, scope_key: str, *, deadline: float) -> bool:
    """Strip a deleted slice's id from its rows until done (True) or ``deadline``."""
    while slice_store.remove_from_rows(scope_key, slice_id):
        if time.monotonic() >= deadline:
            return False
    slice_store.finish_cleanup(slice_id)
    return True


def continue_cleanups(*, deadline: float) -> list[str]:
    """Finish stripping deleted slices (the scheduled function calls this); ids finished."""
    finished = []
    for cleanup in slice_store.pending_cleanups():
        if time.monotonic() >= deadline:
            break
        if strip_deleted(cleanup["sliceId"], cleanup["scopeKey"], deadline=deadline):
            finished.append(cleanup["sliceId"])
    return finished


def build(slice_id: str, *, build_seconds: float | None = None) -> Slice:
    """Advance an unfinished build (a no-op when the slice is ready)."""
    _build(slice_id, build_seconds)
    return get_slice(slice_id)


def explore(
    slice_id: str, *, order_by: str | None, size: int | None, page_token: str | None
) -> SliceRows:
    """One page of the slice's rows: one query on ``sliceIds``, one page of documents read."""
    doc = slice_store.get_slice(slice_id)
    key = doc["scopeKey"]
    # Sort fields are fixed fields: no need to read the metadata schema.
    registry = FieldRegistry(scope_kind(key))
    ordering = parse_ordering(order_by if order_by else doc.get("orderBy"), registry)
    token_key = query_key("slice", slice_id, str(ordering))
    after = page_tokens.decode(page_token, token_key) if page_token else None
    limit = page_size(size)
    snapshots = queries.slice_page(
        key,
        slice_id,
        limit=limit,
        sort_path=ordering.path,
        descending=ordering.descending,
        after=after,
    )
    docs = [(snap.id, snap.to_dict() or {}) for snap in snapshots]
    token = ""
    if len(docs) == limit:
        token = page_tokens.encode(token_key, *cursor_of(docs[-1][1], docs[-1][0], ordering))
    run_id = model_run_of(key)
    return SliceRows(
        rows=[row_to_api(row) for _, row in docs],
        next_page_token=token,
        complete=doc.get("status") == "ready",
        documents_read=len(docs),
        run_rows=None if run_id is None else [run_row_to_api(run_id, row) for _, row in docs],
    )


def to_api(doc: Document, row_count: int, rows_scanned: int | None = None) -> Slice:
    progress = dict(doc.get("progress") or {})
    if rows_scanned is not None:
        progress["rowsScanned"] = rows_scanned
    return Slice.model_validate(
        {
            "id": doc["id"],
            "name": doc["name"],
            "description": doc.get("description") or "",
            "scope": doc.get("scope") or _scope_json(doc["scopeKey"]),
            "filter": doc["filter"],
            "filterText": doc.get("filterText") or "",
            "orderBy": doc.get("orderBy"),
            "auto": doc.get("auto"),
            "status": doc.get("status", "building"),
            "progress": progress,
            "rowCount": row_count,
            "etag": doc["etag"],
            "createdAt": doc.get("createdAt"),
            "updatedAt": doc.get("updatedAt"),
        }
    )


def _build(slice_id: str, seconds: float | None) -> None:
    budget = REQUEST_BUILD_SECONDS if seconds is None else seconds
    builds.advance_build(slice_id, deadline=time.monotonic() + budget)


def _order_by(text: str | None, registry: FieldRegistry) -> str | None:
    try:
        return canonical_order_by(text, registry)
    except InvalidArgument as bad:
        raise invalid("orderBy", bad.message.removeprefix("orderBy: ")) from None


def _scope_json(key: str) -> dict[str, Any]:
    run = model_run_of(key)
    return {"catalog": {}} if run is None else {"modelRun": run}


def _require_scope(key: str) -> None:
    run = model_run_of(key)
    if run is None:
        return
    if not is_resource_id(run):
        raise invalid("scope.modelRun", f"{run!r:.80} is not a model run id")
    if model_run_store.find_run(run) is None:
        raise NotFound(f"model run {run!r} does not exist")


def _scope_param(scope: str | None) -> str | None:
    if scope is None or scope == "":
        return None
    if scope == CATALOG:
        return CATALOG
    if scope.startswith(MODEL_RUN_PREFIX) and is_resource_id(scope.removeprefix(MODEL_RUN_PREFIX)):
        return scope
    raise invalid("scope", "must be 'catalog' or 'modelRun:<model run id>'")


def _etag(header: str | None, body: str | None, *, required: bool) -> str | None:
    """The etag a client sent, from If-Match or the body (both: they must agree)."""
    if header is not None and body is not None and header != body:
        raise invalid("etag", "If-Match and the body's etag disagree")
    given = header if header is not None else body
    if given is None and required:
        raise invalid("etag", "an edit needs the slice's current etag (If-Match or 'etag')")
    return given


def _stale(given: str, current: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"the slice changed since etag {given!r} (now {current!r}): re-read it and try again"
    )
