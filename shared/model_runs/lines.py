"""One line of a predictions upload: parsed and validated alone, or rejected with a reason.

A line is a JSON object naming one data row (``globalKey``, or ``dataRowId`` in its stead) and
its ``predictions`` (and optionally its ``split``)::

    {"globalKey": "street/0001.jpg", "predictions": [
        {"name": "car", "bbox": {"left": 11, "top": 19, "width": 31, "height": 42},
         "confidence": 0.92},
        {"name": "daytime", "confidence": 0.81}]}

A missing confidence counts as 1.0. ``NaN`` and ``Infinity`` parse, so that the reason names
the field they are in (a confidence must be a number from 0 to 1). Everything here is pure.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from shared.ids import ROW_ID_LENGTH
from shared.models import PredictionLine

MAX_LINE_BYTES = 256 * 1024
BOM = b"\xef\xbb\xbf"
_ROW_ID = re.compile(f"[0-9a-f]{{{ROW_ID_LENGTH}}}")


class Blank:
    """A line with nothing on it: counted, neither landed nor rejected."""


BLANK = Blank()


def parse_line(data: bytes | None, *, first: bool = False) -> PredictionLine | str | Blank:
    """One line's bytes (without the newline; None when over the size limit)."""
    if data is None:
        return f"line longer than {MAX_LINE_BYTES} bytes"
    if first and data.startswith(BOM):
        data = data[len(BOM) :]
    if data.endswith(b"\r"):
        data = data[:-1]
    if not data.strip():
        return BLANK
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"not valid UTF-8 (byte {error.start + 1})"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        return f"invalid JSON: {error.msg} (column {error.colno})"
    except RecursionError:
        return "invalid JSON: nested too deeply"
    return parse_value(value)


def parse_value(value: Any) -> PredictionLine | str:
    """A line already decoded from JSON (the API's JSON form sends these)."""
    if not isinstance(value, dict):
        return f"expected a JSON object, got {_json_type(value)}"
    try:
        line = PredictionLine.model_validate(value)
    except ValidationError as error:
        return describe(error)
    if line.data_row_id is not None and not _ROW_ID.fullmatch(line.data_row_id):
        return f"dataRowId: {line.data_row_id[:80]!r} is not a data row id"
    return line


def describe(error: ValidationError) -> str:
    """The first problems of a line, each with where it is: ``predictions[0].confidence: ...``."""
    problems = []
    for item in error.errors(include_url=False)[:3]:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in item["loc"])
        where = where.lstrip(".") or "line"
        if item["loc"] and item["loc"][-1] == "confidence":
            problems.append(f"{where}: must be a number from 0 to 1, got {item['input']!r:.40}")
        else:
            problems.append(f"{where}: {str(item['msg']).removeprefix('Value error, ')}")
    more = error.error_count() - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")
