"""Slice membership builds: evaluate every row of a scope against one slice, resumably.

A build walks the scope's 16 id shards (row ids are uniform hex, so shards are even). Each chunk
of rows is decided in memory and committed in one transaction with the shard's cursor, so a
crashed build resumes where it stopped and never applies a decision twice. Locally the shards
run in turn; in production each shard can run on its own instance (the transaction on the slice
document keeps them honest). A build stops at its deadline and is continued by the scheduled
function or by ``POST /v1/slices/{id}:build``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.cloud.firestore import DocumentSnapshot
from pydantic import TypeAdapter

from shared.filters import FieldRegistry, Filter, compile_filter
from shared.ids import new_id
from shared.store import rows as row_store
from shared.store import slices as slice_store
from shared.store.schema import load_schema
from shared.store.scopes import scope_kind

Document = dict[str, Any]

log = logging.getLogger(__name__)
_FILTER = TypeAdapter(Filter)
CHUNK_ROWS = 300
# A build lease outlives its holder's deadline by this much, then another worker may take over.
LEASE_MARGIN_SECONDS = 30.0
MAX_LEASE_SECONDS = 3600.0
MAX_CHUNK_RETRIES = 5


@dataclass
class BuildReport:
    slice_id: str
    ready: bool
    rows_scanned: int = 0
    rows_changed: int = 0
    superseded: bool = False
    busy: bool = False


def advance_build(slice_id: str, *, deadline: float, chunk_rows: int = CHUNK_ROWS) -> BuildReport:
    """Advance one slice's build until it is ready or ``deadline`` (time.monotonic) passes."""
    doc = slice_store.get_slice(slice_id)
    report = BuildReport(slice_id, ready=doc["status"] == "ready")
    if report.ready:
        return report
    owner = new_id()
    seconds = min(max(deadline - time.monotonic(), 0), MAX_LEASE_SECONDS) + LEASE_MARGIN_SECONDS
    if not slice_store.acquire_build_lease(slice_id, owner, seconds=seconds):
        report.busy = True  # another worker is building it: leave it to them
        return report
    try:
        return _advance(doc, report, deadline=deadline, chunk_rows=chunk_rows)
    finally:
        slice_store.release_build_lease(slice_id, owner)


def _advance(
    doc: Document, report: BuildReport, *, deadline: float, chunk_rows: int
) -> BuildReport:
    slice_id = doc["id"]
    scope_key, generation = doc["scopeKey"], doc["buildGeneration"]
    registry = FieldRegistry(scope_kind(scope_key), load_schema())
    matches = compile_filter(_FILTER.validate_python(doc["filter"]), registry)
    try:
        for shard in slice_store.shards(slice_id):
            if shard.get("done"):
                continue
            if shard.get("generation") != generation:
                raise slice_store.BuildSuperseded(slice_id)
            start, end = slice_store.shard_range(shard["prefix"])
            for chunk in row_store.iter_id_range(
                scope_key, start, end, after=shard.get("cursor"), page=chunk_rows
            ):
                report.rows_scanned += len(chunk)
                report.rows_changed += _commit_chunk(
                    slice_id,
                    generation=generation,
                    scope_key=scope_key,
                    chunk=chunk,
                    shard=shard["prefix"],
                    matches=matches,
                )
                if time.monotonic() > deadline:
                    return report
            report.ready = slice_store.finish_shard(slice_id, generation, shard["prefix"])
    except slice_store.BuildSuperseded:
        report.superseded = True
    return report


def _commit_chunk(
    slice_id: str,
    *,
    generation: int,
    scope_key: str,
    chunk: list[DocumentSnapshot],
    shard: str,
    matches: Callable[[Mapping[str, Any]], bool],
) -> int:
    """Decide and commit one chunk; rows changed meanwhile are re-read and decided again."""
    cursor = chunk[-1].id
    scanned = len(chunk)
    for _ in range(MAX_CHUNK_RETRIES):
        decisions = []
        for snapshot in chunk:
            doc = snapshot.to_dict()
            if doc is None:
                continue
            member = bool(matches(doc))
            if member != (slice_id in (doc.get("sliceIds") or [])):
                decisions.append((snapshot, member))
        try:
            slice_store.commit_build_chunk(
                slice_id,
                generation=generation,
                decisions=decisions,
                shard=shard,
                cursor=cursor,
                scanned=scanned,
                now=datetime.now(UTC),
            )
        except slice_store.RowsChanged:
            log.info("rows changed under build of %s; re-reading the chunk", slice_id)
            chunk = row_store.snapshots(scope_key, [s.id for s in chunk])
            continue
        return len(decisions)
    raise slice_store.RowsChanged(f"rows kept changing under the build of {slice_id}")


def advance_all(*, deadline: float) -> list[BuildReport]:
    """Advance every unfinished build in turn (the scheduled function calls this)."""
    reports = []
    for doc in slice_store.building_slices():
        if time.monotonic() > deadline:
            break
        reports.append(advance_build(doc["id"], deadline=deadline))
    return reports
