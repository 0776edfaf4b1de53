"""The pure parts of running an action: when a run may start, what success, failure and
``:run`` change, config checking, and what the export and tag sinks make of a row."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.cloud import firestore

from shared.actions import runner
from shared.actions.config import check_config, parse_config
from shared.actions.models import ExportConfig, TagConfig, WebhookConfig
from shared.actions.service import request_run
from shared.actions.sinks.export import row_line
from shared.actions.sinks.tag import tagged
from shared.errors import InvalidArgument
from shared.models import ActionType
from shared.store import rows as row_store

NOW = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def action(**fields: Any) -> dict[str, Any]:
    return {
        "id": "a1", "sliceId": "s1", "type": "export", "config": {}, "schedule": "*/10 * * * *",
        "timeZone": "UTC", "status": "active", "due": NOW - timedelta(minutes=1),
        "watermark": NOW - timedelta(hours=1), "watermarkRowId": None, "leaseOwner": None,
        "leaseUntil": None, "runRequested": False, **fields,
    }  # fmt: skip


# --- plan_run --------------------------------------------------------------------------------


def test_a_due_action_opens_a_run_with_its_window_end_behind_now() -> None:
    changes = runner.plan_run(action(), now=NOW, settle=120)
    assert changes is not None
    pending = changes["pendingRun"]
    assert pending["attempts"] == 1
    assert pending["windowEnd"] == NOW - timedelta(seconds=120)
    assert pending["last"] is None
    assert changes["runRequested"] is False


@pytest.mark.parametrize(
    "fields",
    [
        {"due": NOW + timedelta(seconds=1)},  # not due yet
        {"due": None},  # suspended actions have no due time
        {"status": "suspended"},
        {"leaseOwner": "other", "leaseUntil": NOW + timedelta(seconds=30)},  # a live lease
    ],
)
def test_no_run_when_not_due_suspended_or_leased(fields: dict[str, Any]) -> None:
    assert runner.plan_run(action(**fields), now=NOW, settle=0) is None


def test_an_expired_lease_resumes_the_same_run() -> None:
    pending = {"id": "r1", "attempts": 1, "windowEnd": NOW - timedelta(minutes=5),
               "startedAt": NOW - timedelta(minutes=3), "last": None, "rows": 0}  # fmt: skip
    current = action(leaseOwner="dead", leaseUntil=NOW - timedelta(seconds=1), pendingRun=pending)
    changes = runner.plan_run(current, now=NOW, settle=120)
    assert changes is not None
    assert changes["pendingRun"] == {**pending, "attempts": 2}


# --- finishing -------------------------------------------------------------------------------


def test_success_moves_the_watermark_and_schedules_the_next_run() -> None:
    last = (NOW - timedelta(minutes=3), "row9")
    changes = runner.succeeded(action(), run_id="r1", last=last, capped=False, now=NOW)
    assert (changes["watermark"], changes["watermarkRowId"]) == last
    assert changes["due"] == NOW + timedelta(minutes=10)  # */10 from 10:00
    assert changes["pendingRun"] is firestore.DELETE_FIELD
    assert changes["lastRunId"] == "r1"


def test_a_capped_run_or_a_run_requested_meanwhile_is_due_again_at_once() -> None:
    last = (NOW, "row9")
    assert runner.succeeded(action(), run_id="r", last=last, capped=True, now=NOW)["due"] == NOW
    requested = action(runRequested=True)
    assert runner.succeeded(requested, run_id="r", last=last, capped=False, now=NOW)["due"] == NOW


def test_idle_keeps_the_watermark() -> None:
    changes = runner.idle(action(), now=NOW)
    assert "watermark" not in changes
    assert changes["due"] == NOW + timedelta(minutes=10)


def test_failures_back_off_then_suspend() -> None:
    delays = []
    for attempts in range(1, runner.MAX_ATTEMPTS):
        current = action(pendingRun={"id": "r1", "attempts": attempts})
        changes = runner.failed(current, run_id="r1", error="boom", permanent=False, now=NOW)
        assert "watermark" not in changes
        assert "pendingRun" not in changes
        assert changes["failures"] == attempts
        delays.append(changes["due"] - NOW)
    assert delays == sorted(delays)
    assert delays[0] == timedelta(minutes=1)
    last = action(pendingRun={"id": "r1", "attempts": runner.MAX_ATTEMPTS})
    changes = runner.failed(last, run_id="r1", error="boom", permanent=False, now=NOW)
    assert changes["status"] == "suspended"
    assert changes["due"] is firestore.DELETE_FIELD


def test_a_permanent_failure_suspends_at_once() -> None:
    current = action(pendingRun={"id": "r1", "attempts": 1})
    changes = runner.failed(current, run_id="r1", error="gone", permanent=True, now=NOW)
    assert changes["status"] == "suspended"


def test_retry_delay_is_capped() -> None:
    assert runner.retry_delay(1) == 60
    assert runner.retry_delay(2) == 120
    assert runner.retry_delay(30) == runner.MAX_RETRY_SECONDS


# --- :run ------------------------------------------------------------------------------------


def test_run_now_resumes_a_suspended_action_with_fresh_attempts() -> None:
    current = action(status="suspended", due=None, failures=5,
                     pendingRun={"id": "r1", "attempts": 5, "last": None})  # fmt: skip
    changes = request_run(current, NOW)
    assert changes["status"] == "active"
    assert changes["due"] == NOW
    assert changes["pendingRun"] == {"id": "r1", "attempts": 0, "last": None}


def test_run_now_leaves_a_running_action_leased() -> None:
    current = action(leaseOwner="tick", leaseUntil=NOW + timedelta(minutes=4))
    changes = request_run(current, NOW)
    assert "due" not in changes  # the lease's expiry stays its due time
    assert changes["runRequested"] is True


# --- configs ---------------------------------------------------------------------------------


def test_configs_by_type() -> None:
    assert parse_config(ActionType.EXPORT, {}) == ExportConfig(format="ndjson")
    assert parse_config(ActionType.TAG, {"tags": ["a"]}) == TagConfig(tags=["a"], field="tags")
    url = "https://hooks.example.com/x"
    assert check_config(ActionType.WEBHOOK, {"url": url}, allowed_hosts=["hooks.example.com"]) == (
        WebhookConfig(url=url)
    )


@pytest.mark.parametrize(
    ("kind", "config", "field"),
    [
        (ActionType.EXPORT, {"format": "csv"}, "config.format"),
        (ActionType.EXPORT, {"bucket": "mine"}, "config.bucket"),
        (ActionType.PUBLISH, {"topic": "t"}, "config.topic"),
        (ActionType.WEBHOOK, {}, "config.url"),
        (ActionType.WEBHOOK, {"url": "http://hooks.example.com/x"}, "config.url"),
        (ActionType.WEBHOOK, {"url": "https://10.0.0.1/x"}, "config.url"),
        (ActionType.WEBHOOK, {"url": "https://elsewhere.example.com/x"}, "config.url"),
        (ActionType.TAG, {}, "config.tags"),
        (ActionType.TAG, {"tags": []}, "config.tags"),
        (ActionType.TAG, {"tags": [""]}, "config.tags.0"),
        (ActionType.TAG, {"tags": ["a"], "field": "bad name"}, "config.field"),
    ],
)
def test_bad_configs_name_their_field(kind: ActionType, config: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        check_config(kind, config, allowed_hosts=["hooks.example.com"])
    violations = raised.value.details[0]["fieldViolations"]
    assert violations[0]["field"] == field


# --- sinks' row handling ---------------------------------------------------------------------


def row(**fields: Any) -> dict[str, Any]:
    return {
        "id": "r1", "globalKey": "gs://b/ds/1.png", "rowData": "gs://b/ds/1.png", "dataset": "ds",
        "mediaType": "image", "media": {"mimeType": "image/png", "sizeBytes": 1, "width": 2,
        "height": None}, "metadata": {"split": "train"}, "labels": [], "labelClasses": [],
        "labelCount": 0, "createdAt": NOW, "updatedAt": NOW, "generation": 3,
        "sliceIds": ["s1"], "sliceEnteredAt": {"s1": NOW}, **fields,
    }  # fmt: skip


def test_an_exported_catalog_row_is_the_api_form() -> None:
    line = row_line("catalog", row())
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    value = json.loads(line)
    assert value["globalKey"] == "gs://b/ds/1.png"
    assert value["createdAt"].startswith("2026-05-01T10:00:00")
    assert "sliceEnteredAt" not in value


def test_an_exported_model_run_row_drops_membership_times() -> None:
    value = json.loads(row_line("modelRun:m1", row(split="valid")))
    assert value["split"] == "valid"
    assert "sliceEnteredAt" not in value
    assert "sliceIds" not in value


def test_tags_are_added_as_a_set_and_a_second_time_changes_nothing() -> None:
    first = tagged(row(metadata={"tags": ["b"], "split": "train"}), "tags", ["c", "a"], NOW)
    assert isinstance(first, dict)
    assert first["metadata"] == {"tags": ["a", "b", "c"], "split": "train"}
    assert "sliceIds" not in first  # membership is the store's to set
    again = tagged({**first, "sliceIds": []}, "tags", ["a", "c"], NOW)
    assert again is row_store.KEEP
    assert tagged(None, "tags", ["a"], NOW) is row_store.KEEP
