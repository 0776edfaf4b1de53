"""The publish sink: the new rows' ids to the slice-actions topic, in batches.

One message per batch of up to :data:`BATCH_ROWS` row ids; data ``{"rowIds": [...]}``;
attributes ``actionId``, ``runId``, ``sliceId``, ``batch`` (0-based) and ``batches``. A
retried run publishes the same batches again, so consumers drop a (runId, batch) they have
seen: Pub/Sub delivers at least once anyway.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from shared.actions.sinks import EnteredRow, RunContext
from shared.config import settings
from shared.errors import FailedPrecondition

BATCH_ROWS = 500
PUBLISH_TIMEOUT_SECONDS = 60.0


@cache
def publisher() -> Any:
    """The process's client, built on first use (honours PUBSUB_EMULATOR_HOST)."""
    from google.cloud.pubsub_v1 import PublisherClient  # noqa: PLC0415 (slow import)

    return PublisherClient()


def batches(ids: list[str]) -> list[list[str]]:
    return [ids[start : start + BATCH_ROWS] for start in range(0, len(ids), BATCH_ROWS)]


class PublishSink:
    needs_documents = False

    def __init__(self, context: RunContext) -> None:
        self.context = context
        self.ids: list[str] = []

    def add(self, row: EnteredRow) -> None:
        self.ids.append(row.id)

    def full(self) -> bool:
        return False

    def deliver(self) -> str:
        topic = settings().slice_actions_topic
        if not topic:
            raise FailedPrecondition("SLICE_ACTIONS_TOPIC is not set: nothing to publish to")
        chunks = batches(self.ids)
        client = publisher()
        futures = [
            client.publish(
                topic,
                json.dumps({"rowIds": chunk}, separators=(",", ":")).encode("utf-8"),
                actionId=self.context.action_id,
                runId=self.context.run_id,
                sliceId=self.context.slice_id,
                batch=str(index),
                batches=str(len(chunks)),
            )
            for index, chunk in enumerate(chunks)
        ]
        for future in futures:
            future.result(timeout=PUBLISH_TIMEOUT_SECONDS)
        return f"{len(chunks)} messages ({len(self.ids)} rows) to {topic}"
