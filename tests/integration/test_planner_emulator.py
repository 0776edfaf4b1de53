"""Plan + residual on the Firestore emulator returns exactly the rows evaluation selects.

Each example writes ~30 random documents (missing fields, nulls, wrong types, NaN, datetimes
in several zones) to the catalog, reads them back as Firestore returns them, and for a few
random filters and orders (any field, either direction, ``id`` included) compares the page that
the ad-hoc listing answers (the planner, the production query, the compiled residual) with
plain evaluation of every document.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.emulators import wipe_firestore
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
from shared.services.listing import filtered_page
from shared.services.ordering import Ordering, parse_ordering, sort_fields
from shared.store.client import db
from shared.store.scopes import CATALOG, rows_collection
from tests.conftest import PROJECT

pytestmark = pytest.mark.emulator

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
    "id",
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
# Row ids; a row's ``id`` field is one of them, usually its own (see ``documents``).
IDS = [f"d{index:03d}" for index in range(40)]
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
    if spec.name == "id":
        return st.sampled_from(IDS)
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
def documents(draw: st.DrawFn, doc_id: str) -> dict[str, Any]:
    """A row document; ``id`` is its own id as ingest writes it, or now and then not."""
    doc: dict[str, Any] = {"key": doc_id}  # not a filter field: tells the documents apart
    for name in FIELDS:
        if draw(st.integers(0, 4)) == 0:
            continue
        spec = REGISTRY.lookup(name)
        holder = doc
        for key in spec.path[:-1]:
            holder = holder.setdefault(key, {})
        own = name == "id" and draw(st.integers(0, 2)) > 0
        holder[spec.path[-1]] = doc_id if own else draw(stored(spec))
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


# Hand-picked rows: ``id IN`` with up to 30 ids, Firestore's limit for ``in``.
hand_picked = st.lists(st.sampled_from(IDS), min_size=1, max_size=30).map(
    lambda ids: Leaf(field="id", op=Op.IN, values=ids)
)


def ordering_of(field: str, descending: bool) -> Ordering:
    """The ordering the API would use: ``parse_ordering`` for its sort fields; for the others
    (which the API refuses, but the planner handles alike) the same shape by hand."""
    if field in sort_fields(REGISTRY):
        return parse_ordering(f"{field} {'desc' if descending else 'asc'}", REGISTRY)
    return Ordering(field, REGISTRY.lookup(field).document_path, descending)


@st.composite
def queries(draw: st.DrawFn, seen: Seen) -> tuple[Filter, Ordering]:
    """A filter with some conjuncts the planner can push, and an order (by id most often)."""
    field = draw(st.one_of(st.just("id"), st.sampled_from(SCALARS)))
    ordering = ordering_of(field, draw(st.booleans()))
    if ordering.by_id:
        pushable = st.one_of(leaves(seen, ops=[Op.EQ, Op.CONTAINS]), hand_picked)
    else:
        ordered = [Op.EQ, Op.IN, Op.LT, Op.LTE, Op.GT, Op.GTE, Op.BETWEEN, Op.PREFIX]
        pushable = leaves(seen, field=field, ops=ordered)
        if field == "id":
            pushable = st.one_of(pushable, hand_picked)
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
    return tree, ordering


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
    firestore_host: str, data: st.DataObject
) -> None:
    wipe_firestore(firestore_host, PROJECT)  # each example starts from an empty catalog
    count = data.draw(st.integers(25, 35), label="count")
    docs = [data.draw(documents(IDS[index]), label=IDS[index]) for index in range(count)]
    seen = seen_values(docs)
    cases = data.draw(st.lists(queries(seen), min_size=1, max_size=4), label="cases")
    collection = rows_collection(CATALOG)
    batch = db().batch()
    for doc in docs:
        batch.set(collection.document(doc["key"]), doc)
    batch.commit()
    rows = {snap.id: snap.to_dict() or {} for snap in collection.stream()}
    assert len(rows) == len(docs)
    for tree, ordering in cases:
        page = filtered_page(CATALOG, tree, REGISTRY, ordering, size=len(docs) + 1, page_token=None)
        got = [doc["key"] for doc in page.docs]
        # Ordering by a field lists only the documents that have it (any value, even null).
        order_path = () if ordering.by_id else REGISTRY.lookup(ordering.field).path
        expected = {
            doc_id
            for doc_id, row in rows.items()
            if evaluate(tree, row, REGISTRY) and has_path(row, order_path)
        }
        context = (plan(tree, REGISTRY, None if ordering.by_id else ordering.field), ordering)
        assert set(got) == expected, context
        assert len(got) == len(expected), context  # each row once
        assert page.next_page_token == "", context
        if ordering.by_id:
            assert got == sorted(got), context


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


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("prefix", ["a/", "a", "", "a/\uffff", "\U0010ffff", "日"])
def test_prefix_ranges_keep_every_code_point(prefix: str, descending: bool) -> None:
    batch = db().batch()
    for index, key in enumerate(PREFIX_KEYS):
        batch.set(rows_collection(CATALOG).document(f"k{index:02d}"), {"globalKey": key})
    batch.commit()
    tree = Leaf(field="globalKey", op=Op.PREFIX, value=prefix)
    assert plan(tree, REGISTRY, "globalKey").residual is None  # Firestore's answer is exact
    ordering = ordering_of("globalKey", descending)
    page = filtered_page(CATALOG, tree, REGISTRY, ordering, size=100, page_token=None)
    expected = sorted((key for key in PREFIX_KEYS if key.startswith(prefix)), reverse=descending)
    assert [doc["globalKey"] for doc in page.docs] == expected
