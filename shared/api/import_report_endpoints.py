"""The API's import report operations: what ingest did with each object it read.

:data:`IMPORT_REPORT_ROUTES` joins the API's route table (``shared.api.endpoints.ROUTES``), so
these operations are dispatched and described in the OpenAPI document like every other.
"""

from __future__ import annotations

from shared.api.messages import ImportReportList
from shared.api.requests import ApiRequest
from shared.api.routing import PAGE_SIZE, PAGE_TOKEN, QueryParam, Reply, Route
from shared.models import ImportReport
from shared.services import import_reports as service

OBJECT = QueryParam(
    "object",
    {"type": "string"},
    "Only the reports of this object name in the bucket (imports/batch.ndjson), one per "
    "generation imported.",
)
KIND = QueryParam("kind", {"type": "string", "enum": list(service.KINDS)}, "Only this kind.")


def list_reports(req: ApiRequest) -> Reply:
    found, token = service.list_reports(
        object_name=req.query("object"),
        kind=req.query("kind"),
        size=req.query_int("pageSize"),
        page_token=req.query("pageToken"),
    )
    return Reply(ImportReportList(import_reports=found, next_page_token=token))


def get_report(req: ApiRequest) -> Reply:
    return Reply(service.get_report(req.path["importReportId"]))


IMPORT_REPORT_ROUTES: list[Route] = [
    Route("GET", "/v1/importReports", list_reports, "listImportReports",
          "List import reports, newest first", ImportReportList, "importReports",
          description="One report per object generation ingest read: a manifest, a media "
          "object with invalid metadata or a name no route takes, a model-run input.",
          params=(OBJECT, KIND, PAGE_SIZE, PAGE_TOKEN), errors=(400,)),
    Route("GET", "/v1/importReports/{importReportId}", get_report, "getImportReport",
          "Get an import report: its status, counts and first errors by line", ImportReport,
          "importReports", errors=(404,)),
]  # fmt: skip
