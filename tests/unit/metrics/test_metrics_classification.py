"""Classification metrics agree with scikit-learn's multilabel confusion matrix."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, multilabel_confusion_matrix, precision_score, recall_score

from shared.metrics import aggregate, aggregate_classes, evaluate_row, row_metrics
from shared.models import Annotation, Prediction, RowMetrics

CLASSES = ("a", "b", "c", "d", "e", "f")
THRESHOLD = 0.4


def _rows(
    seed: int, count: int
) -> tuple[np.ndarray, np.ndarray, list[tuple[list[Annotation], list[Prediction]]]]:
    """Random multi-label truth and predictions, as matrices and as rows.

    Rows also hold what scikit-learn never sees and the metrics must ignore: predictions below the
    threshold, classes outside the run, and repeated labels and predictions.
    """
    rng = np.random.default_rng(seed)
    density = rng.uniform(0.05, 0.6, size=len(CLASSES))
    truth = rng.random((count, len(CLASSES))) < density
    # Predictions agree with the truth 80% of the time.
    predicted = np.where(rng.random(truth.shape) < 0.8, truth, ~truth)
    rows = []
    for true_row, predicted_row in zip(truth, predicted, strict=True):
        labels = [Annotation(name=c) for c, on in zip(CLASSES, true_row, strict=True) if on]
        predictions = []
        for name, on in zip(CLASSES, predicted_row, strict=True):
            if on:
                confidence = float(rng.uniform(THRESHOLD, 1.0))
                predictions.append(Prediction(name=name, confidence=confidence))
                if rng.random() < 0.1:
                    predictions.append(Prediction(name=name, confidence=THRESHOLD))
            elif rng.random() < 0.3:
                below = float(rng.uniform(0, THRESHOLD * 0.999))
                predictions.append(Prediction(name=name, confidence=below))
        if rng.random() < 0.2:
            predictions.append(Prediction(name="outside", confidence=0.9))
            labels.append(Annotation(name="elsewhere"))
        if labels and rng.random() < 0.1:
            labels.append(labels[0])
        order = rng.permutation(len(predictions))
        rows.append((labels, [predictions[i] for i in order]))
    return truth, predicted, rows


def test_counts_agree_with_multilabel_confusion_matrix() -> None:
    truth, predicted, rows = _rows(seed=3, count=1500)
    evaluations = [evaluate_row(labels, preds, CLASSES, 0.5, THRESHOLD) for labels, preds in rows]
    matrices = multilabel_confusion_matrix(truth, predicted)
    per_class = aggregate_classes((e.classes for e in evaluations), CLASSES)
    for name, matrix in zip(CLASSES, matrices, strict=True):
        (tn, fp), (fn, tp) = matrix
        got = per_class[name]
        assert (got["tp"], got["fp"], got["fn"], got["tn"]) == (tp, fp, fn, tn), name
    totals = aggregate(e.metrics for e in evaluations)
    (tn, fp), (fn, tp) = matrices.sum(axis=0)
    assert (totals["tp"], totals["fp"], totals["fn"], totals["tn"]) == (tp, fp, fn, tn)


def test_micro_ratios_agree_with_scikit_learn() -> None:
    truth, predicted, rows = _rows(seed=4, count=800)
    totals = aggregate(row_metrics_of(rows))
    assert totals["precision"] == pytest.approx(precision_score(truth, predicted, average="micro"))
    assert totals["recall"] == pytest.approx(recall_score(truth, predicted, average="micro"))
    assert totals["f1"] == pytest.approx(f1_score(truth, predicted, average="micro"))


def test_row_ratios_agree_with_scikit_learn_per_sample() -> None:
    truth, predicted, rows = _rows(seed=5, count=200)
    for true_row, predicted_row, metrics in zip(
        truth, predicted, row_metrics_of(rows), strict=True
    ):
        tp = int(np.sum(true_row & predicted_row))
        fp = int(np.sum(~true_row & predicted_row))
        fn = int(np.sum(true_row & ~predicted_row))
        tn = int(np.sum(~true_row & ~predicted_row))
        assert (metrics.tp, metrics.fp, metrics.fn, metrics.tn) == (tp, fp, fn, tn)
        if tp + fp:
            expected = precision_score(true_row, predicted_row, zero_division=0)
            assert metrics.precision == pytest.approx(expected)
        else:
            assert metrics.precision is None
        if tp + fp + fn:
            assert metrics.f1 == pytest.approx(f1_score(true_row, predicted_row, zero_division=0))
        else:
            assert metrics.f1 is None


def row_metrics_of(rows: list[tuple[list[Annotation], list[Prediction]]]) -> list[RowMetrics]:
    return [
        row_metrics(labels, predictions, CLASSES, 0.5, THRESHOLD) for labels, predictions in rows
    ]
