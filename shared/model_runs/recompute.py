"""Rescoring every row of a run after its thresholds change: a resumable job.

A threshold PATCH bumps the run's ``metricsVersion``, marks it ``computing`` and resets 16
shard cursors, in one transaction (``store.model_runs.update_run``). The job then walks each
shard's rows in id order, rewrites them through ``writes.refresh`` (a row already scored at the
current version and copy is kept as it is, so a chunk done twice writes nothing), and advances
the shard's cursor in a transaction that checks the version: a job of older thresholds stops
(:class:`RecomputeSuperseded`) instead of moving a newer one's cursor. Membership of the run's
slices, and the run's totals, move with each write. When the last shard is done the run is
``ready`` and its generated slices are brought up to date.

The request that changed the thresholds advances the job within its budget; the scheduled
function continues it (:func:`continue_recomputes`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.model_runs import generated_slices, writes
from shared.store import model_runs as run_store
from shared.store import rows as row_store
from shared.store.slices import shard_range

log = logging.getLogger(__name__)

CHUNK_ROWS = 300


@dataclass
class RecomputeReport:
    run_id: str
    ready: bool
    rows_scanned: int = 0
    rows_written: int = 0
    superseded: bool = False


def advance(run_id: str, *, deadline: float, chunk_rows: int = CHUNK_ROWS) -> RecomputeReport:
    """Advance a run's recompute until it is done or ``deadline`` (time.monotonic) passes."""
    run = run_store.get_run(run_id)
    report = RecomputeReport(run_id, ready=run.get("status") != run_store.COMPUTING)
    if report.ready:
        return report
    version = int(run.get("metricsVersion") or 0)
    scope = run_store.scope_key(run_id)
    try:
        for shard in run_store.recompute_shards(run_id):
            if shard.get("done"):
                continue
            if shard.get("version") != version:
                raise run_store.RecomputeSuperseded(run_id)
            start, end = shard_range(shard["prefix"])
            chunks = row_store.iter_id_range(
                scope, start, end, after=shard.get("cursor"), page=chunk_rows
            )
            for chunk in chunks:
                ids = [snapshot.id for snapshot in chunk]
                result = writes.refresh(run_id, ids)
                report.rows_scanned += len(ids)
                report.rows_written += len(result.written)
                run_store.advance_recompute_shard(
                    run_id, version=version, shard=shard["prefix"], cursor=ids[-1],
                    scanned=len(ids),
                )  # fmt: skip
                if time.monotonic() > deadline:
                    return report
            report.ready = run_store.finish_recompute_shard(
                run_id, version=version, shard=shard["prefix"], now=datetime.now(UTC)
            )
    except run_store.RecomputeSuperseded:
        report.superseded = True
        return report
    if report.ready:
        generated_slices.ensure(run_id, build_seconds=max(deadline - time.monotonic(), 0.0))
    return report


def continue_recomputes(*, deadline: float) -> list[RecomputeReport]:
    """Advance every unfinished recompute in turn (the scheduled function calls this)."""
    reports = []
    for run in run_store.computing_runs():
        if time.monotonic() > deadline:
            break
        reports.append(advance(run["id"], deadline=deadline))
    return reports
