"""Page sizes and read budgets of list calls (AIP-158).

``pageSize`` 0 or absent means the default; above the maximum it is coerced down, as AIP-158
asks; negative is an error. Ad-hoc filters read at most a budget of documents per page, so a
selective filter answers a short page with a token to continue instead of scanning on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MIN_READ_BUDGET = 500
READS_PER_ROW = 4
MAX_READ_BUDGET = 5000


def page_size(requested: int | None) -> int:
    if requested is None or requested == 0:
        return DEFAULT_PAGE_SIZE
    if requested < 0:
        raise InvalidArgument("pageSize must not be negative")
    return min(requested, MAX_PAGE_SIZE)


def read_budget(size: int) -> int:
    """Documents one page of an ad-hoc filter may read: 500 for the default page of 50."""
    return min(max(size * READS_PER_ROW, MIN_READ_BUDGET), MAX_READ_BUDGET)


def value_at(doc: Mapping[str, Any], path: Sequence[str]) -> Any:
    """The value at a dotted path of a document, or None."""
    value: Any = doc
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value
