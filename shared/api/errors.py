"""Every failure as an AIP-193 error body, with the HTTP status that goes with it.

``{"error": {"code": 404, "status": "NOT_FOUND", "message": "...", "details": [...]}}``. Each
body carries a ``google.rpc.ErrorInfo`` detail whose ``reason`` names the error precisely
(AIP-193 asks for one) and, in its ``metadata``, what the error knows for a client to act on
(a filter error's ``position`` in the text); field problems add a ``google.rpc.BadRequest``
detail. Unexpected exceptions are logged with their traceback and answered as a bare 500,
never with internals.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from google.api_core import exceptions as gexc
from werkzeug import exceptions as http
from werkzeug.wrappers import Response

from shared.errors import (
    Aborted,
    InvalidArgument,
    NotFound,
    PayloadTooLarge,
    PermanentError,
    SlicesError,
    TransientError,
)

log = logging.getLogger(__name__)

ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
DOMAIN = "slices.api"


class UnsupportedMediaType(InvalidArgument):
    """A body that is not ``application/json``: the canonical status, HTTP's precise code."""

    code = 415


class MethodNotAllowed(PermanentError):
    status = "UNIMPLEMENTED"
    code = 405

    def __init__(self, message: str, *, allowed: list[str]) -> None:
        super().__init__(message)
        self.allowed = allowed


class Internal(SlicesError):
    """An unexpected failure; details stay in the log."""


_UNAVAILABLE = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.TooManyRequests,
    gexc.ResourceExhausted,
)


def as_slices_error(error: BaseException) -> SlicesError:
    """The product error a raised exception stands for."""
    if isinstance(error, SlicesError):
        return error
    known = _routing_error(error) or _database_error(error)
    if known is not None:
        return known
    log.exception("unexpected error", exc_info=error)
    return Internal("internal error")


def _routing_error(error: BaseException) -> SlicesError | None:
    if isinstance(error, http.MethodNotAllowed):
        allowed = sorted(error.valid_methods or [])
        return MethodNotAllowed(
            f"method not allowed here; use {', '.join(allowed)}", allowed=allowed
        )
    if isinstance(error, http.NotFound):
        return NotFound("no such resource or method")
    if isinstance(error, http.RequestEntityTooLarge):
        return PayloadTooLarge("request body is too large")
    return None


def _database_error(error: BaseException) -> SlicesError | None:
    if isinstance(error, _UNAVAILABLE):
        return TransientError("the database is unavailable; retry later")
    if _contended(error):
        return Aborted("concurrent changes to the same data won every attempt; try again")
    return None


def _contended(error: BaseException) -> bool:
    """Firestore aborted a write for a concurrent one: raised as is, or, once a transaction
    has used up its attempts, as the ``ValueError`` the client raises from the last abort."""
    if isinstance(error, gexc.Aborted):
        return True
    return isinstance(error, ValueError) and isinstance(error.__cause__, gexc.Aborted)


def reason(error: SlicesError) -> str:
    """``FilterError`` -> ``FILTER_ERROR``: a stable, machine-readable name for the error."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__).upper()


def body(error: SlicesError) -> dict[str, Any]:
    payload = error.to_json()
    info = {"@type": ERROR_INFO, "reason": reason(error), "domain": DOMAIN, "metadata": error.info}
    payload["error"]["details"] = [info, *payload["error"]["details"]]
    return payload


def error_response(error: BaseException) -> Response:
    problem = as_slices_error(error)
    if problem.code >= 500:
        log.warning("answering %d: %s", problem.code, problem.message)
    response = Response(
        json.dumps(body(problem), ensure_ascii=False),
        status=problem.code,
        mimetype="application/json",
    )
    if isinstance(problem, MethodNotAllowed):
        response.headers["Allow"] = ", ".join(problem.allowed)
    if problem.code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="slices"'
    return response
