"""Plan + residual on the Firestore emulator returns exactly the rows evaluation selects.

Each example writes ~30 random documents (missing fields, nulls, wrong types, NaN, datetimes
in several zones) to a collection of its own, reads them back as Firestore returns them, and
for a few random filters compares the planned query plus the residual with plain evaluation
of every document.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from hypothesis import HealthCheck, given, settings
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
    evaluate,
    plan,
    validate,
)
from shared.filters.operators import ALLOWED_OPS, read_value
from shared.metadata import MetadataSchema

pytestmark = pytest.mark.emulator

PROJECT = "demo-slices-test"
SCHEMA = MetadataSchema.model_validate(
    {
        "fields": {
            "split": {"kind": "enum", "values": ["train", "valid", "test"]},
            "weather": {"kind": "string"},
            "score": {"kind": "number"},
            "captured": {"kind": "datetime"},
            "tags": {"kind": "tags"},
        }
    }
)
REGISTRY = FieldRegistry(
    Scope.CATALOG, SCHEMA, extra=[FieldSpec("flagged", FieldType.BOOLEAN, ("flagged",))]
)
FIELDS = [
    "dataset",
    "globalKey",
    "metadata.weather",
    "metadata.split",
    "media.width",
    "metadata.score",
    "createdAt",
    "metadata.captured",
    "labels.classes",
    "metadata.tags",
    "flagged",
]
SCALARS = [name for name in FIELDS if REGISTRY.lookup(name).type is not FieldType.STRING_LIST]

STRINGS = ["", "a", "ab", "a/b", "a0", "b", "B", "é", "日本", "😀", "\uffff"]
NUMBERS: list[int | float] = [0, 1, 2, -1, 0.5, 1.0, 2.0, -0.0, 1e300, 2**53 + 1]
INSTANTS = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=h) for h in (-3, 0, 1, 5)]
ZONES = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
# What a document may hold in place of a well-typed value (Firestore arrays cannot nest).
WRONG: list[Any] = [None, True, False, 1, 2.5, float("nan"), "a", ["a"], {"a": 1}]

moments = st.builds(
    lambda instant, zone, micro: (instant + timedelta(microseconds=micro)).astimezone(zone),
    st.sampled_from(INSTANTS),
    st.sampled_from(ZONES),
    st.sampled_from([0, 0, 1, 250_000]),
)


# Values the documents of the current example hold, per field: literals drawn from them make
# filters that select some rows rather than none.
Seen = dict[str, list[Any]]


def seen_values(docs: list[dict[str, Any]]) -> Seen:
    seen: Seen = {}
    for name in FIELDS:
        spec = REGISTRY.lookup(name)
        for doc in docs:
            value = read_value(doc, spec)
            if value is None or (spec.enum is not None and value not in spec.enum):
                continue
            if spec.type is FieldType.STRING_LIST:
                seen.setdefault(name, []).extend(v for v in value if type(v) is str)
            elif spec.type is FieldType.DATETIME:
                seen.setdefault(name, []).append(value.isoformat())
            else:
                seen.setdefault(name, []).append(value)
    return seen


def literals(spec: FieldSpec, seen: Seen | None = None) -> st.SearchStrategy[Any]:
    pool = _pool(spec)
    if seen and seen.get(spec.name):
        return st.one_of(st.sampled_from(seen[spec.name]), pool)
    return pool


def _pool(spec: FieldSpec) -> st.SearchStrategy[Any]:
    if spec.enum is not None:
        return st.sampled_from(sorted(spec.enum))
    if spec.type is FieldType.NUMBER:
        return st.sampled_from(NUMBERS)
    if spec.type is FieldType.DATETIME:
        return moments.map(lambda moment: moment.isoformat())
    if spec.type is FieldType.BOOLEAN:
        return st.booleans()
    return st.sampled_from(STRINGS)


def stored(spec: FieldSpec) -> st.SearchStrategy[Any]:
    if spec.type is FieldType.DATETIME:
        good: st.SearchStrategy[Any] = moments
    elif spec.type is FieldType.STRING_LIST:
        element = st.one_of(st.sampled_from(STRINGS), st.sampled_from([1, None, {"x": "a"}]))
        good = st.lists(element, max_size=4)
    elif spec.name == "globalKey":
        good = st.sampled_from(STRINGS).map(lambda s: f"a/{s}")
    else:
        good = literals(spec)
    return st.one_of(good, good, st.sampled_from(WRONG))


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for name in FIELDS:
        if draw(st.integers(0, 4)) == 0:
            continue
        spec = REGISTRY.lookup(name)
        holder = doc
        for key in spec.path[:-1]:
            holder = holder.setdefault(key, {})
        holder[spec.path[-1]] = draw(stored(spec))
    if draw(st.integers(0, 9)) == 0:
        doc["metadata"] = draw(st.sampled_from(["not a map", None]))
    return doc


@st.composite
def leaves(
    draw: st.DrawFn, seen: Seen, field: str | None = None, ops: list[Op] | None = None
) -> Leaf:
    spec = REGISTRY.lookup(field or draw(st.sampled_from(FIELDS)))
    allowed = sorted(ALLOWED_OPS[spec.type] & set(ops or ALLOWED_OPS[spec.type]))
    op = draw(st.sampled_from(allowed))
    values = literals(spec, seen)
    if spec.name == "globalKey" and op in (Op.PREFIX, Op.GT, Op.GTE, Op.LT, Op.LTE):
        values = st.sampled_from(["a", "a/", "a/a", "a/b", "a/é", "b", ""])
    if op is Op.EXISTS:
        return Leaf(field=spec.name, op=op)
    if op is Op.BETWEEN:
        pair = [draw(values), draw(values)]
        key = datetime.fromisoformat if spec.type is FieldType.DATETIME else None
        return Leaf(field=spec.name, op=op, values=sorted(pair, key=key))
    if op in (Op.IN, Op.NOT_IN, Op.CONTAINS_ANY, Op.CONTAINS_ALL):
        return Leaf(field=spec.name, op=op, values=draw(st.lists(values, min_size=1, max_size=3)))
    return Leaf(field=spec.name, op=op, value=draw(values))


@st.composite
def queries(draw: st.DrawFn, seen: Seen) -> tuple[Filter, str | None]:
    """A filter with some conjuncts the planner can push, and maybe an order field."""
    order = draw(st.one_of(st.none(), st.sampled_from(SCALARS)))
    if order is None:
        pushable = leaves(seen, ops=[Op.EQ, Op.CONTAINS])
    else:
        ordered = [Op.EQ, Op.IN, Op.LT, Op.LTE, Op.GT, Op.GTE, Op.BETWEEN, Op.PREFIX]
        pushable = leaves(seen, field=order, ops=ordered)
    parts: list[Filter] = draw(st.lists(pushable, min_size=1, max_size=3))
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["leaf", "not", "or"]))
        if kind == "leaf":
            parts.append(draw(leaves(seen)))
        elif kind == "not":
            parts.append(Not(not_=draw(leaves(seen))))
        else:
            parts.append(Or(or_=[draw(leaves(seen)), draw(leaves(seen))]))
    tree: Filter = parts[0] if len(parts) == 1 else And(and_=parts)
    validate(tree, REGISTRY)
    return tree, order


@pytest.fixture(scope="module")
def client(firestore_host: str) -> firestore.Client:
    return firestore.Client(project=PROJECT)


def has_path(doc: dict[str, Any], path: tuple[str, ...]) -> bool:
    value: Any = doc
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return False
        value = value[key]
    return True


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_plan_and_residual_select_what_evaluation_selects(
    client: firestore.Client, data: st.DataObject
) -> None:
    docs = data.draw(st.lists(documents(), min_size=25, max_size=35), label="docs")
    seen = seen_values(docs)
    cases = data.draw(st.lists(queries(seen), min_size=1, max_size=4), label="cases")
    collection = client.collection(f"planner-{uuid.uuid4().hex}")
    batch = client.batch()
    for index, doc in enumerate(docs):
        batch.set(collection.document(f"d{index:03d}"), doc)
    batch.commit()
    try:
        rows = {snap.id: snap.to_dict() or {} for snap in collection.stream()}
        assert len(rows) == len(docs)
        for tree, order in cases:
            result = plan(tree, REGISTRY, order)
            query: Any = collection
            for c in result.constraints:
                query = query.where(filter=FieldFilter(c.path, c.client_op, c.value))
            if order is not None:
                query = query.order_by(REGISTRY.lookup(order).document_path)
            got = {
                snap.id
                for snap in query.stream()
                if result.residual is None or evaluate(result.residual, snap.to_dict(), REGISTRY)
            }
            # Ordering by a field lists only the documents that have it (any value, even null).
            order_path = REGISTRY.lookup(order).path if order else ()
            expected = {
                doc_id
                for doc_id, row in rows.items()
                if evaluate(tree, row, REGISTRY) and has_path(row, order_path)
            }
            assert got == expected, (result, order)
    finally:
        batch = client.batch()
        for index in range(len(docs)):
            batch.delete(collection.document(f"d{index:03d}"))
        batch.commit()


PREFIX_KEYS = [
    "",
    "a",
    "a/",
    "a/b",
    "a/\uf8ff",
    "a/\uf8ff\uf8ff",
    "a/😀",
    "a/\uffff",
    "a0",
    "b",
    "日本",
]


@pytest.mark.parametrize("prefix", ["a/", "a", "", "a/\uffff", "\U0010ffff", "日"])
def test_prefix_ranges_keep_every_code_point(client: firestore.Client, prefix: str) -> None:
    collection = client.collection(f"planner-{uuid.uuid4().hex}")
    batch = client.batch()
    for index, key in enumerate(PREFIX_KEYS):
        batch.set(collection.document(f"k{index:02d}"), {"globalKey": key})
    batch.commit()
    tree = Leaf(field="globalKey", op=Op.PREFIX, value=prefix)
    result = plan(tree, REGISTRY, "globalKey")
    assert result.residual is None
    query: Any = collection
    for c in result.constraints:
        query = query.where(filter=FieldFilter(c.path, c.client_op, c.value))
    got = sorted(snap.to_dict()["globalKey"] for snap in query.order_by("globalKey").stream())
    assert got == sorted(key for key in PREFIX_KEYS if key.startswith(prefix))
