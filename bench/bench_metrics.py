"""Per-row model-run metrics against pycocotools on the same detections.

Ingest computes a row's metrics when its predictions land, so the number that matters is rows
per second, one row at a time. pycocotools is timed on the same rows two ways: batch
``COCOeval.evaluate()`` over every image at once (its best case: IoUs and ``evaluateImg`` only;
building its COCO objects is timed apart, and reading ``evalImgs`` back is not timed), and one
image per evaluation, as ingest would have to call it. Both must agree with ``shared.metrics`` on
every (image, class) before anything is timed. Times are the process's CPU time; the methods run
in turn within each round and the ratios are medians of the rounds' ratios, so that a busy
machine skews them as little as it can.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence

from shared.metrics import evaluate_row
from shared.models import Annotation, BBox, Prediction
from tests.unit.metrics.coco_reference import (
    coco_inputs,
    evaluate,
    evaluator,
    load,
    reference_counts,
)
from tests.unit.metrics.synthetic import CLASSES, detection_rows

TITLE = "Metrics: per-row detection metrics against pycocotools"

IOU, CONFIDENCE = 0.5, 0.5
Row = tuple[list[Annotation], list[Prediction]]


def _crowded_row(count: int, seed: int) -> Row:
    """One row with ``count`` overlapping boxes of one class and as many jittered predictions."""
    rng = random.Random(seed)
    labels, predictions = [], []
    for _ in range(count):
        left, top = rng.uniform(0, 600), rng.uniform(0, 440)
        width, height = rng.uniform(20, 80), rng.uniform(20, 80)
        box = BBox(left=left, top=top, width=width, height=height)
        labels.append(Annotation(name="car", bbox=box))
        jitter = BBox(
            left=left + rng.uniform(-8, 8),
            top=top + rng.uniform(-8, 8),
            width=width + rng.uniform(-8, 8),
            height=height + rng.uniform(-8, 8),
        )
        predictions.append(Prediction(name="car", bbox=jitter, confidence=rng.random()))
    return labels, predictions


def _check(rows: Sequence[Row], classes: tuple[str, ...]) -> None:
    expected = reference_counts(rows, classes, IOU, CONFIDENCE)
    run_classes = frozenset(classes)
    for index, (labels, predictions) in enumerate(rows):
        got = evaluate_row(labels, predictions, run_classes, IOU, CONFIDENCE).classes
        for name in classes:
            ours, theirs = got.get(name), expected.get((index, name))
            ours_counts = (ours.tp, ours.fp, ours.fn) if ours else (0, 0, 0)
            theirs_counts = (theirs.tp, theirs.fp, theirs.fn) if theirs else (0, 0, 0)
            if ours_counts != theirs_counts:
                raise AssertionError(f"pycocotools disagrees on row {index}, class {name}")


def _seconds(action: Callable[[], object]) -> float:
    """CPU seconds of this process: other work on a busy machine does not count."""
    start = time.process_time()
    action()
    return time.process_time() - start


def _coco_batch(rows: Sequence[Row]) -> Callable[[], object]:
    truth, detections = load(*coco_inputs(rows, CLASSES, CONFIDENCE))
    return lambda: evaluate(evaluator(truth, detections, IOU))


def _coco_one_at_a_time(rows: Sequence[Row]) -> Callable[[], object]:
    def evaluate_each() -> None:
        for row in rows:
            dataset, results = coco_inputs([row], CLASSES, CONFIDENCE)
            if results:  # pycocotools cannot load an empty result list
                evaluate(evaluator(*load(dataset, results), IOU))

    return evaluate_each


def _ours(rows: Sequence[Row]) -> Callable[[], object]:
    classes = frozenset(CLASSES)

    def evaluate_each() -> None:
        for labels, predictions in rows:
            evaluate_row(labels, predictions, classes, IOU, CONFIDENCE)

    return evaluate_each


def run(quick: bool) -> str:
    n_rows, n_small, n_single, rounds = (500, 500, 100, 5) if quick else (3000, 500, 300, 11)
    rows: list[Row] = [(r.labels, r.predictions) for r in detection_rows(n_rows, seed=20240611)]
    _check(rows, CLASSES)
    boxes = sum(len(labels) + len(predictions) for labels, predictions in rows) / n_rows
    # Each method, the rows it covers; its ratio is against shared.metrics on the same rows.
    methods: dict[str, tuple[Callable[[], object], int]] = {
        "ours": (_ours(rows), n_rows),
        "ours small": (_ours(rows[:n_small]), n_small),
        "ours single": (_ours(rows[:n_single]), n_single),
        "set-up": (lambda: load(*coco_inputs(rows, CLASSES, CONFIDENCE)), n_rows),
        "batch": (_coco_batch(rows), n_rows),
        "batch small": (_coco_batch(rows[:n_small]), n_small),
        "single": (_coco_one_at_a_time(rows[:n_single]), n_single),
    }
    baseline = {"set-up": "ours", "batch": "ours", "batch small": "ours small"}
    baseline["single"] = "ours single"
    times: dict[str, list[float]] = {name: [] for name in methods}
    ratios: dict[str, list[float]] = {name: [] for name in baseline}
    for _ in range(rounds):
        per_row = {name: _seconds(action) / count for name, (action, count) in methods.items()}
        for name, value in per_row.items():
            times[name].append(value)
        for name, base in baseline.items():
            ratios[name].append(per_row[name] / per_row[base])
        ratios.setdefault("loaded", []).append(
            (per_row["batch"] + per_row["set-up"]) / per_row["ours"]
        )
    t = {name: statistics.median(values) for name, values in times.items()}
    r = {name: statistics.median(values) for name, values in ratios.items()}

    crowded = _crowded_row(300 if quick else 1000, seed=3)
    _check([crowded], ("car",))
    crowded_times = []
    inputs = coco_inputs([crowded], ("car",), CONFIDENCE)
    for _ in range(3):
        mine = _seconds(lambda: evaluate_row(*crowded, ("car",), IOU, CONFIDENCE))
        theirs = _seconds(lambda: evaluate(evaluator(*load(*inputs), IOU)))
        crowded_times.append((mine, theirs))
    crowded_ours = statistics.median(m for m, _ in crowded_times)
    crowded_ratio = statistics.median(c / m for m, c in crowded_times)

    def line(method: str, seconds: float, ratio: float) -> str:
        return f"| {method} | {1 / seconds:,.0f} | {seconds * 1e6:,.1f} | {ratio:.1f} |"

    table = [
        "| method | rows/s | µs per row | time / shared.metrics |",
        "|---|---:|---:|---:|",
        line("shared.metrics `evaluate_row`, one row at a time", t["ours"], 1.0),
        line(f"pycocotools batch `evaluate()` on all {n_rows:,} rows", t["batch"], r["batch"]),
        line("pycocotools `COCO` + `loadRes` set-up for that batch", t["set-up"], r["set-up"]),
        line("pycocotools batch, set-up included", t["batch"] + t["set-up"], r["loaded"]),
        line("pycocotools, one image per evaluation (as ingest would)", t["single"], r["single"]),
    ]
    if n_small < n_rows:
        table.append(
            line(f"pycocotools batch `evaluate()` on the first {n_small} rows", t["batch small"],
                 r["batch small"])
        )  # fmt: skip
    n_crowded = len(crowded[0])
    return "\n".join(
        [
            f"{n_rows:,} generated detection rows ({len(CLASSES)} classes, {boxes:.1f} labels and "
            f"predictions per row on average, with duplicates, flipped classes, missed objects, "
            f"equal confidences and equal IoUs); IoU threshold {IOU}, confidence threshold "
            f"{CONFIDENCE}. Every (row, class) TP/FP/FN agreed with pycocotools before timing. "
            f"CPU time, median of {rounds} interleaved rounds; a ratio is the median of the "
            f"rounds' ratios against shared.metrics on the same rows (one image per evaluation: "
            f"the first {n_single} rows).",
            "",
            *table,
            "",
            "pycocotools keeps every image's result until the end of `evaluate()`, so the garbage "
            "collector's passes grow with the batch: per image, a large batch costs more than a "
            "small one. shared.metrics keeps nothing between rows.",
            "",
            f"Worst case, one row with {n_crowded:,} overlapping boxes of one class and "
            f"{n_crowded:,} predictions: shared.metrics {crowded_ours * 1e3:.0f} ms; pycocotools "
            f"(set-up included) takes {crowded_ratio:.1f} times as long.",
        ]
    )
