"""Model-run metrics: per-row scores at ingest (``rows``), COCO box matching (``boxes``) and
run aggregates (``runs``). Pure functions, no I/O."""

from shared.metrics.boxes import box_iou
from shared.metrics.rows import ClassCounts, RowEvaluation, evaluate_row, row_metrics
from shared.metrics.runs import (
    ClassTotals,
    aggregate,
    aggregate_classes,
    class_delta,
    class_summary,
    class_totals,
    ratios,
)

__all__ = [
    "ClassCounts",
    "ClassTotals",
    "RowEvaluation",
    "aggregate",
    "aggregate_classes",
    "box_iou",
    "class_delta",
    "class_summary",
    "class_totals",
    "evaluate_row",
    "ratios",
    "row_metrics",
]
