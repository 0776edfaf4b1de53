"""Cron schedules: what is accepted, and when an action is next due (croniter underneath)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.actions.schedule import ScheduleError, check_schedule, check_time_zone, next_due

T0 = datetime(2026, 1, 1, 10, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("*/10 * * * *", T0, datetime(2026, 1, 1, 10, 10, tzinfo=UTC)),
        # strictly after: a time on the schedule gives the next one
        ("*/10 * * * *", T0.replace(minute=10), T0.replace(minute=20)),
        ("0 * * * *", T0, datetime(2026, 1, 1, 11, 0, tzinfo=UTC)),
        ("30 2 * * *", T0, datetime(2026, 1, 2, 2, 30, tzinfo=UTC)),
        # Jan 1 2026 is a Thursday: the next Monday is the 5th
        ("0 9 * * mon", T0, datetime(2026, 1, 5, 9, 0, tzinfo=UTC)),
        ("0 0 1-5/2 JAN *", T0, datetime(2026, 1, 3, 0, 0, tzinfo=UTC)),
        ("0 0 29 2 *", T0, datetime(2028, 2, 29, 0, 0, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_next_due_in_utc(expression: str, after: datetime, expected: datetime) -> None:
    assert next_due(expression, "UTC", after) == expected


def test_next_due_in_a_time_zone_follows_daylight_saving() -> None:
    # 09:00 in New York is 14:00 UTC in winter and 13:00 UTC in summer
    winter = next_due("0 9 * * *", "America/New_York", datetime(2026, 1, 10, tzinfo=UTC))
    summer = next_due("0 9 * * *", "America/New_York", datetime(2026, 7, 10, tzinfo=UTC))
    assert (winter.hour, summer.hour) == (14, 13)
    assert winter.tzinfo == UTC


@pytest.mark.parametrize(
    "expression",
    [
        "* * * *",  # four fields
        "0 * * * * *",  # seconds: not unix cron
        "0 0 1 1 * 2030",
        "@daily",
        "H * * * *",  # croniter's hashed values
        "0 0 L * *",
        "0 0 15W * *",
        "0 0 * * 1#2",
        "0 0 ? * *",
        "60 * * * *",
        "* 24 * * *",
        "0 0 31 2 *",  # never fires
        "*/0 * * * *",
        "a b c d e",
    ],
)
def test_refused_schedules(expression: str) -> None:
    with pytest.raises(ScheduleError):
        check_schedule(expression)


def test_schedule_spacing_is_canonical() -> None:
    assert check_schedule("  */5   *  * * * ") == "*/5 * * * *"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../etc/passwd", "", "UTC+1", "Europe/"])
def test_refused_time_zones(zone: str) -> None:
    with pytest.raises(ScheduleError):
        check_time_zone(zone)


@settings(max_examples=60, deadline=None)
@given(
    minute_step=st.sampled_from([1, 2, 5, 10, 15, 30]),
    offset=st.integers(min_value=0, max_value=10 * 365 * 24 * 60 * 60),
)
def test_next_due_is_the_first_fire_after(minute_step: int, offset: int) -> None:
    """For */n minutes: strictly later, on a multiple of n, and no multiple of n in between."""
    after = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=offset)
    due = next_due(f"*/{minute_step} * * * *", "UTC", after)
    assert due > after
    assert due.second == 0
    assert due.minute % minute_step == 0
    assert due - after <= timedelta(minutes=minute_step)
