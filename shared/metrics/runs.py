"""A model run's aggregate metrics, from its rows' metrics and per-class counts.

Everything here is a sum of counts plus ratios computed from the sums (micro averages), so a store
can keep the sums current incrementally: when a row's metrics change, add ``new - old`` with
Firestore ``Increment`` transforms (``class_delta`` gives the per-class part), and derive the ratios
on read with ``class_summary``. Per class, TN is not stored: it is the number of rows in which the
class is absent, ``row_count - rows``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any, NamedTuple

from shared.metrics.rows import ClassCounts
from shared.models import RowMetrics


class ClassTotals(NamedTuple):
    """A class's counts summed over rows; ``rows`` counts the rows where the class is present."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    rows: int = 0


def ratios(tp: int, fp: int, fn: int) -> dict[str, float | None]:
    """Precision, recall and F1, each None when its denominator is 0."""
    return {
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
    }


def aggregate(rows: Iterable[RowMetrics]) -> dict[str, Any]:
    """Run totals: ``rows``, ``tp fp fn tn``, micro ``precision recall f1``, and ``meanIou`` and
    ``meanConfidence``, the means of the rows' values over the rows that have one (or None)."""
    count = tp = fp = fn = tn = 0
    iou_sum = confidence_sum = 0.0
    iou_rows = confidence_rows = 0
    for row in rows:
        count += 1
        tp += row.tp
        fp += row.fp
        fn += row.fn
        tn += row.tn
        if row.iou is not None:
            iou_sum += row.iou
            iou_rows += 1
        if row.confidence is not None:
            confidence_sum += row.confidence
            confidence_rows += 1
    return {
        "rows": count,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        **ratios(tp, fp, fn),
        "meanIou": iou_sum / iou_rows if iou_rows else None,
        "meanConfidence": confidence_sum / confidence_rows if confidence_rows else None,
    }


def class_totals(per_row: Iterable[Mapping[str, ClassCounts]]) -> dict[str, ClassTotals]:
    """Sum rows' per-class counts (``RowEvaluation.classes``)."""
    totals: dict[str, ClassTotals] = {}
    for counts in per_row:
        for name, (tp, fp, fn) in counts.items():
            old = totals.get(name)
            if old is None:
                totals[name] = ClassTotals(tp, fp, fn, 1)
            else:
                totals[name] = ClassTotals(old.tp + tp, old.fp + fp, old.fn + fn, old.rows + 1)
    return totals


def class_delta(
    old: Mapping[str, ClassCounts], new: Mapping[str, ClassCounts]
) -> dict[str, ClassTotals]:
    """What to add to the run's class totals when a row's counts change from ``old`` to ``new``.

    ``old`` is ``{}`` for a new row, ``new`` is ``{}`` for a deleted one; classes whose delta is
    all zeros are left out.
    """
    delta: dict[str, ClassTotals] = {}
    for name in dict.fromkeys([*old, *new]):
        before = old.get(name)
        after = new.get(name)
        change = ClassTotals(
            (after.tp if after else 0) - (before.tp if before else 0),
            (after.fp if after else 0) - (before.fp if before else 0),
            (after.fn if after else 0) - (before.fn if before else 0),
            (after is not None) - (before is not None),
        )
        if any(change):
            delta[name] = change
    return delta


def class_summary(
    totals: Mapping[str, ClassTotals], classes: Collection[str], row_count: int
) -> dict[str, dict[str, Any]]:
    """Per class: ``tp fp fn tn`` and ``precision recall f1``.

    With a class list, every listed class appears (zeros if never seen) and
    ``tn = row_count - rows``; with an empty list, the classes seen appear and TN is 0, as in
    ``evaluate_row``.
    """
    names = list(dict.fromkeys(classes)) if classes else list(totals)
    summary: dict[str, dict[str, Any]] = {}
    for name in names:
        tp, fp, fn, rows = totals.get(name, ClassTotals())
        summary[name] = {
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "tn": row_count - rows if classes else 0,
            **ratios(tp, fp, fn),
        }
    return summary


def aggregate_classes(
    per_row: Iterable[Mapping[str, ClassCounts]], classes: Collection[str]
) -> dict[str, dict[str, Any]]:
    """``class_summary`` of every row of a run at once."""
    rows = list(per_row)
    return class_summary(class_totals(rows), classes, len(rows))
