"""The local Eventarc: Cloud Storage notifications from Pub/Sub, delivered as CloudEvents.

In production, Eventarc turns each landing-bucket change into a CloudEvent and POSTs it to the
ingest function, at least once, retrying failures with backoff. There is no Eventarc emulator,
so locally fake-gcs-server publishes Cloud Storage's own Pub/Sub notifications (attributes
``eventType``, ``bucketId``, ``objectId``, ``objectGeneration``; data the object as JSON) and
this bridge pulls them and delivers what Eventarc would:

- a CloudEvent 1.0 in binary mode, ``type`` ``google.cloud.storage.object.v1.finalized`` (or
  ``.deleted``, ``.archived``), ``source`` ``//storage.googleapis.com/projects/_/buckets/<b>``,
  ``subject`` ``objects/<name>``, ``id`` (the notification's message id, as Eventarc's is),
  ``time``, and the ``bucket`` extension attribute;
- ``data``: the object resource in the JSON API's shape, int64 fields (``generation``,
  ``metageneration``, ``size``) as strings, timestamps in RFC 3339 with milliseconds;
- retried on 5xx, 408, 429 and connection errors with exponential backoff; after
  ``give_up_after`` seconds the message goes back to Pub/Sub and comes again later. Any other
  4xx is a rejection: logged, journaled and acknowledged (it would fail the same way again).

Every handled notification is appended to a journal (one JSON line), from which
``python -m local.bridge replay`` delivers an event again: a second delivery of the same event,
as Eventarc may make.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

if TYPE_CHECKING:
    from google.cloud.pubsub_v1 import SubscriberClient
    from google.pubsub_v1.types import ReceivedMessage

log = logging.getLogger("bridge")
_SUMMARY = "The local Eventarc: storage notifications from Pub/Sub, delivered as CloudEvents."

EVENT_TYPES = {
    "OBJECT_FINALIZE": "google.cloud.storage.object.v1.finalized",
    "OBJECT_DELETE": "google.cloud.storage.object.v1.deleted",
    "OBJECT_ARCHIVE": "google.cloud.storage.object.v1.archived",
    "OBJECT_METADATA_UPDATE": "google.cloud.storage.object.v1.metadataUpdated",
}
# The ingest function's three Eventarc triggers; no one subscribes to the other types.
TRIGGERED_TYPES = frozenset(
    EVENT_TYPES[kind] for kind in ("OBJECT_FINALIZE", "OBJECT_DELETE", "OBJECT_ARCHIVE")
)
RETRYABLE_STATUSES = frozenset({408, 429})
# How long a message given up on waits in Pub/Sub before it is delivered again.
REQUEUE_SECONDS = 30
# Long enough that a message is never redelivered while its own retries are still running.
ACK_DEADLINE_SECONDS = 600
# Optional object fields copied as they are when the notification has them.
_PASSED_THROUGH = (
    "contentType", "contentEncoding", "contentDisposition", "contentLanguage", "cacheControl",
    "md5Hash", "crc32c", "storageClass", "temporaryHold", "eventBasedHold", "kmsKeyName",
)  # fmt: skip


class BadNotification(ValueError):
    """A Pub/Sub message that is not a Cloud Storage notification we can translate."""


@dataclass(frozen=True)
class StorageEvent:
    """A CloudEvent about one object, as Eventarc delivers it to the ingest function."""

    attributes: dict[str, str]
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return self.attributes["id"]

    @property
    def type(self) -> str:
        return self.attributes["type"]

    @property
    def subject(self) -> str:
        return self.attributes["subject"]

    def to_http(self) -> tuple[dict[str, str], bytes]:
        """Binary content mode: attributes as ``ce-`` headers, the data as the JSON body."""
        headers = {
            f"ce-{name}": header_value(value)
            for name, value in self.attributes.items()
            if name != "datacontenttype"
        }
        headers["Content-Type"] = self.attributes.get("datacontenttype", "application/json")
        return headers, json.dumps(self.data, separators=(",", ":")).encode()

    def to_json(self) -> dict[str, Any]:
        return {"attributes": self.attributes, "data": self.data}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> StorageEvent:
        return cls(dict(value["attributes"]), dict(value["data"]))


def header_value(value: str) -> str:
    """An attribute as an HTTP header value, as the CloudEvents HTTP binding (3.1.3.2) says:
    space, ``"``, ``%`` and anything outside printable ASCII percent-encoded as UTF-8. So an
    object name arrives intact only in ``data.name``; ``subject`` is for routing and logs."""
    return "".join(c if "!" <= c <= "~" and c not in '"%' else quote(c, safe="") for c in value)


def rfc3339(value: str | datetime) -> str:
    """A timestamp as Cloud Storage writes it: UTC, milliseconds, ``Z``."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def object_etag(generation: int, metageneration: int) -> str:
    """The etag Cloud Storage gives an object: base64 of (generation, metageneration) encoded
    as protobuf fields 1 and 2."""
    raw = b"\x08" + _varint(generation) + b"\x10" + _varint(metageneration)
    return base64.b64encode(raw).decode()


