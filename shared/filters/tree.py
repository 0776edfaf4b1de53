"""Walking a filter tree: its children, leaves and size, without recursion.

The walks here are iterative so that they are safe on any tree, even one deeper than the
limits allow (that is how the limits are checked before anything recursive runs).
"""

from __future__ import annotations

from collections.abc import Iterator

from shared.filters.ast import And, Filter, Leaf, Not, Or


def children(node: Filter) -> list[Filter]:
    """The direct children of ``node`` (none for a leaf)."""
    if isinstance(node, And):
        return node.and_
    if isinstance(node, Or):
        return node.or_
    if isinstance(node, Not):
        return [node.not_]
    return []


def walk(node: Filter) -> Iterator[tuple[Filter, int]]:
    """Every node with its depth (the root has depth 1), parents before children."""
    stack: list[tuple[Filter, int]] = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        yield current, depth
        stack.extend((child, depth + 1) for child in reversed(children(current)))


def leaves(node: Filter) -> Iterator[Leaf]:
    """Every comparison in the tree, left to right."""
    for current, _ in walk(node):
        if isinstance(current, Leaf):
            yield current


def conjuncts(node: Filter) -> list[Filter]:
    """The parts that must all hold: the children of nested top-level ANDs, flattened."""
    if not isinstance(node, And):
        return [node]
    out: list[Filter] = []
    for child in node.and_:
        out.extend(conjuncts(child))
    return out
