"""Sinks: what an action does with the rows that entered its slice, one kind per action type.

A run feeds its rows to a sink one by one (:meth:`Sink.add`) until the sink is full or the
rows run out, then calls :meth:`Sink.deliver` once. Every sink is idempotent per run id, since
a run that failed or died is retried with the same id and the same rows: an export object
named by the run (created once), Pub/Sub messages carrying the run id (consumers drop
repeats), a webhook with the run id as its idempotency key, tags added as a set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.actions.models import ActionConfig


@dataclass(frozen=True)
class RunContext:
    action_id: str
    run_id: str
    slice_id: str
    scope_key: str
    config: ActionConfig


@dataclass(frozen=True)
class EnteredRow:
    """A row that entered the slice at ``entered_at``; ``doc`` may be projected (see
    :attr:`Sink.needs_documents`)."""

    id: str
    entered_at: datetime
    doc: dict[str, Any]


class Sink(Protocol):
    needs_documents: bool
    """Whether :meth:`add` needs whole row documents (False: ids and entry times suffice)."""

    def add(self, row: EnteredRow) -> None: ...

    def full(self) -> bool: ...

    def deliver(self) -> str:
        """Act on the rows added; a short description of what was done (the run's output)."""
        ...
