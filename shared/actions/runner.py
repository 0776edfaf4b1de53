"""Running due actions: lease, collect the rows that entered the slice, act, record, advance.

One run of one action, each state change a transaction on the action document:

1. **Lease.** If the action is active, due, and no live lease is held, take the lease (until the
   tick's deadline plus a margin) and open or resume its *pending run*: a run id, a window end
   (now minus :func:`settle_seconds`), an attempt count. Two overlapping ticks cannot both take
   it; a tick that dies leaves the lease to expire, and the next tick resumes the same run.
2. **Collect** the rows whose entry time into the slice lies after the watermark (time, then
   row id) and up to the window end, in that order, a page at a time, until the run's row cap
   (or the sink's size cap).
3. **Pin** the last row collected on the pending run, so that every retry of this run acts on
   the same rows (ended at that row, not at a later window).
4. **Act** through the sink (idempotent per run id).
5. **Finish**: record the run, move the watermark to the last row acted on, compute the next
   due time from the cron schedule (or now, if the run stopped at its cap), release the lease.
   A failure records the error and keeps the watermark and the pending run: the run is retried
   with backoff, the same run id and the same rows, up to :data:`MAX_ATTEMPTS` tries; then, or
   at once for a permanent error (the slice is gone, a refused webhook), the action is
   suspended until ``:run`` resumes it.

Why the settle delay: a writer stamps a row's entry time just before its commit lands, so a row
can become visible with an entry time slightly in the past. Rows are taken only up to
``now - settle``; a row committed within that delay after its stamp is never skipped.

A new action's watermark is its creation time: only rows that enter the slice after it count.
A due action that finds no new rows records no run; its next due time is computed as usual.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from google.cloud import firestore

from shared.actions.config import parse_config
from shared.actions.models import ActionStatus, RunStatus
from shared.actions.schedule import next_due
from shared.actions.sinks import EnteredRow, RunContext, Sink
from shared.actions.sinks.export import ExportSink
from shared.actions.sinks.publish import PublishSink
from shared.actions.sinks.tag import TagSink
from shared.actions.sinks.webhook import WebhookSink
from shared.errors import PermanentError, SlicesError
from shared.ids import new_id
from shared.models import ActionType
from shared.store import actions as store
from shared.store import slices as slice_store

log = logging.getLogger(__name__)

Document = dict[str, Any]
Clock = Callable[[], datetime]
SinkFactory = Callable[[ActionType, RunContext], Sink]

DEFAULT_SETTLE_SECONDS = 120.0
DEFAULT_MAX_ROWS_PER_RUN = 5000
MAX_ATTEMPTS = 5
RETRY_SECONDS = 60.0
MAX_RETRY_SECONDS = 3600.0
LEASE_MARGIN = timedelta(seconds=180)
PAGE_ROWS = 500
DUE_PAGE = 20
MAX_ERROR_CHARS = 1000


def settle_seconds() -> float:
    """How far behind now a run's window ends (``ACTIONS_SETTLE_SECONDS``, default 120)."""
    return float(os.environ.get("ACTIONS_SETTLE_SECONDS", DEFAULT_SETTLE_SECONDS))


def max_rows_per_run() -> int:
    """Rows one run takes at most (``ACTIONS_MAX_ROWS_PER_RUN``, default 5000)."""
    return max(1, int(os.environ.get("ACTIONS_MAX_ROWS_PER_RUN", DEFAULT_MAX_ROWS_PER_RUN)))


def utc_now() -> datetime:
    return datetime.now(UTC)


def make_sink(kind: ActionType, context: RunContext) -> Sink:
    if kind is ActionType.EXPORT:
        return ExportSink(context)
    if kind is ActionType.PUBLISH:
        return PublishSink(context)
    if kind is ActionType.WEBHOOK:
        return WebhookSink(context)
    return TagSink(context)


@dataclass
class RunReport:
    """What one attempt to run an action did (for the tick's summary and the log)."""

    action_id: str
    outcome: str  # succeeded | failed | suspended | idle | skipped | lost
    run_id: str | None = None
    rows: int = 0
    output: str | None = None
    error: str | None = None
    more: bool = False  # stopped at its cap: more rows are waiting

    def to_json(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"actionId": self.action_id, "outcome": self.outcome}
        if self.run_id:
            fields |= {"runId": self.run_id, "rows": self.rows}
        if self.output:
            fields["output"] = self.output
        if self.error:
            fields["error"] = self.error
        if self.more:
            fields["more"] = True
        return fields


@dataclass
class _Collected:
    count: int = 0
    last: tuple[datetime, str] | None = None
    capped: bool = False


class GaveUp(Exception):
    """The pending run was started too many times without finishing."""


# --- the state changes (pure functions of the current action document) ---------------------


