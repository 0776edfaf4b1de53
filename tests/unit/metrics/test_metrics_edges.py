"""Per-row metrics, one edge case per test (DESIGN section 6)."""

from __future__ import annotations

import pytest

from shared.metrics import box_iou, evaluate_row, row_metrics
from shared.models import Annotation, BBox, Prediction, RowMetrics
from tests.unit.metrics.coco_reference import Counts, reference_counts

CLASSES = ("car", "dog", "cat")


def box(left: float, top: float, width: float, height: float) -> BBox:
    return BBox(left=left, top=top, width=width, height=height)


def label(name: str, bbox: BBox | None = None) -> Annotation:
    return Annotation(name=name, bbox=bbox)


def pred(name: str, bbox: BBox | None = None, confidence: float | None = None) -> Prediction:
    return Prediction(name=name, bbox=bbox, confidence=confidence)


def metrics(
    labels: list[Annotation],
    predictions: list[Prediction],
    classes: tuple[str, ...] = CLASSES,
    iou: float = 0.5,
    confidence: float = 0.5,
) -> RowMetrics:
    return row_metrics(labels, predictions, classes, iou, confidence)


def coco(
    labels: list[Annotation], predictions: list[Prediction], iou: float = 0.5
) -> dict[str, tuple[int, int, int]]:
    counts = reference_counts([(labels, predictions)], CLASSES, iou, 0.5)
    return {name: (c.tp, c.fp, c.fn) for (_, name), c in counts.items()}


def test_no_ground_truth_makes_every_kept_prediction_a_false_positive() -> None:
    got = metrics([], [pred("car", box(0, 0, 10, 10), 0.6), pred("dog", None, 0.9)])
    assert (got.tp, got.fp, got.fn, got.tn) == (0, 2, 0, 1)
    assert (got.precision, got.recall, got.f1) == (0.0, None, 0.0)
    assert got.iou == 0.0  # one object, unmatched
    assert got.confidence == pytest.approx(0.75)
    assert got.mislabel_confidence == 0.9


def test_no_predictions_makes_every_label_a_false_negative() -> None:
    got = metrics([label("car", box(0, 0, 10, 10)), label("dog")], [])
    assert (got.tp, got.fp, got.fn, got.tn) == (0, 0, 2, 1)
    assert (got.precision, got.recall, got.f1) == (None, 0.0, 0.0)
    assert got.iou == 0.0
    assert got.confidence is None
    assert got.mislabel_confidence is None


def test_an_empty_row_is_all_true_negatives_and_no_ratio() -> None:
    got = metrics([], [])
    assert got == RowMetrics(tn=3)
    assert (got.precision, got.recall, got.f1, got.iou, got.confidence) == (None,) * 5


def test_a_perfect_row() -> None:
    got = metrics(
        [label("car", box(0, 0, 10, 10)), label("dog")],
        [pred("car", box(0, 0, 10, 10), 0.8), pred("dog", None, 0.6)],
    )
    assert (got.tp, got.fp, got.fn, got.tn) == (2, 0, 0, 1)
    assert (got.precision, got.recall, got.f1, got.iou) == (1.0, 1.0, 1.0, 1.0)
    assert got.mislabel_confidence is None


def test_equal_confidences_match_in_upload_order() -> None:
    truth = [label("car", box(0, 0, 10, 10))]
    first = pred("car", box(0, 0, 10, 9), 0.7)  # IoU 0.9
    second = pred("car", box(0, 0, 10, 8), 0.7)  # IoU 0.8
    assert metrics(truth, [first, second]).iou == pytest.approx(0.9 / 2)
    assert metrics(truth, [second, first]).iou == pytest.approx(0.8 / 2)
    # A more confident prediction goes first whatever its place.
    third = pred("car", box(0, 0, 10, 7), 0.71)  # IoU 0.7
    assert metrics(truth, [first, second, third]).iou == pytest.approx(0.7 / 3)


def test_equal_iou_to_two_labels_takes_the_later_label() -> None:
    # The first prediction lies exactly between two labels; the second overlaps only the later
    # label. Taking the later one leaves the second prediction unmatched, as pycocotools does.
    truth = [label("car", box(0, 0, 10, 10)), label("car", box(4, 0, 10, 10))]
    between = pred("car", box(2, 0, 10, 10), 0.9)  # IoU 80/120 with both
    near_later = pred("car", box(5, 0, 10, 10), 0.8)  # IoU 90/110 with the later, 50/150 else
    got = metrics(truth, [between, near_later])
    assert (got.tp, got.fp, got.fn) == (1, 1, 1)
    assert coco(truth, [between, near_later]) == {"car": (1, 1, 1)}
    # In the other label order the second prediction finds its label.
    swapped = metrics(truth[::-1], [between, near_later])
    assert (swapped.tp, swapped.fp, swapped.fn) == (2, 0, 0)
    assert coco(truth[::-1], [between, near_later]) == {"car": (2, 0, 0)}


