"""Metadata values are checked against their declared kind, never coerced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from shared.metadata import MetadataField, MetadataKind, MetadataSchema, check_value

NUMBER = MetadataField(kind=MetadataKind.NUMBER)
STRING = MetadataField(kind=MetadataKind.STRING)
DATETIME = MetadataField(kind=MetadataKind.DATETIME)
TAGS = MetadataField(kind=MetadataKind.TAGS)
WEATHER = MetadataField(kind=MetadataKind.ENUM, values=["rain", "sun"])


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        (NUMBER, 3, 3),
        (NUMBER, -2.5, -2.5),
        (NUMBER, 2**63 - 1, 2**63 - 1),
        (NUMBER, -(2**63), -(2**63)),
        (STRING, "train", "train"),
        (STRING, "日本語", "日本語"),
        (TAGS, ["b", "a", "b"], ["a", "b"]),
        (TAGS, [], []),
        (WEATHER, "rain", "rain"),
        (
            DATETIME,
            "2026-05-01T12:00:00+02:00",
            datetime(2026, 5, 1, 12, tzinfo=timezone(timedelta(hours=2))),
        ),
        (DATETIME, "2026-05-01T10:00:00Z", datetime(2026, 5, 1, 10, tzinfo=UTC)),
        (DATETIME, "9999-12-31T23:59:59Z", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_valid_values_are_stored_in_their_type(
    field: MetadataField, value: Any, stored: Any
) -> None:
    assert check_value(field, value) == stored


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        (NUMBER, True, "expected a number, got a boolean"),
        (NUMBER, "3", "expected a number, got a string"),
        (NUMBER, float("nan"), "finite"),
        (NUMBER, float("inf"), "finite"),
        (NUMBER, 2**63, "integers must fit in 64 bits"),
        (NUMBER, -(2**63) - 1, "integers must fit in 64 bits"),
        (STRING, 3, "expected a string, got a number"),
        (STRING, "x" * 5000, "at most"),
        (TAGS, "a", "list of strings"),
        (TAGS, ["a", 1], "list of strings"),
        (TAGS, [str(n) for n in range(101)], "at most 100 tags"),
        (WEATHER, "snow", "not one of the enum's values"),
        (DATETIME, "2026-05-01T10:00:00", "RFC 3339"),
        (DATETIME, "yesterday", "RFC 3339"),
        (DATETIME, datetime(2026, 5, 1), "time zone"),
        (DATETIME, 1714557600, "RFC 3339"),
        (DATETIME, "9999-12-31T23:59:59-05:00", "years 1 to 9999"),
        (DATETIME, datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))), "years 1 to 9999"),
        (STRING, "\ud800", "unpaired surrogate"),
        (TAGS, ["a", "\udfff"], "unpaired surrogate"),
        (WEATHER, "\ud800", "unpaired surrogate"),
    ],
)
def test_invalid_values_say_why(field: MetadataField, value: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_value(field, value)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (1, MetadataKind.NUMBER),
        (0.5, MetadataKind.NUMBER),
        ("rain", MetadataKind.STRING),
        ("2026-05-01T10:00:00Z", MetadataKind.DATETIME),
        ("2026-05-01", MetadataKind.STRING),
        (["a"], MetadataKind.TAGS),
    ],
)
def test_the_first_value_declares_the_kind(value: Any, kind: MetadataKind) -> None:
    assert MetadataSchema().infer("field", value).kind is kind


@pytest.mark.parametrize(("name", "value"), [("ok", True), ("ok", {"a": 1}), ("bad name", 1)])
def test_what_cannot_be_inferred_is_refused(name: str, value: Any) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (the message varies by case)
        MetadataSchema().infer(name, value)


def test_an_enum_needs_values_and_only_an_enum_has_them() -> None:
    with pytest.raises(ValueError, match="values"):
        MetadataField(kind=MetadataKind.ENUM)
    with pytest.raises(ValueError, match="values"):
        MetadataField(kind=MetadataKind.STRING, values=["a"])
