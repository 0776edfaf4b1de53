"""Running actions on the emulators: leases, watermarks, retries, and every sink.

Firestore and storage come from the session fixtures; the Pub/Sub emulator is started here,
once, only if a publish test runs. Ticks run one after the other (the emulator serializes
contending transactions with long lock waits, so two ticks are never raced in parallel): a
tick that "holds" a lease is simulated by taking the lease and not finishing.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from local import emulators
from shared import storage
from shared.actions import runner, service, webhooks
from shared.actions.models import ActionCreate, TagConfig
from shared.actions.sinks import EnteredRow, RunContext, Sink
from shared.actions.sinks import publish as publish_sink
from shared.actions.sinks.export import object_name
from shared.actions.sinks.tag import TagSink
from shared.actions.sinks.webhook import WebhookSink
from shared.config import settings
from shared.errors import InvalidArgument
from shared.ids import row_id
from shared.metadata import MetadataField, MetadataKind
from shared.model_runs import writes
from shared.models import ActionType, DataRowUpdate, ModelRunCreate, Prediction, SliceCreate
from shared.services import data_rows
from shared.services import model_runs as run_service
from shared.services import slices as slice_service
from shared.store import actions as action_store
from shared.store import model_runs as run_store
from shared.store import rows as row_store
from shared.store import slices as slice_store
from shared.store.schema import add_fields
from shared.store.scopes import CATALOG
from tests.conftest import PROJECT
from tests.integration.store_helpers import row_doc, slice_doc

SIGNING_KEY = "test-signing-key"
TOPIC = "slice-actions"


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def actions_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTIONS_SETTLE_SECONDS", "0")
    monkeypatch.setenv("WEBHOOK_SIGNING_KEY", SIGNING_KEY)
    monkeypatch.setenv("WEBHOOK_ALLOWED_HOSTS", "hooks.example.com")
    monkeypatch.setenv("SLICE_ACTIONS_TOPIC", f"projects/{PROJECT}/topics/{TOPIC}")
    settings.cache_clear()
    add_fields({"split": MetadataField(kind=MetadataKind.STRING)})


@pytest.fixture
def export_bucket(storage_host: str, monkeypatch: pytest.MonkeyPatch) -> str:
    storage.client.cache_clear()
    name = f"exports-{uuid.uuid4().hex[:12]}"
    storage.client().create_bucket(name)
    monkeypatch.setenv("EXPORT_BUCKET", name)
    settings.cache_clear()
    return name


@dataclass
class PubSub:
    subscription: str
    subscriber: Any

    def pull(self, expected: int) -> list[Any]:
        """Messages until ``expected`` arrived (or 10 pulls came back empty), acknowledged."""
        messages: list[Any] = []
        for _ in range(10):
            if len(messages) >= expected:
                break
            response = self.subscriber.pull(
                request={"subscription": self.subscription, "max_messages": 100}, timeout=10
            )
            if response.received_messages:
                messages += [m.message for m in response.received_messages]
                self.subscriber.acknowledge(
                    request={
                        "subscription": self.subscription,
                        "ack_ids": [m.ack_id for m in response.received_messages],
                    }
                )
        return messages


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[str]:
    emulator = emulators.start_pubsub()
    previous = os.environ.get("PUBSUB_EMULATOR_HOST")
    os.environ["PUBSUB_EMULATOR_HOST"] = emulator.host
    publish_sink.publisher.cache_clear()
    try:
        yield emulator.host
    finally:
        publish_sink.publisher.cache_clear()
        emulator.stop()
        if previous is None:
            os.environ.pop("PUBSUB_EMULATOR_HOST", None)
        else:
            os.environ["PUBSUB_EMULATOR_HOST"] = previous


@pytest.fixture
def pubsub(pubsub_emulator: str) -> Iterator[PubSub]:
    """The slice-actions topic (fresh) and a subscription to it."""
    from google.api_core.exceptions import NotFound  # noqa: PLC0415
    from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient  # noqa: PLC0415

    publisher, subscriber = PublisherClient(), SubscriberClient()
    topic = publisher.topic_path(PROJECT, TOPIC)
    with contextlib.suppress(NotFound):
        publisher.delete_topic(request={"topic": topic})
    publisher.create_topic(name=topic)
    subscription = subscriber.subscription_path(PROJECT, f"test-{uuid.uuid4().hex[:8]}")
    subscriber.create_subscription(request={"name": subscription, "topic": topic})
    try:
        yield PubSub(subscription, subscriber)
    finally:
        subscriber.close()


# --- helpers ---------------------------------------------------------------------------------


def put(*names: str, split: str = "train") -> list[str]:
    """Write catalog rows ds/<name> through the store (membership set as ingest would)."""
    docs = {row_id(f"ds/{n}"): row_doc(f"ds/{n}", metadata={"split": split}) for n in names}
    row_store.mutate_rows(CATALOG, list(docs), lambda rid, _current: dict(docs[rid]))
    return list(docs)


def make_slice(filter_text: str = 'metadata.split = "train"') -> str:
    created = slice_service.create_slice(
        SliceCreate(name=f"s-{uuid.uuid4().hex[:6]}", filter=filter_text), build_seconds=60
    )
    assert created.status == "ready"
    return created.id


def make_action(slice_id: str, kind: str, config: dict[str, Any] | None = None) -> str:
    body = ActionCreate.model_validate({"type": kind, "config": config or {}})
    return service.create_action(slice_id, body).id


def tick(
    *, clock: runner.Clock = runner.utc_now, sinks: runner.SinkFactory = runner.make_sink
) -> list[runner.RunReport]:
    return runner.run_due(deadline=time.monotonic() + 60, clock=clock, sinks=sinks)


def run_now(action_id: str) -> list[runner.RunReport]:
    service.run_now(action_id)
    return tick()


def runs(action_id: str) -> list[dict[str, Any]]:
    return action_store.list_runs(action_id, limit=100)


def export_ids(bucket: str, action_id: str, run_id: str) -> list[str]:
    blob = storage.client().bucket(bucket).blob(object_name(action_id, run_id))
    return [json.loads(line)["id"] for line in blob.download_as_bytes().splitlines()]


def later(seconds: float) -> runner.Clock:
    return lambda: datetime.now(UTC) + timedelta(seconds=seconds)


def hold_lease(action_id: str, *, seconds: float = 300) -> dict[str, Any]:
    """What a tick does before it dies: take the lease and open the run, then nothing."""
    now = datetime.now(UTC)
    leased = action_store.acquire_lease(
        action_id,
        "a-tick-that-died",
        until=now + timedelta(seconds=seconds),
        decide=partial(runner.plan_run, now=now, settle=0),
    )
    assert leased is not None
    return leased


@dataclass
class Recorded:
    """A sink that remembers what it was given, and can be told to fail."""

    context: RunContext
    calls: list[list[str]]
    fail: bool = False
    needs_documents: bool = False

    def __post_init__(self) -> None:
        self.ids: list[str] = []

    def add(self, row: EnteredRow) -> None:
        self.ids.append(row.id)

    def full(self) -> bool:
        return False

    def deliver(self) -> str:
        self.calls.append(list(self.ids))
        if self.fail:
            raise RuntimeError("the sink is down")
        return f"{len(self.ids)} rows"


def recording(calls: list[list[str]], *, fail: bool = False) -> runner.SinkFactory:
    def factory(_kind: ActionType, context: RunContext) -> Sink:
        return Recorded(context, calls, fail)

    return factory


# --- watermark -------------------------------------------------------------------------------


def test_only_rows_entering_after_creation_are_acted_on_once(export_bucket: str) -> None:
    before = put("before-1", "before-2")
    put("never", split="valid")
    slice_id = make_slice()
    action_id = make_action(slice_id, "export")
    (entering,) = put("after-1")

    (report,) = run_now(action_id)
    assert report.outcome == "succeeded"
    assert report.rows == 1
    assert export_ids(export_bucket, action_id, report.run_id or "") == [entering]
    assert not set(before) & set(export_ids(export_bucket, action_id, report.run_id or ""))

    # a second tick finds nothing new: no run recorded, no export written
    (second,) = run_now(action_id)
    assert second.outcome == "idle"
    assert [r["id"] for r in runs(action_id)] == [report.run_id]

    # a row that starts matching later enters then, and is acted on in the next run
    (moved,) = put("moved", split="valid")
    data_rows.update_row(moved, DataRowUpdate(metadata={"split": "train"}))
    (third,) = run_now(action_id)
    assert third.rows == 1
    assert export_ids(export_bucket, action_id, third.run_id or "") == [moved]
    stored = action_store.get_action(action_id)
    assert stored["watermarkRowId"] == moved
    assert [r["status"] for r in runs(action_id)] == ["succeeded", "succeeded"]


def test_an_action_that_is_not_due_does_not_run(export_bucket: str) -> None:
    action_id = make_action(make_slice(), "export")
    (row,) = put("new")
    assert tick() == []  # due only at the next */10 minute
    (report,) = tick(clock=later(11 * 60))
    assert (report.action_id, report.outcome) == (action_id, "succeeded")
    assert export_ids(export_bucket, action_id, report.run_id or "") == [row]


def test_ties_in_entry_time_are_split_across_capped_runs_without_loss(
    export_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One write of many rows (a manifest chunk, a build chunk) stamps them all with one entry
    time; with a cap of 2 rows per run, the (time, id) watermark still takes each row exactly
    once, all in one tick."""
    slice_id = make_slice()
    action_id = make_action(slice_id, "export")
    ids = put(*[f"r{i}" for i in range(5)])
    entered = {(row_store.get_row(CATALOG, rid) or {})["sliceEnteredAt"][slice_id] for rid in ids}
    assert len(entered) == 1  # one write, one time: the case this test is about

    monkeypatch.setenv("ACTIONS_MAX_ROWS_PER_RUN", "2")
    reports = run_now(action_id)
    assert [(r.outcome, r.rows, r.more) for r in reports] == [
        ("succeeded", 2, True), ("succeeded", 2, True), ("succeeded", 1, False)
    ]  # fmt: skip
    exported = [
        rid for r in reports if r.run_id for rid in export_ids(export_bucket, action_id, r.run_id)
    ]
    assert sorted(exported) == sorted(ids)
    assert len(exported) == len(set(exported))


