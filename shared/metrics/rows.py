"""Per-row metrics of a model run (DESIGN section 6), computed at ingest for every row.

Rules beyond the design's text, chosen here:

- A prediction is kept when its score (a missing confidence counts as 1.0) is at least the
  confidence threshold: a prediction exactly at the threshold is kept.
- With a non-empty class list, labels and predictions of other classes are ignored entirely, as
  pycocotools ignores categories outside ``catIds`` and scikit-learn labels outside ``labels``: a
  model is not charged for classes outside its ontology. With an empty list every class counts, and
  TN is 0 (there is no class that is absent from the row).
- Objects (with a box) are matched to objects, classifications to classifications: a
  classification "car" does not match a box "car".
- Classifications are sets: repeated labels of one class are one label, and repeated predictions
  of one class are one prediction with the highest score among them.
- TN is the number of run classes with neither a label nor a kept prediction in the row.
- ``iou`` is over objects only: the matched pairs' IoU summed, divided by matched pairs plus
  unmatched objects on either side; None when the row has no object left after filtering.
- ``confidence`` is the mean score of the kept predictions; ``mislabelConfidence`` the highest
  score among the false positives; each None when there is none.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from shared.metrics.boxes import Box, match_class
from shared.models import Annotation, Prediction, RowMetrics


class ClassCounts(NamedTuple):
    """One class's counts in one row (TN is per row, so it is not here: see ``runs``)."""

    tp: int
    fp: int
    fn: int


@dataclass(frozen=True, slots=True)
class RowEvaluation:
    """The row's metrics and, for each class present in the row, its counts."""

    metrics: RowMetrics
    classes: dict[str, ClassCounts]


def row_metrics(
    labels: Sequence[Annotation],
    predictions: Sequence[Prediction],
    classes: Collection[str],
    iou_threshold: float,
    confidence_threshold: float,
) -> RowMetrics:
    """The row's :class:`RowMetrics`; see :func:`evaluate_row`."""
    return evaluate_row(labels, predictions, classes, iou_threshold, confidence_threshold).metrics


def evaluate_row(
    labels: Sequence[Annotation],
    predictions: Sequence[Prediction],
    classes: Collection[str],
    iou_threshold: float,
    confidence_threshold: float,
) -> RowEvaluation:
    """Score one row's predictions against its labels.

    ``classes`` is the run's class list; pass a ``frozenset`` when scoring many rows so that it is
    not rebuilt for each. ``iou_threshold`` is in (0, 1], ``confidence_threshold`` in [0, 1].
    """
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}")
    if not 0 <= confidence_threshold <= 1:
        raise ValueError(f"confidence_threshold must be in [0, 1], got {confidence_threshold!r}")
    run_classes = classes if isinstance(classes, frozenset | set) else frozenset(classes)
    row = _Row()
    row.add_predictions(predictions, run_classes, confidence_threshold)
    row.add_labels(labels, run_classes)
    row.score_objects(iou_threshold)
    row.score_classifications()
    return RowEvaluation(row.metrics(len(run_classes)), row.per_class)


class _Row:
    """The row's kept annotations, split by kind and class, and the tallies scored from them."""

    def __init__(self) -> None:
        self.object_predictions: dict[str, list[tuple[float, Box]]] = {}
        self.class_predictions: dict[str, float] = {}  # class -> highest score
        self.object_truths: dict[str, list[Box]] = {}
        self.class_truths: dict[str, None] = {}  # a set that keeps upload order
        self.per_class: dict[str, ClassCounts] = {}
        self.kept_scores: list[float] = []
        self.fp_scores: list[float] = []
        self.iou_sum = 0.0
        self.objects = 0  # matched pairs plus unmatched objects on either side

    def add_predictions(
        self, predictions: Sequence[Prediction], classes: Collection[str], threshold: float
    ) -> None:
        for prediction in predictions:
            score = prediction.score
            name = prediction.name
            if score < threshold or (classes and name not in classes):
                continue
            if prediction.bbox is None:
                if score > self.class_predictions.get(name, -1.0):
                    self.class_predictions[name] = score
            else:
                box = (score, Box.of(prediction.bbox))
                self.object_predictions.setdefault(name, []).append(box)

    def add_labels(self, labels: Sequence[Annotation], classes: Collection[str]) -> None:
        for label in labels:
            name = label.name
            if classes and name not in classes:
                continue
            if label.bbox is None:
                self.class_truths[name] = None
            else:
                self.object_truths.setdefault(name, []).append(Box.of(label.bbox))

    def score_objects(self, iou_threshold: float) -> None:
        # Classes in order of first appearance, so that float sums are the same on every run.
        for name in _in_order(self.object_predictions, self.object_truths):
            boxes = self.object_predictions.get(name, [])
            matching = match_class(boxes, self.object_truths.get(name, ()), iou_threshold)
            fp = len(matching.fp_scores)
            self.per_class[name] = ClassCounts(matching.tp, fp, matching.fn)
            self.iou_sum += matching.iou_sum
            self.objects += matching.tp + fp + matching.fn
            if fp:
                self.fp_scores.append(matching.fp_scores[0])
            self.kept_scores.extend(score for score, _ in boxes)

    def score_classifications(self) -> None:
        for name in _in_order(self.class_predictions, self.class_truths):
            score = self.class_predictions.get(name)
            if score is None:
                counts = ClassCounts(0, 0, 1)
            else:
                self.kept_scores.append(score)
                if name in self.class_truths:
                    counts = ClassCounts(1, 0, 0)
                else:
                    counts = ClassCounts(0, 1, 0)
                    self.fp_scores.append(score)
            previous = self.per_class.get(name)
            if previous is not None:  # the class also has objects in this row
                counts = ClassCounts(
                    previous.tp + counts.tp, previous.fp + counts.fp, previous.fn + counts.fn
                )
            self.per_class[name] = counts

    def metrics(self, class_count: int) -> RowMetrics:
        tp = fp = fn = 0
        for counts in self.per_class.values():
            tp += counts.tp
            fp += counts.fp
            fn += counts.fn
        kept = self.kept_scores
        # model_construct: every value is computed here, so validating it again is wasted work.
        return RowMetrics.model_construct(
            tp=tp,
            fp=fp,
            fn=fn,
            tn=class_count - len(self.per_class) if class_count else 0,
            precision=tp / (tp + fp) if tp + fp else None,
            recall=tp / (tp + fn) if tp + fn else None,
            f1=2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
            # A pair's IoU can exceed 1 by a rounding error (pycocotools' formula recomputes
            # widths from edges); matching keeps the raw value, the row's mean does not.
            iou=min(self.iou_sum / self.objects, 1.0) if self.objects else None,
            confidence=math.fsum(kept) / len(kept) if kept else None,
            mislabel_confidence=max(self.fp_scores) if self.fp_scores else None,
        )


def _in_order(first: Iterable[str], second: Iterable[str]) -> list[str]:
    names = dict.fromkeys(first)
    names.update(dict.fromkeys(second))
    return list(names)
