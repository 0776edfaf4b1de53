"""Splitting a filter into what Firestore can serve and a residual evaluated in memory.

Only **single-field indexes** are used, so any user filter works in production without a
composite index of its own:

- ordered by document id (the default): the top-level ``=`` conjuncts on scalar fields
  (Firestore merges their single-field indexes), at most one ``CONTAINS`` on a list field
  (``array-contains``; one per query), and one ``id IN (...)``, hand-picked rows, as ``in``
  (at most 30 values, Firestore's limit and the validator's), unless an ``id =`` is pushed;
- ordered by a field F: only conjuncts on F itself: one ``=``, else one ``IN``, else its range
  bounds (``BETWEEN`` as two bounds, ``STARTS WITH p`` as ``>= p`` and ``< successor(p)``).

``id`` is the row's ``id`` field (a copy of the document id), the one that evaluation reads,
so pushing it keeps the two in agreement; rows sorted by id descending are sorted by that
field (see ``shared/services/ordering.py``), the case F = ``id`` above.

A pushed conjunct is also dropped from the residual only when Firestore's answer is exactly
ours: strings, booleans, datetimes and array membership. Numbers stay in the residual (NaN,
which we treat as no value, and int/float precision at the edges are Firestore's own), as does
anything not pushed. Invariant, property-tested on the emulator: the rows Firestore returns for
``constraints``, kept when ``residual`` is None or evaluates true, are exactly the rows the
filter selects.

Ordering by F also makes Firestore omit the rows that lack F (``order_by`` needs the field), so
a listing sorted by F never shows them, whatever the filter; that is the caller's contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.filters.ast import And, Filter, Leaf, Op
from shared.filters.fields import FieldRegistry, FieldSpec, FieldType
from shared.filters.operators import literal_value
from shared.filters.tree import conjuncts
from shared.filters.validation import validate

MAX_IN_VALUES = 30
"""Firestore's limit for ``in`` (the validator's list limit already keeps within it)."""

ID_FIELD = "id"
"""The row's id, a copy of its document id: ``id IN (...)`` is how rows are hand-picked."""

_RANGES = {Op.LT: "<", Op.LTE: "<=", Op.GT: ">", Op.GTE: ">="}
_EXACT_TYPES = frozenset({FieldType.STRING, FieldType.BOOLEAN, FieldType.DATETIME})
_MAX_CODE_POINT = 0x10FFFF


# The Python client spells the array operators with underscores.
_CLIENT_OPS = {"array-contains": "array_contains", "array-contains-any": "array_contains_any"}


@dataclass(frozen=True)
class Constraint:
    """One ``where`` clause: a dotted document path, a Firestore operator, a value.

    ``op`` is Firestore's name (``array-contains``); :attr:`client_op` is the Python client's.
    """

    path: str
    op: str
    value: Any

    @property
    def client_op(self) -> str:
        return _CLIENT_OPS.get(self.op, self.op)


@dataclass(frozen=True)
class Plan:
    constraints: list[Constraint] = field(default_factory=list)
    residual: Filter | None = None


@dataclass
class _Pushed:
    constraints: list[Constraint]
    exact: bool


def plan(tree: Filter, registry: FieldRegistry, order_field: str | None = None) -> Plan:
    """The constraints for Firestore and the residual filter for a validated ``tree``."""
    validate(tree, registry)
    parts = conjuncts(tree)
    if order_field is None:
        pushed = _by_document_id(parts, registry)
    else:
        pushed = _by_order_field(parts, registry, registry.lookup(order_field))
    constraints = [c for index in sorted(pushed) for c in pushed[index].constraints]
    rest = [
        part for index, part in enumerate(parts) if not (index in pushed and pushed[index].exact)
    ]
    residual: Filter | None = None if not rest else rest[0] if len(rest) == 1 else And(and_=rest)
    return Plan(constraints, residual)