# --- leases and retries ----------------------------------------------------------------------


def test_a_held_lease_keeps_a_second_tick_out_until_it_expires(export_bucket: str) -> None:
    action_id = make_action(make_slice(), "export")
    (row,) = put("new")
    service.run_now(action_id)
    held = hold_lease(action_id, seconds=300)
    pending_id = held["pendingRun"]["id"]

    assert tick() == []  # not even listed as due: its due time is the lease's expiry
    direct = runner.run_action(action_id, deadline=time.monotonic() + 30)
    assert direct.outcome == "skipped"
    assert runs(action_id) == []

    # the holder died: once the lease expires, the next tick finishes the same run
    (report,) = tick(clock=later(301))
    assert report.outcome == "succeeded"
    assert report.run_id == pending_id
    (record,) = runs(action_id)
    assert record["attempts"] == 2
    assert export_ids(export_bucket, action_id, pending_id) == [row]


def test_a_retry_finds_its_export_written_and_does_not_overwrite_it(export_bucket: str) -> None:
    action_id = make_action(make_slice(), "export")
    put("new")
    service.run_now(action_id)
    run_id = hold_lease(action_id)["pendingRun"]["id"]
    # the dead tick had written its object (objectCreator could never overwrite it)
    blob = storage.client().bucket(export_bucket).blob(object_name(action_id, run_id))
    blob.upload_from_string(b'{"id":"written-before"}\n', if_generation_match=0)

    (report,) = tick(clock=later(301))
    assert report.outcome == "succeeded"
    assert "written by an earlier try" in (report.output or "")
    assert export_ids(export_bucket, action_id, run_id) == ["written-before"]
    assert action_store.get_action(action_id).get("pendingRun") is None


