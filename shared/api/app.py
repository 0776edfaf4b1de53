"""The one entry point of the HTTP function: authenticate, route, call, answer JSON.

Every failure, expected or not, leaves as an AIP-193 error (:mod:`shared.api.errors`).
"""

from __future__ import annotations

import json
import logging
from functools import cache

from pydantic import BaseModel
from werkzeug.wrappers import Request, Response

from shared.api.auth import authenticate
from shared.api.endpoints import ROUTES
from shared.api.errors import error_response
from shared.api.requests import ApiRequest
from shared.api.routing import Reply, Router
from shared.config import settings

log = logging.getLogger(__name__)


@cache
def router() -> Router:
    return Router(ROUTES)


def handle(request: Request) -> Response:
    """Answer one request of the API."""
    try:
        config = settings()
        authenticate(request, config.api_token)
        route, args = router().match(request)
        reply = route.handler(ApiRequest(request, args, max_body_bytes=config.max_request_bytes))
        return _json_response(reply)
    except Exception as error:
        return error_response(error)


def _json_response(reply: Reply) -> Response:
    payload = (
        reply.payload.model_dump(mode="json", by_alias=True)
        if isinstance(reply.payload, BaseModel)
        else reply.payload
    )
    response = Response(
        json.dumps(payload, ensure_ascii=False), status=reply.status, mimetype="application/json"
    )
    response.headers.update(reply.headers)
    return response
