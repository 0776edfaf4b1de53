"""Ad-hoc listing (planner + residual + read budget) against the reference interpreter.

Property: for any filter, ordering, page size and read budget, following page tokens yields
exactly the rows that evaluating the filter on every row selects, in the asked order, each
once, and no page is larger than asked or reads more than its budget.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.filters import And, FieldRegistry, Filter, Leaf, Not, Op, Or, Scope, evaluate, load
from shared.ids import row_id
from shared.metadata import MetadataField, MetadataKind
from shared.services import listing, paging
from shared.services.ordering import parse_ordering
from shared.store import rows as row_store
from shared.store.schema import add_fields, load_schema
from shared.store.scopes import CATALOG

pytestmark = pytest.mark.emulator

BASE = datetime(2026, 1, 1, tzinfo=UTC)
SPLITS = ["train", "valid", "test"]
CLASSES = ["car", "bus", "cat"]


def _row(i: int) -> dict[str, Any]:
    """Row i: deterministic but varied, with some fields missing or null."""
    metadata: dict[str, Any] = {}
    if i % 5:
        metadata["split"] = SPLITS[i % 3]
    if i % 4:
        metadata["score"] = round((i * 37 % 100) / 100, 2)
    if i % 3 == 0:
        metadata["tags"] = sorted({f"t{i % 2}", f"t{i % 5}"})
    labels = [CLASSES[j] for j in range(3) if (i >> j) & 1]
    return {
        "globalKey": f"gs://b/{'ab'[i % 2]}/{i:03d}.png",
        "rowData": f"gs://b/{i}",
        "dataset": "ab"[i % 2],
        "mediaType": "image",
        "media": {"mimeType": "image/png", "sizeBytes": i, "width": None if i % 7 == 0 else i % 9,
                  "height": None},
        "metadata": metadata,
        "labels": [{"name": name} for name in labels],
        "labelClasses": sorted(set(labels)),
        "labelCount": len(labels),
        "createdAt": BASE + timedelta(hours=i * 7 % 40),
        "updatedAt": BASE,
        "generation": 1,
    }  # fmt: skip


ROWS = [_row(i) for i in range(40)]
IDS = sorted(row_id(row["globalKey"]) for row in ROWS)


def _leaves() -> st.SearchStrategy[Filter]:
    numbers = st.sampled_from([0, 1, 2.5, 4, 8, 0.3, 0.5, 0.99])
    split = st.sampled_from(SPLITS)
    when = st.integers(0, 40).map(lambda h: (BASE + timedelta(hours=h)).isoformat())
    cls = st.sampled_from(CLASSES)

    def leaf(field: str, op: Op, value: Any = None, values: Any = None) -> Leaf:
        return Leaf(field=field, op=op, value=value, values=values)

    pair = st.lists(numbers, min_size=2, max_size=2).map(sorted)
    return st.one_of(
        st.builds(leaf, st.just("metadata.split"), st.sampled_from([Op.EQ, Op.NE]), split),
        st.builds(lambda v: leaf("metadata.split", Op.IN, values=v),
                  st.lists(split, min_size=1, max_size=3)),
        st.builds(leaf, st.just("metadata.score"), st.sampled_from([Op.LT, Op.GTE]), numbers),
        st.builds(lambda v: leaf("metadata.score", Op.BETWEEN, values=v), pair),
        st.builds(leaf, st.just("media.width"), st.sampled_from([Op.GT, Op.LTE, Op.EQ]), numbers),
        st.builds(leaf, st.just("labels.classes"), st.just(Op.CONTAINS), cls),
        st.builds(lambda v: leaf("labels.classes", Op.CONTAINS_ANY, values=v),
                  st.lists(cls, min_size=1, max_size=3)),
        st.builds(leaf, st.just("dataset"), st.just(Op.EQ), st.sampled_from(["a", "b"])),
        st.builds(leaf, st.just("globalKey"), st.just(Op.PREFIX),
                  st.sampled_from(["gs://b/a/0", "gs://b/"])),
        st.builds(leaf, st.just("createdAt"), st.sampled_from([Op.GTE, Op.LT]), when),
        st.builds(leaf, st.just("metadata.tags"), st.just(Op.CONTAINS),
                  st.sampled_from(["t0", "t1", "t4"])),
        st.builds(leaf, st.sampled_from(["metadata.split", "media.width", "metadata.score"]),
                  st.just(Op.EXISTS)),
        st.builds(lambda v: leaf("id", Op.IN, values=v),
                  st.lists(st.sampled_from(IDS), min_size=1, max_size=30)),
    )  # fmt: skip


FILTERS: st.SearchStrategy[Filter] = st.recursive(
    _leaves(),
    lambda children: st.one_of(
        st.lists(children, min_size=2, max_size=3).map(lambda c: And(and_=c)),
        st.lists(children, min_size=2, max_size=3).map(lambda c: Or(or_=c)),
        children.map(lambda c: Not(not_=c)),
    ),
    max_leaves=4,
)
ORDER_FIELDS = ["id", "media.width", "createdAt", "labels.count", "dataset", "globalKey"]


def _sort_key(order_field: str) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    ordering = parse_ordering(order_field, FieldRegistry(Scope.CATALOG))

    def key(doc: dict[str, Any]) -> tuple[Any, ...]:
        if ordering.by_id:
            return (doc["id"],)
        value = paging.value_at(doc, ordering.path_parts)
        return (value is not None, value if value is not None else 0, doc["id"])

    return key


@pytest.fixture
def stored() -> list[dict[str, Any]]:
    add_fields(
        {
            "split": MetadataField(kind=MetadataKind.ENUM, values=SPLITS),
            "score": MetadataField(kind=MetadataKind.NUMBER),
            "tags": MetadataField(kind=MetadataKind.TAGS),
        }
    )
    by_id = {row_id(doc["globalKey"]): doc for doc in ROWS}
    row_store.mutate_rows(CATALOG, list(by_id), lambda rid, _: dict(by_id[rid]))
    return list(row_store.get_rows(CATALOG, list(by_id)).values())


def test_pages_hold_exactly_the_matching_rows_in_order(stored: list[dict[str, Any]]) -> None:
    registry = FieldRegistry(Scope.CATALOG, load_schema())

    @given(
        tree=FILTERS,
        order_field=st.sampled_from(ORDER_FIELDS),
        descending=st.booleans(),
        size=st.integers(1, 7),
        budget=st.integers(1, 12),
    )
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    def check(tree: Filter, order_field: str, descending: bool, size: int, budget: int) -> None:
        tree = load(tree, registry)
        ordering = parse_ordering(f"{order_field} {'desc' if descending else 'asc'}", registry)
        key = _sort_key(order_field)
        # Sorting by a field leaves out rows that lack it (Firestore's order_by contract).
        candidates = [d for d in stored if ordering.by_id or _has(d, ordering.path_parts)]
        expected = sorted(
            (d["id"] for d in candidates if evaluate(tree, d, registry)),
            key=lambda i: key(next(d for d in stored if d["id"] == i)),
            reverse=descending,
        )
        got: list[str] = []
        token = None
        with mock.patch.object(listing, "read_budget", return_value=budget):
            for _ in range(200):
                page = listing.filtered_page(
                    CATALOG, tree, registry, ordering, size=size, page_token=token
                )
                assert len(page.docs) <= size
                assert page.documents_read <= budget
                got += [doc["id"] for doc in page.docs]
                token = page.next_page_token
                if not token:
                    break
        assert got == expected

    check()


@pytest.mark.parametrize("order_by", ["id", "id desc"])
def test_hand_picked_rows_read_only_themselves(stored: list[dict[str, Any]], order_by: str) -> None:
    registry = FieldRegistry(Scope.CATALOG, load_schema())
    picked = IDS[3:33:3]
    tree = load(
        And(and_=[Leaf(field="id", op=Op.IN, values=picked), Leaf(field="dataset", op=Op.EXISTS)]),
        registry,
    )
    ordering = parse_ordering(order_by, registry)
    page = listing.filtered_page(CATALOG, tree, registry, ordering, size=50, page_token=None)
    assert [doc["id"] for doc in page.docs] == sorted(picked, reverse=order_by.endswith("desc"))
    assert page.documents_read == len(picked)  # not the whole catalog
    assert page.next_page_token == ""


def _has(doc: dict[str, Any], path: tuple[str, ...]) -> bool:
    """The field is present, null or not (null sorts first; only a missing field is left out)."""
    value: Any = doc
    for part in path[:-1]:
        value = value.get(part) if isinstance(value, dict) else None
    return isinstance(value, dict) and path[-1] in value


def test_page_sizes_and_budgets() -> None:
    assert paging.page_size(None) == paging.page_size(0) == 50
    assert paging.page_size(7) == 7
    assert paging.page_size(10_000) == 1000
    with pytest.raises(Exception, match="negative"):
        paging.page_size(-1)
    assert paging.read_budget(50) == 500
    assert paging.read_budget(1000) == 4000
    assert all(paging.read_budget(n) >= n for n in (1, 50, 999, 1000))
