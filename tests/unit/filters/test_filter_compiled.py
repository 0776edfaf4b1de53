"""The compiled matcher and normalisation agree with the reference interpreter on random rows."""

from __future__ import annotations

from typing import Any

from filter_strategies import REGISTRY, rows, trees
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.filters import Filter, compile_filter, compile_slices, evaluate, normalize


@settings(max_examples=200, deadline=None)
@given(st.lists(trees(), min_size=1, max_size=8), st.lists(rows(), min_size=1, max_size=8))
def test_compiled_slices_agree_with_the_interpreter(
    slices: list[Filter], sample: list[dict[str, Any]]
) -> None:
    named = {f"slice-{index}": tree for index, tree in enumerate(slices)}
    matcher = compile_slices(named, REGISTRY)
    for row in sample:
        expected = [sid for sid, tree in named.items() if evaluate(tree, row, REGISTRY)]
        assert matcher(row) == expected


@settings(max_examples=200, deadline=None)
@given(trees(), rows())
def test_compiled_filter_agrees_with_the_interpreter(tree: Filter, row: dict[str, Any]) -> None:
    assert compile_filter(tree, REGISTRY)(row) is evaluate(tree, row, REGISTRY)


@settings(max_examples=200, deadline=None)
@given(trees(), st.lists(rows(), min_size=1, max_size=5))
def test_normalising_never_changes_which_rows_match(
    tree: Filter, sample: list[dict[str, Any]]
) -> None:
    normal = normalize(tree)
    for row in sample:
        assert evaluate(normal, row, REGISTRY) is evaluate(tree, row, REGISTRY)
