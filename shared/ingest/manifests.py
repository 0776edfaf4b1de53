"""Manifest imports: ``imports/<name>.ndjson``, one data row per line, streamed and resumable.

Lines are read in ranged blocks (never the whole file), validated one by one, and the good ones
land in chunks of at most 500 rows through ``rows.mutate_rows`` (membership set in the same
write); the next chunk is read and checked while the previous one is written. After each
chunk the import report's cursor (byte offset, line number, counts, first errors) advances in
one conditional write, so an import stopped anywhere (its deadline, a crash, a redelivery)
resumes at the first line whose chunk was not recorded; a chunk written twice writes the same
rows (decide answers KEEP), and is counted once.

An import runs under a lease on its report. The event that finds a manifest starts it; when the
deadline comes first, the lease is released and :func:`continue_imports` (called by the
scheduled function) picks it up, as does a redelivery of the event.

Generations of one manifest are all imported, whatever order their events arrive in: each row
remembers the manifest generation that wrote it (``merge.manifest_write``), and an older
generation does not overwrite it. So an overwritten manifest whose first version arrives late
still lands the rows the new version does not state, as in-order delivery would.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from shared import ndjson, storage
from shared.documents import label_fields
from shared.errors import TransientError
from shared.ids import row_id
from shared.ingest import media as media_types
from shared.ingest import merge
from shared.ingest import metadata as meta
from shared.ingest.events import StorageObject
from shared.ingest.outcome import Action, Outcome
from shared.ingest.reports import Progress
from shared.metadata import MetadataField
from shared.models import DataRowCreate
from shared.ndjson import Blank
from shared.store import imports, objects
from shared.store import rows as row_store
from shared.store.client import MAX_BATCH_WRITES
from shared.store.schema import load_schema
from shared.store.scopes import CATALOG

log = logging.getLogger(__name__)

# A chunk ends at whichever comes first (the byte bound keeps a commit under Firestore's 10 MiB).
CHUNK_ROWS = MAX_BATCH_WRITES
CHUNK_LINES = 5000
CHUNK_ROW_BYTES = 4 * 1024 * 1024
# A lease outlives its worker's deadline by this much before another worker may take over.
LEASE_MARGIN = timedelta(seconds=60)
KIND = "manifest"


def parse_line(data: bytes | None, first: bool = False) -> DataRowCreate | str | Blank:
    """One manifest line as a row, or the reason it is rejected, or BLANK (pure)."""
    value = ndjson.decode_object(data, first=first)
    if not isinstance(value, dict):
        return value
    try:
        row = DataRowCreate.model_validate(value)
    except ValidationError as error:
        return ndjson.describe(error)
    if "media_type" not in row.model_fields_set:
        mime = row.media.mime_type or media_types.mime_type(None, row.row_data)
        row.media_type = media_types.media_type(mime)
    return row


BOUNDS = ndjson.Bounds(rows=CHUNK_ROWS, lines=CHUNK_LINES, row_bytes=CHUNK_ROW_BYTES)
Chunk = ndjson.Chunk[DataRowCreate]


def chunks(lines: Iterator[storage.Line], *, after_line: int) -> Iterator[Chunk]:
    """Parse lines into chunks; line numbers continue from ``after_line`` (pure over ``lines``)."""
    return ndjson.chunks(ndjson.parse_lines(lines, parse_line), BOUNDS, after_line=after_line)


def _row_fields(row: DataRowCreate, metadata: Mapping[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "globalKey": row.global_key,
        "rowData": row.row_data,
        "dataset": row.dataset,
        "mediaType": str(row.media_type),
        "metadata": dict(metadata),
        **label_fields(row.labels),
    }
    if "media" in row.model_fields_set:
        fields["media"] = row.media.model_dump(by_alias=True)
    return fields


def _settle_metadata(
    rows: list[tuple[int, DataRowCreate]], errors: list[tuple[int, str]]
) -> list[tuple[int, DataRowCreate, dict[str, Any]]]:
    """Check each row's metadata against the schema, declaring new fields once for the chunk."""
    schema = load_schema()
    prepared = []
    additions: dict[str, MetadataField] = {}
    for number, row in rows:
        found = meta.prepare(row.metadata, schema)
        if found.errors:
            errors.append((number, "; ".join(found.errors)))
            continue
        meta.merge_additions(additions, found.additions)
        prepared.append((number, row, found.values))
    schema = meta.declare(schema, additions)
    settled = []
    for number, row, values in prepared:
        checked, problems = meta.check(values, schema)
        if problems:
            errors.append((number, "; ".join(problems)))
            continue
        settled.append((number, row, checked))
    return settled


