"""Routes: one table that both dispatches requests and describes the API in OpenAPI.

functions-framework sends every path to the one function, so the function routes itself with
werkzeug's ``Map``. Paths are written as in OpenAPI (``/v1/slices/{sliceId}:saveAs``); a path
parameter never holds ``/`` or ``:``, so AIP custom methods (``:saveAs``, ``:build``) match
their own rules and an id with a colon matches nothing (404).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from werkzeug.routing import BaseConverter, Map, Rule
from werkzeug.wrappers import Request

from shared.services.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from shared.services.resource_ids import RESOURCE_ID_PATTERN

ID_PATTERN = RESOURCE_ID_PATTERN

_PARAM = re.compile(r"\{(\w+)\}")


class IdConverter(BaseConverter):
    regex = ID_PATTERN
    part_isolating = True


@dataclass(frozen=True)
class QueryParam:
    """A query (or header) parameter as OpenAPI describes it."""

    name: str
    schema: dict[str, Any]
    description: str
    location: str = "query"


# Every list endpoint pages the same way.
PAGE_SIZE = QueryParam(
    "pageSize",
    {"type": "integer", "minimum": 0},
    f"Items per page: {DEFAULT_PAGE_SIZE} when 0 or absent; above {MAX_PAGE_SIZE} it is "
    f"{MAX_PAGE_SIZE}. A page may hold fewer and still have a next page.",
)
PAGE_TOKEN = QueryParam(
    "pageToken",
    {"type": "string"},
    "nextPageToken of the previous page; keep every other parameter the same.",
)


@dataclass(frozen=True)
class Reply:
    """What a handler answers: a model (or plain JSON), a status and extra headers."""

    payload: BaseModel | dict[str, Any]
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)  # hashed by identity: the table is built once
class Route:
    method: str
    path: str
    handler: Callable[..., Reply]
    operation_id: str
    summary: str
    response: type[BaseModel] | None
    tag: str
    description: str = ""
    body: type[BaseModel] | None = None
    params: tuple[QueryParam, ...] = ()
    errors: tuple[int, ...] = ()
    etag: bool = False  # the response carries an ETag header

    @property
    def path_params(self) -> list[str]:
        return _PARAM.findall(self.path)

    @property
    def rule(self) -> str:
        """The werkzeug rule of the OpenAPI path: ``{sliceId}`` -> ``<id:sliceId>``."""
        return _PARAM.sub(lambda m: f"<id:{m.group(1)}>", self.path)


class Router:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = {route.operation_id: route for route in routes}
        rules = [
            Rule(route.rule, endpoint=route.operation_id, methods=[route.method])
            for route in routes
        ]
        self._map = Map(
            rules, converters={"id": IdConverter}, strict_slashes=False, merge_slashes=False
        )

    def match(self, request: Request) -> tuple[Route, dict[str, str]]:
        """The route and path arguments; raises werkzeug's NotFound or MethodNotAllowed."""
        adapter = self._map.bind("localhost")
        endpoint, args = adapter.match(request.path, method=request.method)
        return self.routes[str(endpoint)], {k: str(v) for k, v in args.items()}
