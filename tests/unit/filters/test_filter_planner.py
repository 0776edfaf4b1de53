"""What the planner pushes to Firestore and what it leaves in the residual.

That plan + residual returns exactly the rows evaluation selects is proven on the emulator
(tests/integration/test_planner_emulator.py); here, the shape of plans.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from filter_strategies import REGISTRY

from shared.filters import Constraint, load, plan, to_text
from shared.filters.planner import successor


def shape(text: str, order_field: str | None = None) -> tuple[list[tuple[str, str, object]], str]:
    result = plan(load(text, REGISTRY), REGISTRY, order_field)
    residual = "" if result.residual is None else to_text(result.residual)
    return [(c.path, c.op, c.value) for c in result.constraints], residual


def test_everything_true_needs_nothing() -> None:
    assert shape("TRUE") == ([], "")


def test_string_equalities_are_pushed_and_leave_the_residual() -> None:
    assert shape('dataset = "a" AND metadata.split = "train"') == (
        [("dataset", "==", "a"), ("metadata.split", "==", "train")],
        "",
    )


def test_number_equality_is_pushed_but_also_kept() -> None:
    assert shape("media.width = 640") == ([("media.width", "==", 640)], "media.width = 640")


def test_datetime_equality_is_pushed_as_a_datetime() -> None:
    constraints, residual = shape('createdAt = "2024-05-01T14:00:00+02:00"')
    assert constraints == [("createdAt", "==", datetime(2024, 5, 1, 12, tzinfo=UTC))]
    assert isinstance(constraints[0][2], datetime)
    assert residual == ""


def test_only_one_array_contains_per_query() -> None:
    assert shape('labels.classes CONTAINS "car" AND metadata.tags CONTAINS "x"') == (
        [("labelClasses", "array-contains", "car")],
        'metadata.tags CONTAINS "x"',
    )


def test_nested_top_level_ands_are_flattened() -> None:
    constraints, residual = shape('(dataset = "a" AND flagged = true) AND media.width > 1')
    assert constraints == [("dataset", "==", "a"), ("flagged", "==", True)]
    assert residual == "media.width > 1"


@pytest.mark.parametrize(
    "text",
    [
        'dataset = "a" OR flagged = true',
        'NOT dataset = "a"',
        'dataset != "a"',
        'dataset IN ("a", "b")',
        'dataset STARTS WITH "a"',
        "media.width > 1",
    ],
)
def test_without_order_only_equalities_are_pushed(text: str) -> None:
    assert shape(text) == ([], to_text(load(text, REGISTRY)))


def test_hand_picked_rows_are_pushed_as_one_in() -> None:
    ids = [f"r{i:02d}" for i in range(30)]
    listed = ", ".join(f'"{i}"' for i in ids)
    assert shape(f"id IN ({listed})") == ([("id", "in", ids)], "")
    assert shape('id IN ("b", "a", "b")') == ([("id", "in", ["b", "a"])], "")


def test_hand_picked_rows_go_with_equalities_and_one_contains() -> None:
    text = 'dataset = "a" AND id IN ("x", "y") AND labels.classes CONTAINS "car"'
    assert shape(text) == (
        [
            ("dataset", "==", "a"),
            ("id", "in", ["x", "y"]),
            ("labelClasses", "array-contains", "car"),
        ],
        "",
    )


def test_only_one_in_per_query_and_none_beside_an_id_equality() -> None:
    assert shape('id IN ("x", "y") AND id IN ("y", "z")') == (
        [("id", "in", ["x", "y"])],
        'id IN ("y", "z")',
    )
    assert shape('id IN ("x", "y") AND id = "y"') == ([("id", "==", "y")], 'id IN ("x", "y")')


def test_hand_picked_rows_inside_or_or_not_stay_in_memory() -> None:
    assert shape('id IN ("x") OR dataset = "a"') == ([], 'id IN ("x") OR dataset = "a"')
    assert shape('NOT id IN ("x")') == ([], 'NOT id IN ("x")')


def test_hand_picked_rows_follow_the_order() -> None:
    # By id descending the order field is ``id`` itself; by another field only its conjuncts.
    assert shape('id IN ("x", "y")', "id") == ([("id", "in", ["x", "y"])], "")
    assert shape('id IN ("x", "y")', "dataset") == ([], 'id IN ("x", "y")')
    assert shape('id = "x"') == ([("id", "==", "x")], "")


def test_order_field_takes_only_its_own_conjuncts() -> None:
    assert shape('dataset = "a" AND globalKey > "k"', "globalKey") == (
        [("globalKey", ">", "k")],
        'dataset = "a"',
    )


def test_order_field_prefers_equality_then_in_then_ranges() -> None:
    assert shape('dataset > "a" AND dataset = "b"', "dataset") == (
        [("dataset", "==", "b")],
        'dataset > "a"',
    )
    assert shape('dataset > "a" AND dataset IN ("b", "c")', "dataset") == (
        [("dataset", "in", ["b", "c"])],
        'dataset > "a"',
    )
    assert shape('dataset > "a" AND dataset <= "c"', "dataset") == (
        [("dataset", ">", "a"), ("dataset", "<=", "c")],
        "",
    )


def test_order_field_between_and_prefix_become_bounds() -> None:
    assert shape("metrics.f1 BETWEEN 0.2 AND 0.6", "metrics.f1") == (
        [("metrics.f1", ">=", 0.2), ("metrics.f1", "<=", 0.6)],
        "metrics.f1 BETWEEN 0.2 AND 0.6",
    )
    assert shape('globalKey STARTS WITH "gs://b/"', "globalKey") == (
        [("globalKey", ">=", "gs://b/"), ("globalKey", "<", "gs://b0")],
        "",
    )


def test_a_list_field_as_order_pushes_nothing() -> None:
    assert shape('labels.classes CONTAINS "a"', "labels.classes") == (
        [],
        'labels.classes CONTAINS "a"',
    )


def test_constraint_paths_are_document_paths() -> None:
    result = plan(load('labels.classes CONTAINS "car"', REGISTRY), REGISTRY)
    assert result.constraints == [Constraint("labelClasses", "array-contains", "car")]


@pytest.mark.parametrize(
    ("prefix", "upper"),
    [
        ("a", "b"),
        ("gs://b/", "gs://b0"),
        ("a\U0010ffff", "b"),
        ("\ud7ff", "\ue000"),  # the surrogate block holds no stored character
        ("\U0010ffff", None),
        ("", None),
    ],
)
def test_successor(prefix: str, upper: str | None) -> None:
    assert successor(prefix) == upper
    if upper is not None:
        assert prefix < upper
        assert not (prefix + "\U0010ffff").startswith(upper)
