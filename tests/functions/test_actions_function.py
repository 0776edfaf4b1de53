"""The actions function in process, as Cloud Scheduler calls it: POST / with {}."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import functions_framework
import pytest
from flask.testing import FlaskClient

from shared import builds
from shared.actions import service
from shared.actions.models import ActionCreate
from shared.config import settings
from shared.model_runs import writes
from shared.models import ModelRunCreate, ModelRunUpdate, Prediction, SliceCreate
from shared.services import model_runs as run_service
from shared.services import slices as slice_service
from shared.store import model_runs as run_store
from shared.store import slices as slice_store
from tests.functions import conftest_api as api
from tests.functions.conftest_api import declare, put_rows, row_doc

empty_firestore, api_app, client = api.empty_firestore, api.api_app, api.client

SOURCE = Path(__file__).resolve().parents[2] / "functions" / "actions" / "main.py"
SCHEDULER = {"Content-Type": "application/json", "User-Agent": "Google-Cloud-Scheduler"}


@pytest.fixture(scope="module")
def actions_app() -> Any:
    return functions_framework.create_app(target="actions", source=str(SOURCE))


@pytest.fixture
def ticks(actions_app: Any, monkeypatch: pytest.MonkeyPatch) -> FlaskClient:
    monkeypatch.setenv("ACTIONS_SETTLE_SECONDS", "0")
    settings.cache_clear()
    return actions_app.test_client()  # type: ignore[no-any-return]


def test_a_tick_builds_then_runs_due_actions(ticks: FlaskClient, client: FlaskClient) -> None:
    declare(client, split={"kind": "enum", "values": ["train", "valid"]})
    put_rows(row_doc(f"gs://b/ds/{i}.png", metadata={"split": "train"}) for i in range(4))
    building = slice_service.create_slice(
        SliceCreate(name="unbuilt", filter='metadata.split = "train"'), build_seconds=0
    )
    assert building.status == "building"
    ready = slice_service.create_slice(
        SliceCreate(name="built", filter='metadata.split = "valid"'), build_seconds=30
    )
    action = service.create_action(
        ready.id, ActionCreate.model_validate({"type": "tag", "config": {"tags": ["seen"]}})
    )
    (entered,) = put_rows([row_doc("gs://b/ds/v.png", metadata={"split": "valid"})])
    service.run_now(action.id)

    response = ticks.post("/", json={}, headers=SCHEDULER)
    assert response.status_code == 200, response.get_json()
    summary = response.get_json()
    assert summary["ok"] is True
    assert building.id in summary["builds"]["ready"]
    assert summary["recomputes"] == {"advanced": 0, "ready": [], "rowsScanned": 0, "rowsWritten": 0}
    assert summary["imports"] == {"advanced": 0, "outcomes": []}
    assert summary["actions"]["runs"] == 1
    assert summary["actions"]["rows"] == 1
    (result,) = summary["actions"]["results"]
    assert (result["actionId"], result["outcome"], result["rows"]) == (action.id, "succeeded", 1)
    assert slice_store.get_slice(building.id)["status"] == "ready"
    assert client.get(f"/v1/dataRows/{entered}").get_json()["metadata"]["tags"] == ["seen"]

    # the next tick has nothing to do
    quiet = ticks.post("/", json={}, headers=SCHEDULER).get_json()
    assert quiet["builds"]["advanced"] == 0
    assert quiet["actions"]["runs"] == 0


def test_a_tick_continues_a_metric_recompute(ticks: FlaskClient) -> None:
    ids = put_rows(row_doc(f"gs://b/ds/{i}.png") for i in range(3))
    run = run_service.create_run(ModelRunCreate(name="run", model="m", classes=["car"])).id
    predictions = [Prediction(name="car", confidence=0.45)]
    writes.put_predictions(run, {rid: writes.NewPredictions(predictions, None) for rid in ids})
    run_service.update_run(run, ModelRunUpdate(confidence_threshold=0.4), request_seconds=0)
    assert run_store.get_run(run)["status"] == "computing"

    summary = ticks.post("/", json={}, headers=SCHEDULER).get_json()
    assert summary["recomputes"]["ready"] == [run]
    assert summary["recomputes"]["rowsScanned"] >= 1  # the PATCH may have done a chunk
    assert run_store.get_run(run)["status"] == "ready"


def test_a_failing_phase_is_reported_and_the_others_still_run(
    ticks: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*, deadline: float) -> list[Any]:
        raise RuntimeError("builds are broken")

    monkeypatch.setattr(builds, "advance_all", broken)
    response = ticks.post("/", json={}, headers=SCHEDULER)
    assert response.status_code == 500
    summary = response.get_json()
    assert summary["ok"] is False
    assert "builds are broken" in summary["builds"]["error"]
    assert "runs" in summary["actions"]


def test_no_budget_left_skips_every_phase(
    ticks: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACTIONS_BUDGET_SECONDS", "0")
    summary = ticks.post("/", json={}).get_json()
    phases = ("builds", "recomputes", "imports", "actions")
    assert [name for name in phases if "skipped" in summary[name]] == list(phases)


def test_only_post_is_a_tick(ticks: FlaskClient) -> None:
    response = ticks.get("/")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.get_json()["error"]["code"] == 405
