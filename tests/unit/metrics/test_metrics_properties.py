"""Invariants of the per-row metrics, on rows hypothesis draws."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.metrics import box_iou, evaluate_row
from shared.metrics.boxes import box_of, match_class
from shared.models import Annotation, BBox, Prediction

NAMES = ("a", "b", "c")
CLASSES = ("a", "b")  # "c" lies outside the run

_coordinate = st.integers(-3, 12).map(float) | st.floats(-5, 15)
_size = st.integers(0, 8).map(float) | st.floats(0, 10)
_bbox = st.builds(BBox, left=_coordinate, top=_coordinate, width=_size, height=_size)
_labels = st.lists(
    st.builds(Annotation, name=st.sampled_from(NAMES), bbox=st.none() | _bbox), max_size=8
)
_predictions = st.lists(
    st.builds(
        Prediction,
        name=st.sampled_from(NAMES),
        bbox=st.none() | _bbox,
        confidence=st.none() | st.sampled_from((0.3, 0.5, 0.9)) | st.floats(0, 1),
    ),
    max_size=8,
)
_iou = st.sampled_from((0.1, 0.5, 0.75, 1.0)) | st.floats(0.01, 1)
_confidence = st.sampled_from((0.0, 0.5)) | st.floats(0, 1)
_settings = settings(max_examples=200, deadline=None)


def _kept(predictions: list[Prediction], threshold: float) -> list[Prediction]:
    return [p for p in predictions if p.score >= threshold and p.name in CLASSES]


@_settings
@given(labels=_labels, predictions=_predictions, iou=_iou, confidence=_confidence)
def test_counts_add_up(
    labels: list[Annotation], predictions: list[Prediction], iou: float, confidence: float
) -> None:
    result = evaluate_row(labels, predictions, CLASSES, iou, confidence)
    got = result.metrics
    kept = _kept(predictions, confidence)
    truths = [a for a in labels if a.name in CLASSES]
    objects = [a for a in truths if a.bbox]
    # Every label is found or missed; classifications are sets.
    assert got.tp + got.fn == len(objects) + len({a.name for a in truths if not a.bbox})
    # Every kept prediction is right or wrong.
    assert got.tp + got.fp == len([p for p in kept if p.bbox]) + len(
        {p.name for p in kept if not p.bbox}
    )
    assert got.tn == len(CLASSES) - len(result.classes)
    assert (got.tp, got.fp, got.fn) == tuple(
        map(sum, zip(*result.classes.values(), strict=True))
    ) or (not result.classes and (got.tp, got.fp, got.fn) == (0, 0, 0))
    for ratio in (got.precision, got.recall, got.f1, got.iou, got.confidence):
        assert ratio is None or 0 <= ratio <= 1
    assert (got.precision is None) == (got.tp + got.fp == 0)
    assert (got.recall is None) == (got.tp + got.fn == 0)
    assert (got.confidence is None) == (not kept)
    assert (got.mislabel_confidence is None) == (got.fp == 0)
    if got.mislabel_confidence is not None:
        # A false positive's score, or the doubt about a labelled class the model scored.
        labelled = {a.name for a in truths if not a.bbox}
        doubts = {1.0 - p.score for p in predictions if not p.bbox and p.name in labelled}
        assert got.mislabel_confidence in {p.score for p in kept} | doubts


@_settings
@given(labels=_labels, predictions=_predictions, iou=_iou, seed=st.integers(0, 2**32))
def test_the_order_of_labels_and_classifications_does_not_matter_without_ties(
    labels: list[Annotation], predictions: list[Prediction], iou: float, seed: int
) -> None:
    """Greedy matching depends on label order only when a prediction has equal IoU to two
    labels (see the edge-case tests), so shuffle only where no such tie exists."""
    # Distinct scores, so that the prediction order is fixed by the scores alone.
    predictions = [
        p.model_copy(update={"confidence": (i + 1) / (len(predictions) + 1)})
        for i, p in enumerate(predictions)
    ]
    if _has_iou_ties(labels, predictions):
        return
    shuffled_labels = random.Random(seed).sample(labels, len(labels))
    shuffled_predictions = random.Random(seed + 1).sample(predictions, len(predictions))
    one = evaluate_row(labels, predictions, CLASSES, iou, 0.0)
    other = evaluate_row(shuffled_labels, shuffled_predictions, CLASSES, iou, 0.0)
    assert one.classes == other.classes
    a, b = one.metrics, other.metrics
    assert (a.tp, a.fp, a.fn, a.tn, a.mislabel_confidence) == (
        b.tp,
        b.fp,
        b.fn,
        b.tn,
        b.mislabel_confidence,
    )
    assert a.confidence == b.confidence  # an exact sum (fsum) whatever the order
    assert (a.iou is None) == (b.iou is None)
    if a.iou is not None and b.iou is not None:
        assert abs(a.iou - b.iou) < 1e-12


def _has_iou_ties(labels: list[Annotation], predictions: list[Prediction]) -> bool:
    for p in predictions:
        if p.bbox is None:
            continue
        ious = [box_iou(p.bbox, a.bbox) for a in labels if a.bbox is not None and a.name == p.name]
        positive = [v for v in ious if v > 0]
        if len(positive) != len(set(positive)):
            return True
    return False


@_settings
@given(
    truths=st.lists(_bbox, max_size=8),
    scores=st.lists(st.floats(0, 1), max_size=8),
    boxes=st.lists(_bbox, max_size=8),
    iou=_iou,
)
def test_matching_accounts_for_every_box(
    truths: list[BBox], scores: list[float], boxes: list[BBox], iou: float
) -> None:
    predictions = [(s, box_of(b)) for s, b in zip(scores, boxes, strict=False)]
    matching = match_class(predictions, [box_of(t) for t in truths], iou)
    assert matching.tp + matching.fn == len(truths)
    assert matching.tp + len(matching.fp_scores) == len(predictions)
    assert matching.fp_scores == sorted(matching.fp_scores, reverse=True)
    # Every matched pair reaches the threshold. (No upper bound: on tiny boxes far from the
    # origin, pycocotools' formula, and so ours, can give an IoU above 1.)
    assert min(iou, 1 - 1e-10) * matching.tp - 1e-9 <= matching.iou_sum


@_settings
@given(labels=_labels, predictions=_predictions, iou=_iou, confidence=_confidence)
def test_renaming_classes_changes_nothing_but_names(
    labels: list[Annotation], predictions: list[Prediction], iou: float, confidence: float
) -> None:
    rename = {"a": "b", "b": "a", "c": "z"}
    renamed_labels = [a.model_copy(update={"name": rename[a.name]}) for a in labels]
    renamed = [p.model_copy(update={"name": rename[p.name]}) for p in predictions]
    one = evaluate_row(labels, predictions, CLASSES, iou, confidence)
    other = evaluate_row(renamed_labels, renamed, CLASSES, iou, confidence)
    assert one.metrics == other.metrics
    assert {rename[k]: v for k, v in one.classes.items()} == other.classes


@_settings
@given(labels=_labels, predictions=_predictions, iou=_iou, confidence=_confidence)
def test_a_prediction_never_scored_is_ignored(
    labels: list[Annotation], predictions: list[Prediction], iou: float, confidence: float
) -> None:
    """Adding predictions outside the run, or boxes below the threshold, changes nothing; a
    classification below the threshold only ever raises ``mislabelConfidence`` (a low score for
    a labelled class is doubt about that label), and changes no count."""
    threshold = max(confidence, 0.01)
    noise = [
        Prediction(name="c", confidence=1.0),
        Prediction(name="a", bbox=BBox(left=0, top=0, width=5, height=5), confidence=0.0),
    ]
    one = evaluate_row(labels, predictions, CLASSES, iou, threshold)
    assert evaluate_row(labels, [*noise, *predictions], CLASSES, iou, threshold) == one

    low = evaluate_row(labels, [Prediction(name="a", confidence=0.0), *predictions], CLASSES,
                       iou, threshold)  # fmt: skip
    assert low.classes == one.classes
    unset = {"mislabel_confidence": None}
    assert low.metrics.model_copy(update=unset) == one.metrics.model_copy(update=unset)
    before, after = one.metrics.mislabel_confidence, low.metrics.mislabel_confidence
    assert (before is None) == (after is None)
    assert before is None or after is None or after >= before
