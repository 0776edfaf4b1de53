"""The webhook sink: one signed POST per run with the new rows' ids (see ``webhooks``).

Body: ``{"actionId", "runId", "sliceId", "rowIds": [...]}`` as compact JSON, the same bytes
for every try of a run; ``Idempotency-Key`` is the run id.
"""

from __future__ import annotations

import json

from shared.actions import webhooks
from shared.actions.models import WebhookConfig
from shared.actions.sinks import EnteredRow, RunContext
from shared.config import settings
from shared.errors import FailedPrecondition

MAX_ROWS = 5000
"""Row ids per request (about 170 KB of body); a run stops taking rows at this count."""


def body(context: RunContext, ids: list[str]) -> bytes:
    payload = {
        "actionId": context.action_id,
        "runId": context.run_id,
        "sliceId": context.slice_id,
        "rowIds": ids,
    }
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


class WebhookSink:
    needs_documents = False

    def __init__(
        self,
        context: RunContext,
        *,
        resolver: webhooks.Resolver = webhooks.resolve,
        transport: webhooks.Transport | None = None,
    ) -> None:
        if not isinstance(context.config, WebhookConfig):
            raise TypeError("a webhook sink needs a webhook config")
        self.context = context
        self.url = context.config.url
        self.ids: list[str] = []
        self.resolver = resolver
        self.transport = transport

    def add(self, row: EnteredRow) -> None:
        self.ids.append(row.id)

    def full(self) -> bool:
        return len(self.ids) >= MAX_ROWS

    def deliver(self) -> str:
        config = settings()
        if not config.webhook_signing_key:
            raise FailedPrecondition("WEBHOOK_SIGNING_KEY is not set: webhooks cannot be signed")
        status = webhooks.deliver(
            self.url,
            body(self.context, self.ids),
            idempotency_key=self.context.run_id,
            key=config.webhook_signing_key.encode("utf-8"),
            allowed_hosts=config.webhook_allowed_hosts,
            resolver=self.resolver,
            transport=self.transport,
        )
        host = webhooks.parse_target(self.url, config.webhook_allowed_hosts).host
        return f"HTTP {status} from {host}"
