"""Box IoU and COCO's greedy matching, written to agree with pycocotools bit for bit.

pycocotools (``cocoeval.evaluateImg`` with ``maskApi.c:bbIou``) is the reference: a box is
``(left, top, width, height)``; the overlap of boxes that only touch, or of a box with zero area,
is 0; boxes are not clipped to the image. Matching walks the predictions of one class from the
most to the least confident (a stable sort, so equal confidences keep upload order); each takes the
unmatched ground truth with the highest IoU, if that IoU reaches the threshold, and on equal IoU
the later ground truth (pycocotools compares with ``>=`` while it scans them in order).

Plain Python on tuples: a row holds few boxes per class, where building arrays costs more than
the loop (bench/bench_metrics.py measures both ends).
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import NamedTuple

from shared.models import BBox

# pycocotools caps the threshold so that an IoU of exactly 1 can match a threshold of 1.
MAX_IOU_THRESHOLD = 1 - 1e-10

# (left, top, right, bottom, area), with right = left + width as pycocotools computes it.
Box = tuple[float, float, float, float, float]


class Matching(NamedTuple):
    """The outcome for one class of one row."""

    tp: int
    fn: int
    fp_scores: list[float]  # scores of the unmatched predictions, most confident first
    iou_sum: float  # sum of the IoUs of the matched pairs, in matching order


def box_of(bbox: BBox) -> Box:
    left, top, width, height = bbox.left, bbox.top, bbox.width, bbox.height
    return (left, top, left + width, top + height, width * height)


def box_iou(a: BBox, b: BBox) -> float:
    """IoU of two boxes; 0 when they do not overlap or either has zero area."""
    dl, dt, dr, db, da = box_of(a)
    gl, gt, gr, gb, ga = box_of(b)
    # Same operations in the same order as bbIou, so the same float comes out.
    w = (dr if dr < gr else gr) - (dl if dl > gl else gl)
    if w <= 0:
        return 0.0
    h = (db if db < gb else gb) - (dt if dt > gt else gt)
    if h <= 0:
        return 0.0
    inter = w * h
    union = da + ga - inter
    # Sides so small that the areas round to 0 make a zero-area box, which overlaps nothing.
    # (pycocotools divides 0 by 0, and its NaN passes its threshold test as a match.)
    return inter / union if union > 0 else 0.0


_by_score = itemgetter(0)


def match_class(
    predictions: Sequence[tuple[float, Box]], truths: Sequence[Box], iou_threshold: float
) -> Matching:
    """Greedy COCO matching of one class's predictions ``(score, box)`` to its ground truths.

    Both are in upload order.
    """
    if not truths:
        return Matching(0, 0, sorted([score for score, _ in predictions], reverse=True), 0.0)
    if not predictions:
        return Matching(0, len(truths), [], 0.0)
    threshold = min(iou_threshold, MAX_IOU_THRESHOLD)
    unmatched: list[Box | None] = list(truths)  # None once matched
    tp = 0
    iou_sum = 0.0
    fp_scores: list[float] = []
    # sorted(reverse=True) is stable: equal scores keep their upload order.
    ordered = (
        sorted(predictions, key=_by_score, reverse=True) if len(predictions) > 1 else predictions
    )
    for score, (dl, dt, dr, db, da) in ordered:
        best = threshold
        found = -1
        for index, g in enumerate(unmatched):
            if g is None:
                continue
            gl, gt, gr, gb, ga = g
            # The body of box_iou, inlined: this loop is the hot path.
            w = (dr if dr < gr else gr) - (dl if dl > gl else gl)
            if w <= 0:
                continue
            h = (db if db < gb else gb) - (dt if dt > gt else gt)
            if h <= 0:
                continue
            inter = w * h
            union = da + ga - inter
            if union <= 0:  # (as in box_iou)
                continue
            iou = inter / union
            if iou >= best:
                best = iou
                found = index
        if found < 0:
            fp_scores.append(score)
        else:
            unmatched[found] = None
            tp += 1
            iou_sum += best
    return Matching(tp, len(truths) - tp, fp_scores, iou_sum)