@dataclass
class _Run:
    report_id: str
    owner: str
    bucket: str
    name: str
    generation: int
    size: int
    progress: Progress
    datasets: set[str] = field(default_factory=set)
    rows_new: bool = True
    report_written_at: datetime | None = None  # of this worker's last write of the report

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}"

    def outcome(self, action: Action, detail: str) -> Outcome:
        return Outcome(action, self.uri, self.generation, self.report_id, detail)


def _report_outcome(report: Mapping[str, Any], action: Action, detail: str) -> Outcome:
    uri = f"gs://{report['bucket']}/{report['object']}"
    return Outcome(action, uri, int(report["generation"]), report["id"], detail)


@dataclass(frozen=True)
class _Batch:
    """A chunk ready to write: its rows' fields by row id, and the progress once it is written."""

    fields_by_id: dict[str, dict[str, Any]]
    progress: Progress
    now: datetime


def _prepare(run: _Run, chunk: Chunk, before: Progress) -> _Batch:
    """Check a chunk's metadata (declaring new fields), create its datasets, count it."""
    errors = list(chunk.errors)
    settled = _settle_metadata(chunk.rows, errors)
    now = datetime.now(UTC)
    fields_by_id: dict[str, dict[str, Any]] = {}
    for _, row, checked in settled:
        fields_by_id[row_id(row.global_key)] = _row_fields(row, checked)
    for dataset in sorted({f["dataset"] for f in fields_by_id.values()} - run.datasets):
        objects.ensure_dataset(dataset, now=now)
        run.datasets.add(dataset)
    errors.sort()
    progress = before.advanced(
        offset=chunk.end, lines=chunk.lines, written=len(settled), blank=chunk.blank, errors=errors
    )
    return _Batch(fields_by_id, progress, now)


def _write(run: _Run, batch: _Batch) -> None:
    """Write a prepared chunk's rows, then move the report's cursor past it."""
    if batch.fields_by_id:
        decide = merge.manifest_write(batch.fields_by_id, run.uri, run.generation, batch.now)
        written = row_store.mutate_rows(
            CATALOG, list(batch.fields_by_id), decide, expect_new=run.rows_new
        )
        # Rows new to the catalog are created without a read; once a chunk meets rows that
        # exist (a re-import, labels for images already landed), the rest is read first.
        run.rows_new = written.created_unread
    run.report_written_at = imports.save_progress(
        run.report_id,
        run.owner,
        expected_offset=run.progress.offset,
        fields=batch.progress.fields(),
        now=batch.now,
        written_at=run.report_written_at,
    )
    run.progress = batch.progress


