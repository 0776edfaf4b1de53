"""What handling one storage event did, for the log line and for tests."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    WRITTEN = "written"  # a row was created or changed
    UNCHANGED = "unchanged"  # the row already said exactly this
    DELETED = "deleted"  # a row (and its model-run rows) was removed
    STALE = "stale"  # a later generation or this generation's delete was already recorded
    OVERWRITTEN = "overwritten"  # a delete of a generation that a live newer one replaced
    IGNORED = "ignored"  # nothing to do for this object (a folder placeholder, ...)
    REJECTED = "rejected"  # bad input, recorded in an import report and acknowledged
    IMPORTED = "imported"  # a manifest import finished
    CONTINUING = "continuing"  # a manifest import stopped at its deadline; it will resume
    BUSY = "busy"  # another worker holds this import's lease


@dataclass(frozen=True)
class Outcome:
    action: Action
    object: str
    generation: int
    report_id: str | None = None
    detail: str | None = None

    def log_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "action": str(self.action),
            "object": self.object,
            "generation": self.generation,
        }
        if self.report_id:
            fields["importReport"] = self.report_id
        if self.detail:
            fields["detail"] = self.detail
        return fields
