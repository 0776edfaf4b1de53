"""RFC 3339 times: the one parser that metadata values, ingest inference and filters share.

Accepted is exactly RFC 3339's ``date-time`` (section 5.6): ``2024-05-01T12:00:00Z``, with
an optional fraction of a second (``12:00:00.5``) and an offset, ``Z`` or ``+HH:MM`` /
``-HH:MM`` (``-00:00`` is UTC); ``T`` and ``Z`` may be lower case. Rejected is everything else
that ISO 8601 or ``datetime.fromisoformat`` would read: no seconds or no offset
(``2024-05-01T12Z``), the basic format (``20240501T120000Z``), week and ordinal dates, a
space for ``T``, an offset without its colon or with seconds, a date alone; and what Python
or Firestore cannot hold: a leap second (``:60``), year 0, an instant outside years 1 to 9999
in UTC. A fraction finer than a microsecond is truncated to the microsecond (Firestore keeps
microseconds too), never rounded.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

_DATE_TIME = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})[Tt]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]+))?"
    r"(?:[Zz]|(?P<sign>[+-])(?P<offset_hour>[0-9]{2}):(?P<offset_minute>[0-9]{2}))"
)
_MICROSECOND_DIGITS = 6


def parse_datetime(text: str) -> datetime | None:
    """The time an RFC 3339 ``date-time`` string stands for (always with a zone), or None."""
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        return None
    part = match.groupdict()
    zone = _zone(part["sign"], part["offset_hour"], part["offset_minute"])
    if zone is None:
        return None
    fraction = (part["fraction"] or "")[:_MICROSECOND_DIGITS]
    try:
        parsed = datetime(
            int(part["year"]),
            int(part["month"]),
            int(part["day"]),
            int(part["hour"]),
            int(part["minute"]),
            int(part["second"]),
            int(fraction.ljust(_MICROSECOND_DIGITS, "0")),
            tzinfo=zone,
        )
    except ValueError:  # month 13, April 31, hour 24, second 60, ...
        return None
    return parsed if in_range(parsed) else None


def in_range(moment: datetime) -> bool:
    """Whether an aware time lies within the years 1 to 9999 in UTC (Python's and Firestore's
    range: 0001-01-01T00:00:00+01:00 is in neither)."""
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return False
    return True


def has_form(text: str) -> bool:
    """Whether ``text`` is written as an RFC 3339 ``date-time``, whether or not that time
    exists: ``2024-04-31T12:00:00Z`` has the form (and :func:`parse_datetime` refuses it)."""
    return _DATE_TIME.fullmatch(text) is not None


def problem(text: str) -> str:
    """Why :func:`parse_datetime` refuses ``text``: its form, or the time it names."""
    if not has_form(text):
        return f"expected an RFC 3339 datetime with offset, got {text!r:.80}"
    return (
        f"{text!r:.80} has the RFC 3339 form but is not a time: no such date or hour (or a "
        "leap second), an offset past 23:59, or an instant outside the years 1 to 9999 in UTC"
    )


def _zone(sign: str | None, hours: str | None, minutes: str | None) -> timezone | None:
    """The offset's zone (``Z`` is UTC), or None for an offset out of range."""
    if sign is None or hours is None or minutes is None:
        return UTC
    if int(hours) > 23 or int(minutes) > 59:
        return None
    offset = timedelta(hours=int(hours), minutes=int(minutes))
    return UTC if not offset else timezone(-offset if sign == "-" else offset)
