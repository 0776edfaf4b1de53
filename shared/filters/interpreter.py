"""The reference evaluator: a plain recursive walk, written to be obviously correct.

Everything faster (the compiled evaluator, the planner with its residual) is tested against
this. Semantics, in one place:

- a comparison on a missing field, a null, or a value of another type than the field's is
  false; so is ``!=`` or ``NOT IN`` on such a row (``NOT (x = 1)`` is how to include it);
- ``EXISTS`` is true iff the value is present, not null and of the field's type;
- an empty AND is true, an empty OR is false; AND and OR short-circuit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.filters.ast import And, Filter, Leaf, Not, Op, Or
from shared.filters.fields import FieldRegistry
from shared.filters.operators import COMPARE, literal_value, read_value


def evaluate(tree: Filter, row: Mapping[str, Any], registry: FieldRegistry) -> bool:
    """Whether ``row`` (a Firestore document as a dict) matches a validated filter."""
    if isinstance(tree, And):
        return all(evaluate(child, row, registry) for child in tree.and_)
    if isinstance(tree, Or):
        return any(evaluate(child, row, registry) for child in tree.or_)
    if isinstance(tree, Not):
        return not evaluate(tree.not_, row, registry)
    return _leaf(tree, row, registry)


def _leaf(leaf: Leaf, row: Mapping[str, Any], registry: FieldRegistry) -> bool:
    spec = registry.lookup(leaf.field)
    value = read_value(row, spec)
    if leaf.op is Op.EXISTS:
        return value is not None
    if value is None:
        return False
    operand: Any = (
        [literal_value(spec, item) for item in leaf.values]
        if leaf.values is not None
        else literal_value(spec, leaf.value)  # type: ignore[arg-type]
    )
    return COMPARE[leaf.op](value, operand)
