"""The actions function: one scheduler tick per call.

Cloud Scheduler POSTs ``/`` with ``{}`` and an OIDC token that IAM checks before the request
gets here. Each call advances slice builds, model-run metric recomputes and unfinished imports,
and runs due slice actions, within a time budget (``ACTIONS_BUDGET_SECONDS``, default 240 s,
under the function's timeout); the answer is a JSON summary of what was done (500 if a phase
failed). All logic lives in :mod:`shared.actions.tick`.
"""

from __future__ import annotations

import logging
import os

import flask
import functions_framework

from shared import logs
from shared.actions.tick import tick
from shared.api.errors import MethodNotAllowed, error_response

logs.configure()
log = logging.getLogger("actions")

DEFAULT_BUDGET_SECONDS = 240.0


@functions_framework.http
def actions(request: flask.Request) -> flask.typing.ResponseReturnValue:
    if request.method != "POST":
        return error_response(MethodNotAllowed("a tick is POST /", allowed=["POST"]))
    budget = float(os.environ.get("ACTIONS_BUDGET_SECONDS", DEFAULT_BUDGET_SECONDS))
    report = tick(budget_seconds=budget)
    summary = report.to_json()
    log.info("tick", extra={"tick": summary})
    return flask.jsonify(summary), 200 if report.ok else 500
