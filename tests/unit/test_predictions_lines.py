"""Prediction lines, one at a time: what lands, and the reason each bad line gets."""

from __future__ import annotations

import json

import pytest

from shared.ids import row_id
from shared.model_runs.lines import parse_line, parse_value
from shared.model_runs.uploads import chunks, target_id
from shared.models import PredictionLine
from shared.ndjson import BLANK, MAX_LINE_BYTES
from shared.storage import Line

EXAMPLE = {
    "globalKey": "street/0001.jpg",
    "predictions": [
        {"name": "car", "bbox": {"left": 11, "top": 19, "width": 31, "height": 42},
         "confidence": 0.92},
        {"name": "daytime", "confidence": 0.81},
    ],
}  # fmt: skip


def test_the_example_line_parses_with_its_boxes_and_classifications() -> None:
    line = parse_line(json.dumps(EXAMPLE).encode())
    assert isinstance(line, PredictionLine)
    assert line.global_key == "street/0001.jpg"
    car, daytime = line.predictions
    assert (car.name, car.is_object, car.confidence) == ("car", True, 0.92)
    assert car.bbox is not None
    assert (car.bbox.left, car.bbox.top, car.bbox.width, car.bbox.height) == (11, 19, 31, 42)
    assert (daytime.name, daytime.is_object, daytime.confidence) == ("daytime", False, 0.81)
    assert target_id(line) == row_id("street/0001.jpg")


def test_a_missing_confidence_counts_as_one() -> None:
    line = parse_line(b'{"globalKey": "k", "predictions": [{"name": "car"}]}')
    assert isinstance(line, PredictionLine)
    assert line.predictions[0].confidence is None
    assert line.predictions[0].score == 1.0


def test_data_row_id_stands_for_the_global_key() -> None:
    rid = row_id("street/0001.jpg")
    line = parse_value({"dataRowId": rid, "predictions": [], "split": "valid"})
    assert isinstance(line, PredictionLine)
    assert (target_id(line), line.split) == (rid, "valid")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b'{"globalKey": "k", "predictions": [{"name": "car", "confidence": NaN}]}',
         "predictions[0].confidence: must be a number from 0 to 1, got nan"),
        (b'{"globalKey": "k", "predictions": [{"name": "a"}, {"name": "car", "confidence": -0.1}]}',
         "predictions[1].confidence: must be a number from 0 to 1, got -0.1"),
        (b'{"globalKey": "k", "predictions": [{"name": "car", "confidence": 1.5}]}',
         "predictions[0].confidence: must be a number from 0 to 1, got 1.5"),
        (b'{"globalKey": "k", "predictions": [{"name": "car", "confidence": Infinity}]}',
         "predictions[0].confidence: must be a number from 0 to 1, got inf"),
        (b'{"globalKey": "k", "predictions": [{"name": "car", "confidence": "high"}]}',
         "predictions[0].confidence: must be a number from 0 to 1, got 'high'"),
        (b'{"globalKey": ', "invalid JSON: Expecting value (column 15)"),
        (b"[1, 2]", "expected a JSON object, got an array"),
        (b'"text"', "expected a JSON object, got a string"),
        (b'{"predictions": []}', "line: give exactly one of 'globalKey' and 'dataRowId'"),
        (b'{"globalKey": "k", "dataRowId": "' + b"a" * 32 + b'", "predictions": []}',
         "line: give exactly one of 'globalKey' and 'dataRowId'"),
        (b'{"globalKey": "k"}', "predictions: Field required"),
        (b'{"globalKey": "k", "predictions": [], "score": 1}',
         "score: Extra inputs are not permitted"),
        (b'{"dataRowId": "../x", "predictions": []}', "dataRowId: '../x' is not a data row id"),
        (b'{"globalKey": "k", "predictions": [{"name": "car", "bbox": {"left": 0, "top": 0, '
         b'"width": -1, "height": 2}}]}',
         "predictions[0].bbox.width: Input should be greater than or equal to 0"),
        (b'{"globalKey": "k", "predictions": [{"name": ""}]}',
         "predictions[0].name: String should have at least 1 character"),
        (b"\xff\xfe{}", "not valid UTF-8 (byte 1)"),
        (b"[" * 100_000, "invalid JSON: nested too deeply"),
        (None, f"line longer than {MAX_LINE_BYTES} bytes"),
    ],
)  # fmt: skip
def test_bad_lines_are_rejected_with_a_reason_naming_the_field(
    text: bytes | None, reason: str
) -> None:
    assert parse_line(text) == reason


def test_blank_lines_bom_and_crlf() -> None:
    assert parse_line(b"  \r") is BLANK
    assert isinstance(parse_line(b"\xef\xbb\xbf" + json.dumps(EXAMPLE).encode(), first=True),
                      PredictionLine)  # fmt: skip
    assert isinstance(parse_line(json.dumps(EXAMPLE).encode() + b"\r"), PredictionLine)
    assert parse_line(b"\xef\xbb\xbf{}", first=False) != BLANK


def _lines(*texts: bytes) -> list[Line]:
    out, offset = [], 0
    for text in texts:
        out.append(Line(offset, offset + len(text) + 1, text))
        offset += len(text) + 1
    return out


def test_chunks_number_lines_and_count_every_line_once() -> None:
    good = json.dumps(EXAMPLE).encode()
    found = list(chunks(_lines(good, b"", b"{", good), after_line=10))
    assert len(found) == 1
    chunk = found[0]
    assert (chunk.lines, chunk.blank) == (4, 1)
    assert [number for number, _ in chunk.rows] == [11, 14]
    assert [number for number, _ in chunk.errors] == [13]
    assert chunk.end == sum(len(t) + 1 for t in (good, b"", b"{", good))


def test_chunks_hold_at_most_499_rows() -> None:
    line = json.dumps(EXAMPLE).encode()
    found = list(chunks(_lines(*[line] * 1000)))
    assert [len(chunk.rows) for chunk in found] == [499, 499, 2]
    assert [chunk.rows[0][0] for chunk in found] == [1, 500, 999]
