"""Where each comparison of a filter text was written, so that an error about it can point there.

:func:`~shared.filters.text.parse_located` returns one :class:`Written` per leaf, in the order
:func:`~shared.filters.tree.leaves` yields them (left to right). :func:`normalize
<shared.filters.validation.normalize>` keeps leaves in that order, so the list still lines up
with the normalised tree. Positions are 0-based offsets into the text, like a syntax error's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.errors import FilterError


@dataclass(frozen=True)
class Written:
    """A comparison's place in the text: its field's first character and each literal's."""

    start: int
    values: tuple[int, ...] = ()


def nth(written: Sequence[Written], index: int) -> Written | None:
    """The place of the ``index``-th leaf, or None for a tree that came from no text."""
    return written[index] if index < len(written) else None


def position(where: Written | None, value: int | None = None) -> int | None:
    """Where an error points: literal number ``value`` if given, else the comparison itself."""
    if where is None:
        return None
    if value is not None and value < len(where.values):
        return where.values[value]
    return where.start


def placed(error: FilterError, where: Written | None) -> FilterError:
    """``error`` pointing at the comparison, unless it already points somewhere."""
    if where is None or error.position is not None:
        return error
    return FilterError(error.message, position=where.start)