def _pump(run: _Run, lines: Iterator[storage.Line], deadline: float) -> bool:
    """Land chunk after chunk until the end (True) or the deadline (False).

    The next chunk is read and checked while the previous one is written: one writer thread,
    so chunks land, and the cursor moves, in order. Before this returns or raises, the last
    write has finished (its error, if any, is the one raised).
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="manifest-writer") as writer:
        writing: Future[None] | None = None
        try:
            planned = run.progress
            for chunk in chunks(lines, after_line=planned.line):
                batch = _prepare(run, chunk, planned)
                if writing is not None:
                    writing.result()
                writing = writer.submit(_write, run, batch)
                planned = batch.progress
                if time.monotonic() >= deadline:
                    return False
            return True
        finally:
            if writing is not None:
                writing.result()


def _close(run: _Run, *, status: str | None, message: str | None = None) -> None:
    """Release the lease; with a status, finish the report."""
    imports.release(
        run.report_id,
        run.owner,
        expected_offset=run.progress.offset,
        now=datetime.now(UTC),
        status=status,
        message=message,
        written_at=run.report_written_at,
    )


def start(obj: StorageObject, *, deadline: float) -> Outcome:
    """Open (or find) the report of this manifest generation and import until ``deadline``."""
    now = datetime.now(UTC)
    doc = {
        **imports.new_report(
            obj.bucket, obj.name, obj.generation, kind=KIND, status=imports.RUNNING, now=now
        ),
        "sizeBytes": obj.size,
        **Progress().fields(),
        "leaseOwner": None,
        "leaseUntil": None,
    }
    report = imports.open_report(doc)
    return resume(report, deadline=deadline)


def resume(report: Mapping[str, Any], *, deadline: float) -> Outcome:
    """Continue one import from its cursor until it ends or ``deadline`` (time.monotonic)."""
    report_id, bucket, name = report["id"], report["bucket"], report["object"]
    generation = int(report["generation"])
    if report.get("status") != imports.RUNNING:
        detail = f"import already {report.get('status')}"
        return _report_outcome(report, Action.UNCHANGED, detail)
    owner = uuid.uuid4().hex
    now = datetime.now(UTC)
    until = now + timedelta(seconds=max(deadline - time.monotonic(), 0)) + LEASE_MARGIN
    leased = imports.acquire_lease(report_id, owner, now=now, until=until)
    if leased is None:
        detail = "another worker holds this import"
        return _report_outcome(report, Action.BUSY, detail)
    run = _Run(report_id, owner, bucket, name, generation, int(leased.get("sizeBytes", 0)),
               Progress.from_report(leased))  # fmt: skip
    try:
        return _import(run, deadline)
    except BaseException:
        # Whatever stopped this worker, the next delivery or tick may resume at once instead
        # of waiting for the lease to expire.
        _release_quietly(run)
        raise


def _import(run: _Run, deadline: float) -> Outcome:
    lines = storage.iter_lines(
        run.bucket, run.name, run.generation,
        size=run.size, start=run.progress.offset, max_line_bytes=ndjson.MAX_LINE_BYTES,
    )  # fmt: skip
    try:
        finished = _pump(run, lines, deadline)
        if not finished:
            _close(run, status=None)
            return run.outcome(Action.CONTINUING, f"stopped after line {run.progress.line}")
    except storage.ObjectGone:
        message = f"the manifest was deleted after line {run.progress.line}, before it was read"
        _close(run, status=imports.FAILED, message=message)
        return run.outcome(Action.REJECTED, message)
    except imports.LeaseLost:
        return run.outcome(Action.BUSY, "another worker took over this import")
    _close(run, status=imports.DONE)
    p = run.progress
    detail = f"{p.lines_read} lines: {p.rows_written} written, {p.lines_rejected} rejected"
    return run.outcome(Action.IMPORTED, detail)


def _release_quietly(run: _Run) -> None:
    try:
        _close(run, status=None)
    except (TransientError, imports.LeaseLost):
        log.warning("could not release the lease of import %s; it expires", run.report_id)


def continue_imports(*, deadline: float, limit: int = 20) -> list[Outcome]:
    """Advance unfinished imports (their worker stopped at its deadline or died) until
    ``deadline``. The scheduled function calls this; each import resumes at its cursor."""
    outcomes = []
    for report in imports.unfinished(limit=limit, kinds=[KIND]):
        outcomes.append(resume(report, deadline=deadline))
        if time.monotonic() >= deadline:
            break  # (so a call always advances the first import by a chunk at least)
    return outcomes
