"""The limits every filter must respect, whatever its fields: size, depth and literals.

Checked on the raw JSON before pydantic sees it (so a hostile document costs little) and on
every tree (parsed or validated) before anything recursive walks it.
"""

from __future__ import annotations

import math
from typing import Any

from shared.errors import FilterError
from shared.filters.ast import Filter, Leaf
from shared.filters.limits import (
    INT64_MAX,
    INT64_MIN,
    MAX_DEPTH,
    MAX_LEAVES,
    MAX_NODES,
    MAX_STRING_LENGTH,
    MAX_VALUES,
)
from shared.filters.tree import walk

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


def check_structure(tree: Filter) -> None:
    """Raise a :class:`FilterError` naming the first limit ``tree`` is over."""
    leaves = 0
    for nodes, (node, depth) in enumerate(walk(tree), start=1):
        _check_counts(depth=depth, nodes=nodes)
        if isinstance(node, Leaf):
            leaves += 1
            if leaves > MAX_LEAVES:
                raise FilterError(f"a filter has at most {MAX_LEAVES} comparisons")
            check_literals(node)


def _check_counts(*, depth: int, nodes: int) -> None:
    if depth > MAX_DEPTH:
        raise FilterError(f"a filter nests at most {MAX_DEPTH} levels deep")
    if nodes > MAX_NODES:
        raise FilterError(f"a filter has at most {MAX_NODES} nodes")


def check_literals(leaf: Leaf) -> None:
    """List length, string length and number range of one comparison's literals."""
    if leaf.values is not None:
        if len(leaf.values) > MAX_VALUES:
            raise FilterError(
                f"{leaf.field} {leaf.op}: at most {MAX_VALUES} values in a list "
                f"(Firestore's limit for one query), got {len(leaf.values)}"
            )
        if not leaf.values:
            raise FilterError(f"{leaf.field} {leaf.op}: the list of values is empty")
    for value in [leaf.value] if leaf.values is None else leaf.values:
        if isinstance(value, str):
            if len(value) > MAX_STRING_LENGTH:
                raise FilterError(
                    f"{leaf.field} {leaf.op}: a string literal is at most "
                    f"{MAX_STRING_LENGTH} characters, got {len(value)}"
                )
            if not _is_valid_unicode(value):
                raise FilterError(f"{leaf.field} {leaf.op}: string has an unpaired surrogate")
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            raise FilterError(f"{leaf.field} {leaf.op}: integer {value} is outside 64 bits")
        elif isinstance(value, float) and not math.isfinite(value):
            raise FilterError(f"{leaf.field} {leaf.op}: numbers must be finite, got {value}")


def _is_valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
