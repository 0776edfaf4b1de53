"""The export sink: the new rows as NDJSON, written once to
``gs://EXPORT_BUCKET/exports/<actionId>/<runId>.ndjson``.

Each line is one row as the API shows it (``GET /v1/dataRows/{id}``); for a model-run slice,
the model-run row document without its membership fields. The object is created with the
precondition "does not exist yet" (``if_generation_match=0``): the function may create
objects in the export bucket but never overwrite them, so a retried run that finds its object
already there has nothing left to do.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc

from shared import storage
from shared.actions.sinks import EnteredRow, RunContext
from shared.config import settings
from shared.documents import MEMBERSHIP_FIELDS, row_to_api
from shared.errors import FailedPrecondition
from shared.store.scopes import CATALOG

CONTENT_TYPE = "application/x-ndjson"
MAX_EXPORT_BYTES = 64 * 1024 * 1024
"""A run stops taking rows past this size; the next run goes on from there."""


def object_name(action_id: str, run_id: str) -> str:
    return f"exports/{action_id}/{run_id}.ndjson"


def row_line(scope_key: str, doc: dict[str, Any]) -> bytes:
    if scope_key == CATALOG:
        value: Any = row_to_api(doc).model_dump(mode="json", by_alias=True)
    else:
        value = {k: v for k, v in doc.items() if k not in MEMBERSHIP_FIELDS}
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_value)
    return text.encode("utf-8") + b"\n"


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def create_once(bucket: str, name: str, data: bytes, content_type: str) -> bool:
    """Create the object unless it exists; True when this call created it.

    Retries are safe: the precondition makes the upload idempotent, so the storage client
    retries it, and a retry after a lost answer finds the object and returns False.
    """
    blob = storage.client().bucket(bucket).blob(name)
    try:
        blob.upload_from_string(data, content_type=content_type, if_generation_match=0, timeout=60)
    except gexc.PreconditionFailed:
        return False
    return True


class ExportSink:
    needs_documents = True

    def __init__(self, context: RunContext) -> None:
        self.context = context
        self.lines: list[bytes] = []
        self.size = 0

    def add(self, row: EnteredRow) -> None:
        line = row_line(self.context.scope_key, row.doc)
        self.lines.append(line)
        self.size += len(line)

    def full(self) -> bool:
        return self.size >= MAX_EXPORT_BYTES

    def deliver(self) -> str:
        bucket = settings().export_bucket
        if not bucket:
            raise FailedPrecondition("EXPORT_BUCKET is not set: exports have nowhere to go")
        name = object_name(self.context.action_id, self.context.run_id)
        created = create_once(bucket, name, b"".join(self.lines), CONTENT_TYPE)
        rows = f"{len(self.lines)} rows"
        return f"gs://{bucket}/{name} ({rows}{'' if created else ', written by an earlier try'})"
