"""Settings read from the environment once, lazily: importing needs no configured process."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache


@dataclass(frozen=True)
class Settings:
    project: str
    bucket: str
    api_token: str | None
    max_request_bytes: int
    webhook_allowed_hosts: tuple[str, ...]
    # The actions function's sinks: where exports go, the topic "publish" sends to (a full
    # topic id, projects/P/topics/T) and the key webhooks are signed with (kept out of repr so
    # that logging the settings never prints it).
    export_bucket: str | None = None
    slice_actions_topic: str | None = None
    webhook_signing_key: str | None = field(default=None, repr=False)


@cache
def settings() -> Settings:
    """The process's settings. Tests that change the environment call ``settings.cache_clear()``."""
    hosts = os.environ.get("WEBHOOK_ALLOWED_HOSTS", "")
    return Settings(
        project=os.environ.get("GOOGLE_CLOUD_PROJECT", "demo-slices"),
        bucket=os.environ.get("LANDING_BUCKET", "demo-slices-landing"),
        api_token=os.environ.get("API_TOKEN") or None,
        max_request_bytes=int(os.environ.get("MAX_REQUEST_BYTES", str(1024 * 1024))),
        webhook_allowed_hosts=tuple(h.strip().lower() for h in hosts.split(",") if h.strip()),
        export_bucket=os.environ.get("EXPORT_BUCKET") or None,
        slice_actions_topic=os.environ.get("SLICE_ACTIONS_TOPIC") or None,
        webhook_signing_key=os.environ.get("WEBHOOK_SIGNING_KEY") or None,
    )
