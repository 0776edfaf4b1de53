"""COCO files, the format detectors already write, read into our annotations (pure).

- An instances file (``{"images", "annotations", "categories"}``) is ground truth: each image
  becomes a data row (see :mod:`objects` for the prefix rule) whose labels are its boxes. Crowd
  annotations (``iscrowd: 1``) are left out: the run's metrics have no crowd regions, as
  pycocotools with no crowd.
- A results file (``[{"image_id", "category_id", "bbox", "score"}, ...]``) is one run's
  predictions, with ``score`` as the confidence.

COCO boxes are ``[x, y, width, height]`` in pixels, ours ``{left, top, width, height}``.
A file-level problem (not JSON, wrong shape) raises :class:`CocoError`; a bad entry is
reported with its index (``entry`` counts from 1 within its array) and left out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.models import MAX_CLASS_NAME, Annotation, BBox, Prediction

MAX_COCO_BYTES = 256 * 1024 * 1024


class CocoError(ValueError):
    """The file as a whole is not what it should be."""


@dataclass
class CocoImage:
    id: int
    file_name: str
    width: int | None
    height: int | None
    labels: list[Annotation] = field(default_factory=list)


@dataclass
class GroundTruth:
    images: list[CocoImage]
    categories: dict[int, str]
    annotations: int = 0
    crowd: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Detection:
    image_id: int
    category_id: int
    bbox: BBox
    score: float


@dataclass(frozen=True)
class Entry:
    """One element of a results file: a detection, or why not (with the image it names)."""

    number: int
    image_id: int | None
    detection: Detection | None = None
    reason: str | None = None


def global_key(bucket: str, dataset: str, file_name: str) -> str:
    """The prefix rule: ``gs://<bucket>/<dataset>/<file_name>`` (a gs:// name stays as is)."""
    if file_name.startswith("gs://"):
        return file_name
    return f"gs://{bucket}/{dataset}/{file_name.lstrip('/')}"


def _load(data: bytes) -> Any:
    if len(data) > MAX_COCO_BYTES:
        raise CocoError(f"a COCO file may hold at most {MAX_COCO_BYTES} bytes")
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise CocoError(f"not valid UTF-8 (byte {error.start + 1})") from None
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise CocoError(f"invalid JSON: {error.msg} ({where})") from None
    except RecursionError:
        raise CocoError("invalid JSON: nested too deeply") from None


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def _box(value: Any) -> BBox | str:
    if not isinstance(value, list) or len(value) != 4:
        return "bbox must be [x, y, width, height]"
    if not all(type(v) in (int, float) and math.isfinite(v) for v in value):
        return "bbox values must be finite numbers"
    x, y, width, height = value
    if width < 0 or height < 0:
        return "bbox width and height must not be negative"
    return BBox(left=x, top=y, width=width, height=height)


def parse_categories(value: Any) -> dict[int, str]:
    if not isinstance(value, list):
        raise CocoError("'categories' must be an array")
    categories: dict[int, str] = {}
    for index, entry in enumerate(value, 1):
        category_id = _int(entry.get("id")) if isinstance(entry, dict) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        if category_id is None or not isinstance(name, str) or not 0 < len(name) <= MAX_CLASS_NAME:
            raise CocoError(f"categories entry {index}: needs an integer 'id' and a 'name'")
        categories[category_id] = name
    return categories


def parse_instances(data: bytes) -> GroundTruth:
    """An instances file's images with their labels, in the file's order."""
    value = _load(data)
    if not isinstance(value, dict) or not isinstance(value.get("images"), list):
        raise CocoError("a COCO instances file is an object with 'images', 'annotations' and "
                        "'categories'")  # fmt: skip
    truth = GroundTruth(images=[], categories=parse_categories(value.get("categories", [])))
    by_id: dict[int, CocoImage] = {}
    for index, entry in enumerate(value["images"], 1):
        image_id = _int(entry.get("id")) if isinstance(entry, dict) else None
        file_name = entry.get("file_name") if isinstance(entry, dict) else None
        if image_id is None or not isinstance(file_name, str) or not file_name.strip("/"):
            truth.errors.append((index, "images: needs an integer 'id' and a 'file_name'"))
            continue
        if image_id in by_id:
            truth.errors.append((index, f"images: image id {image_id} appears twice"))
            continue
        width, height = _int(entry.get("width")), _int(entry.get("height"))
        by_id[image_id] = CocoImage(image_id, file_name, width, height)
        truth.images.append(by_id[image_id])
    _add_labels(value.get("annotations", []), by_id, truth)
    return truth


def _add_labels(annotations: Any, images: Mapping[int, CocoImage], truth: GroundTruth) -> None:
    if not isinstance(annotations, list):
        raise CocoError("'annotations' must be an array")
    for index, entry in enumerate(annotations, 1):
        truth.annotations += 1
        if not isinstance(entry, dict):
            truth.errors.append((index, "annotations: expected an object"))
            continue
        if entry.get("iscrowd") == 1:
            truth.crowd += 1
            continue
        problem = _annotation_problem(entry, images, truth.categories)
        if isinstance(problem, str):
            truth.errors.append((index, f"annotations: {problem}"))
            continue
        image, name, box = problem
        image.labels.append(Annotation(name=name, bbox=box))


def _annotation_problem(
    entry: Mapping[str, Any], images: Mapping[int, CocoImage], categories: Mapping[int, str]
) -> str | tuple[CocoImage, str, BBox]:
    image_id, category_id = _int(entry.get("image_id")), _int(entry.get("category_id"))
    image = images.get(image_id) if image_id is not None else None
    if image is None:
        return f"unknown image_id {entry.get('image_id')!r:.40}"
    name = categories.get(category_id) if category_id is not None else None
    if name is None:
        return f"unknown category_id {entry.get('category_id')!r:.40}"
    box = _box(entry.get("bbox"))
    if isinstance(box, str):
        return box
    return image, name, box


def parse_results(data: bytes) -> list[Entry]:
    """Each entry of a results file: its detection, or why it is rejected."""
    value = _load(data)
    if not isinstance(value, list):
        raise CocoError("a COCO results file is an array of detections")
    entries = []
    for number, item in enumerate(value, 1):
        image_id = _int(item.get("image_id")) if isinstance(item, dict) else None
        parsed = _detection(item)
        if isinstance(parsed, str):
            entries.append(Entry(number, image_id, reason=parsed))
        else:
            entries.append(Entry(number, image_id, detection=parsed))
    return entries


def _detection(entry: Any) -> Detection | str:
    if not isinstance(entry, dict):
        return "expected an object"
    image_id, category_id = _int(entry.get("image_id")), _int(entry.get("category_id"))
    if image_id is None or category_id is None:
        return "needs an integer 'image_id' and 'category_id'"
    if "bbox" not in entry:
        return "only box detections ('bbox') are supported"
    box = _box(entry["bbox"])
    if isinstance(box, str):
        return box
    score = entry.get("score", 1.0)
    if type(score) not in (int, float) or not 0 <= score <= 1:  # NaN fails both comparisons
        return f"score must be a number from 0 to 1, got {score!r:.40}"
    return Detection(image_id, category_id, box, float(score))


def predictions_of(detections: list[Detection], categories: Mapping[int, str]) -> list[Prediction]:
    """One image's detections as our predictions (categories already checked)."""
    return [
        Prediction(name=categories[d.category_id], bbox=d.bbox, confidence=d.score)
        for d in detections
    ]
