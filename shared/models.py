"""The domain's pydantic models, in API form (camelCase JSON).

Families follow one pattern: ``XCreate`` is what a client sends, ``XUpdate`` a partial edit
(applied with ``model_dump(exclude_unset=True)``), ``X`` what the API answers and the store reads
back with ``model_validate``.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel

from shared.int64 import INT64_MAX
from shared.metadata import MetadataValue

MAX_GLOBAL_KEY = 1024
MAX_ANNOTATIONS = 1000
MAX_CLASS_NAME = 200
DATASET_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"

DatasetId = Annotated[str, StringConstraints(pattern=DATASET_ID_PATTERN)]
ClassName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CLASS_NAME)]


def nfc(value: Any) -> Any:
    """Text in Unicode NFC, so "é" is one character however it was typed (e + U+0301 too)."""
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


# The validator is outermost, so it runs first: the limits count composed characters.
SliceName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=30),
    BeforeValidator(nfc),
    Field(
        description="3 to 30 characters after trimming, counted and stored in Unicode NFC; "
        "unique in its scope regardless of case."
    ),
]
Description = Annotated[str, StringConstraints(max_length=500)]


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in code; unknown keys are an error, not ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True, extra="forbid"
    )


class MediaType(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    TEXT = "text"
    DOCUMENT = "document"
    OTHER = "other"


class BBox(ApiModel):
    """An axis-aligned box in pixels; it may lie partly outside the image."""

    left: float = Field(allow_inf_nan=False)
    top: float = Field(allow_inf_nan=False)
    width: float = Field(ge=0, allow_inf_nan=False)
    height: float = Field(ge=0, allow_inf_nan=False)


class Annotation(ApiModel):
    """A ground-truth label: an object if it has a ``bbox``, otherwise a classification."""

    name: ClassName
    bbox: BBox | None = None

    @property
    def is_object(self) -> bool:
        return self.bbox is not None


class Prediction(Annotation):
    """A model's annotation. A missing confidence counts as 1.0 (DESIGN section 6)."""

    confidence: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)

    @property
    def score(self) -> float:
        return 1.0 if self.confidence is None else self.confidence


class Media(ApiModel):
    mime_type: str | None = None
    size_bytes: int | None = Field(default=None, ge=0, le=INT64_MAX)
    width: int | None = Field(default=None, ge=0, le=INT64_MAX)
    height: int | None = Field(default=None, ge=0, le=INT64_MAX)


class Dataset(ApiModel):
    id: DatasetId
    name: str
    description: str = ""
    created_at: datetime | None = None


class DataRowCreate(ApiModel):
    """One data row as a manifest line or an API call states it."""

    global_key: Annotated[str, StringConstraints(min_length=1, max_length=MAX_GLOBAL_KEY)]
    row_data: Annotated[str, StringConstraints(min_length=1, max_length=MAX_GLOBAL_KEY)]
    dataset: DatasetId
    media_type: MediaType = MediaType.OTHER
    media: Media = Field(default_factory=Media)
    metadata: dict[str, Any] = Field(default_factory=dict)
    labels: list[Annotation] = Field(default_factory=list, max_length=MAX_ANNOTATIONS)


class DataRow(ApiModel):
    id: str
    global_key: str
    row_data: str
    dataset: str
    media_type: MediaType
    media: Media = Field(default_factory=Media)
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    labels: list[Annotation] = Field(default_factory=list)
    slice_ids: list[str] = Field(default_factory=list)
    generation: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class DataRowUpdate(ApiModel):
    """A metadata patch: a key set to null removes that field."""

    metadata: dict[str, Any]


class ModelRunStatus(StrEnum):
    READY = "ready"
    COMPUTING = "computing"


RunName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ModelRunCreate(ApiModel):
    name: RunName
    model: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    classes: list[ClassName] = Field(default_factory=list, max_length=1000)
    iou_threshold: float = Field(default=0.5, gt=0, lt=1)
    confidence_threshold: float = Field(default=0.5, ge=0, le=1)


class ModelRunUpdate(ApiModel):
    name: RunName | None = None
    iou_threshold: float | None = Field(default=None, gt=0, lt=1)
    confidence_threshold: float | None = Field(default=None, ge=0, le=1)


class ModelRun(ModelRunCreate):
    id: str
    status: ModelRunStatus = ModelRunStatus.READY
    row_count: int = 0
    metrics: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


