"""The API's model-run operations: runs, prediction uploads, generated slices, a run's rows.

:data:`MODEL_RUN_ROUTES` joins the API's route table (``shared.api.endpoints.ROUTES``), so these
operations are dispatched and described in the OpenAPI document like every other.
"""

from __future__ import annotations

from shared.api.requests import ApiRequest
from shared.api.routing import PAGE_SIZE, PAGE_TOKEN, QueryParam, Reply, Route
from shared.errors import PayloadTooLarge
from shared.model_runs.messages import (
    GeneratedSliceList,
    ModelRunList,
    ModelRunRowList,
    PredictionImport,
    PredictionUpload,
)
from shared.models import ModelRun, ModelRunCreate, ModelRunRow, ModelRunUpdate
from shared.services import filtering
from shared.services import model_runs as service

# The same lines as a prediction file in the bucket, as the request body.
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonl"})

FILTER = QueryParam(
    "filter",
    {"type": "string"},
    'The filter in its text form (metrics.f1 < 0.5 AND predictions.classes CONTAINS "car"), '
    "or its JSON tree; model-run fields (metrics.*, predictions.*, split) and catalog fields. "
    "Empty: every row.",
)
ORDER_BY = QueryParam(
    "orderBy",
    {"type": "string"},
    "'field' or 'field asc|desc', among the sort fields, metrics.* included (default: id).",
)


def create_run(req: ApiRequest) -> Reply:
    return Reply(service.create_run(req.body(ModelRunCreate)))


def list_runs(req: ApiRequest) -> Reply:
    runs, token = service.list_runs(
        size=req.query_int("pageSize"), page_token=req.query("pageToken")
    )
    return Reply(ModelRunList(model_runs=runs, next_page_token=token))


def get_run(req: ApiRequest) -> Reply:
    return Reply(service.get_run(req.path["modelRunId"]))


def update_run(req: ApiRequest) -> Reply:
    return Reply(service.update_run(req.path["modelRunId"], req.body(ModelRunUpdate)))


def upload_predictions(req: ApiRequest) -> Reply:
    run_id = req.path["modelRunId"]
    if req.request.mimetype in NDJSON_TYPES:
        return Reply(service.upload_predictions(run_id, [_raw_body(req)], raw=True))
    body = req.body(PredictionUpload)
    return Reply(service.upload_predictions(run_id, body.lines, raw=False))


def _raw_body(req: ApiRequest) -> bytes:
    """The body as bytes, within the request limit (413 past it)."""
    limit = req.max_body_bytes
    length = req.request.content_length
    if length is not None:
        if length > limit:
            raise PayloadTooLarge(f"request body is over {limit} bytes")
        return req.request.get_data(cache=True)
    data: bytes = req.request.stream.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"request body is over {limit} bytes")
    return data


def generate_slices(req: ApiRequest) -> Reply:
    return Reply(service.generate_slices(req.path["modelRunId"]))


def list_rows(req: ApiRequest) -> Reply:
    rows, token = service.list_rows(
        req.path["modelRunId"],
        filter_value=filtering.from_query(req.query("filter")),
        order_by=req.query("orderBy"),
        size=req.query_int("pageSize"),
        page_token=req.query("pageToken"),
    )
    return Reply(ModelRunRowList(rows=rows, next_page_token=token))


def get_row(req: ApiRequest) -> Reply:
    return Reply(service.get_row(req.path["modelRunId"], req.path["rowId"]))


_LIST = (400,)
_ONE = (404,)
_BODY = (400, 413, 415)
_TAG = "modelRuns"

MODEL_RUN_ROUTES: list[Route] = [
    Route("POST", "/v1/modelRuns", create_run, "createModelRun", "Create a model run", ModelRun,
          _TAG, body=ModelRunCreate, errors=_BODY),
    Route("GET", "/v1/modelRuns", list_runs, "listModelRuns", "List model runs, newest first",
          ModelRunList, _TAG, params=(PAGE_SIZE, PAGE_TOKEN), errors=_LIST),
    Route("GET", "/v1/modelRuns/{modelRunId}", get_run, "getModelRun",
          "Get a model run with its aggregate metrics", ModelRun, _TAG, errors=_ONE),
    Route("PATCH", "/v1/modelRuns/{modelRunId}", update_run, "updateModelRun",
          "Rename a run or change its thresholds", ModelRun, _TAG,
          description="A changed threshold rescores every row as a resumable job (status "
          "computing, then ready); the run's slices follow as rows are rescored.",
          body=ModelRunUpdate, errors=(*_BODY, *_ONE)),
    Route("POST", "/v1/modelRuns/{modelRunId}/predictions", upload_predictions,
          "uploadPredictions", "Upload predictions (small uploads; files go to the bucket)",
          PredictionImport, _TAG,
          description="One line per data row, as in a model-runs/<run>/*.ndjson file: send "
          "the lines themselves as application/x-ndjson, or as JSON {\"lines\": [...]}. Each "
          "line is checked alone; bad lines and lines for unknown rows are reported, the "
          "others land (a row's predictions are replaced). The run's generated slices exist "
          "when the call returns.",
          body=PredictionUpload, errors=(*_BODY, *_ONE)),
    Route("POST", "/v1/modelRuns/{modelRunId}/slices:generate", generate_slices,
          "generateModelRunSlices", "Create or update the run's nine generated slices",
          GeneratedSliceList, _TAG, errors=_ONE),
    Route("GET", "/v1/modelRuns/{modelRunId}/rows", list_rows, "listModelRunRows",
          "List a run's rows with their metrics and predictions (ad-hoc filter)",
          ModelRunRowList, _TAG, params=(FILTER, ORDER_BY, PAGE_SIZE, PAGE_TOKEN),
          errors=(*_LIST, *_ONE)),
    Route("GET", "/v1/modelRuns/{modelRunId}/rows/{rowId}", get_row, "getModelRunRow",
          "Get one row of a run", ModelRunRow, _TAG, errors=_ONE),
]  # fmt: skip
