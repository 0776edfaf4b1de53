"""Seeded synthetic rows for testing and benchmarking the metrics.

Detection rows imitate a detector's output: jittered copies of the ground truth (small to large
jitter, so IoUs straddle the thresholds), duplicates, flipped classes, missed objects and random
false positives; coordinates are often whole pixels and confidences often rounded, so that equal
IoUs and equal confidences occur; a few boxes have zero area or lie partly outside the image.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from shared.models import Annotation, BBox, Prediction

CLASSES = ("car", "person", "bike", "dog", "sign")
WIDTH, HEIGHT = 640, 480


@dataclass(frozen=True)
class Row:
    labels: list[Annotation]
    predictions: list[Prediction]


def detection_rows(count: int, seed: int, max_objects: int = 8) -> list[Row]:
    rng = random.Random(seed)
    return [_detection_row(rng, max_objects) for _ in range(count)]


def _detection_row(rng: random.Random, max_objects: int) -> Row:
    truths: list[tuple[str, tuple[float, float, float, float]]] = []
    for _ in range(rng.randint(0, max_objects)):
        truth = (rng.choice(CLASSES), _box(rng))
        truths.append(truth)
        if rng.random() < 0.05:  # a duplicated label: a prediction then has equal IoU to both
            truths.append(truth)
    predictions: list[Prediction] = []
    for name, box in truths:
        if rng.random() < 0.15:
            continue  # missed
        for _ in range(2 if rng.random() < 0.1 else 1):  # sometimes a duplicate detection
            flipped = rng.choice(CLASSES) if rng.random() < 0.1 else name
            predictions.append(_prediction(rng, flipped, _jitter(rng, box)))
    for _ in range(rng.randint(0, 2)):
        predictions.append(_prediction(rng, rng.choice(CLASSES), _box(rng)))
    rng.shuffle(predictions)
    labels = [Annotation(name=name, bbox=_bbox(box)) for name, box in truths]
    return Row(labels, predictions)


def _box(rng: random.Random) -> tuple[float, float, float, float]:
    kind = rng.random()
    width, height = rng.uniform(4, 200), rng.uniform(4, 200)
    if kind < 0.03:  # zero area
        if rng.random() < 0.5:
            width = 0.0
        else:
            height = 0.0
    left, top = rng.uniform(0, WIDTH - width), rng.uniform(0, HEIGHT - height)
    if 0.03 <= kind < 0.10:  # partly outside the image
        left = rng.uniform(-width / 2, 0) if rng.random() < 0.5 else WIDTH - width / 2
    if rng.random() < 0.5:  # whole pixels make equal IoUs likely
        left, top, width, height = round(left), round(top), round(width), round(height)
    return (left, top, width, height)


def _jitter(
    rng: random.Random, box: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    left, top, width, height = box
    scale = rng.choice((0.0, 0.02, 0.1, 0.25, 0.5))
    size = max(width, height, 1.0) * scale
    left += rng.uniform(-size, size)
    top += rng.uniform(-size, size)
    width = max(0.0, width + rng.uniform(-size, size))
    height = max(0.0, height + rng.uniform(-size, size))
    if rng.random() < 0.5:
        left, top, width, height = round(left), round(top), round(width), round(height)
    return (left, top, width, height)


def _prediction(
    rng: random.Random, name: str, box: tuple[float, float, float, float]
) -> Prediction:
    draw = rng.random()
    if draw < 0.1:
        confidence = None  # counts as 1.0
    elif draw < 0.5:
        confidence = round(rng.random(), 1)  # equal confidences are common
    else:
        confidence = rng.random()
    return Prediction(name=name, bbox=_bbox(box), confidence=confidence)


def _bbox(box: tuple[float, float, float, float]) -> BBox:
    left, top, width, height = box
    return BBox(left=left, top=top, width=width, height=height)


def tiny_rows(count: int, seed: int, names: tuple[str, ...] = ("a", "b")) -> list[Row]:
    """Rows of a few whole-pixel boxes on a tiny grid: IoUs equal to each other and to simple
    thresholds (1/2, 1/3) are the rule here, as are equal scores and zero-area boxes."""
    rng = random.Random(seed)

    def bbox() -> BBox:
        return BBox(
            left=rng.randint(-1, 4),
            top=rng.randint(-1, 4),
            width=rng.randint(0, 3),
            height=rng.randint(0, 3),
        )

    rows = []
    for _ in range(count):
        labels = [Annotation(name=rng.choice(names), bbox=bbox()) for _ in range(rng.randint(0, 4))]
        predictions = [
            Prediction(
                name=rng.choice(names),
                bbox=bbox(),
                confidence=rng.choice((None, 0.3, 0.5, 0.5, 0.8, rng.random())),
            )
            for _ in range(rng.randint(0, 4))
        ]
        rows.append(Row(labels, predictions))
    return rows
