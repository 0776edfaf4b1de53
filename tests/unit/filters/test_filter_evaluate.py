"""Semantics, one small case per operator and type: the interpreter and both compiled forms.

Every case runs through ``evaluate``, ``compile_filter`` and ``compile_slices`` and all three
must give the expected answer.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from filter_strategies import REGISTRY

from shared.filters import compile_filter, compile_slices, evaluate, load

PLUS_2 = timezone(timedelta(hours=2))
NOON_UTC = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NOON_UTC_AT_PLUS_2 = NOON_UTC.astimezone(PLUS_2)  # 14:00+02:00, the same instant


def check(text: str, row: dict[str, Any], expected: bool) -> None:
    tree = load(text, REGISTRY)
    assert evaluate(tree, row, REGISTRY) is expected
    assert compile_filter(tree, REGISTRY)(row) is expected
    matcher = compile_slices({"s": tree, "always": load("TRUE", REGISTRY)}, REGISTRY)
    assert matcher(row) == (["s", "always"] if expected else ["always"])


def meta(**fields: Any) -> dict[str, Any]:
    return {"metadata": fields}


CASES: list[tuple[str, dict[str, Any], bool]] = [
    # eq / ne on strings, numbers, booleans; missing and null never match, not even !=.
    ('dataset = "a"', {"dataset": "a"}, True),
    ('dataset = "a"', {"dataset": "b"}, False),
    ('dataset = "a"', {}, False),
    ('dataset = "a"', {"dataset": None}, False),
    ('dataset != "a"', {"dataset": "b"}, True),
    ('dataset != "a"', {"dataset": "a"}, False),
    ('dataset != "a"', {}, False),
    ('dataset != "a"', {"dataset": None}, False),
    ('dataset != "a"', {"dataset": 5}, False),
    ('NOT dataset = "a"', {}, True),
    ("media.width = 1", {"media": {"width": 1.0}}, True),
    ("media.width = 1.0", {"media": {"width": 1}}, True),
    ("media.width = 1", {"media": {"width": True}}, False),
    ("media.width != 1", {"media": {"width": True}}, False),
    ("media.width = 1", {"media": {"width": "1"}}, False),
    ("media.width = 1", {"media": 5}, False),
    ("flagged = true", {"flagged": True}, True),
    ("flagged = true", {"flagged": 1}, False),
    ("flagged != true", {"flagged": False}, True),
    ("flagged != true", {"flagged": 0}, False),
    # Ranges: numbers, strings by code point, datetimes by instant.
    ("media.width < 640", {"media": {"width": 639.5}}, True),
    ("media.width < 640", {"media": {"width": 640}}, False),
    ("media.width <= 640", {"media": {"width": 640}}, True),
    ("media.width > 640", {"media": {"width": 641}}, True),
    ("media.width >= 640", {"media": {"width": 639}}, False),
    ("media.width >= 640", {"media": {"width": float("nan")}}, False),
    ("media.width < 640", {"media": {"width": float("-inf")}}, True),
    ("media.width < 640", {"media": {}}, False),
    ("media.width < 640", {"media": {"width": False}}, False),
    ('dataset < "b"', {"dataset": "a"}, True),
    ('dataset < "b"', {"dataset": "B"}, True),  # "B" (U+0042) < "b" (U+0062)
    ('dataset > "z"', {"dataset": "é"}, True),
    ('dataset < "\uffff"', {"dataset": "😀"}, False),  # code point order, as UTF-8 bytes
    ('dataset >= ""', {"dataset": ""}, True),
    # between, inclusive at both ends.
    ("metrics.f1 BETWEEN 0.2 AND 0.6", {"metrics": {"f1": 0.2}}, True),
    ("metrics.f1 BETWEEN 0.2 AND 0.6", {"metrics": {"f1": 0.6}}, True),
    ("metrics.f1 BETWEEN 0.2 AND 0.6", {"metrics": {"f1": 0.61}}, False),
    ("metrics.f1 BETWEEN 0.2 AND 0.6", {"metrics": {"f1": None}}, False),
    ('dataset BETWEEN "a" AND "c"', {"dataset": "b"}, True),
    # in / not_in.
    ('dataset IN ("a", "b")', {"dataset": "b"}, True),
    ('dataset IN ("a", "b")', {"dataset": "c"}, False),
    ('dataset IN ("a", "b")', {}, False),
    ('dataset NOT IN ("a", "b")', {"dataset": "c"}, True),
    ('dataset NOT IN ("a", "b")', {"dataset": "a"}, False),
    ('dataset NOT IN ("a", "b")', {}, False),
    ('dataset NOT IN ("a", "b")', {"dataset": ["c"]}, False),
    ("media.width IN (1, 2.5)", {"media": {"width": 1.0}}, True),
    ("media.width IN (1, 2.5)", {"media": {"width": True}}, False),
    ("flagged IN (true)", {"flagged": True}, True),
    ("flagged IN (true)", {"flagged": 1}, False),
    # Lists: contains, contains_any, contains_all; empty lists, non-string elements.
    ('labels.classes CONTAINS "car"', {"labelClasses": ["bus", "car"]}, True),
    ('labels.classes CONTAINS "car"', {"labelClasses": ["bus"]}, False),
    ('labels.classes CONTAINS "car"', {"labelClasses": []}, False),
    ('labels.classes CONTAINS "car"', {"labelClasses": "car"}, False),
    ('labels.classes CONTAINS "car"', {"labelClasses": [{"a": 1}, ["car"], "car"]}, True),
    ('labels.classes CONTAINS "1"', {"labelClasses": [1]}, False),
    ('labels.classes CONTAINS ANY ("car", "bus")', {"labelClasses": ["bus"]}, True),
    ('labels.classes CONTAINS ANY ("car", "bus")', {"labelClasses": ["dog"]}, False),
    ('labels.classes CONTAINS ANY ("car", "bus")', {"labelClasses": []}, False),
    ('labels.classes CONTAINS ALL ("car", "bus")', {"labelClasses": ["bus", "car", "x"]}, True),
    ('labels.classes CONTAINS ALL ("car", "bus")', {"labelClasses": ["car"]}, False),
    ('labels.classes CONTAINS ALL ("car", "car")', {"labelClasses": ["car"]}, True),
    ('labels.classes CONTAINS ALL ("car")', {}, False),
    ('metadata.tags CONTAINS "日本"', meta(tags=["日本", "é"]), True),
    # prefix.
    ('globalKey STARTS WITH "gs://b/street/"', {"globalKey": "gs://b/street/1.jpg"}, True),
    ('globalKey STARTS WITH "gs://b/street/"', {"globalKey": "gs://b/stree"}, False),
    ('globalKey STARTS WITH ""', {"globalKey": ""}, True),
    ('globalKey STARTS WITH ""', {"globalKey": 1}, False),
    ('globalKey STARTS WITH "日"', {"globalKey": "日本"}, True),
    # exists: present, not null, of the field's type.
    ("metadata.weather EXISTS", meta(weather="rain"), True),
    ("metadata.weather EXISTS", meta(weather=""), True),
    ("metadata.weather EXISTS", meta(weather=None), False),
    ("metadata.weather EXISTS", meta(), False),
    ("metadata.weather EXISTS", meta(weather=3), False),
    ("metadata.weather EXISTS", {"metadata": "weather"}, False),
    ("NOT metadata.weather EXISTS", meta(weather=None), True),
    ("labels.classes EXISTS", {"labelClasses": []}, True),
    ("metrics.f1 EXISTS", {"metrics": {"f1": 0}}, True),
    ("metrics.f1 EXISTS", {"metrics": {"f1": float("nan")}}, False),
    ("createdAt EXISTS", {"createdAt": datetime(2024, 1, 1)}, False),  # naive: no instant
    ("createdAt EXISTS", {"createdAt": "2024-01-01T00:00:00Z"}, False),  # a string is not a time
    # Datetimes: literals and rows in different zones compare by instant.
    ('createdAt = "2024-05-01T14:00:00+02:00"', {"createdAt": NOON_UTC}, True),
    ('createdAt = "2024-05-01T12:00:00Z"', {"createdAt": NOON_UTC_AT_PLUS_2}, True),
    ('createdAt != "2024-05-01T12:00:00Z"', {"createdAt": NOON_UTC_AT_PLUS_2}, False),
    ('createdAt IN ("2024-05-01T07:00:00-05:00")', {"createdAt": NOON_UTC_AT_PLUS_2}, True),
    ('createdAt < "2024-05-01T13:00:00+02:00"', {"createdAt": NOON_UTC}, False),
    ('createdAt > "2024-05-01T13:00:00+02:00"', {"createdAt": NOON_UTC}, True),
    (
        'createdAt > "2024-05-01T12:00:00Z"',
        {"createdAt": NOON_UTC + timedelta(microseconds=1)},
        True,
    ),
    (
        'metadata.captured BETWEEN "2024-05-01T13:00:00+01:00" AND "2024-05-01T14:00:00+02:00"',
        meta(captured=NOON_UTC),
        True,
    ),
    ('createdAt < "2030-01-01T00:00:00Z"', {"createdAt": datetime(2024, 1, 1)}, False),
    # Combinators: empty AND / OR, NOT, nesting.
    ("TRUE", {}, True),
    ("FALSE", {}, False),
    ("NOT FALSE", {}, True),
    ('dataset = "a" AND flagged = true', {"dataset": "a", "flagged": True}, True),
    ('dataset = "a" AND flagged = true', {"dataset": "a"}, False),
    ('dataset = "a" OR flagged = true', {"flagged": True}, True),
    ('NOT (dataset = "a" OR flagged = true)', {"dataset": "b"}, True),
    ('NOT NOT dataset = "a"', {"dataset": "a"}, True),
    # Enum fields are strings.
    ('metadata.split = "train"', meta(split="train"), True),
    ('metadata.split STARTS WITH "tr"', meta(split="train"), True),
]


@pytest.mark.parametrize(("text", "row", "expected"), CASES)
def test_operator_semantics(text: str, row: dict[str, Any], expected: bool) -> None:
    check(text, row, expected)


def test_matcher_returns_matching_ids_in_the_given_order() -> None:
    trees = {
        sid: load(text, REGISTRY)
        for sid, text in [
            ("z", 'dataset = "a"'),
            ("y", "FALSE"),
            ("x", "media.width > 1"),
            ("w", 'NOT dataset = "a"'),
            ("v", 'dataset STARTS WITH "a"'),
        ]
    }
    matcher = compile_slices(trees, REGISTRY)
    assert matcher({"dataset": "a", "media": {"width": 2}}) == ["z", "x", "v"]
    assert matcher({}) == ["w"]
    assert matcher.ids == ("z", "y", "x", "w", "v")
    assert compile_slices({}, REGISTRY)({"dataset": "a"}) == []


def test_literals_never_become_source_text() -> None:
    hostile = '"); import os; os.system("echo pwned"); ("'
    tree = load(f"dataset = {json.dumps(hostile)}", REGISTRY)
    matcher = compile_slices({hostile: tree}, REGISTRY)
    assert "os.system" not in matcher.source
    assert matcher({"dataset": hostile}) == [hostile]