def test_a_failed_run_keeps_the_watermark_and_retries_the_same_rows() -> None:
    slice_id = make_slice()
    action_id = make_action(slice_id, "export")
    first = put("a", "b")
    calls: list[list[str]] = []

    service.run_now(action_id)
    (failed,) = tick(sinks=recording(calls, fail=True))
    assert failed.outcome == "failed"
    stored = action_store.get_action(action_id)
    assert stored["watermarkRowId"] is None  # unchanged: still the creation time
    assert stored["failures"] == 1
    assert "the sink is down" in stored["lastError"]
    (record,) = runs(action_id)
    assert (record["status"], record["rows"], record["id"]) == ("failed", 2, failed.run_id)

    # a row entering meanwhile is not part of the retried run: its rows were pinned
    (late,) = put("c")
    assert tick(sinks=recording(calls)) == []  # backing off: due in a minute
    (retried,) = tick(clock=later(61), sinks=recording(calls))
    assert retried.outcome == "succeeded"
    assert retried.run_id == failed.run_id
    assert sorted(calls[-1]) == sorted(first)
    (record,) = runs(action_id)
    assert (record["status"], record["attempts"], record["error"]) == ("succeeded", 2, None)

    (after,) = run_now_with(action_id, recording(calls))
    assert calls[-1] == [late]
    assert after.run_id != failed.run_id