def test_iou_exactly_at_the_threshold_matches() -> None:
    truth = [label("car", box(0, 0, 10, 10))]
    half = pred("car", box(0, 0, 10, 5), 0.9)  # IoU exactly 0.5
    assert metrics(truth, [half], iou=0.5).tp == 1
    assert metrics(truth, [half], iou=0.51).tp == 0


def test_threshold_one_matches_nearly_identical_boxes_as_pycocotools_does() -> None:
    # pycocotools caps a threshold at 1 - 1e-10, so an IoU of 1 - 1e-11 still matches.
    truth = [label("car", box(0, 0, 1e11, 1))]
    close = pred("car", box(0, 0, 1e11 + 1, 1), 0.9)
    assert metrics(truth, [close], iou=1.0).tp == 1
    assert coco(truth, [close], iou=1.0) == {"car": (1, 0, 0)}


def test_predictions_below_the_threshold_are_dropped_and_at_it_kept() -> None:
    truth = [label("car", box(0, 0, 10, 10))]
    below = pred("car", box(0, 0, 10, 10), 0.49)
    at = pred("car", box(50, 50, 10, 10), 0.5)
    got = metrics(truth, [below, at])
    assert (got.tp, got.fp, got.fn) == (0, 1, 1)
    assert got.confidence == 0.5
    assert metrics(truth, [below], confidence=0.0).tp == 1


def test_a_dropped_prediction_leaves_a_true_negative() -> None:
    got = metrics([], [pred("dog", None, 0.1)])
    assert (got.fp, got.tn, got.confidence) == (0, 3, None)


def test_a_missing_confidence_counts_as_one() -> None:
    truth = [label("car", box(0, 0, 10, 10))]
    unsure = pred("car", box(0, 0, 10, 10), 0.99)
    unscored = pred("car", box(1, 0, 10, 10))  # goes first: 1.0 > 0.99
    got = metrics(truth, [unsure, unscored], confidence=1.0)
    assert (got.tp, got.fp, got.confidence) == (1, 0, 1.0)
    both = metrics(truth, [unsure, unscored])
    assert (both.tp, both.fp, both.mislabel_confidence) == (1, 1, 0.99)
    assert both.confidence == pytest.approx(0.995)


def test_zero_area_boxes_never_match() -> None:
    point = box(5, 5, 0, 0)
    line = box(0, 5, 10, 0)
    got = metrics(
        [label("car", point), label("dog", line)],
        [pred("car", point, 0.9), pred("dog", line, 0.9)],
        iou=0.1,
    )
    assert (got.tp, got.fp, got.fn) == (0, 2, 2)
    assert got.iou == 0.0
    assert coco([label("car", point)], [pred("car", point, 0.9)]) == {"car": (0, 1, 1)}


def test_a_box_whose_area_rounds_to_zero_matches_nothing() -> None:
    # Sides that overlap, but an area below the smallest float: like any zero-area box, it
    # overlaps nothing. pycocotools divides 0 by 0 here and its NaN slips through the threshold
    # test as a match (with a NaN IoU): the one place the two knowingly differ.
    sliver = box(0, 0, 0.5, 5e-324)
    got = metrics([label("car", sliver)], [pred("car", sliver, 0.9)], iou=0.1)
    assert (got.tp, got.fp, got.fn, got.iou) == (0, 1, 1, 0.0)
    assert box_iou(sliver, sliver) == 0.0
    assert coco([label("car", sliver)], [pred("car", sliver, 0.9)], iou=0.1) == {"car": (1, 0, 0)}


def test_a_zero_area_prediction_does_not_hide_a_real_match() -> None:
    truth = [label("car", box(0, 0, 10, 10))]
    got = metrics(truth, [pred("car", box(5, 5, 0, 0), 0.9), pred("car", box(0, 0, 10, 10), 0.8)])
    assert (got.tp, got.fp, got.fn, got.mislabel_confidence) == (1, 1, 0, 0.9)


def test_boxes_partly_outside_the_image_are_not_clipped() -> None:
    # Clipped to x >= 0 the label would equal the prediction (IoU 1); unclipped the IoU is 0.5.
    truth = [label("car", box(-10, 0, 20, 10))]
    inside = [pred("car", box(0, 0, 10, 10), 0.9)]
    assert metrics(truth, inside).iou == 0.5
    assert metrics(truth, inside, iou=0.6).tp == 0
    assert coco(truth, inside, iou=0.6) == {"car": (0, 1, 1)}


def test_classes_outside_the_run_are_ignored() -> None:
    got = metrics(
        [label("truck", box(0, 0, 10, 10)), label("bird")],
        [pred("truck", box(0, 0, 10, 10), 0.9), pred("horse", None, 0.9), pred("car", None, 0.6)],
    )
    assert (got.tp, got.fp, got.fn, got.tn) == (0, 1, 0, 2)
    assert got.iou is None  # the only objects are of a class outside the run
    assert got.confidence == 0.6
    assert got.mislabel_confidence == 0.6


