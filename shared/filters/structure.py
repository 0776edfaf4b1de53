"""The limits every filter must respect, whatever its fields: size, depth and literals.

Checked on the raw JSON before pydantic sees it (so a hostile document costs little) and on
every tree (parsed or validated) before anything recursive walks it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from shared.errors import FilterError
from shared.filters.ast import Filter, Leaf, Scalar
from shared.filters.limits import (
    MAX_DEPTH,
    MAX_LEAVES,
    MAX_LITERAL_CHARACTERS,
    MAX_NODES,
    MAX_STRING_LENGTH,
    MAX_VALUES,
)
from shared.filters.positions import Written, nth, position
from shared.filters.tree import walk
from shared.int64 import fits_int64
from shared.metadata import is_valid_unicode

_COMBINATORS = ("and", "or", "not")


def check_raw_size(value: Any) -> None:
    """Depth and node count of a JSON tree, before it is validated into models."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        _check_counts(depth=depth, nodes=nodes)
        if not isinstance(node, dict):
            continue
        for key in _COMBINATORS:
            child = node.get(key)
            if isinstance(child, list):
                stack.extend((item, depth + 1) for item in child[: MAX_NODES + 1])
            elif isinstance(child, dict):
                stack.append((child, depth + 1))


def check_structure(tree: Filter, written: Sequence[Written] = ()) -> None:
    """Raise a :class:`FilterError` naming the first limit ``tree`` is over.

    ``written`` places the leaves in the text they were parsed from, for the error's position.
    """
    leaves = characters = 0
    for nodes, (node, depth) in enumerate(walk(tree), start=1):
        _check_counts(depth=depth, nodes=nodes)
        if isinstance(node, Leaf):
            where = nth(written, leaves)
            leaves += 1
            if leaves > MAX_LEAVES:
                raise FilterError(
                    f"a filter has at most {MAX_LEAVES} comparisons", position=position(where)
                )
            check_literals(node, where)
            characters += sum(len(v) for v in _operands(node) if isinstance(v, str))
            if characters > MAX_LITERAL_CHARACTERS:
                raise FilterError(
                    f"a filter's string literals hold at most {MAX_LITERAL_CHARACTERS} "
                    "characters in all",
                    position=position(where),
                )


def _check_counts(*, depth: int, nodes: int) -> None:
    if depth > MAX_DEPTH:
        raise FilterError(f"a filter nests at most {MAX_DEPTH} levels deep")
    if nodes > MAX_NODES:
        raise FilterError(f"a filter has at most {MAX_NODES} nodes")


def check_literals(leaf: Leaf, where: Written | None = None) -> None:
    """List length, string length and number range of one comparison's literals."""
    name = f"{leaf.field} {leaf.op}"
    if leaf.values is not None:
        if len(leaf.values) > MAX_VALUES:
            raise FilterError(
                f"{name}: at most {MAX_VALUES} values in a list "
                f"(Firestore's limit for one query), got {len(leaf.values)}",
                position=position(where, MAX_VALUES),
            )
        if not leaf.values:
            raise FilterError(f"{name}: the list of values is empty", position=position(where))
    for index, value in enumerate(_operands(leaf)):
        problem = _literal_problem(value)
        if problem is not None:
            raise FilterError(f"{name}: {problem}", position=position(where, index))


def _operands(leaf: Leaf) -> Sequence[Scalar | None]:
    return [leaf.value] if leaf.values is None else leaf.values


def _literal_problem(value: object) -> str | None:
    if isinstance(value, str):
        if len(value) > MAX_STRING_LENGTH:
            return f"a string literal is at most {MAX_STRING_LENGTH} characters, got {len(value)}"
        if not is_valid_unicode(value):
            return "string has an unpaired surrogate"
    elif isinstance(value, bool):
        return None
    elif isinstance(value, int) and not fits_int64(value):
        return f"integer {value} is outside 64 bits"
    elif isinstance(value, float) and not math.isfinite(value):
        return f"numbers must be finite, got {value}"
    return None
