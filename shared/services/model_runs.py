"""Model runs: create, read, list and re-threshold runs; upload predictions; list a run's rows.

A run holds one row per data row it has predictions for (``modelRuns/<id>/rows``), scored at
write time (:mod:`shared.model_runs.writes`). A threshold change rescores every row as a
resumable job, advanced here within :data:`REQUEST_SECONDS` and then by the scheduled function.
Uploads through the API take the same lines as a prediction file in the bucket, checked one by
one with the same rules and the same report; they are meant for small uploads (the request body
limit applies), files for large ones.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from shared import ndjson, page_tokens, storage
from shared.documents import run_row_to_api
from shared.errors import NotFound
from shared.ids import new_id
from shared.ingest.reports import Progress
from shared.model_runs import generated_slices, recompute, totals, uploads
from shared.model_runs.lines import parse_value
from shared.model_runs.messages import GeneratedSliceList, PredictionImport
from shared.models import (
    ImportProblem,
    ModelRun,
    ModelRunCreate,
    ModelRunRow,
    ModelRunUpdate,
)
from shared.ndjson import MAX_LINE_BYTES
from shared.services import slices as slice_service
from shared.services.filtering import load_filter, registry_for
from shared.services.listing import filtered_page, query_key
from shared.services.ordering import parse_ordering
from shared.services.paging import page_size
from shared.services.problems import invalid
from shared.store import model_runs as run_store
from shared.store import rows as row_store

Document = dict[str, Any]

REQUEST_SECONDS = 8.0
"""How long a threshold change, an upload or ``slices:generate`` works within its request."""
_LIST_KEY = query_key("modelRuns")


def create_run(body: ModelRunCreate) -> ModelRun:
    now = datetime.now(UTC)
    doc: Document = {
        "id": new_id(),
        "name": body.name,
        "model": body.model,
        "classes": list(dict.fromkeys(body.classes)),
        "iouThreshold": body.iou_threshold,
        "confidenceThreshold": body.confidence_threshold,
        "metricsVersion": 1,
        "status": run_store.READY,
        "rowCount": 0,
        "totals": {},
        "classTotals": {},
        "createdAt": now,
        "updatedAt": now,
    }
    run_store.create_run(doc)
    return to_api(doc)


def get_run(run_id: str) -> ModelRun:
    return to_api(run_store.get_run(run_id))


def list_runs(*, size: int | None, page_token: str | None) -> tuple[list[ModelRun], str]:
    """Runs newest first."""
    limit = page_size(size)
    after = None
    if page_token:
        after = page_tokens.decode_time(page_token, _LIST_KEY)
    docs = run_store.list_runs(limit=limit, after=after)
    token = ""
    if len(docs) == limit:
        token = page_tokens.encode(_LIST_KEY, [docs[-1]["createdAt"]], docs[-1]["id"])
    return [to_api(doc) for doc in docs], token


def update_run(
    run_id: str, body: ModelRunUpdate, *, request_seconds: float = REQUEST_SECONDS
) -> ModelRun:
    """Rename, or change thresholds; a threshold that changes rescores every row (a job)."""
    fields = body.model_dump(exclude_unset=True)
    for name, value in fields.items():
        if value is None:
            raise invalid(_camel(name), "cannot be null")
    current = run_store.get_run(run_id)
    changes: Document = {}
    if "name" in fields:
        changes["name"] = fields["name"]
    for name in ("iou_threshold", "confidence_threshold"):
        if name in fields and fields[name] != current[_camel(name)]:
            changes[_camel(name)] = fields[name]
    rescore = any(key in changes for key in ("iouThreshold", "confidenceThreshold"))
    if not changes:
        return to_api(current)
    changes["updatedAt"] = datetime.now(UTC)
    run_store.update_run(run_id, changes, rescore=rescore)
    if rescore:
        recompute.advance(run_id, deadline=time.monotonic() + request_seconds)
    return get_run(run_id)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def upload_predictions(
    run_id: str,
    lines: Iterable[bytes] | Iterable[Any],
    *,
    raw: bool,
    request_seconds: float = REQUEST_SECONDS,
) -> PredictionImport:
    """Land prediction lines (raw NDJSON lines, or JSON values) in the run; the report."""
    run_store.get_run(run_id)
    deadline = time.monotonic() + request_seconds
    generated_slices.ensure(run_id, build_seconds=request_seconds / 2)
    progress = Progress()
    if raw:
        numbered = storage.split_lines(iter(lines), start=0, max_line_bytes=MAX_LINE_BYTES)
        chunk_iter = uploads.chunks(numbered)
    else:
        chunk_iter = _value_chunks(lines)
    for chunk in chunk_iter:
        landed, rejected = uploads.land(run_id, chunk.rows)
        errors = sorted(chunk.errors + rejected)
        progress = progress.advanced(
            offset=0, lines=chunk.lines, written=landed, blank=chunk.blank, errors=errors
        )
    generated_slices.ensure(run_id, build_seconds=max(deadline - time.monotonic(), 0.0))
    return PredictionImport(
        lines_read=progress.lines_read,
        rows_written=progress.rows_written,
        lines_rejected=progress.lines_rejected,
        lines_blank=progress.lines_blank,
        errors=[ImportProblem.model_validate(error) for error in progress.errors],
    )


def _value_chunks(values: Iterable[Any]) -> Iterator[uploads.Chunk]:
    parsed = ((0, 0, parse_value(value)) for value in values)
    return ndjson.chunks(parsed, uploads.BOUNDS)


def generate_slices(run_id: str, *, request_seconds: float = REQUEST_SECONDS) -> GeneratedSliceList:
    """Create or bring up to date the run's nine generated slices."""
    run_store.get_run(run_id)
    ids = generated_slices.ensure(run_id, build_seconds=request_seconds)
    return GeneratedSliceList(slices=[slice_service.get_slice(slice_id) for slice_id in ids])


def list_rows(
    run_id: str,
    *,
    filter_value: str | dict[str, Any] | None,
    order_by: str | None,
    size: int | None,
    page_token: str | None,
) -> tuple[list[ModelRunRow], str]:
    """A page of the run's rows that match the filter, in ``orderBy`` (default: by id)."""
    run_store.get_run(run_id)
    key = run_store.scope_key(run_id)
    registry = registry_for(key)
    tree = load_filter(filter_value, registry)
    ordering = parse_ordering(order_by, registry)
    page = filtered_page(key, tree, registry, ordering, size=page_size(size), page_token=page_token)
    return [run_row_to_api(run_id, doc) for doc in page.docs], page.next_page_token


def get_row(run_id: str, row_id: str) -> ModelRunRow:
    run_store.get_run(run_id)
    doc = row_store.get_row(run_store.scope_key(run_id), row_id)
    if doc is None:
        raise NotFound(f"model run {run_id!r} has no row {row_id!r}")
    return run_row_to_api(run_id, doc)


def to_api(doc: Mapping[str, Any]) -> ModelRun:
    return ModelRun.model_validate(
        {
            "id": doc["id"],
            "name": doc["name"],
            "model": doc["model"],
            "classes": doc.get("classes") or [],
            "iouThreshold": doc["iouThreshold"],
            "confidenceThreshold": doc["confidenceThreshold"],
            "status": doc.get("status") or run_store.READY,
            "rowCount": int(doc.get("rowCount") or 0),
            "metrics": totals.summary(doc),
            "createdAt": doc.get("createdAt"),
            "updatedAt": doc.get("updatedAt"),
        }
    )
