"""The typed metadata schema: which user fields exist and what type each holds.

Ingest checks every metadata value against it, and filters type-check ``metadata.<name>``
against it. A field not declared takes the type of the first value seen (see
:meth:`MetadataSchema.infer`); a later value of another type is reported, never stored.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared import rfc3339
from shared.int64 import fits_int64
from shared.rfc3339 import parse_datetime

FIELD_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
MAX_FIELDS = 200
MAX_ENUM_VALUES = 500
MAX_STRING_LENGTH = 4096
"""Characters of the longest string a row stores (a metadata string, enum value or tag).

Filter literals share the limit, so a filter can name any stored value.
"""
MAX_TAGS = 100

FieldName = Annotated[str, StringConstraints(pattern=FIELD_NAME_PATTERN)]
MetadataValue = str | float | int | datetime | list[str]


class MetadataKind(StrEnum):
    STRING = "string"
    NUMBER = "number"
    DATETIME = "datetime"
    ENUM = "enum"
    TAGS = "tags"


class MetadataField(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: MetadataKind
    values: list[str] | None = Field(default=None, max_length=MAX_ENUM_VALUES)

    @model_validator(mode="after")
    def _enum_has_values(self) -> MetadataField:
        if (self.kind is MetadataKind.ENUM) != (self.values is not None):
            raise ValueError("'values' is required for an enum field and only for one")
        return self


class MetadataSchema(BaseModel):
    """``fields`` maps a field name to its kind; ``version`` changes with every edit."""

    model_config = ConfigDict(extra="forbid")

    fields: dict[FieldName, MetadataField] = Field(default_factory=dict, max_length=MAX_FIELDS)
    version: int = 0

    def check(self, name: str, value: Any) -> MetadataValue:
        """The value as stored for a declared field, or ``ValueError`` saying why not."""
        field = self.fields[name]
        return check_value(field, value)

    def infer(self, name: str, value: Any) -> MetadataField:
        """The field a first value declares: strings in RFC 3339 form are datetimes (one that
        names no time, April 31, is then refused by the check rather than declared a string)."""
        if not re.fullmatch(FIELD_NAME_PATTERN, name):
            raise ValueError(f"metadata field name {name!r} must match {FIELD_NAME_PATTERN}")
        if isinstance(value, bool):
            raise ValueError("booleans are not a metadata type; use an enum or a string")
        if isinstance(value, int | float):
            return MetadataField(kind=MetadataKind.NUMBER)
        if isinstance(value, datetime) or (isinstance(value, str) and rfc3339.has_form(value)):
            return MetadataField(kind=MetadataKind.DATETIME)
        if isinstance(value, str):
            return MetadataField(kind=MetadataKind.STRING)
        if isinstance(value, list):
            return MetadataField(kind=MetadataKind.TAGS)
        raise ValueError(f"unsupported metadata value of type {type(value).__name__}")


def _number(value: Any) -> MetadataValue:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {_type_name(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("expected a finite number")
    if isinstance(value, int) and not fits_int64(value):
        raise ValueError("integers must fit in 64 bits")
    return value


def _datetime(value: Any) -> MetadataValue:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("expected a datetime with a time zone")
        return _in_range(value)
    if not isinstance(value, str):
        raise ValueError(f"expected an RFC 3339 datetime with offset, got {value!r:.80}")
    parsed = parse_datetime(value)  # (a time in range, or None)
    if parsed is None:
        raise ValueError(rfc3339.problem(value))
    return parsed


def _in_range(moment: datetime) -> datetime:
    if not rfc3339.in_range(moment):
        raise ValueError("times must be within the years 1 to 9999 in UTC")
    return moment


def _tags(value: Any) -> MetadataValue:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of strings, got {_type_name(value)}")
    if len(value) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    for tag in value:
        _check_string(tag)
    return sorted(set(value))


def _string(value: Any) -> MetadataValue:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_type_name(value)}")
    _check_string(value)
    return value


_CHECKS = {
    MetadataKind.NUMBER: _number,
    MetadataKind.DATETIME: _datetime,
    MetadataKind.TAGS: _tags,
    MetadataKind.STRING: _string,
    MetadataKind.ENUM: _string,
}


def check_value(field: MetadataField, value: Any) -> MetadataValue:
    """The value in its stored type, or ``ValueError`` naming the mismatch. Never coerces."""
    checked = _CHECKS[field.kind](value)
    if field.kind is MetadataKind.ENUM and field.values is not None and checked not in field.values:
        raise ValueError(f"{value!r:.80} is not one of the enum's values")
    return checked


def _check_string(value: str) -> None:
    if len(value) > MAX_STRING_LENGTH:
        raise ValueError(f"strings are at most {MAX_STRING_LENGTH} characters")
    if not is_valid_unicode(value):
        raise ValueError("strings must be valid Unicode: this one has an unpaired surrogate")


def is_valid_unicode(text: str) -> bool:
    """False for a string with an unpaired surrogate (JSON can say "\\ud800"; UTF-8 cannot)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string"}.get(
        type(value), type(value).__name__
    )
