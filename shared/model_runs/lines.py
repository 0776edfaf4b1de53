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

import re
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from shared import ndjson
from shared.ids import ROW_ID_LENGTH
from shared.models import PredictionLine
from shared.ndjson import Blank

_ROW_ID = re.compile(f"[0-9a-f]{{{ROW_ID_LENGTH}}}")


def parse_line(data: bytes | None, first: bool = False) -> PredictionLine | str | Blank:
    """One line's bytes (without the newline; None when over the size limit)."""
    value = ndjson.decode_object(data, first=first, allow_constants=True)
    return value if isinstance(value, Blank | str) else parse_value(value)


def parse_value(value: Any) -> PredictionLine | str:
    """A line already decoded from JSON (the API's JSON form sends these)."""
    if not isinstance(value, dict):
        return ndjson.not_an_object(value)
    try:
        line = PredictionLine.model_validate(value)
    except ValidationError as error:
        return ndjson.describe(error, explain=_confidence)
    if line.data_row_id is not None and not _ROW_ID.fullmatch(line.data_row_id):
        return f"dataRowId: {line.data_row_id[:80]!r} is not a data row id"
    return line


def _confidence(item: ErrorDetails) -> str | None:
    if item["loc"] and item["loc"][-1] == "confidence":
        return f"must be a number from 0 to 1, got {item['input']!r:.40}"
    return None
