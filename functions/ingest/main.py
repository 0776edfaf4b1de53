"""The ingest function: Cloud Storage object events (finalized, deleted, archived) via Eventarc.

Decodes the CloudEvent, calls ``shared.ingest.handle_storage_event`` and maps errors: a
permanent error (bad input) is logged and acknowledged; a transient one raises, so Eventarc
delivers the event again later.
"""

from __future__ import annotations

import logging
import os
import time

import functions_framework
from cloudevents.http import CloudEvent

from shared import logs
from shared.errors import PermanentError
from shared.ingest import handle_storage_event

logs.configure()
log = logging.getLogger("ingest")

# Of the function's 540 s limit, a manifest import stops here and continues later.
DEFAULT_BUDGET_SECONDS = 480.0


@functions_framework.cloud_event
def ingest(event: CloudEvent) -> None:
    started = time.monotonic()
    budget = float(os.environ.get("INGEST_BUDGET_SECONDS", DEFAULT_BUDGET_SECONDS))
    where = {"eventId": event["id"], "type": event["type"], "subject": event.get("subject")}
    try:
        outcome = handle_storage_event(event["type"], event.data, deadline=started + budget)
    except PermanentError as error:
        log.warning("acknowledged a permanent error", extra={**where, "error": error.message})
        return
    log.info("ingested", extra={**where, **outcome.log_fields()})
