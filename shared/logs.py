"""Structured logs: one JSON object per line on stdout, as Cloud Logging reads them.

Each function calls :func:`configure` once when it loads, so that ``log.info`` lines (the tick
summary, import progress, retried conflicts) reach the logs with their severity.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """``{"severity", "message", "logger", ...extra}``; tracebacks go in ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure() -> None:
    """Send the root logger's records to stdout as JSON, at LOG_LEVEL (INFO by default)."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
