"""The one entry point of the ingest function: a storage event in, an :class:`Outcome` out.

Permanent problems with the input (an event that is not a storage event, an object name that
fits no route) are recorded where there is an object to record them against, and raised as
:class:`~shared.errors.PermanentError` only when nothing else can be done; the handler logs and
acknowledges those. :class:`~shared.errors.TransientError` propagates, so Eventarc retries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.ingest import manifests, uploads
from shared.ingest.events import EventKind, Route, StorageObject, parse_event, route
from shared.ingest.outcome import Action, Outcome
from shared.model_runs import imports as model_run_inputs
from shared.model_runs import objects as model_run_objects
from shared.store import imports


def handle_storage_event(event_type: str, data: Any, *, deadline: float) -> Outcome:
    """Apply one storage event; ``deadline`` (time.monotonic) bounds a manifest import."""
    kind, obj = parse_event(event_type, data)
    now = datetime.now(UTC)
    destination = route(obj.name)
    finalized = kind is EventKind.FINALIZED
    if destination.route is Route.MEDIA and destination.dataset:
        if finalized:
            return uploads.on_finalized(obj, destination.dataset, now)
        return uploads.on_deleted(obj, now)
    if destination.route is Route.MANIFEST:
        return _manifest(obj, finalized=finalized, deadline=deadline)
    if destination.route in (Route.PREDICTIONS, Route.GROUND_TRUTH) and finalized:
        # Prediction files, COCO results and COCO ground truth (deleting one changes nothing).
        target = model_run_objects.target(obj.name)
        return model_run_inputs.start(obj, target, deadline=deadline)
    if destination.route is Route.INVALID and finalized:
        return _reject(obj, destination.reason or "unsupported object", now)
    return Outcome(Action.IGNORED, obj.uri, obj.generation, detail=str(destination.route))


def _manifest(obj: StorageObject, *, finalized: bool, deadline: float) -> Outcome:
    if not finalized:
        # A manifest is an instruction, not the rows' content: its rows stay.
        return Outcome(Action.IGNORED, obj.uri, obj.generation, detail="manifest deleted")
    return manifests.start(obj, deadline=deadline)


def _reject(obj: StorageObject, reason: str, now: datetime) -> Outcome:
    doc = imports.new_report(
        obj.bucket, obj.name, obj.generation, kind=imports.OBJECT, status=imports.FAILED, now=now
    )
    doc.update(message=reason, errors=[], finishedAt=now)
    imports.open_report(doc)
    return Outcome(Action.REJECTED, obj.uri, obj.generation, str(doc["id"]), reason)


def continue_imports(*, deadline: float) -> list[Outcome]:
    """Resume imports (manifests, then model-run inputs) that stopped at a deadline or lost
    their worker (scheduled)."""
    outcomes = manifests.continue_imports(deadline=deadline)
    return outcomes + model_run_inputs.continue_imports(deadline=deadline)
