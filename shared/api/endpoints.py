"""The API's operations: each decodes its request, calls one service, and shapes the reply.

:data:`ROUTES` is the single table the router dispatches on and the OpenAPI document is
generated from, so the served contract and the code cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from shared.api import openapi
from shared.api.actions_endpoints import ACTION_ROUTES
from shared.api.import_report_endpoints import IMPORT_REPORT_ROUTES
from shared.api.messages import DataRowList, DatasetList, Empty, SliceDataRowList, SliceList
from shared.api.model_run_endpoints import MODEL_RUN_ROUTES
from shared.api.requests import ApiRequest
from shared.api.routing import PAGE_SIZE, PAGE_TOKEN, QueryParam, Reply, Route
from shared.metadata import MetadataSchema
from shared.models import (
    DataRow,
    DataRowUpdate,
    Dataset,
    Slice,
    SliceCreate,
    SliceSaveAs,
    SliceUpdate,
)
from shared.services import data_rows, datasets, filtering, metadata_schema, slices
from shared.services.metadata_schema import MetadataSchemaPatch

# ---- parameters -------------------------------------------------------------------------

FILTER = QueryParam(
    "filter",
    {"type": "string"},
    'The filter in its text form (metadata.split = "train" AND labels.classes CONTAINS '
    '"car"), or its JSON tree. Empty: every row.',
)
ORDER_BY = QueryParam(
    "orderBy",
    {"type": "string"},
    "'field' or 'field asc|desc', among the sort fields (default: id).",
)
SCOPE = QueryParam(
    "scope", {"type": "string"}, "Only slices of this scope: 'catalog' or 'modelRun:<id>'."
)
IF_MATCH = QueryParam(
    "If-Match",
    {"type": "string"},
    "The slice's current etag (or give 'etag' in the body).",
    location="header",
)
LIST_PARAMS = (FILTER, ORDER_BY, PAGE_SIZE, PAGE_TOKEN)


# ---- handlers ---------------------------------------------------------------------------


def _row_list(rows: list[DataRow], token: str) -> Reply:
    return Reply(DataRowList(data_rows=rows, next_page_token=token))


def _slice_reply(found: Slice) -> Reply:
    return Reply(found, headers={"ETag": f'"{found.etag}"'})


def list_datasets(req: ApiRequest) -> Reply:
    found, token = datasets.list_datasets(
        size=req.query_int("pageSize"), page_token=req.query("pageToken")
    )
    return Reply(DatasetList(datasets=found, next_page_token=token))


def get_dataset(req: ApiRequest) -> Reply:
    return Reply(datasets.get_dataset(req.path["datasetId"]))


def list_dataset_rows(req: ApiRequest) -> Reply:
    rows, page = datasets.list_dataset_rows(req.path["datasetId"], **_list_args(req))
    return _row_list(rows, page.next_page_token)


def list_data_rows(req: ApiRequest) -> Reply:
    rows, page = data_rows.list_rows(**_list_args(req))
    return _row_list(rows, page.next_page_token)


def _list_args(req: ApiRequest) -> dict[str, Any]:
    return {
        "filter_value": filtering.from_query(req.query("filter")),
        "order_by": req.query("orderBy"),
        "size": req.query_int("pageSize"),
        "page_token": req.query("pageToken"),
    }


def get_data_row(req: ApiRequest) -> Reply:
    return Reply(data_rows.get_row(req.path["dataRowId"]))


def update_data_row(req: ApiRequest) -> Reply:
    return Reply(data_rows.update_row(req.path["dataRowId"], req.body(DataRowUpdate)))


def delete_data_row(req: ApiRequest) -> Reply:
    data_rows.delete_row(req.path["dataRowId"])
    return Reply(Empty())


def create_slice(req: ApiRequest) -> Reply:
    return _slice_reply(slices.create_slice(req.body(SliceCreate)))


def list_slices(req: ApiRequest) -> Reply:
    found, token = slices.list_slices(
        scope=req.query("scope"), size=req.query_int("pageSize"), page_token=req.query("pageToken")
    )
    return Reply(SliceList(slices=found, next_page_token=token))


def get_slice(req: ApiRequest) -> Reply:
    return _slice_reply(slices.get_slice(req.path["sliceId"]))


def update_slice(req: ApiRequest) -> Reply:
    body = req.body(SliceUpdate)
    return _slice_reply(slices.update_slice(req.path["sliceId"], body, etag=req.if_match()))


def save_slice_as(req: ApiRequest) -> Reply:
    body = req.body(SliceSaveAs)
    return _slice_reply(slices.save_as(req.path["sliceId"], body, etag=req.if_match()))


def build_slice(req: ApiRequest) -> Reply:
    return _slice_reply(slices.build(req.path["sliceId"]))


def delete_slice(req: ApiRequest) -> Reply:
    slices.delete_slice(req.path["sliceId"])
    return Reply(Empty())


def explore_slice(req: ApiRequest) -> Reply:
    page = slices.explore(
        req.path["sliceId"],
        order_by=req.query("orderBy"),
        size=req.query_int("pageSize"),
        page_token=req.query("pageToken"),
    )
    return Reply(
        SliceDataRowList(
            data_rows=page.rows,
            next_page_token=page.next_page_token,
            complete=page.complete,
            model_run_rows=page.run_rows,
        )
    )


def get_metadata_schema(_: ApiRequest) -> Reply:
    return Reply(metadata_schema.get_schema())


def update_metadata_schema(req: ApiRequest) -> Reply:
    return Reply(metadata_schema.patch_schema(req.body(MetadataSchemaPatch)))


def get_openapi(_: ApiRequest) -> Reply:
    return Reply(openapi.document(tuple(ROUTES)))


# ---- the table --------------------------------------------------------------------------

_LIST = (400,)
_ONE = (404,)
_BODY = (400, 413, 415)

ROUTES: list[Route] = [
    Route("GET", "/v1/datasets", list_datasets, "listDatasets", "List datasets",
          DatasetList, "datasets", params=(PAGE_SIZE, PAGE_TOKEN), errors=_LIST),
    Route("GET", "/v1/datasets/{datasetId}", get_dataset, "getDataset", "Get a dataset",
          Dataset, "datasets", errors=_ONE),
    Route("GET", "/v1/datasets/{datasetId}/dataRows", list_dataset_rows, "listDatasetDataRows",
          "List a dataset's rows (ad-hoc filter)", DataRowList, "datasets",
          params=LIST_PARAMS, errors=(*_LIST, *_ONE)),
    Route("GET", "/v1/dataRows", list_data_rows, "listDataRows",
          "List all data rows (ad-hoc filter)", DataRowList, "dataRows",
          description="Ad-hoc filters run as a Firestore query plus an in-memory residual, "
          "with a read budget per page: a page may be short and still carry a token.",
          params=LIST_PARAMS, errors=_LIST),
    Route("GET", "/v1/dataRows/{dataRowId}", get_data_row, "getDataRow", "Get a data row",
          DataRow, "dataRows", errors=_ONE),
    Route("PATCH", "/v1/dataRows/{dataRowId}", update_data_row, "updateDataRow",
          "Patch a row's metadata (null removes a field); membership is re-evaluated at once",
          DataRow, "dataRows", body=DataRowUpdate, errors=(*_BODY, *_ONE)),
    Route("DELETE", "/v1/dataRows/{dataRowId}", delete_data_row, "deleteDataRow",
          "Delete a data row (and so its membership of every slice)", Empty, "dataRows",
          errors=_ONE),
    Route("POST", "/v1/slices", create_slice, "createSlice", "Create a slice", Slice, "slices",
          description="Answers at once; membership is built within the request up to a time "
          "budget, then by the scheduler or :build (status building, then ready).",
          body=SliceCreate, errors=(*_BODY, 404, 409), etag=True),
    Route("GET", "/v1/slices", list_slices, "listSlices", "List slices, newest first",
          SliceList, "slices", params=(SCOPE, PAGE_SIZE, PAGE_TOKEN), errors=_LIST),
    Route("GET", "/v1/slices/{sliceId}", get_slice, "getSlice", "Get a slice", Slice,
          "slices", errors=_ONE, etag=True),
    Route("PATCH", "/v1/slices/{sliceId}", update_slice, "updateSlice",
          "Update a slice in place (needs its etag); a new filter rebuilds membership",
          Slice, "slices", body=SliceUpdate, params=(IF_MATCH,),
          errors=(*_BODY, *_ONE, 409, 412), etag=True),
    Route("DELETE", "/v1/slices/{sliceId}", delete_slice, "deleteSlice",
          "Delete a slice and its membership", Empty, "slices", errors=_ONE),
    Route("POST", "/v1/slices/{sliceId}:saveAs", save_slice_as, "saveSliceAs",
          "Save a slice, optionally edited, as a new slice", Slice, "slices",
          body=SliceSaveAs, params=(IF_MATCH,), errors=(*_BODY, *_ONE, 409, 412), etag=True),
    Route("POST", "/v1/slices/{sliceId}:build", build_slice, "buildSlice",
          "Advance the slice's membership build", Slice, "slices", errors=_ONE, etag=True),
    Route("GET", "/v1/slices/{sliceId}/dataRows", explore_slice, "listSliceDataRows",
          "Explore a slice: its rows in its order", SliceDataRowList, "slices",
          description="Reads one page of documents whatever the catalog size; orderBy may "
          "override the slice's order among the sort fields.",
          params=(ORDER_BY, PAGE_SIZE, PAGE_TOKEN), errors=(*_LIST, *_ONE)),
    Route("GET", "/v1/metadataSchema", get_metadata_schema, "getMetadataSchema",
          "Get the metadata schema", MetadataSchema, "metadataSchema"),
    Route("PATCH", "/v1/metadataSchema", update_metadata_schema, "updateMetadataSchema",
          "Add metadata fields or widen enums", MetadataSchema, "metadataSchema",
          body=MetadataSchemaPatch, errors=_BODY),
    *ACTION_ROUTES,
    *MODEL_RUN_ROUTES,
    *IMPORT_REPORT_ROUTES,
    Route("GET", "/v1/openapi.json", get_openapi, "getOpenApi", "This API's OpenAPI document",
          None, "meta"),
]  # fmt: skip
