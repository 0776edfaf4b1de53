"""The slices HTTP function: the /v1 API (datasets, data rows, slices, metadata schema).

Deployed with entry point ``slices``; all routing and logic live in :mod:`shared.api`.
"""

import flask
import functions_framework

from shared import logs
from shared.api.app import handle

logs.configure()


@functions_framework.http
def slices(request: flask.Request) -> flask.typing.ResponseReturnValue:
    return handle(request)
