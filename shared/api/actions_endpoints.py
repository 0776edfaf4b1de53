"""The API's action operations: attach actions to a slice, read them, their runs, run now.

:data:`ACTION_ROUTES` joins the API's route table (``shared.api.endpoints.ROUTES``), so these
operations are dispatched and described in the OpenAPI document like every other.
"""

from __future__ import annotations

from shared.actions import service
from shared.actions.models import Action, ActionCreate, ActionList, ActionRunList
from shared.api.messages import Empty
from shared.api.requests import ApiRequest
from shared.api.routing import PAGE_SIZE, PAGE_TOKEN, Reply, Route


def create_action(req: ApiRequest) -> Reply:
    return Reply(service.create_action(req.path["sliceId"], req.body(ActionCreate)))


def list_actions(req: ApiRequest) -> Reply:
    found, token = service.list_actions(
        req.path["sliceId"], size=req.query_int("pageSize"), page_token=req.query("pageToken")
    )
    return Reply(ActionList(actions=found, next_page_token=token))


def get_action(req: ApiRequest) -> Reply:
    return Reply(service.get_action(req.path["actionId"]))


def delete_action(req: ApiRequest) -> Reply:
    service.delete_action(req.path["actionId"])
    return Reply(Empty())


def list_action_runs(req: ApiRequest) -> Reply:
    runs, token = service.list_runs(
        req.path["actionId"], size=req.query_int("pageSize"), page_token=req.query("pageToken")
    )
    return Reply(ActionRunList(runs=runs, next_page_token=token))


def run_action(req: ApiRequest) -> Reply:
    return Reply(service.run_now(req.path["actionId"]))


ACTION_ROUTES: list[Route] = [
    Route("POST", "/v1/slices/{sliceId}/actions", create_action, "createAction",
          "Attach a scheduled action to a slice", Action, "actions",
          description="The action acts on rows that enter the slice after it is created, on "
          "its cron schedule: export (NDJSON to the export bucket), publish (row ids to the "
          "slice-actions topic), webhook (a signed POST to an allowed https host), tag "
          "(adds metadata tags).",
          body=ActionCreate, errors=(400, 404, 413, 415)),
    Route("GET", "/v1/slices/{sliceId}/actions", list_actions, "listActions",
          "List a slice's actions", ActionList, "actions", params=(PAGE_SIZE, PAGE_TOKEN),
          errors=(400, 404)),
    Route("GET", "/v1/actions/{actionId}", get_action, "getAction", "Get an action", Action,
          "actions", errors=(404,)),
    Route("DELETE", "/v1/actions/{actionId}", delete_action, "deleteAction",
          "Delete an action and its run records", Empty, "actions", errors=(404,)),
    Route("GET", "/v1/actions/{actionId}/runs", list_action_runs, "listActionRuns",
          "List an action's runs, newest first", ActionRunList, "actions",
          params=(PAGE_SIZE, PAGE_TOKEN), errors=(400, 404)),
    Route("POST", "/v1/actions/{actionId}:run", run_action, "runAction",
          "Run an action at the next scheduler tick (resumes a suspended action)", Action,
          "actions",
          description="Runs happen in the scheduled function, the one identity allowed to "
          "write exports, publish and sign webhooks: this makes the action due now.",
          errors=(404,)),
]  # fmt: skip