def plan_run(current: Document, *, now: datetime, settle: float) -> Document | None:
    """The fields that open (or resume) a run now, or None when the action must not run."""
    if current.get("status", ActionStatus.ACTIVE) != ActionStatus.ACTIVE:
        return None
    due = current.get("due")
    if due is None or due > now:
        return None
    if current.get("leaseOwner") and (current.get("leaseUntil") or now) > now:
        return None
    pending = dict(current.get("pendingRun") or {})
    if not pending:
        pending = {
            "id": new_id(),
            "attempts": 0,
            "windowEnd": now - timedelta(seconds=settle),
            "startedAt": now,
            "last": None,
            "rows": 0,
        }
    pending["attempts"] = int(pending.get("attempts") or 0) + 1
    return {"pendingRun": pending, "runRequested": False}


def _next_due(current: Document, now: datetime, *, again: bool) -> datetime:
    if again or current.get("runRequested"):
        return now
    return next_due(current["schedule"], current.get("timeZone") or "UTC", now)


def succeeded(
    current: Document,
    *,
    run_id: str,
    last: tuple[datetime, str] | None,
    capped: bool,
    now: datetime,
) -> Document:
    changes: Document = {
        "pendingRun": firestore.DELETE_FIELD,
        "failures": 0,
        "lastError": None,
        "lastRun": now,
        "lastRunId": run_id,
        "runRequested": False,
        "updatedAt": now,
        "due": _next_due(current, now, again=capped),
    }
    if last is not None:
        changes |= {"watermark": last[0], "watermarkRowId": last[1]}
    return changes


def idle(current: Document, *, now: datetime) -> Document:
    """No row entered since the watermark: nothing recorded, the next due time computed."""
    return {
        "pendingRun": firestore.DELETE_FIELD,
        "failures": 0,
        "lastRun": now,
        "runRequested": False,
        "updatedAt": now,
        "due": _next_due(current, now, again=False),
    }


def failed(
    current: Document, *, run_id: str, error: str, permanent: bool, now: datetime
) -> Document:
    """Keep the watermark and the pending run; retry with backoff, or suspend."""
    attempts = int((current.get("pendingRun") or {}).get("attempts") or 1)
    changes: Document = {
        "failures": attempts,
        "lastError": error,
        "lastRun": now,
        "lastRunId": run_id,
        "updatedAt": now,
    }
    if permanent or attempts >= MAX_ATTEMPTS:
        return changes | {"status": ActionStatus.SUSPENDED.value, "due": firestore.DELETE_FIELD}
    return changes | {"due": now + timedelta(seconds=retry_delay(attempts))}


def retry_delay(attempts: int) -> float:
    """60 s after the first failure, doubling, at most an hour."""
    return float(min(RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_RETRY_SECONDS))


def run_document(
    leased: Document,
    *,
    status: RunStatus,
    rows: int,
    finished: datetime,
    output: str | None = None,
    error: str | None = None,
) -> Document:
    pending = leased["pendingRun"]
    return {
        "id": pending["id"],
        "actionId": leased["id"],
        "sliceId": leased["sliceId"],
        "status": status.value,
        "rows": rows,
        "attempts": int(pending["attempts"]),
        "output": output,
        "error": error,
        "windowEnd": pending["windowEnd"],
        "startedAt": pending["startedAt"],
        "finishedAt": finished,
    }


# --- running ----------------------------------------------------------------------------------


def run_due(
    *, deadline: float, clock: Clock = utc_now, sinks: SinkFactory = make_sink
) -> list[RunReport]:
    """Run every due action until none is left or ``deadline`` (time.monotonic) passes.

    An action that stopped at its row cap is due again at once and may run again in the same
    tick; any other action runs at most once per tick.
    """
    reports: list[RunReport] = []
    done: set[str] = set()
    while time.monotonic() < deadline:
        found = [d for d in store.due_actions(clock(), limit=DUE_PAGE) if d["id"] not in done]
        if not found:
            break
        for doc in found:
            if time.monotonic() >= deadline:
                break
            report = run_action(doc["id"], deadline=deadline, clock=clock, sinks=sinks)
            reports.append(report)
            if not (report.outcome == "succeeded" and report.more):
                done.add(doc["id"])
    return reports


def run_action(
    action_id: str, *, deadline: float, clock: Clock = utc_now, sinks: SinkFactory = make_sink
) -> RunReport:
    """One attempt to run one action (see the module docstring for the protocol)."""
    owner = new_id()
    now = clock()
    until = now + timedelta(seconds=max(deadline - time.monotonic(), 0.0)) + LEASE_MARGIN
    leased = store.acquire_lease(
        action_id, owner, until=until, decide=partial(plan_run, now=now, settle=settle_seconds())
    )
    if leased is None:
        return RunReport(action_id, "skipped")
    run_id = str(leased["pendingRun"]["id"])
    collected = _Collected()
    try:
        if int(leased["pendingRun"]["attempts"]) > MAX_ATTEMPTS:
            raise GaveUp(f"the run did not finish in {MAX_ATTEMPTS} attempts")
        return _run(leased, owner, clock, sinks, collected)
    except store.LeaseLost:
        log.warning("action %s: lease lost during run %s", action_id, run_id)
        return RunReport(action_id, "lost", run_id, collected.count)
    except Exception as error:  # every failure is recorded on the run, none escapes the tick
        return _fail(leased, owner, clock, error, collected.count)


