"""Model-run row documents: one layout for the store, the filters and the API.

A model-run row (``modelRuns/<run>/rows/<rowId>``, the data row's id) is a copy of its data
row's filterable fields, because Firestore cannot join, plus what the run adds:

- ``predictions`` (the upload's annotations, exempt from indexing), ``predictionClasses``
  (sorted distinct names) and ``predictionCount``, for filters;
- ``split`` (the upload's, or null);
- ``metrics``: the ten per-row metrics of DESIGN section 6, every key always present (null when
  undefined), so that sorting by any of them never drops a row;
- ``classCounts``: per class present in the row, its tp/fp/fn (the run's per-class totals are
  sums of these);
- ``metricsVersion``: the version of the run's thresholds the metrics were computed with.

:func:`run_row_document` is the one function that builds it; everything here is pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.documents import MEMBERSHIP_FIELDS
from shared.metrics import ClassCounts, evaluate_row
from shared.models import Annotation, Prediction, RowMetrics

Document = dict[str, Any]

# What a model-run row adds to the copy of its data row.
RUN_FIELDS = (
    "predictions",
    "predictionClasses",
    "predictionCount",
    "split",
    "metrics",
    "classCounts",
    "metricsVersion",
)
# The copy never carries the data row's own membership (a run's rows have their own slices).
_NOT_COPIED = frozenset(MEMBERSHIP_FIELDS)


@dataclass(frozen=True)
class RunSettings:
    """What a row's metrics depend on, besides its labels and predictions."""

    classes: frozenset[str]
    iou_threshold: float
    confidence_threshold: float
    version: int

    @classmethod
    def from_run(cls, run: Mapping[str, Any]) -> RunSettings:
        return cls(
            classes=frozenset(run.get("classes") or ()),
            iou_threshold=float(run["iouThreshold"]),
            confidence_threshold=float(run["confidenceThreshold"]),
            version=int(run.get("metricsVersion") or 0),
        )


def data_row_copy(data_row: Mapping[str, Any]) -> Document:
    """The fields of a data row document that its model-run rows copy: all but membership."""
    return {key: value for key, value in data_row.items() if key not in _NOT_COPIED}


def prediction_fields(predictions: Iterable[Prediction]) -> Document:
    """The stored predictions and the flattened fields filters read."""
    predictions = list(predictions)
    return {
        "predictions": [p.model_dump(by_alias=True, exclude_none=True) for p in predictions],
        "predictionClasses": sorted({p.name for p in predictions}),
        "predictionCount": len(predictions),
    }


def metrics_fields(metrics: RowMetrics) -> Document:
    """``metrics`` with all ten keys (camelCase), None where undefined."""
    return metrics.model_dump(by_alias=True)


def class_counts_field(classes: Mapping[str, ClassCounts]) -> list[Document]:
    """Per-class counts as a list (class names are data, so they are never used as keys)."""
    return [
        {"name": name, "tp": counts.tp, "fp": counts.fp, "fn": counts.fn}
        for name, counts in classes.items()
    ]


def class_counts_of(doc: Mapping[str, Any] | None) -> dict[str, ClassCounts]:
    """A stored row's per-class counts ({} for no row)."""
    return {
        entry["name"]: ClassCounts(int(entry["tp"]), int(entry["fp"]), int(entry["fn"]))
        for entry in (doc or {}).get("classCounts") or ()
    }


def stored_predictions(doc: Mapping[str, Any] | None) -> list[Prediction]:
    return [Prediction.model_validate(p) for p in (doc or {}).get("predictions") or ()]


def stored_labels(data_row: Mapping[str, Any]) -> list[Annotation]:
    return [Annotation.model_validate(label) for label in data_row.get("labels") or ()]


def run_row_document(
    data_row: Mapping[str, Any],
    predictions: Sequence[Prediction],
    split: str | None,
    settings: RunSettings,
) -> Document:
    """The model-run row of ``data_row`` with these predictions, scored with ``settings``."""
    evaluation = evaluate_row(
        stored_labels(data_row),
        predictions,
        settings.classes,
        settings.iou_threshold,
        settings.confidence_threshold,
    )
    return {
        **data_row_copy(data_row),
        **prediction_fields(predictions),
        "split": split,
        "metrics": metrics_fields(evaluation.metrics),
        "classCounts": class_counts_field(evaluation.classes),
        "metricsVersion": settings.version,
    }


def rescored(
    data_row: Mapping[str, Any], current: Mapping[str, Any], settings: RunSettings
) -> Document:
    """A stored model-run row rebuilt from its data row as it is now and the run's settings,
    keeping its predictions and split."""
    return run_row_document(data_row, stored_predictions(current), current.get("split"), settings)


def same_content(current: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether writing ``new`` over ``current`` would change anything but membership."""
    keys = (set(current) | set(new)) - _NOT_COPIED - {"id"}
    return all(key in current and key in new and current[key] == new[key] for key in keys)
