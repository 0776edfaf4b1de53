"""Import reports through the API: what ingest did with each object generation it read.

Ingest writes the reports (:mod:`shared.store.imports`); here they are only read: one by id,
or newest first, optionally of one object name and of one kind.
"""

from __future__ import annotations

from typing import Any

from shared import page_tokens
from shared.ingest.manifests import KIND as MANIFEST
from shared.model_runs.objects import Kind
from shared.models import ImportReport
from shared.services.listing import query_key
from shared.services.paging import page_size
from shared.services.problems import invalid
from shared.store import imports

Document = dict[str, Any]

KINDS = (MANIFEST, imports.OBJECT, *(str(kind) for kind in Kind))
MAX_OBJECT_NAME_BYTES = 1024  # Cloud Storage's own limit

# Report fields the API shows under another name; the rest keep theirs.
_RENAMED = {"runId": "modelRun"}
_SHOWN = frozenset(field.alias or name for name, field in ImportReport.model_fields.items())


def get_report(report_id: str) -> ImportReport:
    return to_api(imports.get_report(report_id))


def list_reports(
    *, object_name: str | None, kind: str | None, size: int | None, page_token: str | None
) -> tuple[list[ImportReport], str]:
    """Reports newest first, and the next page's token ("" at the end)."""
    name = object_name or None
    if name is not None and len(name.encode("utf-8")) > MAX_OBJECT_NAME_BYTES:
        raise invalid("object", f"an object name is at most {MAX_OBJECT_NAME_BYTES} bytes")
    wanted = kind or None
    if wanted is not None and wanted not in KINDS:
        raise invalid("kind", f"must be one of {', '.join(KINDS)}, got {wanted!r:.40}")
    limit = page_size(size)
    token_key = query_key("importReports", name or "", wanted or "")
    after = page_tokens.decode_time(page_token, token_key) if page_token else None
    docs = imports.list_reports(limit=limit, after=after, object_name=name, kind=wanted)
    token = ""
    if len(docs) == limit:
        token = page_tokens.encode(token_key, [docs[-1]["createdAt"]], docs[-1]["id"])
    return [to_api(doc) for doc in docs], token


def to_api(doc: Document) -> ImportReport:
    """The stored report as the API shows it: bookkeeping (the lease) stays out."""
    fields = {_RENAMED.get(key, key): value for key, value in doc.items()}
    return ImportReport.model_validate({k: v for k, v in fields.items() if k in _SHOWN})