def object_resource(
    payload: Mapping[str, Any], bucket: str, name: str, generation: str
) -> dict[str, Any]:
    """The object resource in the JSON API's shape, from a notification's JSON_API_V1 payload.

    fake-gcs-server leaves out a few fields production has (metageneration, selfLink,
    mediaLink, etag, timeStorageClassUpdated); they are derived here. A new generation always
    starts at metageneration 1, and we subscribe to no metadata updates.
    """
    generation = str(payload.get("generation") or generation)
    metageneration = str(payload.get("metageneration") or "1")
    quoted = quote(name, safe="")
    resource: dict[str, Any] = {
        "kind": "storage#object",
        "id": f"{bucket}/{name}/{generation}",
        "selfLink": f"https://www.googleapis.com/storage/v1/b/{bucket}/o/{quoted}",
        "mediaLink": (
            f"https://storage.googleapis.com/download/storage/v1/b/{bucket}/o/{quoted}"
            f"?generation={generation}&alt=media"
        ),
        "name": name,
        "bucket": bucket,
        "generation": generation,
        "metageneration": metageneration,
        "size": str(payload.get("size") or "0"),
        "etag": object_etag(int(generation), int(metageneration)),
    }
    for key in _PASSED_THROUGH:
        if payload.get(key) not in (None, ""):
            resource[key] = payload[key]
    for key in ("timeCreated", "updated", "timeDeleted"):
        if payload.get(key):
            resource[key] = rfc3339(payload[key])
    if "timeCreated" in resource:
        resource["timeStorageClassUpdated"] = resource["timeCreated"]
    if payload.get("metadata"):
        resource["metadata"] = {str(k): str(v) for k, v in payload["metadata"].items()}
    return resource


def to_storage_event(
    message_id: str,
    attributes: Mapping[str, str],
    payload: bytes,
    publish_time: datetime | None = None,
) -> StorageEvent:
    """Translate one Cloud Storage Pub/Sub notification into Eventarc's CloudEvent."""
    kind = attributes.get("eventType", "")
    if kind not in EVENT_TYPES:
        raise BadNotification(f"unknown eventType {kind!r}")
    if attributes.get("payloadFormat", "JSON_API_V1") != "JSON_API_V1":
        raise BadNotification(f"payloadFormat {attributes['payloadFormat']!r} is not JSON_API_V1")
    try:
        bucket, name = attributes["bucketId"], attributes["objectId"]
        body = json.loads(payload)
        data = object_resource(body, bucket, name, attributes.get("objectGeneration", ""))
    except (KeyError, ValueError, TypeError, AttributeError) as error:
        raise BadNotification(f"cannot read the notification: {error!r}") from error
    when = attributes.get("eventTime") or publish_time or datetime.now(UTC)
    return StorageEvent(
        attributes={
            "specversion": "1.0",
            "id": message_id,
            "source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
            "type": EVENT_TYPES[kind],
            "subject": f"objects/{name}",
            "time": rfc3339(when),
            "datacontenttype": "application/json",
            "bucket": bucket,
        },
        data=data,
    )


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff between attempts, then the message goes back to Pub/Sub."""

    first_delay: float = 0.25
    factor: float = 2.0
    max_delay: float = 10.0
    give_up_after: float = 120.0
    timeout: float = 60.0  # one attempt's HTTP timeout


Outcome = Literal["delivered", "rejected", "requeued"]


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    status: int | None
    attempts: int
    detail: str = ""


Send = Callable[[str, dict[str, str], bytes, float], int]


def http_post(url: str, headers: dict[str, str], body: bytes, timeout: float) -> int:
    """POST and return the status code; connection failures raise OSError."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url!r}")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http only)
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def is_retryable(status: int) -> bool:
    return status >= 500 or status in RETRYABLE_STATUSES


