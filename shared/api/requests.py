"""Reading a request: query parameters, headers and a JSON body, with limits.

A body is read only by routes that take one: it must be declared ``application/json`` (any
other type is a 415 with the canonical status ``INVALID_ARGUMENT``), fit in
``MAX_REQUEST_BYTES`` (413, checked before reading, also for bodies without a length), be
UTF-8 JSON without NaN or Infinity (400), and validate against the route's model (400 with a
``BadRequest`` detail naming each bad field).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from werkzeug.wrappers import Request

from shared.api.errors import UnsupportedMediaType
from shared.errors import InvalidArgument, PayloadTooLarge
from shared.services.problems import bad_request, invalid, invalid_fields

M = TypeVar("M", bound=BaseModel)

JSON_TYPES = frozenset({"application/json"})


class ApiRequest:
    """The parts of one request a handler reads: path arguments, query, headers, body."""

    def __init__(
        self, request: Request, path_args: Mapping[str, str], *, max_body_bytes: int
    ) -> None:
        self.request = request
        self.path = dict(path_args)
        self.max_body_bytes = max_body_bytes

    def query(self, name: str) -> str | None:
        return self.request.args.get(name)

    def query_int(self, name: str) -> int | None:
        text = self.query(name)
        if text is None or text == "":
            return None
        try:
            return int(text)
        except ValueError:
            raise invalid(name, f"must be an integer, got {text!r:.40}") from None

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name)

    def if_match(self) -> str | None:
        """The etag of an ``If-Match`` header, unquoted (weak or strong)."""
        value = self.header("If-Match")
        if value is None:
            return None
        value = value.strip().removeprefix("W/")
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        return value

    def body(self, model: type[M]) -> M:
        data = self._json()
        try:
            return model.model_validate(data)
        except ValidationError as bad:
            raise invalid_fields([_violation(e) for e in bad.errors()]) from None

    def _json(self) -> Any:
        limit = self.max_body_bytes
        length = self.request.content_length
        if length is not None:
            if length > limit:
                raise PayloadTooLarge(f"request body is over {limit} bytes")
            raw = self.request.get_data(cache=True)
        else:
            # A body of unknown length (chunked): read one byte past the limit to tell.
            raw = self.request.stream.read(limit + 1)
            if len(raw) > limit:
                raise PayloadTooLarge(f"request body is over {limit} bytes")
        if not raw:
            raise InvalidArgument("this method needs a JSON request body")
        if self.request.mimetype not in JSON_TYPES:
            raise UnsupportedMediaType(
                "request body must be 'Content-Type: application/json', got "
                f"{self.request.mimetype or 'none'!r}"
            )
        charset = self.request.mimetype_params.get("charset", "utf-8").lower()
        if charset not in ("utf-8", "utf8"):
            raise UnsupportedMediaType(f"request body must be UTF-8, got charset {charset!r:.40}")
        try:
            return json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
        except (UnicodeDecodeError, ValueError, RecursionError) as bad:
            raise InvalidArgument(
                f"request body is not valid JSON: {str(bad)[:200]}",
                details=[bad_request([{"field": "body", "description": "not valid JSON"}])],
            ) from None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _violation(error: Mapping[str, Any]) -> dict[str, str]:
    where = ".".join(str(part) for part in error["loc"]) or "body"
    message = str(error["msg"]).removeprefix("Value error, ")
    return {"field": where, "description": message}
