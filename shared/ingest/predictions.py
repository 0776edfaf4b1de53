"""Prediction uploads (``model-runs/<run>/...``): not imported yet.

A placeholder until the model-runs work lands: each finalized upload gets an import report that
says so (status ``failed``), so the upload is visibly not lost in silence; the event is
acknowledged, as for any other permanent error.
"""

from __future__ import annotations

from datetime import datetime

from shared.ingest.events import StorageObject
from shared.ingest.outcome import Action, Outcome
from shared.store import imports

KIND = "predictions"
NOT_SUPPORTED = "importing predictions is not supported yet"


def not_supported_yet(obj: StorageObject, now: datetime) -> Outcome:
    doc = imports.new_report(
        obj.bucket, obj.name, obj.generation, kind=KIND, status=imports.FAILED, now=now
    )
    doc.update(message=NOT_SUPPORTED, errors=[], finishedAt=now)
    imports.put_report(doc)
    return Outcome(Action.REJECTED, obj.uri, obj.generation, str(doc["id"]), NOT_SUPPORTED)
