"""Slice actions in API form, and the checked configuration of each action type.

:class:`Action` and :class:`ActionRun` extend the domain models of ``shared.models`` with what
the API shows besides (status, next run, last error, times). Each action type has its own
config model; ``ActionCreate.config`` is checked against the one its ``type`` names, so that a
bad field is reported as ``config.<field>``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from shared import models
from shared.metadata import FIELD_NAME_PATTERN, MAX_STRING_LENGTH, MAX_TAGS
from shared.models import ActionType, ApiModel

DEFAULT_SCHEDULE = "*/10 * * * *"
DEFAULT_TIME_ZONE = "UTC"
MAX_URL_LENGTH = 2048

Schedule = Annotated[str, StringConstraints(strip_whitespace=True, min_length=9, max_length=100)]
TimeZone = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=MAX_STRING_LENGTH)]


class ExportConfig(ApiModel):
    """Writes the new rows, one JSON object a line, to ``exports/<actionId>/<runId>.ndjson``."""

    format: Literal["ndjson"] = "ndjson"


class PublishConfig(ApiModel):
    """Publishes the new rows' ids to the deployment's slice-actions topic (no options)."""


class WebhookConfig(ApiModel):
    """POSTs the new rows' ids, signed, to an https URL on an allowed host."""

    url: Annotated[str, StringConstraints(min_length=1, max_length=MAX_URL_LENGTH)]


class TagConfig(ApiModel):
    """Adds ``tags`` to the rows' metadata field ``field`` (a tags field), as a set."""

    tags: list[Tag] = Field(min_length=1, max_length=MAX_TAGS)
    field: Annotated[str, StringConstraints(pattern=FIELD_NAME_PATTERN)] = "tags"


ActionConfig = ExportConfig | PublishConfig | WebhookConfig | TagConfig

CONFIG_MODELS: dict[ActionType, type[ActionConfig]] = {
    ActionType.EXPORT: ExportConfig,
    ActionType.PUBLISH: PublishConfig,
    ActionType.WEBHOOK: WebhookConfig,
    ActionType.TAG: TagConfig,
}


class ActionStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # its runs kept failing, or its slice is gone; ``:run`` resumes it


class RunStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ActionCreate(ApiModel):
    """What a client sends to attach an action to a slice."""

    type: ActionType
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="By type: export {format: 'ndjson'}; publish {}; webhook {url}; "
        "tag {tags: [...], field: 'tags'}.",
    )
    schedule: Schedule = Field(
        default=DEFAULT_SCHEDULE,
        description="Unix cron, five fields (minute hour day month weekday).",
    )
    time_zone: TimeZone = Field(
        default=DEFAULT_TIME_ZONE, description="The schedule's time zone (tz database name)."
    )


class Action(models.Action):
    """An action as the API answers it."""

    time_zone: str = DEFAULT_TIME_ZONE
    status: ActionStatus = ActionStatus.ACTIVE
    next_run_at: datetime | None = Field(
        default=None, description="When the scheduler runs it next; null while suspended."
    )
    last_run_id: str | None = None
    last_error: str | None = None
    failures: int = Field(default=0, ge=0, description="Failed attempts of the current run.")
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ActionRun(models.ActionRun):
    """What one run did: the rows it acted on, where they went, or why it failed."""

    slice_id: str
    status: RunStatus
    attempts: int = Field(default=1, ge=1)
    output: str | None = Field(
        default=None, description="The export object, messages published, webhook status..."
    )
    window_end: datetime | None = Field(
        default=None, description="Rows that entered the slice up to this time were considered."
    )


class ActionList(ApiModel):
    actions: list[Action]
    next_page_token: str = ""


class ActionRunList(ApiModel):
    runs: list[ActionRun]
    next_page_token: str = ""
