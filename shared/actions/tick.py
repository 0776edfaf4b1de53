"""One tick of the scheduled function: advance background work, then run due actions.

In order, each phase until its share of the budget is used (a phase that finishes early leaves
its time to the next): slice membership builds (``builds.advance_all``), stripping deleted
slices from rows (``services.slices.continue_cleanups``), model-run metric
recomputes after a threshold change (``model_runs.recompute.continue_recomputes``), imports
that stopped at a deadline or lost their worker (``ingest.continue_imports``: manifests and
model-run inputs), then due slice actions (``runner.run_due``). Builds and recomputes go first
because actions act on membership and metrics. A phase that raises is logged and reported; the
others still run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared import builds
from shared.actions import runner
from shared.ingest import continue_imports
from shared.model_runs import recompute
from shared.services import slices as slice_service

log = logging.getLogger(__name__)

# Cumulative shares of the budget: builds end by 35 %, deleted slices' cleanups by 40 %,
# recomputes by 55 %, imports by 75 %, actions by 100 %.
BUILD_SHARE = 0.35
CLEANUP_SHARE = 0.40
RECOMPUTE_SHARE = 0.55
IMPORT_SHARE = 0.75


@dataclass
class TickReport:
    seconds: float = 0.0
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any("error" in phase for phase in self.phases.values())

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "seconds": round(self.seconds, 3), **self.phases}


def _builds(deadline: float) -> dict[str, Any]:
    reports = builds.advance_all(deadline=deadline)
    return {
        "advanced": len(reports),
        "ready": [r.slice_id for r in reports if r.ready],
        "rowsScanned": sum(r.rows_scanned for r in reports),
        "rowsChanged": sum(r.rows_changed for r in reports),
    }


def _cleanups(deadline: float) -> dict[str, Any]:
    return {"finished": slice_service.continue_cleanups(deadline=deadline)}


def _recomputes(deadline: float) -> dict[str, Any]:
    reports = recompute.continue_recomputes(deadline=deadline)
    return {
        "advanced": len(reports),
        "ready": [r.run_id for r in reports if r.ready],
        "rowsScanned": sum(r.rows_scanned for r in reports),
        "rowsWritten": sum(r.rows_written for r in reports),
    }


def _imports(deadline: float) -> dict[str, Any]:
    outcomes = continue_imports(deadline=deadline)
    return {"advanced": len(outcomes), "outcomes": [o.log_fields() for o in outcomes]}


def _actions(deadline: float) -> dict[str, Any]:
    reports = runner.run_due(deadline=deadline)
    ran = [r for r in reports if r.run_id]
    return {
        "checked": len(reports),
        "runs": len(ran),
        "rows": sum(r.rows for r in ran),
        "failed": sum(1 for r in ran if r.outcome in ("failed", "suspended")),
        "results": [r.to_json() for r in reports if r.outcome != "skipped"],
    }


def tick(*, budget_seconds: float) -> TickReport:
    """Run one tick within ``budget_seconds`` (leave the function's timeout some headroom)."""
    started = time.monotonic()
    report = TickReport()
    phases: list[tuple[str, float, Callable[[float], dict[str, Any]]]] = [
        ("builds", BUILD_SHARE, _builds),
        ("cleanups", CLEANUP_SHARE, _cleanups),
        ("recomputes", RECOMPUTE_SHARE, _recomputes),
        ("imports", IMPORT_SHARE, _imports),
        ("actions", 1.0, _actions),
    ]
    for name, share, phase in phases:
        deadline = started + budget_seconds * share
        if time.monotonic() >= deadline:
            report.phases[name] = {"skipped": "no time left in this tick"}
            continue
        try:
            report.phases[name] = phase(deadline)
        except Exception as error:  # one phase failing must not starve the others
            log.exception("tick: %s failed", name)
            report.phases[name] = {"error": f"{type(error).__name__}: {str(error)[:500]}"}
    report.seconds = time.monotonic() - started
    return report
