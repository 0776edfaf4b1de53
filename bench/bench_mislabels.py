"""How well the "Candidate mislabels" slice finds wrong labels, against cleanlab.

scikit-learn's bundled digits (1,797 images, 10 classes; no download) get 5% of their labels
flipped to another class (seeded). A logistic regression gives out-of-fold class probabilities
(``cross_val_predict``), so no row is scored by a model that saw its label. Each image becomes a
classification row: its label is the given (possibly flipped) class, its predictions are the model's
classes with their probabilities as confidences. The slice is what the product would build: rows
with ``fp > 0`` ordered by ``mislabelConfidence`` descending (the auto-slice spec's filter field
and order). cleanlab ranks the same probabilities with ``find_label_issues(...,
return_indices_ranked_by="self_confidence")``. The score is the precision among the first k
rows, k = the number of flipped labels (a ranking shorter than k counts its missing places as
misses).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import numpy as np
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from shared.auto_slices import auto_slice
from shared.metrics import row_metrics
from shared.models import Annotation, AutoSlice, OrderBy, Prediction

TITLE = "Metrics: candidate mislabels against cleanlab (digits, 5% flipped labels)"

FLIP_RATE = 0.05
CLASSES = [str(digit) for digit in range(10)]


def _noisy_digits(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, the labels with 5% flipped, and the indices flipped."""
    features, labels = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(labels), size=round(FLIP_RATE * len(labels)), replace=False)
    noisy = labels.copy()
    noisy[flipped] = (labels[flipped] + rng.integers(1, 10, size=len(flipped))) % 10
    return features, noisy, flipped


def _probabilities(features: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    return cross_val_predict(model, features, labels, cv=folds, method="predict_proba")


def _slice_ranking(
    labels: np.ndarray, probabilities: np.ndarray, emit: str, threshold: float
) -> list[int]:
    """Row indices in the Candidate mislabels slice, in the slice's order."""
    spec = auto_slice(AutoSlice.CANDIDATE_MISLABELS)
    filter_field = spec.filter["field"].removeprefix("metrics.")
    order = OrderBy.parse(spec.order_by)
    order_field = order.field.removeprefix("metrics.")
    if spec.filter["op"] != "gt" or order.direction != "desc":
        raise AssertionError("the Candidate mislabels spec changed: update this benchmark")
    run_classes = frozenset(CLASSES)
    members: list[tuple[float, int]] = []
    for index, (label, row) in enumerate(zip(labels, probabilities, strict=True)):
        if emit == "top":
            top = int(np.argmax(row))
            predictions = [Prediction(name=CLASSES[top], confidence=float(row[top]))]
        else:
            predictions = [
                Prediction(name=name, confidence=float(p))
                for name, p in zip(CLASSES, row, strict=True)
            ]
        metrics = row_metrics(
            [Annotation(name=CLASSES[label])], predictions, run_classes, 0.5, threshold
        )
        document = metrics.model_dump(by_alias=True)
        if document[filter_field] > spec.filter["value"]:
            members.append((document[order_field], index))
    members.sort(key=lambda member: -member[0])  # stable: ties keep row order
    return [index for _, index in members]


def _precision_at(ranking: Sequence[int], flipped: set[int], k: int) -> float:
    return sum(index in flipped for index in ranking[:k]) / k


def run(quick: bool) -> str:
    seeds = [0] if quick else [0, 1, 2, 3, 4]
    methods = {
        "slice, top class emitted, confidence threshold 0": ("top", 0.0),
        "slice, all classes emitted, confidence threshold 0.5": ("all", 0.5),
        "slice, all classes emitted, confidence threshold 0 (every row ranked)": ("all", 0.0),
    }
    results: dict[str, list[float]] = {name: [] for name in methods}
    sizes: dict[str, list[int]] = {name: [] for name in methods}
    cleanlab_issues = "cleanlab `find_label_issues`, ranked by self-confidence"
    cleanlab_all = "cleanlab self-confidence scores, every row ranked"
    for name in (cleanlab_issues, cleanlab_all):
        results[name], sizes[name] = [], []
    accuracy = []
    k = 0
    for seed in seeds:
        features, noisy, flipped_indices = _noisy_digits(seed)
        flipped = set(flipped_indices.tolist())
        k = len(flipped)
        probabilities = _probabilities(features, noisy, seed)
        accuracy.append(float(np.mean(np.argmax(probabilities, axis=1) == noisy)))
        for name, (emit, threshold) in methods.items():
            ranking = _slice_ranking(noisy, probabilities, emit, threshold)
            results[name].append(_precision_at(ranking, flipped, k))
            sizes[name].append(len(ranking))
        issues = find_label_issues(
            noisy, probabilities, return_indices_ranked_by="self_confidence", n_jobs=1
        )
        results[cleanlab_issues].append(_precision_at(issues.tolist(), flipped, k))
        sizes[cleanlab_issues].append(len(issues))
        scores = get_label_quality_scores(noisy, probabilities, method="self_confidence")
        everything = np.argsort(scores, kind="stable").tolist()
        results[cleanlab_all].append(_precision_at(everything, flipped, k))
        sizes[cleanlab_all].append(len(everything))

    baseline = statistics.mean(results[cleanlab_issues])
    table = [
        f"| ranking | precision at k = {k} | vs cleanlab find_label_issues | rows ranked |",
        "|---|---:|---:|---:|",
    ]
    for name, values in results.items():
        spread = f" ({min(values):.3f} to {max(values):.3f})" if len(values) > 1 else ""
        mean = statistics.mean(values)
        table.append(
            f"| {name} | {mean:.3f}{spread} | {mean / baseline:.2f} | "
            f"{statistics.mean(sizes[name]):,.0f} |"
        )
    return "\n".join(
        [
            f"{len(seeds)} seed(s): each flips {k} of 1,797 labels and takes 5-fold out-of-fold "
            f"probabilities from a standardized logistic regression (accuracy against the given "
            f"labels {statistics.mean(accuracy):.3f}). Precision among the first k rows, mean "
            f"over seeds (range); the slice rows are classification rows scored by "
            f"`shared.metrics.row_metrics`.",
            "",
            *table,
        ]
    )
