"""pycocotools as the reference for object metrics: per (image, class) TP, FP, FN and IoUs.

COCOeval runs with one IoU threshold, the "all" area range only, a detection limit no row reaches
and no crowd annotations: the setting in which DESIGN section 6 promises the same results.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from shared.models import Annotation, Prediction

MAX_DETECTIONS = 1_000_000


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    fp_scores: list[float] = field(default_factory=list)  # most confident first
    iou_sum: float = 0.0  # in the order the detections were matched


def coco_inputs(
    rows: Sequence[tuple[Sequence[Annotation], Sequence[Prediction]]],
    classes: Sequence[str],
    confidence_threshold: float,
) -> tuple[dict[str, object], list[dict[str, object]]]:
    """A COCO ground-truth dataset and a results list; image ``i + 1`` is ``rows[i]``."""
    category = {name: index + 1 for index, name in enumerate(classes)}
    annotations: list[dict[str, object]] = []
    results: list[dict[str, object]] = []
    for image, (labels, predictions) in enumerate(rows, start=1):
        for label in labels:
            if label.bbox is None or label.name not in category:
                continue
            box = label.bbox
            annotations.append({
                "id": len(annotations) + 1,
                "image_id": image,
                "category_id": category[label.name],
                "bbox": [box.left, box.top, box.width, box.height],
                "area": box.width * box.height,
                "iscrowd": 0,
            })  # fmt: skip
        for prediction in predictions:
            if (
                prediction.bbox is None
                or prediction.name not in category
                or prediction.score < confidence_threshold
            ):
                continue
            box = prediction.bbox
            results.append({
                "image_id": image,
                "category_id": category[prediction.name],
                "bbox": [box.left, box.top, box.width, box.height],
                "score": prediction.score,
            })  # fmt: skip
    dataset = {
        "images": [{"id": image} for image in range(1, len(rows) + 1)],
        "categories": [{"id": index, "name": name} for name, index in category.items()],
        "annotations": annotations,
    }
    return dataset, results


def load(dataset: dict[str, object], results: list[dict[str, object]]) -> tuple[COCO, COCO]:
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        truth = COCO()
        truth.dataset = dataset
        truth.createIndex()
        detections = truth.loadRes(results) if results else COCO()
    return truth, detections


def evaluator(truth: COCO, detections: COCO, iou_threshold: float) -> COCOeval:
    evaluation = COCOeval(truth, detections, "bbox")
    evaluation.params.iouThrs = np.array([iou_threshold])
    evaluation.params.areaRng = [[0.0, 1e10]]
    evaluation.params.areaRngLbl = ["all"]
    evaluation.params.maxDets = [MAX_DETECTIONS]
    return evaluation


def evaluate(evaluation: COCOeval) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        evaluation.evaluate()


def per_image_class(evaluation: COCOeval, classes: Sequence[str]) -> dict[tuple[int, str], Counts]:
    """``{(row index, class): Counts}`` from ``evalImgs`` (after ``evaluate``)."""
    out: dict[tuple[int, str], Counts] = {}
    for result in evaluation.evalImgs:
        if result is None:
            continue
        image, category = result["image_id"], result["category_id"]
        dt_matches = result["dtMatches"][0]
        gt_matches = result["gtMatches"][0]
        ious = evaluation.ious[image, category]
        gt_column = {gt_id: column for column, gt_id in enumerate(result["gtIds"])}
        counts = Counts()
        for row, (gt_id, score) in enumerate(zip(dt_matches, result["dtScores"], strict=True)):
            if gt_id > 0:
                counts.tp += 1
                counts.iou_sum += float(ious[row, gt_column[int(gt_id)]])
            else:
                counts.fp += 1
                counts.fp_scores.append(float(score))
        counts.fn = int(np.count_nonzero(gt_matches == 0))
        out[image - 1, classes[category - 1]] = counts
    return out


def reference_counts(
    rows: Sequence[tuple[Sequence[Annotation], Sequence[Prediction]]],
    classes: Sequence[str],
    iou_threshold: float,
    confidence_threshold: float,
) -> dict[tuple[int, str], Counts]:
    """pycocotools' counts for every (row index, class) that has a label or a kept prediction."""
    truth, detections = load(*coco_inputs(rows, classes, confidence_threshold))
    if not detections.dataset:  # no detection at all: every label is missed
        out: dict[tuple[int, str], Counts] = {}
        for annotation in truth.dataset["annotations"]:
            key = (annotation["image_id"] - 1, classes[annotation["category_id"] - 1])
            out.setdefault(key, Counts()).fn += 1
        return out
    evaluation = evaluator(truth, detections, iou_threshold)
    evaluate(evaluation)
    return per_image_class(evaluation, classes)
