"""Object metrics agree with pycocotools, image by image and class by class."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from shared.metrics import box_iou, evaluate_row
from shared.metrics.boxes import Box, box_of, match_class
from shared.models import Annotation, BBox, Prediction
from tests.unit.metrics.coco_reference import Counts, reference_counts
from tests.unit.metrics.synthetic import CLASSES, detection_rows, tiny_rows

ROWS = detection_rows(1200, seed=20240611)


def test_the_generated_set_has_the_hard_cases() -> None:
    """The cross-check below means something only if the data holds ties and odd boxes."""
    boxes = [a.bbox for row in ROWS for a in [*row.labels, *row.predictions] if a.bbox]
    assert sum(b.width * b.height == 0 for b in boxes) > 20
    assert sum(b.left < 0 or b.left + b.width > 640 for b in boxes) > 50
    scores = [p.score for row in ROWS for p in row.predictions]
    assert len(scores) - len(set(scores)) > 1000
    assert sum(p.confidence is None for row in ROWS for p in row.predictions) > 100
    duplicated_labels = sum(
        len(row.labels) != len({(a.name, box_of(a.bbox)) for a in row.labels if a.bbox})
        for row in ROWS
    )
    assert duplicated_labels > 20


def test_box_iou_is_pycocotools_iou_bit_for_bit() -> None:
    rng = random.Random(7)
    boxes = [
        BBox(
            left=rng.choice([rng.uniform(-20, 60), float(rng.randint(-20, 60))]),
            top=rng.choice([rng.uniform(-20, 60), float(rng.randint(-20, 60))]),
            width=rng.choice([0.0, rng.uniform(0, 50), float(rng.randint(0, 50))]),
            height=rng.choice([0.0, rng.uniform(0, 50), float(rng.randint(0, 50))]),
        )
        for _ in range(150)
    ]
    as_lists = [[b.left, b.top, b.width, b.height] for b in boxes]
    expected = mask_utils.iou(as_lists, as_lists, [0] * len(boxes))
    ours = np.array([[box_iou(a, b) for b in boxes] for a in boxes])
    assert np.count_nonzero(ours) > 500
    assert np.array_equal(ours, expected)


def _kept(
    row_predictions: list[Prediction], name: str, threshold: float
) -> list[tuple[float, Box]]:
    return [
        (p.score, box_of(p.bbox))
        for p in row_predictions
        if p.bbox is not None and p.name == name and p.score >= threshold
    ]


@pytest.mark.parametrize(
    ("iou_threshold", "confidence_threshold"), [(0.5, 0.0), (0.75, 0.5), (0.3, 0.25)]
)
def test_matching_agrees_with_pycocotools_per_image_and_class(
    iou_threshold: float, confidence_threshold: float
) -> None:
    rows = [(row.labels, row.predictions) for row in ROWS]
    expected = reference_counts(rows, CLASSES, iou_threshold, confidence_threshold)
    assert sum(c.tp for c in expected.values()) > 1000
    assert sum(c.fp for c in expected.values()) > 500
    assert sum(c.fn for c in expected.values()) > 500
    for index, row in enumerate(ROWS):
        for name in CLASSES:
            truths = [box_of(a.bbox) for a in row.labels if a.bbox and a.name == name]
            matching = match_class(
                _kept(row.predictions, name, confidence_threshold), truths, iou_threshold
            )
            reference = expected.get((index, name), Counts())
            assert (matching.tp, len(matching.fp_scores), matching.fn) == (
                reference.tp,
                reference.fp,
                reference.fn,
            ), (index, name)
            assert matching.fp_scores == reference.fp_scores
            assert matching.iou_sum == reference.iou_sum


@pytest.mark.parametrize("iou_threshold", [0.5, 0.75])
def test_row_metrics_agree_with_pycocotools(iou_threshold: float) -> None:
    rows = [(row.labels, row.predictions) for row in ROWS]
    expected = reference_counts(rows, CLASSES, iou_threshold, 0.5)
    classes = frozenset(CLASSES)
    for index, row in enumerate(ROWS):
        result = evaluate_row(row.labels, row.predictions, classes, iou_threshold, 0.5)
        references = {name: expected.get((index, name), Counts()) for name in CLASSES}
        for name, reference in references.items():
            counts = result.classes.get(name)
            got = (counts.tp, counts.fp, counts.fn) if counts else (0, 0, 0)
            assert got == (reference.tp, reference.fp, reference.fn), (index, name)
        metrics = result.metrics
        assert metrics.tp == sum(r.tp for r in references.values())
        assert metrics.fp == sum(r.fp for r in references.values())
        assert metrics.fn == sum(r.fn for r in references.values())
        assert metrics.tn == sum(r.tp + r.fp + r.fn == 0 for r in references.values())
        objects = metrics.tp + metrics.fp + metrics.fn
        if objects == 0:
            assert metrics.iou is None
        else:
            iou = math.fsum(r.iou_sum for r in references.values()) / objects
            assert metrics.iou == pytest.approx(iou, rel=1e-12, abs=1e-15)
        fp_scores = [s for r in references.values() for s in r.fp_scores]
        assert metrics.mislabel_confidence == (max(fp_scores) if fp_scores else None)


@pytest.mark.parametrize("iou_threshold", [0.5, 1 / 3, 1.0])
def test_tiny_rows_with_ties_everywhere_agree_with_pycocotools(iou_threshold: float) -> None:
    rows = tiny_rows(3000, seed=5)
    expected = reference_counts(
        [(row.labels, row.predictions) for row in rows], ("a", "b"), iou_threshold, 0.5
    )
    for index, row in enumerate(rows):
        for name in ("a", "b"):
            truths = [box_of(a.bbox) for a in row.labels if a.bbox and a.name == name]
            matching = match_class(_kept(row.predictions, name, 0.5), truths, iou_threshold)
            reference = expected.get((index, name), Counts())
            assert (matching.tp, matching.fn, matching.fp_scores, matching.iou_sum) == (
                reference.tp,
                reference.fn,
                reference.fp_scores,
                reference.iou_sum,
            ), (index, name)


# Tiny rows on a coarse grid: equal IoUs, equal scores and zero-area boxes all the time.
_coordinate = st.integers(-3, 12).map(float)
_size = st.integers(0, 8).map(float)
_bbox = st.builds(BBox, left=_coordinate, top=_coordinate, width=_size, height=_size)
_name = st.sampled_from(("a", "b"))
_labels = st.lists(st.builds(Annotation, name=_name, bbox=_bbox), max_size=6)
_predictions = st.lists(
    st.builds(
        Prediction,
        name=_name,
        bbox=_bbox,
        confidence=st.one_of(st.none(), st.sampled_from((0.2, 0.5, 0.9)), st.floats(0, 1)),
    ),
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(
    labels=_labels,
    predictions=_predictions,
    iou_threshold=st.sampled_from((0.1, 0.5, 0.75, 1.0)),
    confidence_threshold=st.sampled_from((0.0, 0.5)),
)
def test_any_small_row_agrees_with_pycocotools(
    labels: list[Annotation],
    predictions: list[Prediction],
    iou_threshold: float,
    confidence_threshold: float,
) -> None:
    expected = reference_counts(
        [(labels, predictions)], ("a", "b"), iou_threshold, confidence_threshold
    )
    result = evaluate_row(labels, predictions, ("a", "b"), iou_threshold, confidence_threshold)
    for name in ("a", "b"):
        reference = expected.get((0, name), Counts())
        counts = result.classes.get(name)
        got = (counts.tp, counts.fp, counts.fn) if counts else (0, 0, 0)
        assert got == (reference.tp, reference.fp, reference.fn)
