"""The API's response envelopes (lists, empty answers, errors), next to the domain models.

Lists follow AIP-158: the items under the resource's plural name and ``nextPageToken``, empty
when there is no further page.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.models import ApiModel, DataRow, Dataset, ImportReport, ModelRunRow, Slice


class DataRowList(ApiModel):
    data_rows: list[DataRow]
    next_page_token: str = Field(
        default="", description="Pass as pageToken for the next page; empty at the end."
    )


class SliceDataRowList(DataRowList):
    complete: bool = Field(
        description="False while the slice is building: rows may still be added or removed."
    )
    model_run_rows: list[ModelRunRow] | None = Field(
        default=None,
        description="For a model run's slice: the same rows, in the same order, with their "
        "predictions and metrics.",
    )


class SliceList(ApiModel):
    slices: list[Slice]
    next_page_token: str = ""


class DatasetList(ApiModel):
    datasets: list[Dataset]
    next_page_token: str = ""


class ImportReportList(ApiModel):
    import_reports: list[ImportReport]
    next_page_token: str = ""


class Empty(ApiModel):
    """The answer of a delete (AIP-135): an empty object."""


class ErrorStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: int = Field(description="The HTTP status code.")
    status: str = Field(description="The canonical code, e.g. INVALID_ARGUMENT, NOT_FOUND.")
    message: str = Field(description="What went wrong, for a developer.")
    details: list[dict[str, Any]] = Field(
        description="google.rpc detail messages, each with '@type': ErrorInfo always first "
        "(its 'reason' names the error; for a filter text, metadata.position is the 0-based "
        "offset of the offending comparison or literal), BadRequest with fieldViolations for "
        "bad fields."
    )


class ErrorResponse(BaseModel):
    """An AIP-193 error."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorStatus
