"""Every write of model-run rows: uploads, data-row syncs and recomputes, through one function.

A round reads the run's settings and the data rows, then writes the run's rows through
``rows.mutate_rows`` (membership of the run's slices set in the same commit, and the run's totals
moved by the rows' deltas in that commit too). A row's document is a pure function of its data
row, its predictions and the run's settings (:func:`documents.run_row_document`), and a row
that would not change is kept as it is, so repeating a round writes nothing.

Two things can change while a round runs: the run's thresholds (a PATCH) and a data row (ingest
or a metadata patch). After its commit, a round reads both again; what moved is written again
from the stored predictions, until nothing moves. With the other writers' own checks this means
no row is left scored with old thresholds or copied from an old data row:

- a threshold change commits its new ``metricsVersion`` before its recompute scans; a round
  whose re-read comes after that commit rewrites its rows; one whose re-read comes before it
  committed its rows before the scan, which then rescans them;
- a data row's writer commits it, then looks up the runs holding it (``sync``); a round whose
  rows were committed before that lookup is found by it; otherwise the round's re-read, after
  its own commit, is after the data row's commit and sees the change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.cloud.firestore import DocumentSnapshot

from shared.errors import Aborted
from shared.model_runs import totals
from shared.model_runs.documents import (
    RunSettings,
    rescored,
    run_row_document,
    same_content,
)
from shared.models import Prediction
from shared.store import model_runs as run_store
from shared.store import rows as row_store
from shared.store.client import MAX_BATCH_WRITES
from shared.store.scopes import CATALOG

Document = dict[str, Any]

# Rows per commit: the run's totals ride in the same commit.
CHUNK_ROWS = MAX_BATCH_WRITES - 1
MAX_ROUNDS = 8


@dataclass(frozen=True)
class NewPredictions:
    """What one upload line states for its row: it replaces the row's predictions and split."""

    predictions: Sequence[Prediction]
    split: str | None = None


@dataclass
class WriteResult:
    written: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    rounds: int = 0


def put_predictions(
    run_id: str,
    lines: Mapping[str, NewPredictions],
    *,
    data_rows: Mapping[str, DocumentSnapshot] | None = None,
) -> WriteResult:
    """Replace the predictions of these rows (row id -> what its line states), <= 499 rows.

    Rows whose data row does not exist are not written: the caller reads them first to report
    them, and may pass the snapshots it read as ``data_rows`` (the re-check catches changes).
    """
    return _write(run_id, list(lines), lines, data_rows)


def refresh(run_id: str, row_ids: Sequence[str]) -> WriteResult:
    """Rebuild these rows from their data rows as they are now, the run's current settings and
    their stored predictions; a row whose data row is gone is deleted. <= 499 rows."""
    return _write(run_id, row_ids, None, None)


def _write(
    run_id: str,
    ids: Sequence[str],
    lines: Mapping[str, NewPredictions] | None,
    read: Mapping[str, DocumentSnapshot] | None,
) -> WriteResult:
    if len(ids) > CHUNK_ROWS:
        raise ValueError(f"at most {CHUNK_ROWS} rows per write")
    result = WriteResult()
    scope = run_store.scope_key(run_id)
    also = totals.also_for(run_store.run_ref(run_id))
    pending = list(dict.fromkeys(ids))
    for _ in range(MAX_ROUNDS):
        result.rounds += 1
        settings = RunSettings.from_run(run_store.get_run(run_id))
        if read is not None:
            snapshots = [read[rid] for rid in pending if rid in read]
            read = None
        else:
            snapshots = row_store.snapshots(CATALOG, pending)
        data_rows = {s.id: s.to_dict() or {} for s in snapshots if s.exists}
        versions = {s.id: s.update_time for s in snapshots if s.exists}
        decide = _decider(data_rows, lines, settings)
        outcome = row_store.mutate_rows(scope, pending, decide, also=also)
        result.written |= set(outcome.written)
        result.deleted |= set(outcome.deleted)
        pending = _moved(run_id, pending, versions, settings)
        if not pending:
            return result
        lines = None  # what the lines stated is stored now: later rounds rebuild from it
    raise Aborted(f"rows of model run {run_id} kept changing while they were written")


def _decider(
    data_rows: Mapping[str, Document],
    lines: Mapping[str, NewPredictions] | None,
    settings: RunSettings,
) -> row_store.Decide:
    def decide(row_id: str, current: Document | None) -> Any:
        data_row = data_rows.get(row_id)
        if data_row is None:
            return None if current is not None else row_store.KEEP
        line = lines.get(row_id) if lines is not None else None
        if line is not None:
            new = run_row_document(data_row, line.predictions, line.split, settings)
        elif current is None:
            return row_store.KEEP  # no predictions for this row in the run: nothing to keep
        else:
            new = rescored(data_row, current, settings)
        if current is not None and same_content(current, new):
            return row_store.KEEP
        return new

    return decide


def _moved(
    run_id: str, ids: Sequence[str], used: Mapping[str, Any], settings: RunSettings
) -> list[str]:
    """The rows to write again: all when the run's settings changed, else those whose data
    row was written since it was read (``used``: update times; a membership change counts too,
    which only costs a round that writes nothing)."""
    current = RunSettings.from_run(run_store.get_run(run_id))
    if current != settings:
        return list(ids)
    now = run_store.data_row_versions(ids)
    return [row_id for row_id in ids if now.get(row_id) != used.get(row_id)]
