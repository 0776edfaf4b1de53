"""Cron schedules: checking an expression and computing when an action is next due.

Expressions are unix cron with five fields (minute hour day-of-month month day-of-week), the
form Cloud Scheduler takes, evaluated in a tz database time zone by croniter. The extensions
croniter also knows (seconds or year fields, ``H`` hashes, ``L``/``W``/``#``, ``@daily``
aliases) are refused, so that a schedule means the same thing everywhere it is read.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter  # type: ignore[import-untyped]

FIELDS = 5
_NAMES = re.compile(
    r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|sun|mon|tue|wed|thu|fri|sat)\b",
    re.IGNORECASE,
)
_PLAIN = re.compile(r"[0-9*,/-]+")
_TIME_ZONE = re.compile(r"[A-Za-z_]+(/[A-Za-z0-9_+-]+)*")


class ScheduleError(ValueError):
    """A schedule or time zone that cannot be used; the message says why."""


def check_schedule(expression: str) -> str:
    """The expression with single spaces, or :class:`ScheduleError`."""
    fields = expression.split()
    if len(fields) != FIELDS:
        raise ScheduleError(
            f"a schedule is unix cron with {FIELDS} fields (minute hour day month weekday), "
            f"got {len(fields)}"
        )
    for field in fields:
        if not _PLAIN.fullmatch(_NAMES.sub("0", field)):
            raise ScheduleError(f"cron field {field!r:.40} uses syntax outside unix cron")
    canonical = " ".join(fields)
    if not croniter.is_valid(canonical):
        raise ScheduleError(f"{canonical!r:.100} is not a valid cron expression")
    _fire_after(canonical, datetime(2000, 1, 1, tzinfo=UTC))  # refuses "0 0 31 2 *": never
    return canonical


def check_time_zone(name: str) -> ZoneInfo:
    if not _TIME_ZONE.fullmatch(name):
        raise ScheduleError(f"{name!r:.64} is not a tz database name such as Europe/Paris")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {name!r:.64}") from None


def next_due(expression: str, time_zone: str, after: datetime) -> datetime:
    """The first time the schedule fires strictly after ``after``, in UTC."""
    zone = check_time_zone(time_zone)
    return _fire_after(check_schedule(expression), after.astimezone(zone)).astimezone(UTC)


def _fire_after(expression: str, start: datetime) -> datetime:
    try:
        fired: datetime = croniter(expression, start).get_next(datetime)
    except CroniterError:
        raise ScheduleError(f"{expression!r:.100} never fires") from None
    return fired
