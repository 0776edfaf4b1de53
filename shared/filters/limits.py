"""Limits that keep parsing, validation and evaluation of one filter bounded.

Over a limit is a :class:`~shared.errors.FilterError` (HTTP 400) that names the limit.
"""

from __future__ import annotations

from shared import metadata

MAX_TEXT_LENGTH = 10_000
"""Characters of filter text, checked before parsing."""

MAX_DEPTH = 8
"""Nesting: a lone leaf has depth 1, ``a AND (b OR NOT c)`` depth 4."""

MAX_LEAVES = 50
"""Comparisons in one filter."""

MAX_VALUES = 30
"""Values in one list (``IN``, ``NOT IN``, ``CONTAINS ANY``, ``CONTAINS ALL``).

Firestore's own cap for ``in`` and ``array-contains-any``, so a list the planner pushes down
always fits in one query.
"""

MAX_STRING_LENGTH = metadata.MAX_STRING_LENGTH
"""Characters of one string literal: as long as the longest stored string (4,096)."""

MAX_LITERAL_CHARACTERS = MAX_TEXT_LENGTH
"""Characters of all string literals of one filter together.

A filter's text holds every literal, so a JSON tree over this could not be written as text;
with it, a JSON filter is bounded like a text one, whatever its number of lists and strings.
"""

MAX_NODES = 200
"""Nodes of any kind (comparisons, AND, OR, NOT, TRUE, FALSE): bounds the work per row."""
