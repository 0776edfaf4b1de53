"""The integers Firestore holds: 64-bit signed. A larger one fails the whole write, or the
whole query it is a cursor or filter value of, so inputs are checked against these bounds where
they enter."""

from __future__ import annotations

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def fits_int64(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX
