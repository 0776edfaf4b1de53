"""Manifest lines, line splitting, chunks, progress, metadata checks and row merges: pure."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.ingest import merge
from shared.ingest import metadata as meta
from shared.ingest.manifests import CHUNK_LINES, CHUNK_ROWS, chunks, parse_line
from shared.ingest.reports import MAX_REPORTED_ERRORS, Progress
from shared.metadata import MetadataField, MetadataKind, MetadataSchema
from shared.models import DataRowCreate, MediaType
from shared.ndjson import BLANK, MAX_LINE_BYTES
from shared.storage import Line, split_lines
from shared.store.rows import KEEP

NOW = datetime(2026, 5, 1, 10, tzinfo=UTC)
LATER = datetime(2026, 5, 2, 10, tzinfo=UTC)
GOOD = {"globalKey": "k", "rowData": "gs://b/street/1.png", "dataset": "street"}


def test_a_good_line_parses_and_infers_its_media_type_from_row_data() -> None:
    row = parse_line(json.dumps(GOOD).encode())
    assert isinstance(row, DataRowCreate)
    assert row.media_type is MediaType.IMAGE
    stated = parse_line(json.dumps({**GOOD, "mediaType": "text"}).encode())
    assert isinstance(stated, DataRowCreate)
    assert stated.media_type is MediaType.TEXT


@pytest.mark.parametrize(
    ("data", "first", "expected"),
    [
        (b"", False, BLANK),
        (b" \t\r", False, BLANK),
        (None, False, f"line longer than {MAX_LINE_BYTES} bytes"),
        (b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\r", True, None),
        (b"\xef\xbb\xbf" + json.dumps(GOOD).encode(), False, "invalid JSON: Unexpected UTF-8 BOM"),
        (b'{"a": "\xc3"}', False, "not valid UTF-8 (byte 8)"),
        (b"{", False, "invalid JSON: Expecting property name enclosed in double quotes (column 2)"),
        (b'{"a": Infinity}', False, "invalid JSON: Infinity is not valid JSON"),
        (b"[" * 50_000, False, "invalid JSON: nested too deeply"),
        (b'"text"', False, "expected a JSON object, got a string"),
        (b"{}", False, "globalKey: Field required; rowData: Field required; dataset: Field"),
        (json.dumps({**GOOD, "dataset": "a b"}).encode(), False, "dataset: String should match"),
        (json.dumps({**GOOD, "labels": [{"name": ""}]}).encode(), False, "labels[0].name: String"),
        (json.dumps({**GOOD, "mediaType": "hologram"}).encode(), False, "mediaType: Input should"),
        (json.dumps({**GOOD, "media": {"sizeBytes": 2**63}}).encode(), False,
         "media.sizeBytes: Input should be less than or equal to 9223372036854775807"),
        (json.dumps({**GOOD, "a": 1, "b": 2, "c": 3, "d": 4}).encode(), False, "(and 1 more)"),
    ],
)  # fmt: skip
def test_line_outcomes(data: bytes | None, first: bool, expected: Any) -> None:
    result = parse_line(data, first=first)
    if expected is None:
        assert isinstance(result, DataRowCreate)
    elif expected is BLANK:
        assert result is BLANK
    else:
        assert isinstance(result, str)
        assert expected in result


def blocks_of(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in pairwise(points)]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.binary(max_size=12).filter(lambda b: b"\n" not in b), max_size=8),
    st.booleans(),
    st.lists(st.integers(0, 200), max_size=6),
    st.integers(1, 10),
    st.integers(0, 3),
)
def test_split_lines_is_exact_whatever_the_block_boundaries(
    pieces: list[bytes], final_newline: bool, cuts: list[int], limit: int, skip: int
) -> None:
    data = b"\n".join(pieces) + (b"\n" if final_newline and pieces else b"")
    start = sum(len(p) + 1 for p in pieces[:skip]) if skip < len(pieces) else 0
    expected_lines = data[start:].split(b"\n")
    if expected_lines and expected_lines[-1] == b"":
        expected_lines.pop()
    lines = list(
        split_lines(iter(blocks_of(data[start:], cuts)), start=start, max_line_bytes=limit)
    )
    assert [line.data for line in lines] == [p if len(p) <= limit else None for p in expected_lines]
    offset = start
    for line, raw in zip(lines, expected_lines, strict=True):
        assert line.start == offset
        assert data[line.start : line.end].rstrip(b"\n") == raw
        offset = line.end
    assert offset == len(data)


def numbered(*payloads: bytes | None) -> list[Line]:
    out, offset = [], 0
    for payload in payloads:
        end = offset + len(payload or b"x") + 1
        out.append(Line(offset, end, payload))
        offset = end
    return out


def test_chunks_end_at_the_row_and_line_bounds_and_keep_line_numbers() -> None:
    good = json.dumps(GOOD).encode()
    lines = numbered(*([good] * (CHUNK_ROWS + 3)))
    first, second = chunks(iter(lines), after_line=10)
    assert (first.rows[0][0], len(first.rows), first.end) == (
        11,
        CHUNK_ROWS,
        lines[CHUNK_ROWS - 1].end,
    )
    assert (len(second.rows), second.rows[0][0], second.end) == (3, CHUNK_ROWS + 11, lines[-1].end)
    bad = numbered(*([b"{"] * (CHUNK_LINES + 1)))
    parts = list(chunks(iter(bad), after_line=0))
    assert [(len(p.errors), p.lines) for p in parts] == [(CHUNK_LINES, CHUNK_LINES), (1, 1)]
    assert parts[1].errors[0][0] == CHUNK_LINES + 1


def test_progress_keeps_the_first_errors_and_counts_them_all() -> None:
    progress = Progress()
    for chunk in range(3):
        errors = [(chunk * 60 + i + 1, "x" * 400) for i in range(60)]
        progress = progress.advanced(offset=100 * (chunk + 1), lines=70, written=10, blank=0,
                                     errors=errors)  # fmt: skip
    assert (progress.offset, progress.line, progress.lines_read) == (300, 210, 210)
    assert (progress.rows_written, progress.lines_rejected) == (30, 180)
    assert [e["line"] for e in progress.errors] == list(range(1, MAX_REPORTED_ERRORS + 1))
    assert all(len(e["reason"]) == 300 for e in progress.errors)
    assert Progress.from_report(progress.fields()) == progress


SCHEMA = MetadataSchema(
    fields={
        "split": MetadataField(kind=MetadataKind.ENUM, values=["train", "valid"]),
        "score": MetadataField(kind=MetadataKind.NUMBER),
        "tags": MetadataField(kind=MetadataKind.TAGS),
        "at": MetadataField(kind=MetadataKind.DATETIME),
    }
)


def test_prepare_declares_new_fields_from_their_first_value_and_reports_bad_names() -> None:
    found = meta.prepare({"split": "x", "fresh": 3, "when": "2026-05-01T10:00:00Z",
                          "bad-name": 1, "flag": True, "gone": None}, SCHEMA)  # fmt: skip
    assert set(found.values) == {"split", "fresh", "when"}
    assert {k: f.kind for k, f in found.additions.items()} == {
        "fresh": MetadataKind.NUMBER, "when": MetadataKind.DATETIME}  # fmt: skip
    assert len(found.errors) == 2
    merged: dict[str, MetadataField] = {"fresh": MetadataField(kind=MetadataKind.STRING)}
    meta.merge_additions(merged, found.additions)
    assert merged["fresh"].kind is MetadataKind.STRING  # the first declaration wins


@pytest.mark.parametrize(
    ("values", "text", "checked", "errors"),
    [
        ({"split": "train", "score": 0.5}, False, {"split": "train", "score": 0.5}, 0),
        ({"split": "test"}, False, {}, 1),
        ({"score": "0.5"}, False, {}, 1),  # JSON values are never coerced
        ({"score": "0.5"}, True, {"score": 0.5}, 0),  # custom metadata is text: parsed
        ({"score": " 7 "}, True, {"score": 7}, 0),
        ({"score": "true"}, True, {}, 1),
        ({"score": "NaN"}, True, {}, 1),
        ({"score": 2**70}, False, {}, 1),
        ({"tags": "b, a,,a"}, True, {"tags": ["a", "b"]}, 0),
        ({"tags": '["x", "y"]'}, True, {"tags": ["x", "y"]}, 0),
        ({"tags": "[oops"}, True, {}, 1),
        ({"at": "2026-05-01T12:00:00+02:00"}, True,
         {"at": datetime(2026, 5, 1, 10, tzinfo=UTC)}, 0),
        ({"undeclared": "x"}, False, {}, 1),
    ],
)  # fmt: skip
def test_check(values: dict[str, Any], text: bool, checked: dict[str, Any], errors: int) -> None:
    result, problems = meta.check(values, SCHEMA, text=text)
    assert result == checked
    assert len(problems) == errors


def media(width: int | None) -> dict[str, Any]:
    return {"mimeType": "image/png", "sizeBytes": 9, "width": width, "height": width}


OBJECT_FIELDS = {"globalKey": "gs://b/s/1.png", "rowData": "gs://b/s/1.png", "dataset": "s",
                 "mediaType": "image", "media": media(4), "metadata": {"w": "rain"}}  # fmt: skip


def test_an_object_write_keeps_labels_and_foreign_fields_and_stamps_times() -> None:
    current = {"id": "r", "labels": [{"name": "car"}], "labelClasses": ["car"], "labelCount": 1,
               "tags": ["x"], "generation": 3, "createdAt": NOW, "updatedAt": NOW,
               "sliceIds": ["s"], "sliceEnteredAt": {"s": NOW}, **OBJECT_FIELDS}  # fmt: skip
    new = merge.object_write({**OBJECT_FIELDS, "metadata": {}}, 5, LATER)("r", current)
    assert isinstance(new, dict)
    assert new["labels"] == [{"name": "car"}]
    assert new["tags"] == ["x"]
    assert (new["generation"], new["metadata"]) == (5, {})
    assert (new["createdAt"], new["updatedAt"]) == (NOW, LATER)
    assert "sliceIds" not in new  # membership is the store's to set


def test_an_object_write_answers_keep_for_an_older_generation_or_an_identical_row() -> None:
    first = merge.object_write(OBJECT_FIELDS, 5, NOW)("r", None)
    assert isinstance(first, dict)
    assert first["labels"] == []
    assert first["generation"] is not None
    assert merge.object_write(OBJECT_FIELDS, 4, LATER)("r", first) is KEEP
    assert merge.object_write(OBJECT_FIELDS, 5, LATER)("r", first) is KEEP


def test_a_repeated_object_write_keeps_the_size_a_first_delivery_read() -> None:
    stored = merge.object_write(OBJECT_FIELDS, 5, NOW)("r", None)
    assert isinstance(stored, dict)
    unread = {**OBJECT_FIELDS, "media": media(None)}
    assert merge.object_write(unread, 5, LATER)("r", stored) is KEEP
    newer = merge.object_write(unread, 6, LATER)("r", stored)
    assert isinstance(newer, dict)
    assert newer["media"]["width"] is None
    assert unread["media"]["width"] is None  # decide functions never change their inputs


def test_object_delete_spares_a_later_generation() -> None:
    assert merge.object_delete(5)("r", None) is KEEP
    assert merge.object_delete(5)("r", {"generation": 6}) is KEEP
    assert merge.object_delete(5)("r", {"generation": 5}) is None
    assert merge.object_delete(5)("r", {"generation": None}) is None


def test_a_manifest_write_spares_rows_of_a_later_generation_of_the_same_manifest() -> None:
    fields = {"r": {"globalKey": "k", "metadata": {"v": 1}}}
    first = merge.manifest_write(fields, "gs://b/imports/m.ndjson", 7, NOW)("r", None)
    assert isinstance(first, dict)
    assert first["manifest"] == {"uri": "gs://b/imports/m.ndjson", "generation": 7}
    assert first["media"]["width"] is None
    assert first["generation"] is None
    older = merge.manifest_write(fields, "gs://b/imports/m.ndjson", 6, LATER)
    assert older("r", first) is KEEP
    other = merge.manifest_write(fields, "gs://b/imports/other.ndjson", 1, LATER)("r", first)
    assert isinstance(other, dict)
    assert other["manifest"]["uri"] == "gs://b/imports/other.ndjson"