def _run(
    leased: Document, owner: str, clock: Clock, sinks: SinkFactory, collected: _Collected
) -> RunReport:
    action_id, pending = leased["id"], leased["pendingRun"]
    run_id = str(pending["id"])
    slice_doc = slice_store.get_slice(leased["sliceId"])
    kind = ActionType(leased["type"])
    context = RunContext(
        action_id=action_id,
        run_id=run_id,
        slice_id=leased["sliceId"],
        scope_key=slice_doc["scopeKey"],
        config=parse_config(kind, leased.get("config") or {}),
    )
    sink = sinks(kind, context)
    _collect(leased, context, sink, collected)
    pinned = pending.get("last")
    if collected.count == 0 and not pinned:
        store.finish_run(action_id, owner, decide=partial(idle, now=clock()), run=None)
        return RunReport(action_id, "idle")
    if pinned:
        last = (pinned["at"], pinned["rowId"])  # rows that left since are simply not acted on
        collected.capped = bool(pending.get("capped"))
    else:
        assert collected.last is not None
        last = collected.last
        marker = {"at": last[0], "rowId": last[1]}
        store.update_leased(
            action_id,
            owner,
            {"pendingRun": {**pending, "last": marker, "rows": collected.count,
                            "capped": collected.capped}},
        )  # fmt: skip
    output = sink.deliver() if collected.count else "no rows left in the run's window"
    finished = clock()
    store.finish_run(
        action_id,
        owner,
        decide=partial(
            succeeded, run_id=run_id, last=last, capped=collected.capped, now=finished
        ),
        run=run_document(
            leased, status=RunStatus.SUCCEEDED, rows=collected.count, finished=finished,
            output=output,
        ),
    )  # fmt: skip
    log.info("action %s: run %s acted on %d rows: %s", action_id, run_id, collected.count, output)
    return RunReport(action_id, "succeeded", run_id, collected.count, output, more=collected.capped)


def _collect(leased: Document, context: RunContext, sink: Sink, out: _Collected) -> None:
    """Feed the sink the rows of the run's window, in entry order, up to the caps."""
    pending = leased["pendingRun"]
    pinned = pending.get("last")
    through: datetime | tuple[datetime, str] = (
        (pinned["at"], pinned["rowId"]) if pinned else pending["windowEnd"]
    )
    after: tuple[datetime, str | None] = (leased["watermark"], leased.get("watermarkRowId"))
    fields = None if sink.needs_documents else [store.entered_path(context.slice_id)]
    cap = max_rows_per_run()
    while out.count < cap:
        limit = min(PAGE_ROWS, cap - out.count)
        page = store.entered_rows(
            context.scope_key, context.slice_id, after=after, through=through, limit=limit,
            fields=fields,
        )  # fmt: skip
        for snapshot in page:
            doc = snapshot.to_dict() or {}
            entered = doc["sliceEnteredAt"][context.slice_id]
            sink.add(EnteredRow(snapshot.id, entered, doc))
            out.count += 1
            out.last = (entered, snapshot.id)
            if sink.full():
                out.capped = True
                return
        if len(page) < limit:
            return
        assert out.last is not None
        after = out.last
    out.capped = True


def _fail(leased: Document, owner: str, clock: Clock, error: Exception, rows: int) -> RunReport:
    action_id, run_id = leased["id"], str(leased["pendingRun"]["id"])
    message = (error.message if isinstance(error, SlicesError) else str(error)) or type(
        error
    ).__name__
    message = message[:MAX_ERROR_CHARS]
    permanent = isinstance(error, PermanentError)
    log.warning("action %s: run %s failed: %s", action_id, run_id, message, exc_info=error)
    finished = clock()
    try:
        after = store.finish_run(
            action_id,
            owner,
            decide=partial(failed, run_id=run_id, error=message, permanent=permanent, now=finished),
            run=run_document(
                leased, status=RunStatus.FAILED, rows=rows, finished=finished, error=message
            ),
        )
    except store.LeaseLost:
        return RunReport(action_id, "lost", run_id, rows, error=message)
    except Exception:  # the lease expires and a later tick retries the run
        log.exception("action %s: could not record the failure of run %s", action_id, run_id)
        return RunReport(action_id, "failed", run_id, rows, error=message)
    outcome = "suspended" if after.get("status") == ActionStatus.SUSPENDED else "failed"
    return RunReport(action_id, outcome, run_id, rows, error=message)
