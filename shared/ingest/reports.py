"""The progress of one manifest import: its cursor and counts, as the import report stores them.

Counts always satisfy ``linesRead == rowsWritten + linesRejected + linesBlank`` (a line that
lands counts as written even when a later line of the manifest overwrites its row). The first
:data:`MAX_REPORTED_ERRORS` errors are kept with their line numbers; ``linesRejected`` counts
them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

MAX_REPORTED_ERRORS = 100
MAX_REASON_CHARS = 300


def error_entry(line: int | None, reason: str) -> dict[str, Any]:
    text = reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 1] + "…"
    return {"line": line, "reason": text}


@dataclass(frozen=True)
class Progress:
    offset: int = 0
    line: int = 0  # the number of the last line consumed (lines count from 1)
    lines_read: int = 0
    rows_written: int = 0
    lines_rejected: int = 0
    lines_blank: int = 0
    errors: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @classmethod
    def from_report(cls, doc: Mapping[str, Any]) -> Progress:
        cursor = doc.get("cursor") or {}
        return cls(
            offset=int(cursor.get("offset", 0)),
            line=int(cursor.get("line", 0)),
            lines_read=int(doc.get("linesRead", 0)),
            rows_written=int(doc.get("rowsWritten", 0)),
            lines_rejected=int(doc.get("linesRejected", 0)),
            lines_blank=int(doc.get("linesBlank", 0)),
            errors=tuple(doc.get("errors") or ()),
        )

    def fields(self) -> dict[str, Any]:
        """The report fields this progress sets."""
        return {
            "cursor": {"offset": self.offset, "line": self.line},
            "linesRead": self.lines_read,
            "rowsWritten": self.rows_written,
            "linesRejected": self.lines_rejected,
            "linesBlank": self.lines_blank,
            "errors": list(self.errors),
        }

    def advanced(
        self, *, offset: int, lines: int, written: int, blank: int, errors: list[tuple[int, str]]
    ) -> Progress:
        """This progress after one chunk of ``lines`` lines ending at byte ``offset``."""
        room = MAX_REPORTED_ERRORS - len(self.errors)
        kept = tuple(error_entry(line, reason) for line, reason in errors[: max(room, 0)])
        return replace(
            self,
            offset=offset,
            line=self.line + lines,
            lines_read=self.lines_read + lines,
            rows_written=self.rows_written + written,
            lines_rejected=self.lines_rejected + len(errors),
            lines_blank=self.lines_blank + blank,
            errors=self.errors + kept,
        )
