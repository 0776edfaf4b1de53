"""The OpenAPI 3.1 document of the API, generated from the route table and the pydantic models.

Paths, parameters and responses come from :data:`shared.api.endpoints.ROUTES`; every body
and response schema is the pydantic model's own JSON schema (``openapi-pydantic`` assembles
the document and places the models under ``components/schemas``). Nothing is written by hand,
so the document is exactly what the code accepts and answers; the test suite fuzzes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from openapi_pydantic import (
    Components,
    Header,
    Info,
    MediaType,
    OpenAPI,
    Operation,
    Parameter,
    PathItem,
    RequestBody,
    Response,
    Schema,
    SecurityScheme,
    Tag,
)
from openapi_pydantic.util import PydanticSchema, construct_open_api_with_schema_class

from shared.api.messages import ErrorResponse
from shared.api.routing import ID_PATTERN, Route

TITLE = "Slices API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Dynamic slices over an ML data catalog: datasets, data rows, saved filters (slices) whose "
    "membership stays true as rows land, change and go. Resource-oriented, Google AIP style: "
    "errors are AIP-193 JSON, lists are paged with pageSize/pageToken, edits use etags."
)
_STATUS_TEXT = {
    400: "Invalid argument (a bad field, filter, orderBy or pageToken)",
    401: "Missing or wrong bearer token",
    404: "No such resource",
    405: "Method not allowed on this path",
    409: "ALREADY_EXISTS: a name taken in its scope; or ABORTED: concurrent changes to the "
    "same data won every attempt, try again",
    412: "Stale etag: the slice changed since it was read",
    413: "Request body too large",
    415: "Request body is not application/json",
    500: "Internal error",
    503: "The database is unavailable; retry",
}


def _json(schema: Schema) -> dict[str, MediaType]:
    return {"application/json": MediaType(media_type_schema=schema)}


def _error(code: int) -> Response:
    return Response(
        description=_STATUS_TEXT.get(code, "Error"),
        content=_json(PydanticSchema(schema_class=ErrorResponse)),
    )


def _parameters(route: Route) -> list[Parameter]:
    params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": f"^{ID_PATTERN}$"},
        }
        for name in route.path_params
    ]
    params += [
        {"name": p.name, "in": p.location, "description": p.description, "schema": p.schema}
        for p in route.params
    ]
    return [Parameter.model_validate(param) for param in params]


def _operation(route: Route) -> Operation:
    success = Response(
        description="OK",
        content=_json(
            PydanticSchema(schema_class=route.response)
            if route.response is not None
            else Schema(type="object")
        ),
        headers=(
            {"ETag": Header(description="The slice's etag", param_schema=Schema(type="string"))}
            if route.etag
            else None
        ),
    )
    # Any write may lose to concurrent ones (409 ABORTED), whatever else it can answer.
    writes = {409} if route.method != "GET" else set()
    codes = sorted({*route.errors, 401, 500, 503} | writes | ({405} if route.body else set()))
    responses = {"200": success, **{str(code): _error(code) for code in codes}}
    return Operation(
        operationId=route.operation_id,
        summary=route.summary,
        description=route.description or None,
        tags=[route.tag],
        parameters=_parameters(route) or None,
        requestBody=(
            RequestBody(required=True, content=_json(PydanticSchema(schema_class=route.body)))
            if route.body is not None
            else None
        ),
        responses=responses,
    )


def build(routes: Sequence[Route]) -> dict[str, Any]:
    paths: dict[str, PathItem] = {}
    for route in routes:
        item = paths.setdefault(route.path, PathItem())
        setattr(item, route.method.lower(), _operation(route))
    spec = OpenAPI(
        openapi="3.1.1",
        info=Info(title=TITLE, version=VERSION, description=DESCRIPTION),
        paths=paths,
        tags=[Tag(name=name) for name in dict.fromkeys(route.tag for route in routes)],
        components=Components(
            securitySchemes={
                "bearerToken": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="Needed when the function runs with API_TOKEN set (local "
                    "runs); in production the function is private and IAM checks the caller.",
                )
            }
        ),
        security=[{"bearerToken": []}],
    )
    spec = construct_open_api_with_schema_class(spec)
    document: dict[str, Any] = spec.model_dump(
        mode="json", by_alias=True, exclude_unset=True, exclude_none=True
    )
    return document


@cache
def document(routes: tuple[Route, ...]) -> dict[str, Any]:
    """The served document, built once per process."""
    return build(routes)
