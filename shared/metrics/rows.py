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
- Boxes follow pycocotools (see ``boxes``): a zero-area box overlaps nothing, so it is always a
  false positive or a false negative; boxes are not clipped to the image. A box whose sides are
  so small that its area rounds to 0 is zero-area too (pycocotools' 0/0 would match it).
- ``iou`` is over objects only: the matched pairs' IoU summed, divided by matched pairs plus
  unmatched objects on either side, capped at 1 (pycocotools' formula can round a pair's IoU
  above 1); None when the row has no object left after filtering.
- ``confidence`` is the mean score of the kept predictions; None when there is none.
- ``mislabelConfidence`` (None without a false positive) is the highest score among the false
  positives, or, where the model also scored a labelled class of classification, one minus that
  score, if higher: a label the model gives 0.03 is doubted at 0.97, even when that score was
  dropped by the threshold. This is confident learning's self-confidence (cleanlab's default
  ranking); the false-positive score alone ranks flipped labels worse (bench/RESULTS.md).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from shared.metrics.boxes import Box, box_of, match_class
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
    object_predictions, class_predictions, class_scores = _kept_predictions(
        predictions, run_classes, confidence_threshold
    )
    object_truths, class_truths = _kept_labels(labels, run_classes)

    per_class: dict[str, ClassCounts] = {}
    kept_scores: list[float] = []
    fp_scores: list[float] = []
    iou_sum = 0.0
    objects = 0  # matched pairs plus unmatched objects on either side
    # Classes in order of first appearance (predictions, then labels), so that float sums come
    # out the same on every run.
    for name, boxes in object_predictions.items():
        tp, fn, fps, pair_ious = match_class(boxes, object_truths.get(name, ()), iou_threshold)
        fp = len(fps)
        per_class[name] = ClassCounts(tp, fp, fn)
        iou_sum += pair_ious
        objects += tp + fp + fn
        if fp:
            fp_scores.append(fps[0])
        kept_scores.extend([score for score, _ in boxes])
    for name, truths in object_truths.items():
        if name not in object_predictions:
            per_class[name] = ClassCounts(0, 0, len(truths))
            objects += len(truths)

    if class_predictions or class_truths:
        _score_classifications(class_predictions, class_truths, per_class, kept_scores, fp_scores)

    tp = fp = fn = 0
    for counts in per_class.values():
        tp += counts.tp
        fp += counts.fp
        fn += counts.fn
    metrics = RowMetrics(
        tp=tp,
        fp=fp,
        fn=fn,
        tn=len(run_classes) - len(per_class) if run_classes else 0,
        precision=tp / (tp + fp) if tp + fp else None,
        recall=tp / (tp + fn) if tp + fn else None,
        f1=2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
        # A pair's IoU can exceed 1 by a rounding error (pycocotools' formula recomputes widths
        # from edges); matching keeps the raw value, the row's mean does not.
        iou=min(iou_sum / objects, 1.0) if objects else None,
        confidence=math.fsum(kept_scores) / len(kept_scores) if kept_scores else None,
        mislabel_confidence=_mislabel_confidence(fp_scores, class_truths, class_scores),
    )
    return RowEvaluation(metrics, per_class)


def _kept_predictions(
    predictions: Sequence[Prediction], classes: Collection[str], threshold: float
) -> tuple[dict[str, list[tuple[float, Box]]], dict[str, float], dict[str, float]]:
    """Predictions in the run: boxes at or above the threshold by class, in upload order;
    classifications at or above it as class -> highest score; and every classification's
    highest score, the threshold aside (for ``mislabelConfidence``)."""
    objects: dict[str, list[tuple[float, Box]]] = {}
    classifications: dict[str, float] = {}
    scored: dict[str, float] = {}
    for prediction in predictions:
        confidence = prediction.confidence
        score = 1.0 if confidence is None else confidence  # Prediction.score, without the call
        bbox = prediction.bbox
        if bbox is not None and score < threshold:
            continue  # (first: the cheapest test on the hot path, boxes)
        name = prediction.name
        if classes and name not in classes:
            continue
        if bbox is None:
            if score > scored.get(name, -1.0):
                scored[name] = score
                if score >= threshold:
                    classifications[name] = score
        elif name in objects:
            objects[name].append((score, box_of(bbox)))
        else:
            objects[name] = [(score, box_of(bbox))]
    return objects, classifications, scored


def _mislabel_confidence(
    fp_scores: list[float], class_truths: Collection[str], class_scores: dict[str, float]
) -> float | None:
    """How sure the model is that a label is wrong: see the module's docstring."""
    if not fp_scores:
        return None
    doubts = [1.0 - class_scores[name] for name in class_truths if name in class_scores]
    return max(fp_scores + doubts)


def _kept_labels(
    labels: Sequence[Annotation], classes: Collection[str]
) -> tuple[dict[str, list[Box]], dict[str, None]]:
    """Labels in the run: boxes by class in upload order, and the set of classifications (a dict,
    to keep upload order)."""
    objects: dict[str, list[Box]] = {}
    classifications: dict[str, None] = {}
    for label in labels:
        name = label.name
        if classes and name not in classes:
            continue
        bbox = label.bbox
        if bbox is None:
            classifications[name] = None
        elif name in objects:
            objects[name].append(box_of(bbox))
        else:
            objects[name] = [box_of(bbox)]
    return objects, classifications


def _score_classifications(
    predictions: dict[str, float],
    truths: dict[str, None],
    per_class: dict[str, ClassCounts],
    kept_scores: list[float],
    fp_scores: list[float],
) -> None:
    """Add the classifications' counts to ``per_class`` (where objects may have put some) and
    their scores to ``kept_scores`` and ``fp_scores``."""
    for name in _in_order(predictions, truths):
        score = predictions.get(name)
        if score is None:
            counts = ClassCounts(0, 0, 1)
        else:
            kept_scores.append(score)
            if name in truths:
                counts = ClassCounts(1, 0, 0)
            else:
                counts = ClassCounts(0, 1, 0)
                fp_scores.append(score)
        previous = per_class.get(name)
        if previous is not None:  # the class also has objects in this row
            counts = ClassCounts(
                previous.tp + counts.tp, previous.fp + counts.fp, previous.fn + counts.fn
            )
        per_class[name] = counts


def _in_order(first: Iterable[str], second: Iterable[str]) -> list[str]:
    names = dict.fromkeys(first)
    names.update(dict.fromkeys(second))
    return list(names)
