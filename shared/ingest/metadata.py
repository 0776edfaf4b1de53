"""Metadata values checked against the catalog's schema, in two steps around one schema write.

:func:`prepare` looks at the values of one row: a field already declared is kept for checking;
an undeclared one declares its kind from its first value (``MetadataSchema.infer``). A caller
writing many rows merges their additions (first value wins), declares them all at once
(``schema.add_fields(first_wins=True)``) and then :func:`check` s each row against the result,
which may have been declared differently by a concurrent writer: a value that does not fit is
an error, never coerced.

(:func:`declare` is the one step that writes: the schema document.)

Object custom metadata is a map of strings (the storage API has no other type), so for those
values a declared number, or tags, are parsed from their text (:func:`from_text`); undeclared
ones declare a datetime when they read as RFC 3339, otherwise a string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.metadata import (
    FIELD_NAME_PATTERN,
    MetadataField,
    MetadataKind,
    MetadataSchema,
    MetadataValue,
    check_value,
)
from shared.store.schema import add_fields

_NAME = re.compile(FIELD_NAME_PATTERN)


@dataclass
class Prepared:
    """One row's values before the schema is settled: raw values, declarations, errors."""

    values: dict[str, Any] = field(default_factory=dict)
    additions: dict[str, MetadataField] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def prepare(raw: Mapping[str, Any], schema: MetadataSchema) -> Prepared:
    """Sort one row's values into declared ones and new declarations (first value declares)."""
    out = Prepared()
    for name, value in raw.items():
        if not _NAME.fullmatch(name):
            out.errors.append(f"metadata.{name[:80]}: field names must match {FIELD_NAME_PATTERN}")
            continue
        if value is None:
            continue  # null means "no value": nothing to store
        if name not in schema.fields:
            try:
                out.additions[name] = schema.infer(name, value)
            except ValueError as error:
                out.errors.append(f"metadata.{name}: {error}")
                continue
        out.values[name] = value
    return out


def check(
    values: Mapping[str, Any], schema: MetadataSchema, *, text: bool = False
) -> tuple[dict[str, MetadataValue], list[str]]:
    """The values in their stored types, and an error for each one that does not fit."""
    checked: dict[str, MetadataValue] = {}
    errors: list[str] = []
    for name, value in values.items():
        declared = schema.fields.get(name)
        if declared is None:
            errors.append(f"metadata.{name}: not declared in the schema")
            continue
        try:
            candidate = from_text(declared, value) if text else value
            stored = check_value(declared, candidate)
        except ValueError as error:
            errors.append(f"metadata.{name}: {error}")
            continue
        checked[name] = stored
    return checked, errors


def from_text(declared: MetadataField, text: Any) -> Any:
    """A custom-metadata string read as the declared kind (numbers and tags need parsing)."""
    if not isinstance(text, str):
        return text
    if declared.kind is MetadataKind.NUMBER:
        try:
            number = json.loads(text.strip())
        except ValueError:
            raise ValueError(f"expected a number, got {text!r:.80}") from None
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ValueError(f"expected a number, got {text!r:.80}")
        return number
    if declared.kind is MetadataKind.TAGS:
        stripped = text.strip()
        if stripped.startswith("["):
            try:
                return json.loads(stripped)
            except ValueError:
                raise ValueError(f"expected a JSON list of strings, got {text!r:.80}") from None
        return [tag.strip() for tag in stripped.split(",") if tag.strip()]
    return text


def merge_additions(into: dict[str, MetadataField], additions: Mapping[str, MetadataField]) -> None:
    """Fold one row's declarations into a batch's: the first value seen declares the field."""
    for name, declared in additions.items():
        into.setdefault(name, declared)


def declare(schema: MetadataSchema, additions: Mapping[str, MetadataField]) -> MetadataSchema:
    """The schema with these fields declared (one transaction, only when one is new)."""
    new = {name: f for name, f in additions.items() if name not in schema.fields}
    return add_fields(new, first_wins=True) if new else schema
