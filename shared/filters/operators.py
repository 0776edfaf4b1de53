"""What each operator means: which field types it applies to and how it compares.

The one operator table that the interpreter uses and that the compiled evaluator and the planner
must agree with. Every comparison sees a row value that :func:`read_value` has already
normalised: ``None`` when the field is missing, null, or holds a value of the wrong type, so
that such a row never matches (``exists`` is the only operator that looks at ``None``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from shared.filters.ast import Op, Scalar
from shared.filters.fields import FieldSpec, FieldType
from shared.rfc3339 import parse_datetime

_ORDERED = frozenset({Op.EQ, Op.NE, Op.LT, Op.LTE, Op.GT, Op.GTE, Op.BETWEEN, Op.IN, Op.NOT_IN})

ALLOWED_OPS: Mapping[FieldType, frozenset[Op]] = {
    FieldType.STRING: _ORDERED | {Op.PREFIX, Op.EXISTS},
    FieldType.NUMBER: _ORDERED | {Op.EXISTS},
    FieldType.DATETIME: _ORDERED | {Op.EXISTS},
    FieldType.BOOLEAN: frozenset({Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.EXISTS}),
    FieldType.STRING_LIST: frozenset({Op.CONTAINS, Op.CONTAINS_ANY, Op.CONTAINS_ALL, Op.EXISTS}),
}


def _is_string(value: Any) -> bool:
    return type(value) is str


def _is_number(value: Any) -> bool:
    # bool is a subclass of int: excluded by the exact type test. NaN equals nothing, not
    # even itself, so it counts as no value rather than as a number.
    return type(value) is int or (type(value) is float and value == value)  # noqa: PLR0124


def _is_datetime(value: Any) -> bool:
    # Firestore returns a datetime subclass, always with a time zone; a naive datetime has
    # no instant, so it cannot be compared and counts as no value.
    return isinstance(value, datetime) and value.tzinfo is not None


def _is_boolean(value: Any) -> bool:
    return type(value) is bool


def _is_list(value: Any) -> bool:
    return type(value) is list


ROW_TYPE_CHECKS: Mapping[FieldType, Callable[[Any], bool]] = {
    FieldType.STRING: _is_string,
    FieldType.NUMBER: _is_number,
    FieldType.DATETIME: _is_datetime,
    FieldType.BOOLEAN: _is_boolean,
    FieldType.STRING_LIST: _is_list,
}


def read_value(row: Mapping[str, Any], spec: FieldSpec) -> Any:
    """The row's value of a field, or None when missing, null or of another type.

    ``row`` is the Firestore document as a dict; maps are followed along ``spec.path``.
    """
    value: Any = row.get(spec.path[0])
    for key in spec.path[1:]:
        if type(value) is not dict:
            return None
        value = value.get(key)
    return value if ROW_TYPE_CHECKS[spec.type](value) else None


def literal_value(spec: FieldSpec, value: Scalar) -> Any:
    """A literal as rows hold it: an RFC 3339 string becomes a datetime for a datetime field."""
    if spec.type is FieldType.DATETIME and isinstance(value, str):
        return _parse_datetime(value)
    return value


@lru_cache(maxsize=4096)
def _parse_datetime(text: str) -> datetime:
    parsed = parse_datetime(text)
    if parsed is None:
        raise ValueError(f"not an RFC 3339 datetime with offset: {text!r:.80}")
    return parsed


# Each comparison takes the row's (present, well-typed) value and the literal operand: one
# value, or a list for between / in / not_in / contains_any / contains_all.


def _eq(value: Any, operand: Any) -> bool:
    """``dataset = "a"``: equal (1 equals 1.0; datetimes are equal when the instant is)."""
    return bool(value == operand)


def _ne(value: Any, operand: Any) -> bool:
    """``dataset != "a"``: present and not equal."""
    return bool(value != operand)


def _lt(value: Any, operand: Any) -> bool:
    """``media.width < 640``; strings compare by code point."""
    return bool(value < operand)


def _lte(value: Any, operand: Any) -> bool:
    """``media.width <= 640``."""
    return bool(value <= operand)


def _gt(value: Any, operand: Any) -> bool:
    """``media.width > 640``."""
    return bool(value > operand)


def _gte(value: Any, operand: Any) -> bool:
    """``media.width >= 640``."""
    return bool(value >= operand)


def _between(value: Any, operand: Any) -> bool:
    """``metrics.f1 BETWEEN 0.2 AND 0.6``: both ends included."""
    return bool(operand[0] <= value <= operand[1])


def _in(value: Any, operand: Any) -> bool:
    """``dataset IN ("a", "b")``: equal to one of the values."""
    return any(value == item for item in operand)


def _not_in(value: Any, operand: Any) -> bool:
    """``dataset NOT IN ("a", "b")``: present and equal to none of the values."""
    return not _in(value, operand)


def _contains(value: Any, operand: Any) -> bool:
    """``labels.classes CONTAINS "car"``: the list has the element."""
    return any(item == operand for item in value)


def _contains_any(value: Any, operand: Any) -> bool:
    """``labels.classes CONTAINS ANY ("car", "bus")``: the list has at least one of them."""
    return any(_contains(value, item) for item in operand)


def _contains_all(value: Any, operand: Any) -> bool:
    """``labels.classes CONTAINS ALL ("car", "bus")``: the list has every one of them."""
    return all(_contains(value, item) for item in operand)


def _prefix(value: Any, operand: Any) -> bool:
    """``globalKey STARTS WITH "gs://bucket/street/"``."""
    return bool(value.startswith(operand))


COMPARE: Mapping[Op, Callable[[Any, Any], bool]] = {
    Op.EQ: _eq,
    Op.NE: _ne,
    Op.LT: _lt,
    Op.LTE: _lte,
    Op.GT: _gt,
    Op.GTE: _gte,
    Op.BETWEEN: _between,
    Op.IN: _in,
    Op.NOT_IN: _not_in,
    Op.CONTAINS: _contains,
    Op.CONTAINS_ANY: _contains_any,
    Op.CONTAINS_ALL: _contains_all,
    Op.PREFIX: _prefix,
}