def run_now_with(action_id: str, sinks: runner.SinkFactory) -> list[runner.RunReport]:
    service.run_now(action_id)
    return tick(sinks=sinks)


def test_repeated_failures_suspend_the_action_and_run_now_resumes_it() -> None:
    action_id = make_action(make_slice(), "export")
    put("a")
    calls: list[list[str]] = []
    service.run_now(action_id)
    outcomes = [
        tick(clock=later(4000 * attempt), sinks=recording(calls, fail=True))[0].outcome
        for attempt in range(runner.MAX_ATTEMPTS)
    ]
    assert outcomes == ["failed"] * (runner.MAX_ATTEMPTS - 1) + ["suspended"]
    stored = service.get_action(action_id)
    assert (stored.status, stored.next_run_at) == ("suspended", None)
    assert tick(clock=later(10**6), sinks=recording(calls)) == []

    resumed = service.run_now(action_id)
    assert resumed.status == "active"
    (report,) = tick(sinks=recording(calls))
    assert report.outcome == "succeeded"
    assert len({tuple(c) for c in calls}) == 1  # every try had the same rows


def test_an_action_whose_slice_is_gone_is_suspended_at_once(export_bucket: str) -> None:
    """Deleting a slice deletes its actions; one left by a deletion cut short is suspended."""
    slice_id = make_slice()
    action_id = make_action(slice_id, "export")
    slice_store.delete_slice(slice_id)  # the slice only, as a crash mid-deletion leaves it
    (report,) = run_now(action_id)
    assert report.outcome == "suspended"
    assert "does not exist" in (service.get_action(action_id).last_error or "")


# --- sinks -----------------------------------------------------------------------------------


def test_publish_sends_batches_of_row_ids_with_their_run(
    pubsub: PubSub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publish_sink, "BATCH_ROWS", 2)
    slice_id = make_slice()
    action_id = make_action(slice_id, "publish")
    ids = put("p1", "p2", "p3")
    (report,) = run_now(action_id)
    assert report.outcome == "succeeded"
    messages = pubsub.pull(expected=2)
    assert len(messages) == 2
    for message in messages:
        attributes = dict(message.attributes)
        assert attributes["actionId"] == action_id
        assert attributes["runId"] == report.run_id
        assert attributes["sliceId"] == slice_id
        assert attributes["batches"] == "2"
    by_batch = sorted(messages, key=lambda m: m.attributes["batch"])
    published = [rid for m in by_batch for rid in json.loads(m.data)["rowIds"]]
    assert sorted(published) == sorted(ids)
    assert [len(json.loads(m.data)["rowIds"]) for m in by_batch] == [2, 1]


def test_tag_sets_tags_through_the_store_so_membership_follows() -> None:
    slice_id = make_slice()
    action_id = make_action(slice_id, "tag", {"tags": ["review", "q3"]})
    tagged_slice = make_slice('metadata.tags CONTAINS "review"')
    ids = put("t1", "t2")
    (report,) = run_now(action_id)
    assert report.outcome == "succeeded"
    assert "2 rows tagged" in (report.output or "")
    for rid in ids:
        row = row_store.get_row(CATALOG, rid) or {}
        assert row["metadata"]["tags"] == ["q3", "review"]
        assert tagged_slice in row["sliceIds"]  # a slice filtering on the tag gained the row

    # the same tags again (a retried run): nothing is written
    config = TagConfig(tags=["review", "q3"])
    sink = TagSink(RunContext(action_id, "again", slice_id, CATALOG, config))
    for rid in ids:
        sink.add(EnteredRow(rid, datetime.now(UTC), {}))
    updated = [(row_store.get_row(CATALOG, rid) or {})["updatedAt"] for rid in ids]
    assert sink.deliver() == "0 rows tagged, 2 already had the tags"
    assert [(row_store.get_row(CATALOG, rid) or {})["updatedAt"] for rid in ids] == updated


def test_tag_refuses_a_field_that_is_not_a_tags_field() -> None:
    with pytest.raises(InvalidArgument, match=r"config\.field"):
        make_action(make_slice(), "tag", {"tags": ["x"], "field": "split"})


@dataclass
class FakeReceiver:
    status: int = 204

    def __post_init__(self) -> None:
        self.deliveries: list[webhooks.Delivery] = []

    def __call__(self, delivery: webhooks.Delivery) -> int:
        self.deliveries.append(delivery)
        return self.status


