"""The API's bodies and envelopes for model runs (beside the domain models of ``shared.models``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shared.models import ApiModel, ImportProblem, ModelRun, ModelRunRow, Slice

MAX_UPLOAD_LINES = 5000


class ModelRunList(ApiModel):
    model_runs: list[ModelRun]
    next_page_token: str = Field(
        default="", description="Pass as pageToken for the next page; empty at the end."
    )


class ModelRunRowList(ApiModel):
    rows: list[ModelRunRow]
    next_page_token: str = Field(
        default="", description="Pass as pageToken for the next page; empty at the end."
    )


class PredictionUpload(ApiModel):
    """Prediction lines as JSON values, each checked alone (a bad one is reported, not fatal).

    Each line: ``{"globalKey" | "dataRowId", "predictions": [...], "split"?}``.
    """

    lines: list[Any] = Field(max_length=MAX_UPLOAD_LINES)


class PredictionImport(ApiModel):
    """What an upload did: ``linesRead == rowsWritten + linesRejected + linesBlank``."""

    lines_read: int
    rows_written: int
    lines_rejected: int
    lines_blank: int
    errors: list[ImportProblem] = Field(description="The first 100 problems, by line.")


class GeneratedSliceList(ApiModel):
    slices: list[Slice] = Field(description="The nine generated slices, in DESIGN order.")