def deliver(
    event: StorageEvent,
    url: str,
    policy: RetryPolicy = RetryPolicy(),
    *,
    send: Send = http_post,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_retry: Callable[[int, str, float], None] | None = None,
) -> Delivery:
    """POST the event until it gets a 2xx, a permanent 4xx, or the policy gives up.

    ``on_retry(attempt, why, delay)`` is told of each failed attempt that will be retried.
    """
    headers, body = event.to_http()
    started = clock()
    delay = policy.first_delay
    attempts = 0
    while True:
        attempts += 1
        try:
            status: int | None = send(url, headers, body, policy.timeout)
            detail = ""
        except OSError as error:  # refused, reset, timed out: the function is not there (yet)
            status, detail = None, str(error)
        if status is not None and 200 <= status < 300:
            return Delivery("delivered", status, attempts)
        if status is not None and not is_retryable(status):
            return Delivery("rejected", status, attempts, f"HTTP {status}")
        why = detail or f"HTTP {status}"
        if clock() - started + delay > policy.give_up_after:
            return Delivery("requeued", status, attempts, why)
        if on_retry:
            on_retry(attempts, why, delay)
        sleep(delay)
        delay = min(delay * policy.factor, policy.max_delay)


class Journal:
    """Append-only record of every notification handled: the event and what became of it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, entry: Mapping[str, Any]) -> None:
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with self._lock, self.path.open("a") as out:
            out.write(line)

    def entries(self) -> list[dict[str, Any]]:
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]


def journal_entry(
    event: StorageEvent, delivery: Delivery, *, replay: bool = False
) -> dict[str, Any]:
    return {
        "at": rfc3339(datetime.now(UTC)),
        "outcome": delivery.outcome,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "replay": replay,
        "event": event.to_json(),
    }


@dataclass
class Bridge:
    """Pulls the notification subscription and delivers each message to the target."""

    subscription: str
    target: str
    journal: Journal
    bucket: str | None = None  # Eventarc's trigger filter: only this bucket's objects
    concurrency: int = 4
    policy: RetryPolicy = field(default_factory=RetryPolicy)

    def run(self, stop: threading.Event) -> None:
        from google.api_core import exceptions  # noqa: PLC0415 (only the process needs it)
        from google.cloud import pubsub_v1  # noqa: PLC0415

        subscriber = pubsub_v1.SubscriberClient()
        free = threading.Semaphore(self.concurrency)
        log.info("bridge: %s -> %s", self.subscription, self.target)
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="deliver") as pool:
            while not stop.is_set():
                free.acquire()  # at least one delivery slot, so a pulled message never waits
                slots = 1
                while slots < self.concurrency and free.acquire(blocking=False):
                    slots += 1
                try:
                    response = subscriber.pull(
                        subscription=self.subscription, max_messages=slots, timeout=10
                    )
                    received = list(response.received_messages)
                except exceptions.GoogleAPICallError as error:
                    log.warning("pull failed (%s); retrying", error)
                    received = []
                    stop.wait(1)
                for message in received:
                    pool.submit(self._handle_then_release, subscriber, message, free)
                for _ in range(slots - len(received)):
                    free.release()

    def _handle_then_release(
        self, subscriber: SubscriberClient, received: ReceivedMessage, free: threading.Semaphore
    ) -> None:
        try:
            self.handle(subscriber, received)
        except Exception:  # a bug here must not stop the bridge; the message comes back
            log.exception("handling message %s failed", received.message.message_id)
        finally:
            free.release()

    def handle(self, subscriber: SubscriberClient, received: ReceivedMessage) -> None:
        message = received.message
        try:
            event = to_storage_event(
                message.message_id, dict(message.attributes), message.data, message.publish_time
            )
        except BadNotification as error:
            log.error("dropped message %s: %s", message.message_id, error)
            self._ack(subscriber, received)
            return
        if event.type not in TRIGGERED_TYPES or (
            self.bucket and event.attributes["bucket"] != self.bucket
        ):
            log.info("no trigger for %s %s; acknowledged", event.type, event.attributes["source"])
            self._ack(subscriber, received)
            return

        def retrying(attempt: int, why: str, delay: float) -> None:
            log.warning(
                "attempt %d of %s id=%s failed (%s); retrying in %.2fs",
                attempt, event.subject, event.id, why, delay,
            )  # fmt: skip

        delivery = deliver(event, self.target, self.policy, on_retry=retrying)
        self.journal.append(journal_entry(event, delivery))
        log.info(
            "%s %s %s#%s id=%s -> %s (%d attempt%s)%s",
            delivery.outcome, event.type.rsplit(".", 1)[-1], event.subject,
            event.data["generation"], event.id, delivery.status, delivery.attempts,
            "" if delivery.attempts == 1 else "s",
            f" {delivery.detail}" if delivery.detail else "",
        )  # fmt: skip
        if delivery.outcome == "requeued":
            subscriber.modify_ack_deadline(
                subscription=self.subscription,
                ack_ids=[received.ack_id],
                ack_deadline_seconds=REQUEUE_SECONDS,
            )
        else:
            self._ack(subscriber, received)

    def _ack(self, subscriber: SubscriberClient, received: ReceivedMessage) -> None:
        subscriber.acknowledge(subscription=self.subscription, ack_ids=[received.ack_id])


def replay(journal: Journal, target: str, event_id: str | None = None) -> Delivery:
    """Deliver a journaled event once more (the last delivered one unless an id is given)."""
    delivered = [e for e in journal.entries() if e["outcome"] == "delivered" and not e["replay"]]
    if event_id is not None:
        delivered = [e for e in delivered if e["event"]["attributes"]["id"] == event_id]
    if not delivered:
        which = f"event {event_id}" if event_id else "event"
        raise LookupError(f"no delivered {which} in {journal.path}")
    event = StorageEvent.from_json(delivered[-1]["event"])
    delivery = deliver(event, target)
    journal.append(journal_entry(event, delivery, replay=True))
    return delivery


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.bridge", description=_SUMMARY)
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="pull and deliver notifications (the stack runs it)")
    run_cmd.add_argument("--subscription", required=True, help="projects/<p>/subscriptions/<s>")
    run_cmd.add_argument("--target", required=True, help="the ingest function's URL")
    run_cmd.add_argument("--journal", required=True, type=Path)
    run_cmd.add_argument("--bucket", help="deliver only this bucket's events")
    run_cmd.add_argument("--concurrency", type=int, default=4)
    replay_cmd = commands.add_parser("replay", help="deliver a journaled event again")
    replay_cmd.add_argument("event_id", nargs="?", help="default: the last delivered event")
    replay_cmd.add_argument("--run-dir", type=Path, default=Path(".run"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    if args.command == "run":
        bridge = Bridge(
            args.subscription, args.target, Journal(args.journal), args.bucket, args.concurrency
        )
        bridge.run(threading.Event())  # runs until the stack stops it (SIGTERM)
        return 0

    from local.run_dir import RunDir  # noqa: PLC0415

    run_dir = RunDir(args.run_dir)
    target = run_dir.read_state().get("urls", {}).get("ingest")
    if not target:
        print(f"error: no running stack in {run_dir.path} (`make run` starts one)", file=sys.stderr)
        return 1
    try:
        delivery = replay(Journal(run_dir.journal), target, args.event_id)
    except LookupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{delivery.outcome}: HTTP {delivery.status} after {delivery.attempts} attempt(s)")
    return 0 if delivery.outcome == "delivered" else 1


if __name__ == "__main__":
    sys.exit(main())