def webhook_sinks(receiver: FakeReceiver) -> runner.SinkFactory:
    def factory(kind: ActionType, context: RunContext) -> Sink:
        assert kind is ActionType.WEBHOOK
        return WebhookSink(context, resolver=lambda _h, _p: ["93.184.215.14"], transport=receiver)

    return factory


def test_webhook_posts_signed_row_ids_keyed_by_the_run() -> None:
    slice_id = make_slice()
    action_id = make_action(slice_id, "webhook", {"url": "https://hooks.example.com/in"})
    ids = put("w1", "w2")
    down = FakeReceiver(status=503)
    service.run_now(action_id)
    (failed,) = tick(sinks=webhook_sinks(down))
    assert failed.outcome == "failed"

    up = FakeReceiver()
    (report,) = tick(clock=later(61), sinks=webhook_sinks(up))
    assert report.outcome == "succeeded"
    assert report.output == "HTTP 204 from hooks.example.com"
    first, retry = down.deliveries[0], up.deliveries[0]
    # the retry is the same request: same body, same idempotency key, same signature
    assert retry.body == first.body
    assert retry.headers == first.headers
    assert retry.headers["Idempotency-Key"] == report.run_id
    assert webhooks.verify(SIGNING_KEY.encode(), retry.body, retry.headers["X-Slices-Signature"])
    payload = json.loads(retry.body)
    assert payload["actionId"] == action_id
    assert payload["sliceId"] == slice_id
    assert sorted(payload["rowIds"]) == sorted(ids)
    assert retry.address == "93.184.215.14"


def test_webhook_to_a_host_resolving_privately_suspends_the_action() -> None:
    action_id = make_action(make_slice(), "webhook", {"url": "https://hooks.example.com/in"})
    put("w1")
    receiver = FakeReceiver()

    def factory(_kind: ActionType, context: RunContext) -> Sink:
        return WebhookSink(context, resolver=lambda _h, _p: ["10.0.0.5"], transport=receiver)

    service.run_now(action_id)
    (report,) = tick(sinks=factory)
    assert report.outcome == "suspended"
    assert receiver.deliveries == []
    assert "10.0.0.5" in (report.error or "")


def test_tag_on_a_model_run_slice_tags_the_data_rows_and_the_runs_copies() -> None:
    ids = put("m1", "m2")
    run = run_service.create_run(ModelRunCreate(name="run", model="m", classes=["car"])).id
    created = slice_service.create_slice(
        SliceCreate.model_validate(
            {"name": "predicted", "scope": {"modelRun": run}, "filter": "predictions.count > 0"}
        ),
        build_seconds=30,
    )
    action_id = make_action(created.id, "tag", {"tags": ["predicted"]})
    car = [Prediction(name="car", confidence=0.9)]
    writes.put_predictions(run, {ids[0]: writes.NewPredictions(car, None)})

    (report,) = run_now(action_id)
    assert (report.outcome, report.rows) == ("succeeded", 1)
    assert (row_store.get_row(CATALOG, ids[0]) or {})["metadata"]["tags"] == ["predicted"]
    assert "tags" not in (row_store.get_row(CATALOG, ids[1]) or {})["metadata"]
    copy = row_store.get_row(run_store.scope_key(run), ids[0]) or {}
    assert copy["metadata"]["tags"] == ["predicted"]
    assert created.id in copy["sliceIds"]


@pytest.mark.parametrize("slice_id", ["0123abc", "abc0123"])
def test_entry_queries_work_for_slice_ids_starting_with_a_digit_or_not(slice_id: str) -> None:
    """A field path segment that starts with a digit must be quoted in queries and projections."""
    doc = slice_doc("digits", {"field": "metadata.split", "op": "eq", "value": "train"})
    slice_store.create_slice({**doc, "id": slice_id})
    ids = put("d1", "d2")
    start = (datetime(2000, 1, 1, tzinfo=UTC), None)
    end = datetime.now(UTC) + timedelta(minutes=1)
    for fields in (None, [action_store.entered_path(slice_id)]):
        found = action_store.entered_rows(
            CATALOG, slice_id, after=start, through=end, limit=10, fields=fields
        )
        assert sorted(s.id for s in found) == sorted(ids)
        assert all(slice_id in (s.to_dict() or {})["sliceEnteredAt"] for s in found)
