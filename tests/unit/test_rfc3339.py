"""RFC 3339 times: exactly the ``date-time`` form is a datetime, for metadata and filters alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import FilterError
from shared.filters import FieldRegistry, Scope, load
from shared.metadata import MetadataField, MetadataKind, MetadataSchema, check_value
from shared.rfc3339 import parse_datetime

DATETIME = MetadataField(kind=MetadataKind.DATETIME)
SCHEMA = MetadataSchema(fields={"at": DATETIME})
REGISTRY = FieldRegistry(Scope.CATALOG, SCHEMA)


def zone(hours: int, minutes: int = 0) -> timezone:
    return timezone(timedelta(hours=hours, minutes=minutes))


ACCEPTED = [
    ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
    ("2024-05-01t12:00:00z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
    ("2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 12, tzinfo=zone(2))),
    ("2024-05-01T12:00:00-05:30", datetime(2024, 5, 1, 12, tzinfo=zone(-5, -30))),
    ("2024-05-01T12:00:00-00:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
    ("2024-05-01T12:00:00+23:59", datetime(2024, 5, 1, 12, tzinfo=zone(23, 59))),
    ("2024-05-01T12:00:00.5Z", datetime(2024, 5, 1, 12, 0, 0, 500_000, tzinfo=UTC)),
    ("2024-05-01T12:00:00.123456Z", datetime(2024, 5, 1, 12, 0, 0, 123_456, tzinfo=UTC)),
    # Finer than a microsecond: truncated, not rounded.
    ("2024-05-01T12:00:00.1234569Z", datetime(2024, 5, 1, 12, 0, 0, 123_456, tzinfo=UTC)),
    ("2024-05-01T12:00:00.999999999Z", datetime(2024, 5, 1, 12, 0, 0, 999_999, tzinfo=UTC)),
    ("2024-02-29T23:59:59Z", datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC)),
    ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
    ("9999-12-31T23:59:59.999999Z", datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)),
]

REJECTED = [
    "20240501T120000Z",  # ISO 8601 basic format
    "2024-W18-3T12:00Z",  # week date
    "2024-122T12:00:00Z",  # ordinal date
    "2024-05-01T12Z",  # no minutes
    "2024-05-01T12:00Z",  # no seconds
    "2024-05-01T12:00:00",  # no offset
    "2024-05-01 12:00:00Z",  # a space for T
    "2024-05-01T12:00:00+0200",  # offset without its colon
    "2024-05-01T12:00:00+02",  # offset without minutes
    "2024-05-01T12:00:00+02:00:30",  # offset with seconds
    "2024-05-01T12:00:00,5Z",  # comma fraction
    "2024-05-01T12:00:00.Z",  # empty fraction
    "2024-05-01",  # a date alone
    "2024-5-1T12:00:00Z",  # one-digit month and day
    "\uff12\uff10\uff12\uff14-05-01T12:00:00Z",  # digits other than ASCII (full-width)
    " 2024-05-01T12:00:00Z",
    "2024-05-01T12:00:00Z ",
    "2024-05-01T12:00:00ZZ",
    "",
]

# Written as RFC 3339 date-times, but naming no time Python or Firestore can hold.
NOT_A_TIME = [
    "2024-05-01T12:00:00+24:00",  # offset hour out of range
    "2024-05-01T12:00:00+02:60",
    "2024-13-01T12:00:00Z",
    "2023-02-29T12:00:00Z",
    "2024-04-31T12:00:00Z",
    "2024-05-01T24:00:00Z",
    "2024-05-01T12:60:00Z",
    "2016-12-31T23:59:60Z",  # a leap second: Python cannot hold it
    "0000-01-01T00:00:00Z",  # year 0
    "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
    "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
]


@pytest.mark.parametrize(("text", "moment"), ACCEPTED)
def test_rfc_3339_date_times_are_datetimes_everywhere(text: str, moment: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == moment
    assert parsed is not None
    assert parsed.utcoffset() == moment.utcoffset()
    assert check_value(DATETIME, text) == moment
    assert MetadataSchema().infer("at", text).kind is MetadataKind.DATETIME
    load(f'metadata.at = "{text}"', REGISTRY)


@pytest.mark.parametrize("text", REJECTED)
def test_other_forms_are_not_datetimes_anywhere(text: str) -> None:
    assert parse_datetime(text) is None
    with pytest.raises(ValueError, match="RFC 3339"):
        check_value(DATETIME, text)
    assert MetadataSchema().infer("at", text).kind is MetadataKind.STRING
    with pytest.raises(FilterError, match="RFC 3339"):
        load(f'metadata.at = "{text}"', REGISTRY)


@pytest.mark.parametrize("text", NOT_A_TIME)
def test_the_form_without_a_time_is_refused_everywhere(text: str) -> None:
    """Not declared a string by its first value: that would make every later time a string."""
    assert parse_datetime(text) is None
    with pytest.raises(ValueError, match="has the RFC 3339 form but is not a time"):
        check_value(DATETIME, text)
    assert MetadataSchema().infer("at", text).kind is MetadataKind.DATETIME
    with pytest.raises(FilterError, match="RFC 3339"):
        load(f'metadata.at = "{text}"', REGISTRY)


offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    offsets,
)
def test_isoformat_of_an_aware_datetime_round_trips(moment: datetime, offset: timezone) -> None:
    local = moment.astimezone(offset)  # whole-minute offsets: what RFC 3339 can write
    parsed = parse_datetime(local.isoformat())
    assert parsed == local
    assert parsed is not None
    assert parsed.utcoffset() == local.utcoffset()
    assert parse_datetime(local.isoformat(timespec="seconds")) == local.replace(microsecond=0)