class RowMetrics(ApiModel):
    """Per-row metrics of DESIGN section 6; a ratio is None when its denominator is 0."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    iou: float | None = None
    confidence: float | None = None
    mislabel_confidence: float | None = None


class PredictionLine(ApiModel):
    """One line of a predictions upload: the predictions of one data row."""

    global_key: str | None = None
    data_row_id: str | None = None
    predictions: list[Prediction] = Field(max_length=MAX_ANNOTATIONS)
    split: Annotated[str, StringConstraints(max_length=100)] | None = None

    @model_validator(mode="after")
    def _names_a_row(self) -> PredictionLine:
        if (self.global_key is None) == (self.data_row_id is None):
            raise ValueError("give exactly one of 'globalKey' and 'dataRowId'")
        return self


class ModelRunRow(ApiModel):
    id: str
    model_run: str
    data_row: DataRow
    predictions: list[Prediction] = Field(default_factory=list)
    metrics: RowMetrics = Field(default_factory=RowMetrics)
    split: str | None = None


class CatalogScope(ApiModel):
    catalog: dict[str, Any] = Field(default_factory=dict)


class ModelRunScope(ApiModel):
    model_run: Annotated[str, StringConstraints(min_length=1, max_length=100)]


SliceScope = CatalogScope | ModelRunScope


def scope_key(scope: SliceScope) -> str:
    """A scope as one string, for queries and name uniqueness: ``catalog`` or ``modelRun:<id>``."""
    return "catalog" if isinstance(scope, CatalogScope) else f"modelRun:{scope.model_run}"


class AutoSlice(StrEnum):
    TRUE_POSITIVES = "truePositives"
    TRUE_NEGATIVES = "trueNegatives"
    FALSE_POSITIVES = "falsePositives"
    FALSE_NEGATIVES = "falseNegatives"
    LOW_PRECISION = "lowPrecision"
    LOW_RECALL = "lowRecall"
    LOW_F1 = "lowF1"
    LOW_CONFIDENCE = "lowConfidence"
    CANDIDATE_MISLABELS = "candidateMislabels"


class SliceStatus(StrEnum):
    BUILDING = "building"
    READY = "ready"


class OrderBy(ApiModel):
    field: str
    direction: Literal["asc", "desc"] = "asc"

    @classmethod
    def parse(cls, text: str) -> OrderBy:
        """``"metrics.f1 desc"`` -> OrderBy; raises ``ValueError`` on anything else."""
        parts = text.split()
        if len(parts) == 1:
            return cls(field=parts[0])
        if len(parts) == 2 and parts[1].lower() in ("asc", "desc"):
            return cls(field=parts[0], direction=parts[1].lower())
        raise ValueError(f"orderBy must be 'field' or 'field asc|desc', got {text!r:.80}")

    def __str__(self) -> str:
        return f"{self.field} {self.direction}"


class SliceCreate(ApiModel):
    name: SliceName
    description: Description = ""
    scope: SliceScope = Field(default_factory=CatalogScope)
    filter: str | dict[str, Any]
    order_by: str | None = None


class SliceUpdate(ApiModel):
    name: SliceName | None = None
    description: Description | None = None
    filter: str | dict[str, Any] | None = None
    order_by: str | None = None
    etag: str | None = None


class SliceSaveAs(SliceUpdate):
    name: SliceName


class BuildProgress(ApiModel):
    shards_done: int = 0
    shards_total: int = 0
    rows_scanned: int = 0


class Slice(ApiModel):
    id: str
    name: str
    description: str = ""
    scope: SliceScope
    filter: dict[str, Any]
    filter_text: str
    order_by: str | None = None
    auto: AutoSlice | None = None
    status: SliceStatus = SliceStatus.BUILDING
    progress: BuildProgress = Field(default_factory=BuildProgress)
    row_count: int = 0
    etag: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ActionType(StrEnum):
    EXPORT = "export"
    PUBLISH = "publish"
    WEBHOOK = "webhook"
    TAG = "tag"


class Action(ApiModel):
    id: str
    slice_id: str
    type: ActionType
    config: dict[str, Any] = Field(default_factory=dict)
    schedule: str = "*/10 * * * *"
    watermark: datetime | None = None
    lease_until: datetime | None = None
    last_run: datetime | None = None


class ActionRun(ApiModel):
    id: str
    action_id: str
    started_at: datetime
    finished_at: datetime | None = None
    rows: int = Field(default=0, ge=0)
    error: str | None = None


class ImportStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ImportProblem(ApiModel):
    line: int | None = Field(description="The line (from 1) the problem is on.")
    reason: str


class ImportCursor(ApiModel):
    offset: int = Field(
        description="Where the import resumes: a byte offset (NDJSON files) or the items done "
        "(COCO files)."
    )
    line: int = Field(description="The last line consumed (lines count from 1).")


class ImportReport(ApiModel):
    """What ingest did with one object generation: a manifest, a media object whose metadata
    had invalid values or whose name fits no route, or a model-run input.

    Line counts are null for reports that read no lines (a media object's). Otherwise
    ``linesRead == rowsWritten + linesRejected + linesBlank``.
    """

    id: str
    kind: str = Field(
        description="manifest, object (a media object), predictions, cocoResults or cocoInstances."
    )
    bucket: str
    object: str = Field(description="The object's name in the bucket.")
    generation: int
    status: ImportStatus
    message: str | None = Field(default=None, description="Why it failed, or a note.")
    lines_read: int | None = None
    rows_written: int | None = None
    lines_rejected: int | None = Field(default=None, description="Every rejection, counted.")
    lines_blank: int | None = None
    errors: list[ImportProblem] = Field(
        default_factory=list, description="The first 100 problems, by line."
    )
    cursor: ImportCursor | None = None
    size_bytes: int | None = None
    model_run: str | None = Field(default=None, description="The run a model-run input is for.")
    dataset: str | None = Field(default=None, description="The dataset of a COCO file.")
    annotations: int | None = Field(
        default=None, description="COCO instances: the annotations read."
    )
    crowd_skipped: int | None = Field(
        default=None, description="COCO instances: crowd annotations left out."
    )
    annotations_rejected: int | None = None
    annotation_errors: list[ImportProblem] | None = Field(
        default=None, description="COCO instances: the first 100 bad annotations."
    )
    images_without_detections: int | None = Field(
        default=None, description="COCO results: ground-truth images given no predictions."
    )
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