def test_an_empty_class_list_counts_every_class_and_no_true_negative() -> None:
    result = evaluate_row(
        [label("truck", box(0, 0, 10, 10)), label("bird")],
        [pred("truck", box(0, 0, 10, 10), 0.9), pred("horse", None, 0.8)],
        (),
        0.5,
        0.5,
    )
    got = result.metrics
    assert (got.tp, got.fp, got.fn, got.tn) == (1, 1, 1, 0)
    assert set(result.classes) == {"truck", "bird", "horse"}


def test_classifications_by_class() -> None:
    result = evaluate_row(
        [label("car"), label("dog")],
        [pred("dog", None, 0.9), pred("cat", None, 0.7)],
        ("car", "dog", "cat", "bus"),
        0.5,
        0.5,
    )
    got = result.metrics
    assert (got.tp, got.fp, got.fn, got.tn) == (1, 1, 1, 1)
    assert result.classes == {"dog": (1, 0, 0), "cat": (0, 1, 0), "car": (0, 0, 1)}
    assert got.iou is None
    assert got.mislabel_confidence == 0.7


def test_repeated_classifications_are_one_label_and_one_prediction() -> None:
    got = metrics(
        [label("dog"), label("dog")],
        [
            pred("dog", None, 0.6),
            pred("dog", None, 0.9),
            pred("cat", None, 0.7),
            pred("cat", None, 0.8),
        ],
    )
    assert (got.tp, got.fp, got.fn, got.tn) == (1, 1, 0, 1)
    assert got.confidence == pytest.approx((0.9 + 0.8) / 2)  # the highest score of each class
    assert got.mislabel_confidence == 0.8


def test_a_classification_does_not_match_a_box_of_its_class() -> None:
    result = evaluate_row(
        [label("car", box(0, 0, 10, 10))], [pred("car", None, 0.9)], CLASSES, 0.5, 0.5
    )
    assert result.classes == {"car": (0, 1, 1)}
    assert result.metrics.iou == 0.0


def test_mislabel_confidence_is_the_most_confident_false_positive() -> None:
    truth = [label("car", box(0, 0, 10, 10))]
    got = metrics(
        truth,
        [
            pred("car", box(0, 0, 10, 10), 0.95),  # true positive: not a candidate
            pred("car", box(0, 0, 10, 10), 0.9),  # duplicate: false positive
            pred("dog", box(0, 0, 10, 10), 0.8),  # flipped class: false positive
        ],
    )
    assert (got.tp, got.fp, got.fn) == (1, 2, 0)
    assert got.mislabel_confidence == 0.9


def test_mislabel_confidence_doubts_a_labelled_class_the_model_scores_low() -> None:
    # The label says "cat"; the model gives "dog" 0.6 and "cat" 0.1 (dropped by the threshold).
    scores = [pred("dog", None, 0.6), pred("cat", None, 0.1)]
    got = metrics([label("cat")], scores)
    assert (got.tp, got.fp, got.fn) == (0, 1, 1)
    assert got.mislabel_confidence == pytest.approx(0.9)
    # Without a score for "cat", the false positive's score is all there is to go by.
    assert metrics([label("cat")], scores[:1]).mislabel_confidence == 0.6
    # A well-supported label is not doubted above the false positive's score.
    both = metrics([label("cat")], [pred("dog", None, 0.7), pred("cat", None, 0.8)])
    assert (both.tp, both.fp, both.mislabel_confidence) == (1, 1, 0.7)
    # No false positive, no candidate, however low the label's score.
    assert metrics([label("cat")], [pred("cat", None, 0.1)]).mislabel_confidence is None


def test_iou_counts_unmatched_objects_as_zero() -> None:
    got = metrics(
        [label("car", box(0, 0, 10, 10)), label("car", box(100, 100, 10, 10))],
        [pred("car", box(0, 0, 10, 8), 0.9), pred("dog", box(50, 50, 5, 5), 0.9)],
    )
    assert (got.tp, got.fp, got.fn) == (1, 1, 1)
    assert got.iou == pytest.approx(0.8 / 3)


@pytest.mark.parametrize(("iou", "confidence"), [(0.0, 0.5), (1.01, 0.5), (0.5, -0.1), (0.5, 2.0)])
def test_thresholds_out_of_range_are_refused(iou: float, confidence: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        metrics([], [], iou=iou, confidence=confidence)


def test_reference_sees_what_the_row_sees() -> None:
    """The helper above is only useful if it reports nothing for classes with nothing."""
    assert coco([], []) == {}
    assert reference_counts([([], [])], CLASSES, 0.5, 0.5).get((0, "car"), Counts()) == Counts()


def test_a_rounding_error_never_lifts_the_row_iou_above_one() -> None:
    same = box(2.2, 0, 3.6, 1)
    # pycocotools' formula recomputes the width from the edges: 5.8 - 2.2 rounds above 3.6.
    assert box_iou(same, same) > 1.0
    got = metrics([label("car", same)], [pred("car", same, 0.9)])
    assert (got.tp, got.iou) == (1, 1.0)