def _by_document_id(parts: list[Filter], registry: FieldRegistry) -> dict[int, _Pushed]:
    pushed: dict[int, _Pushed] = {}
    has_array_contains = False
    # One ``in`` at most (a query's disjunctions, the product of its ``in`` lists, are <= 30),
    # and none beside an ``id =``, which already narrows the query to one row.
    can_push_in = not any(_is_id(p) and p.op is Op.EQ for p in parts if isinstance(p, Leaf))
    for index, part in enumerate(parts):
        if not isinstance(part, Leaf):
            continue
        spec = registry.lookup(part.field)
        if part.op is Op.EQ and spec.type is not FieldType.STRING_LIST:
            pushed[index] = _push(spec, [("==", _literal(spec, part))])
        elif part.op is Op.CONTAINS and not has_array_contains:
            has_array_contains = True
            pushed[index] = _push(spec, [("array-contains", part.value)], exact=True)
        elif part.op is Op.IN and _is_id(part) and can_push_in:
            in_values = _in_values(spec, part)
            if in_values is not None:
                can_push_in = False
                pushed[index] = _push(spec, [("in", in_values)])
    return pushed


def _by_order_field(
    parts: list[Filter], registry: FieldRegistry, order: FieldSpec
) -> dict[int, _Pushed]:
    if order.type is FieldType.STRING_LIST:
        return {}
    on_order = [
        (index, part)
        for index, part in enumerate(parts)
        if isinstance(part, Leaf) and registry.lookup(part.field) == order
    ]
    for wanted in (Op.EQ, Op.IN):
        for index, leaf in on_order:
            if leaf.op is wanted and wanted is Op.EQ:
                return {index: _push(order, [("==", _literal(order, leaf))])}
            in_values = _in_values(order, leaf) if leaf.op is wanted else None
            if in_values is not None:
                return {index: _push(order, [("in", in_values)])}
    pushed: dict[int, _Pushed] = {}
    for index, leaf in on_order:
        bounds = _bounds(order, leaf)
        if bounds:
            pushed[index] = _push(order, bounds)
    return pushed


def _bounds(spec: FieldSpec, leaf: Leaf) -> list[tuple[str, Any]]:
    if leaf.op in _RANGES:
        return [(_RANGES[leaf.op], _literal(spec, leaf))]
    if leaf.op is Op.BETWEEN and leaf.values is not None:
        low, high = (literal_value(spec, v) for v in leaf.values)
        return [(">=", low), ("<=", high)]
    if leaf.op is Op.PREFIX and isinstance(leaf.value, str):
        upper = successor(leaf.value)
        return [(">=", leaf.value)] + ([("<", upper)] if upper is not None else [])
    return []


def _push(spec: FieldSpec, clauses: list[tuple[str, Any]], *, exact: bool | None = None) -> _Pushed:
    constraints = [Constraint(spec.document_path, op, value) for op, value in clauses]
    return _Pushed(constraints, spec.type in _EXACT_TYPES if exact is None else exact)


def _is_id(leaf: Leaf) -> bool:
    return leaf.field == ID_FIELD


def _in_values(spec: FieldSpec, leaf: Leaf) -> list[Any] | None:
    """The distinct values of an ``IN`` as rows hold them; None if too many for one query."""
    values = list(dict.fromkeys(literal_value(spec, v) for v in leaf.values or ()))
    return values if len(values) <= MAX_IN_VALUES else None


def _literal(spec: FieldSpec, leaf: Leaf) -> Any:
    assert leaf.value is not None  # a validated single-value leaf
    return literal_value(spec, leaf.value)


def successor(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` (None: no bound).

    Firestore orders strings by UTF-8 bytes, which is code point order for valid text; the
    surrogate block is skipped because no stored string can hold a surrogate.
    """
    chars = list(prefix)
    while chars:
        point = ord(chars.pop()) + 1
        if point == 0xD800:
            point = 0xE000
        if point <= _MAX_CODE_POINT:
            return "".join(chars) + chr(point)
    return None
