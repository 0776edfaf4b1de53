"""Firestore calls with a bounded retry budget, failing as :class:`TransientError`.

The client's default retries can wait minutes on an unavailable service; an event function
should instead give up within a budget (``INGEST_RETRY_SECONDS``, default 60) and raise, so
that Eventarc redelivers the event later with its own backoff.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.api_core.retry import Retry
from google.cloud import firestore

from shared.errors import TransientError
from shared.store.client import db

T = TypeVar("T")

UNAVAILABLE: tuple[type[BaseException], ...] = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.InternalServerError,
    gexc.TooManyRequests,
    gexc.RetryError,
)
CONFLICTS: tuple[type[BaseException], ...] = (
    gexc.FailedPrecondition,
    gexc.Aborted,
    gexc.Conflict,
)
TIMEOUT_SECONDS = 30.0


def retry() -> Retry:
    """The retry policy of one call: transient errors only, within the budget."""
    return Retry(initial=0.2, maximum=5.0, multiplier=2.0, timeout=budget_seconds())


def budget_seconds() -> float:
    return float(os.environ.get("INGEST_RETRY_SECONDS", "60"))


def call(what: str, action: Callable[[], T]) -> T:
    """Run one Firestore call; an unavailable service becomes :class:`TransientError`."""
    try:
        return action()
    except UNAVAILABLE as error:
        raise TransientError(f"Firestore unavailable ({what}): {error}") from error


def get(ref: firestore.DocumentReference, what: str) -> firestore.DocumentSnapshot:
    return call(what, lambda: ref.get(retry=retry(), timeout=TIMEOUT_SECONDS))


def create(ref: firestore.DocumentReference, doc: Mapping[str, Any], what: str) -> None:
    """Create the document; ``AlreadyExists`` if it exists."""
    call(what, lambda: ref.create(doc, retry=retry(), timeout=TIMEOUT_SECONDS))


def update_if_unchanged(
    snapshot: firestore.DocumentSnapshot, fields: Mapping[str, Any], what: str
) -> datetime:
    """Update fields unless the document changed since ``snapshot``: one of :data:`CONFLICTS`.
    The update time of the write is returned."""
    return update_if_written_at(snapshot.reference, snapshot.update_time, fields, what)


def update_if_written_at(
    ref: firestore.DocumentReference, update_time: datetime, fields: Mapping[str, Any], what: str
) -> datetime:
    """Update fields if the document's last write is still the one at ``update_time``, else
    one of :data:`CONFLICTS` (``NotFound`` if it is gone); the new update time is returned."""
    option = db().write_option(last_update_time=update_time)
    written = call(
        what, lambda: ref.update(fields, option=option, retry=retry(), timeout=TIMEOUT_SECONDS)
    )
    return written.update_time  # type: ignore[no-any-return]


def stream(query: firestore.Query, what: str) -> list[firestore.DocumentSnapshot]:
    return call(what, lambda: list(query.stream(retry=retry(), timeout=TIMEOUT_SECONDS)))
