"""Actions through the API: attach to a slice, list, read, delete, list runs, run now.

Runs themselves happen only in the scheduled function (``runner``): only its identity may
create exports, publish to the topic and read the webhook signing key. So ``:run`` does not
run the action inside the API request: it makes the action due now (and resumes a suspended
one), and the next scheduler tick runs it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared import page_tokens
from shared.actions.config import check_config
from shared.actions.models import (
    Action,
    ActionCreate,
    ActionRun,
    ActionStatus,
    TagConfig,
)
from shared.actions.schedule import ScheduleError, check_schedule, check_time_zone, next_due
from shared.config import settings
from shared.errors import InvalidArgument
from shared.ids import new_id
from shared.metadata import MetadataField, MetadataKind
from shared.services.listing import query_key
from shared.services.paging import page_size
from shared.services.problems import invalid
from shared.store import actions as store
from shared.store import slices as slice_store
from shared.store.schema import add_fields

Document = dict[str, Any]


def create_action(slice_id: str, body: ActionCreate, *, now: datetime | None = None) -> Action:
    """Attach an action to a slice. Its watermark is now: only rows entering later count."""
    slice_doc = slice_store.get_slice(slice_id)
    config = check_config(body.type, body.config, allowed_hosts=settings().webhook_allowed_hosts)
    try:
        schedule = check_schedule(body.schedule)
    except ScheduleError as bad:
        raise invalid("schedule", str(bad)) from None
    try:
        check_time_zone(body.time_zone)
    except ScheduleError as bad:
        raise invalid("timeZone", str(bad)) from None
    if isinstance(config, TagConfig):
        _declare_tags_field(config.field)
    moment = now or datetime.now(UTC)
    doc: Document = {
        "id": new_id(),
        "sliceId": slice_id,
        "scopeKey": slice_doc["scopeKey"],
        "type": body.type.value,
        "config": config.model_dump(mode="json", by_alias=True),
        "schedule": schedule,
        "timeZone": body.time_zone,
        "status": ActionStatus.ACTIVE.value,
        "due": next_due(schedule, body.time_zone, moment),
        "watermark": moment,
        "watermarkRowId": None,
        "leaseOwner": None,
        "leaseUntil": None,
        "runRequested": False,
        "failures": 0,
        "lastRun": None,
        "lastRunId": None,
        "lastError": None,
        "createdAt": moment,
        "updatedAt": moment,
    }
    store.create_action(doc)
    return to_api(doc)


def _declare_tags_field(name: str) -> None:
    """The field the tags go to must be a tags field; an undeclared one is declared so."""
    schema = add_fields({name: MetadataField(kind=MetadataKind.TAGS)}, first_wins=True)
    kind = schema.fields[name].kind
    if kind is not MetadataKind.TAGS:
        raise invalid("config.field", f"metadata field {name!r} is a {kind} field, not tags")


def list_actions(
    slice_id: str, *, size: int | None, page_token: str | None
) -> tuple[list[Action], str]:
    slice_store.get_slice(slice_id)  # 404 for a slice that does not exist
    limit = page_size(size)
    token_key = query_key("actions", slice_id)
    after = None
    if page_token:
        values, after = page_tokens.decode(page_token, token_key)
        if values:
            raise InvalidArgument("pageToken is not valid")
    docs = store.list_actions(slice_id, limit=limit, after=after)
    token = page_tokens.encode(token_key, [], docs[-1]["id"]) if len(docs) == limit else ""
    return [to_api(doc) for doc in docs], token


def get_action(action_id: str) -> Action:
    return to_api(store.get_action(action_id))


def delete_action(action_id: str) -> None:
    store.delete_action(action_id)


def list_runs(
    action_id: str, *, size: int | None, page_token: str | None
) -> tuple[list[ActionRun], str]:
    """An action's runs, newest first."""
    store.get_action(action_id)
    limit = page_size(size)
    token_key = query_key("actionRuns", action_id)
    after = None
    if page_token:
        after = page_tokens.decode_time(page_token, token_key)
    docs = store.list_runs(action_id, limit=limit, after=after)
    token = ""
    if len(docs) == limit:
        token = page_tokens.encode(token_key, [docs[-1]["startedAt"]], docs[-1]["id"])
    return [run_to_api(doc) for doc in docs], token


def run_now(action_id: str, *, now: datetime | None = None) -> Action:
    """Make the action due now (the next tick runs it); resumes a suspended action, giving its
    pending run a fresh set of attempts. If a run is underway, another follows it."""
    moment = now or datetime.now(UTC)
    return to_api(store.update_action(action_id, lambda current: request_run(current, moment)))


def request_run(current: Document, now: datetime) -> Document:
    """The changes ``:run`` makes (a pure function of the current action document)."""
    changes: Document = {
        "runRequested": True,
        "status": ActionStatus.ACTIVE.value,
        "failures": 0,
        "updatedAt": now,
    }
    pending = current.get("pendingRun")
    if pending:
        changes["pendingRun"] = {**pending, "attempts": 0}
    leased = current.get("leaseOwner") and (current.get("leaseUntil") or now) > now
    if not leased:
        changes["due"] = now
    return changes


def to_api(doc: Document) -> Action:
    active = doc.get("status", ActionStatus.ACTIVE.value) == ActionStatus.ACTIVE.value
    return Action.model_validate(
        {
            "id": doc["id"],
            "sliceId": doc["sliceId"],
            "type": doc["type"],
            "config": doc.get("config") or {},
            "schedule": doc["schedule"],
            "timeZone": doc.get("timeZone") or "UTC",
            "status": doc.get("status", ActionStatus.ACTIVE.value),
            "watermark": doc.get("watermark"),
            "leaseUntil": doc.get("leaseUntil") if doc.get("leaseOwner") else None,
            "lastRun": doc.get("lastRun"),
            "lastRunId": doc.get("lastRunId"),
            "lastError": doc.get("lastError"),
            "failures": int(doc.get("failures") or 0),
            "nextRunAt": doc.get("due") if active else None,
            "createdAt": doc.get("createdAt"),
            "updatedAt": doc.get("updatedAt"),
        }
    )


def run_to_api(doc: Document) -> ActionRun:
    return ActionRun.model_validate(
        {
            "id": doc["id"],
            "actionId": doc["actionId"],
            "sliceId": doc["sliceId"],
            "status": doc["status"],
            "rows": int(doc.get("rows") or 0),
            "attempts": int(doc.get("attempts") or 1),
            "output": doc.get("output"),
            "error": doc.get("error"),
            "windowEnd": doc.get("windowEnd"),
            "startedAt": doc["startedAt"],
            "finishedAt": doc.get("finishedAt"),
        }
    )
