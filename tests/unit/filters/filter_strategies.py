"""Hypothesis strategies for filters and rows, over a registry that has every field type.

Rows are what Firestore could hold: fields missing, null, of the wrong type (booleans where
numbers belong, naive datetimes, NaN, lists with non-string elements, a map that is a string),
and datetimes in several time zones that often denote the same instants as the literals.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from shared.filters import (
    And,
    FieldRegistry,
    FieldSpec,
    FieldType,
    Filter,
    Leaf,
    Not,
    Op,
    Or,
    Scope,
)
from shared.filters.limits import MAX_DEPTH
from shared.filters.operators import ALLOWED_OPS
from shared.filters.tree import walk
from shared.metadata import MetadataSchema

SCHEMA = MetadataSchema.model_validate(
    {
        "fields": {
            "split": {"kind": "enum", "values": ["train", "valid", "test"]},
            "weather": {"kind": "string"},
            "captured": {"kind": "datetime"},
            "tags": {"kind": "tags"},
            "score": {"kind": "number"},
        }
    }
)
FLAG = FieldSpec("flagged", FieldType.BOOLEAN, ("flagged",))
REGISTRY = FieldRegistry(Scope.MODEL_RUN, SCHEMA, extra=[FLAG])

# A few fields of each type, so that random filters and rows overlap often.
FIELDS = [
    "dataset",
    "metadata.weather",
    "metadata.split",
    "media.width",
    "metrics.f1",
    "metadata.score",
    "createdAt",
    "metadata.captured",
    "labels.classes",
    "metadata.tags",
    "flagged",
]

STRINGS = ["", "a", "ab", "b", "B", "train", "valid", "test", "é", "日本", "a\u0000", "😀", "z"]
NUMBERS: list[int | float] = [0, 1, 2, -1, 0.0, -0.0, 0.5, 1.0, 2.5, -1.5, 1e300, 2**53 + 1]
INSTANTS = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=h) for h in (-3, 0, 1, 5)]
ZONES = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]

strings = st.one_of(st.sampled_from(STRINGS), st.text(max_size=3))
numbers = st.one_of(
    st.sampled_from(NUMBERS),
    st.integers(-5, 5),
    st.floats(-10, 10, allow_nan=False, allow_infinity=False),
)
aware_datetimes = st.builds(
    lambda instant, zone, micro: (instant + timedelta(microseconds=micro)).astimezone(zone),
    st.sampled_from(INSTANTS),
    st.sampled_from(ZONES),
    st.sampled_from([0, 0, 1, 500_000]),
)
datetime_literals = aware_datetimes.map(lambda moment: moment.isoformat())


def literals(spec: FieldSpec) -> st.SearchStrategy[Any]:
    """Literals of the field's type (what validation accepts)."""
    if spec.enum is not None:
        return st.sampled_from(sorted(spec.enum))
    if spec.type is FieldType.NUMBER:
        return numbers
    if spec.type is FieldType.DATETIME:
        return datetime_literals
    if spec.type is FieldType.BOOLEAN:
        return st.booleans()
    return strings


@st.composite
def leaves(draw: st.DrawFn, fields: list[str] = FIELDS) -> Leaf:
    spec = REGISTRY.lookup(draw(st.sampled_from(fields)))
    op = draw(st.sampled_from(sorted(ALLOWED_OPS[spec.type])))
    values = literals(spec)
    if op is Op.EXISTS:
        return Leaf(field=spec.name, op=op)
    if op is Op.BETWEEN:
        low, high = draw(values), draw(values)
        key = _order_key(spec)
        low, high = sorted([low, high], key=key)
        return Leaf(field=spec.name, op=op, values=[low, high])
    if op in (Op.IN, Op.NOT_IN, Op.CONTAINS_ANY, Op.CONTAINS_ALL):
        return Leaf(field=spec.name, op=op, values=draw(st.lists(values, min_size=1, max_size=4)))
    return Leaf(field=spec.name, op=op, value=draw(values))


def _order_key(spec: FieldSpec) -> Any:
    if spec.type is FieldType.DATETIME:
        return datetime.fromisoformat
    return lambda value: value


def trees(
    leaf: st.SearchStrategy[Leaf] | None = None, max_leaves: int = 12
) -> st.SearchStrategy[Filter]:
    """Valid trees: AND / OR with zero or at least two children, NOT, leaves; depth <= 8."""

    def extend(children: st.SearchStrategy[Filter]) -> st.SearchStrategy[Filter]:
        many: st.SearchStrategy[list[Filter]] = st.one_of(
            st.just([]), st.lists(children, min_size=2, max_size=3)
        )
        return st.one_of(
            many.map(lambda kids: And(and_=kids)),
            many.map(lambda kids: Or(or_=kids)),
            children.map(lambda kid: Not(not_=kid)),
        )

    base: st.SearchStrategy[Filter] = leaf if leaf is not None else leaves()
    return st.recursive(base, extend, max_leaves=max_leaves).filter(_within_depth)


def _within_depth(tree: Filter) -> bool:
    return max(depth for _, depth in walk(tree)) <= MAX_DEPTH


WRONG_VALUES: list[Any] = [
    None,
    True,
    False,
    1,
    2.5,
    float("nan"),
    "a",
    "train",
    [],
    ["a"],
    {"a": 1},
    datetime(2024, 1, 1),  # naive: no instant
]


def _row_value(spec: FieldSpec) -> st.SearchStrategy[Any]:
    if spec.type is FieldType.DATETIME:
        good: st.SearchStrategy[Any] = aware_datetimes
    elif spec.type is FieldType.STRING_LIST:
        element = st.one_of(strings, st.sampled_from([1, True, None, {"x": 1}, ["a"]]))
        good = st.one_of(st.lists(strings, max_size=4), st.lists(element, max_size=4))
    else:
        good = literals(spec)
    return st.one_of(good, good, good, st.sampled_from(WRONG_VALUES))


@st.composite
def rows(draw: st.DrawFn) -> dict[str, Any]:
    """A row document: each field present, absent, null or wrong-typed at random."""
    row: dict[str, Any] = {}
    for name in FIELDS:
        spec = REGISTRY.lookup(name)
        if draw(st.integers(0, 4)) == 0:
            continue
        holder = row
        for key in spec.path[:-1]:
            holder = holder.setdefault(key, {})
        holder[spec.path[-1]] = draw(_row_value(spec))
    if draw(st.integers(0, 9)) == 0:
        row["metadata"] = draw(st.sampled_from(["not a map", None, [], {}]))
    return row
