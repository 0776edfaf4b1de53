"""The nine auto-generated slices are valid slices of a model run (DESIGN section 7)."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from shared.auto_slices import AUTO_SLICES, AutoSliceSpec, auto_slice
from shared.filters.ast import Filter, Leaf, Op
from shared.filters.fields import MODEL_RUN_FIELDS
from shared.models import AutoSlice, OrderBy, SliceCreate

FIELDS = {spec.name for spec in MODEL_RUN_FIELDS}
EXPECTED = {
    AutoSlice.TRUE_POSITIVES: ("True positives", "metrics.tp", "gt", "metrics.tp desc"),
    AutoSlice.TRUE_NEGATIVES: ("True negatives", "metrics.tn", "gt", "metrics.tn desc"),
    AutoSlice.FALSE_POSITIVES: ("False positives", "metrics.fp", "gt", "metrics.fp desc"),
    AutoSlice.FALSE_NEGATIVES: ("False negatives", "metrics.fn", "gt", "metrics.fn desc"),
    AutoSlice.LOW_PRECISION: (
        "Low precision", "metrics.precision", "exists", "metrics.precision asc"),
    AutoSlice.LOW_RECALL: ("Low recall", "metrics.recall", "exists", "metrics.recall asc"),
    AutoSlice.LOW_F1: ("Low F1", "metrics.f1", "exists", "metrics.f1 asc"),
    AutoSlice.LOW_CONFIDENCE: (
        "Low confidence", "metrics.confidence", "exists", "metrics.confidence asc"),
    AutoSlice.CANDIDATE_MISLABELS: (
        "Candidate mislabels", "metrics.fp", "gt", "metrics.mislabelConfidence desc"),
}  # fmt: skip


def test_one_spec_per_kind_in_enum_order() -> None:
    assert [spec.kind for spec in AUTO_SLICES] == list(AutoSlice)


@pytest.mark.parametrize("kind", list(AutoSlice))
def test_spec_is_the_designed_one(kind: AutoSlice) -> None:
    spec = auto_slice(kind)
    name, field, op, order_by = EXPECTED[kind]
    assert (spec.name, spec.filter["field"], spec.filter["op"], spec.order_by) == (
        name,
        field,
        op,
        order_by,
    )
    if op == "gt":
        assert spec.filter == {"field": field, "op": "gt", "value": 0}
    else:
        assert spec.filter == {"field": field, "op": "exists"}  # no value key at all


@pytest.mark.parametrize("spec", AUTO_SLICES, ids=lambda spec: spec.kind.value)
def test_spec_is_a_valid_model_run_slice(spec: AutoSliceSpec) -> None:
    leaf = TypeAdapter(Filter).validate_python(spec.filter)
    assert isinstance(leaf, Leaf)
    assert leaf.field in FIELDS
    assert leaf.op in (Op.GT, Op.EXISTS)
    order = OrderBy.parse(spec.order_by)
    assert order.field in FIELDS
    SliceCreate(
        name=spec.name,
        description=spec.description,
        scope={"modelRun": "run-1"},
        filter=spec.filter,
        order_by=spec.order_by,
    )


def test_filters_are_fresh_copies() -> None:
    spec = auto_slice(AutoSlice.TRUE_POSITIVES)
    spec.filter["value"] = 99
    assert spec.filter["value"] == 0


def test_names_are_unique() -> None:
    assert len({spec.name.lower() for spec in AUTO_SLICES}) == len(AUTO_SLICES)
