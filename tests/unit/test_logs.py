"""Log lines are JSON objects Cloud Logging can read, extras and tracebacks included."""

from __future__ import annotations

import json
import logging
import sys

from shared.logs import JsonFormatter


def _record(**extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord(
        {"name": "shared.ingest", "levelname": "INFO", "msg": "imported %d rows", "args": (3,)}
    )
    record.__dict__.update(extra)
    return record


def test_a_line_has_severity_message_logger_and_extras() -> None:
    line = JsonFormatter().format(_record(object="imports/a.ndjson", rows=3))
    assert json.loads(line) == {
        "severity": "INFO",
        "message": "imported 3 rows",
        "logger": "shared.ingest",
        "object": "imports/a.ndjson",
        "rows": 3,
    }


def test_a_traceback_stays_on_one_line() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        record = _record(exc_info=sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert "ValueError: bad" in json.loads(line)["exception"]
