"""Turning a request's filter into a checked tree for one scope, and back into both its forms."""

from __future__ import annotations

import json
from typing import Any

from shared.errors import FilterError
from shared.filters import FieldRegistry, Filter, load, to_json, to_text
from shared.store.schema import load_schema
from shared.store.scopes import scope_kind


def registry_for(scope_key: str) -> FieldRegistry:
    """The fields filters of this scope may name, with the current metadata schema."""
    return FieldRegistry(scope_kind(scope_key), load_schema())


def from_query(text: str | None) -> str | dict[str, Any] | None:
    """A ``filter`` query parameter: the text form, or a JSON tree when it starts with ``{``."""
    if text is None:
        return None
    if text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except ValueError as bad:
            raise FilterError(f"filter looks like JSON but does not parse: {bad}") from None
        if not isinstance(value, dict):
            raise FilterError("a JSON filter must be an object")
        return value
    return text


def load_filter(value: str | dict[str, Any] | None, registry: FieldRegistry) -> Filter:
    """The checked tree; no filter (or empty text) selects every row."""
    return load("" if value is None else value, registry)


def both_forms(tree: Filter) -> tuple[dict[str, Any], str]:
    """The canonical JSON tree and text of a checked filter."""
    return to_json(tree), to_text(tree)
