"""Storage events as Eventarc delivers them, and where each object name is routed.

The event's ``data`` is the object resource in the JSON API's shape, where ``generation``,
``metageneration`` and ``size`` are strings. ``archived`` (versioned buckets) means the same as
``deleted`` for the generation it names (DESIGN section 8).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from shared.errors import InvalidArgument
from shared.model_runs.objects import is_coco_instances
from shared.models import DATASET_ID_PATTERN

EVENT_PREFIX = "google.cloud.storage.object.v1."
MANIFEST_PREFIX = "imports/"
MANIFEST_SUFFIX = ".ndjson"
PREDICTIONS_PREFIX = "model-runs/"


class EventKind(StrEnum):
    FINALIZED = "finalized"
    DELETED = "deleted"


EVENT_KINDS: Mapping[str, EventKind] = {
    f"{EVENT_PREFIX}finalized": EventKind.FINALIZED,
    f"{EVENT_PREFIX}deleted": EventKind.DELETED,
    f"{EVENT_PREFIX}archived": EventKind.DELETED,
}


class StorageObject(BaseModel):
    """The fields of the object resource that ingest reads (the rest is ignored)."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True, extra="ignore")

    bucket: str = Field(min_length=1)
    name: str = Field(min_length=1)
    generation: int = Field(gt=0)
    metageneration: int | None = None
    content_type: str | None = None
    size: int = Field(default=0, ge=0)
    metadata: dict[str, str] = Field(default_factory=dict)

    @field_validator("metadata", mode="before")
    @classmethod
    def _strings(cls, value: Any) -> Any:
        # The JSON API sends custom metadata as strings; tolerate a bridge that does not.
        if isinstance(value, Mapping):
            return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}
        return {} if value is None else value

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}"


def parse_event(event_type: str, data: Any) -> tuple[EventKind, StorageObject]:
    """The event's kind and object, or :class:`InvalidArgument` saying what is wrong with it."""
    kind = EVENT_KINDS.get(event_type)
    if kind is None:
        raise InvalidArgument(f"not a storage object event this function handles: {event_type!r}")
    if not isinstance(data, Mapping):
        raise InvalidArgument("the event's data is not a JSON object resource")
    try:
        return kind, StorageObject.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()[:5]
        )
        raise InvalidArgument(f"the event's object resource is invalid: {problems}") from error


class Route(StrEnum):
    MEDIA = "media"
    MANIFEST = "manifest"
    PREDICTIONS = "predictions"
    GROUND_TRUTH = "groundTruth"
    FOLDER = "folder"
    INVALID = "invalid"


@dataclass(frozen=True)
class Destination:
    route: Route
    dataset: str | None = None
    reason: str | None = None


_DATASET = re.compile(DATASET_ID_PATTERN)


def route(name: str) -> Destination:  # noqa: PLR0911 (one answer per route)
    """Where an object name goes: ``<dataset>/<path>`` is media, ``imports/*.ndjson`` a manifest,
    ``model-runs/...`` predictions, ``imports/instances*.json`` COCO ground truth; a name ending
    in '/' is a folder placeholder."""
    if name.endswith("/"):
        return Destination(Route.FOLDER)
    if name.startswith(PREDICTIONS_PREFIX):
        return Destination(Route.PREDICTIONS)
    if name.startswith(MANIFEST_PREFIX):
        if is_coco_instances(name):
            return Destination(Route.GROUND_TRUTH)
        if name.endswith(MANIFEST_SUFFIX) and len(name) > len(MANIFEST_PREFIX + MANIFEST_SUFFIX):
            return Destination(Route.MANIFEST)
        return Destination(
            Route.INVALID,
            reason="objects under imports/ must be .ndjson manifests or COCO instances*.json",
        )
    dataset, slash, _ = name.partition("/")
    if not slash:
        return Destination(
            Route.INVALID, reason="media objects go under a dataset folder: <dataset>/<path>"
        )
    if not _DATASET.fullmatch(dataset):
        return Destination(
            Route.INVALID, reason=f"{dataset[:100]!r} is not a dataset id ({DATASET_ID_PATTERN})"
        )
    return Destination(Route.MEDIA, dataset=dataset)
