"""Run aggregates: sums of row counts, micro ratios, per-class totals kept incrementally."""

from __future__ import annotations

import random

import pytest

from shared.metrics import (
    ClassCounts,
    ClassTotals,
    aggregate,
    aggregate_classes,
    class_delta,
    class_summary,
    class_totals,
    evaluate_row,
)
from shared.models import RowMetrics
from tests.unit.metrics.synthetic import CLASSES, detection_rows


def test_aggregate_of_no_rows() -> None:
    assert aggregate([]) == {
        "rows": 0,
        "tp": 0,
        "fp": 0,
        "fn": 0,
        "tn": 0,
        "precision": None,
        "recall": None,
        "f1": None,
        "meanIou": None,
        "meanConfidence": None,
    }


def test_aggregate_sums_counts_and_takes_micro_ratios() -> None:
    rows = [
        RowMetrics(tp=3, fp=1, fn=0, tn=2, iou=0.5, confidence=0.9),
        RowMetrics(tp=0, fp=0, fn=4, tn=1, iou=0.0),
        RowMetrics(tn=3),
    ]
    got = aggregate(rows)
    assert (got["rows"], got["tp"], got["fp"], got["fn"], got["tn"]) == (3, 3, 1, 4, 6)
    assert got["precision"] == 3 / 4
    assert got["recall"] == 3 / 7
    assert got["f1"] == 6 / 11
    assert got["meanIou"] == 0.25  # over the two rows that have an IoU
    assert got["meanConfidence"] == 0.9


def test_class_totals_match_row_totals_on_detections() -> None:
    evaluations = [
        evaluate_row(row.labels, row.predictions, CLASSES, 0.5, 0.5)
        for row in detection_rows(300, seed=11)
    ]
    totals = aggregate(e.metrics for e in evaluations)
    per_class = aggregate_classes((e.classes for e in evaluations), CLASSES)
    assert list(per_class) == list(CLASSES)
    for key in ("tp", "fp", "fn", "tn"):
        assert sum(c[key] for c in per_class.values()) == totals[key]
    for counts in per_class.values():
        tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
        assert counts["precision"] == (tp / (tp + fp) if tp + fp else None)
        assert counts["recall"] == (tp / (tp + fn) if tp + fn else None)


def test_every_listed_class_is_summarized_even_if_never_seen() -> None:
    summary = class_summary({"a": ClassTotals(1, 0, 2, 2)}, ["a", "b"], row_count=5)
    assert summary["a"] == {
        "tp": 1, "fp": 0, "fn": 2, "tn": 3, "precision": 1.0, "recall": 1 / 3, "f1": 0.5,
    }  # fmt: skip
    assert summary["b"] == {
        "tp": 0, "fp": 0, "fn": 0, "tn": 5, "precision": None, "recall": None, "f1": None,
    }  # fmt: skip


def test_without_a_class_list_the_classes_seen_are_summarized_with_no_tn() -> None:
    per_row = [{"x": ClassCounts(1, 0, 0)}, {"y": ClassCounts(0, 1, 0)}, {}]
    summary = aggregate_classes(per_row, [])
    assert set(summary) == {"x", "y"}
    assert summary["x"]["tn"] == summary["y"]["tn"] == 0


def test_class_delta_of_new_changed_and_deleted_rows() -> None:
    old = {"a": ClassCounts(1, 0, 1), "b": ClassCounts(0, 2, 0), "c": ClassCounts(1, 0, 0)}
    new = {"a": ClassCounts(2, 0, 0), "c": ClassCounts(1, 0, 0), "d": ClassCounts(0, 0, 1)}
    assert class_delta(old, new) == {
        "a": ClassTotals(1, 0, -1, 0),
        "b": ClassTotals(0, -2, 0, -1),
        "d": ClassTotals(0, 0, 1, 1),
    }
    assert class_delta({}, new)["d"] == ClassTotals(0, 0, 1, 1)
    assert class_delta(new, {})["a"] == ClassTotals(-2, 0, 0, -1)
    assert class_delta(new, new) == {}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_totals_equal_a_full_recount(seed: int) -> None:
    """What a store keeping totals with increments would hold after rows change and go."""
    rng = random.Random(seed)
    rows = detection_rows(200, seed=seed)
    current: dict[int, dict[str, ClassCounts]] = {}
    running: dict[str, ClassTotals] = {}

    def apply(delta: dict[str, ClassTotals]) -> None:
        for name, change in delta.items():
            old = running.get(name, ClassTotals())
            running[name] = ClassTotals(*(a + b for a, b in zip(old, change, strict=True)))

    for _ in range(600):
        index = rng.randrange(len(rows))
        if index in current and rng.random() < 0.3:
            apply(class_delta(current.pop(index), {}))
            continue
        row = rows[rng.randrange(len(rows))]  # new predictions for this row
        threshold = rng.choice((0.3, 0.5, 0.7))
        new = evaluate_row(row.labels, row.predictions, CLASSES, 0.5, threshold).classes
        apply(class_delta(current.get(index, {}), new))
        current[index] = new
    recount = class_totals(current.values())
    assert {k: v for k, v in running.items() if any(v)} == recount
    assert class_summary(running, CLASSES, len(current)) == class_summary(
        recount, CLASSES, len(current)
    )
