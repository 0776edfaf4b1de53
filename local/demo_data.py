"""The demo's data, generated deterministically (seeded): what `make run` uploads to the bucket.

Two datasets, each with a model run:

- ``digits``: scikit-learn's bundled handwritten digits (8x8, upscaled to 32x32 PNGs), a
  classification label per image, a few of them deliberately flipped to another digit, and the
  out-of-fold class probabilities of a logistic regression trained on those (noisy) labels, as
  a real pipeline would produce them. The flipped rows are what "Candidate mislabels" should
  surface.
- ``shapes``: generated scenes of squares, circles and triangles with their boxes, and the
  predictions of a simulated detector that misses objects (more often at night), confuses
  classes, jitters boxes and sees things that are not there.

Everything here is pure: no I/O, the same arguments give the same bytes.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from local import demo_png

SEED = 20240611
DIGIT_CLASSES = [str(d) for d in range(10)]
SHAPE_CLASSES = ["circle", "square", "triangle"]
FLIP_FRACTION = 0.02
FOLDS = 5
SPLITS = {0: "test", 1: "valid"}  # by cross-validation fold; the other folds are "train"
# The metadata fields of each set, as PATCH /v1/metadataSchema takes them.
DIGITS_SCHEMA: dict[str, dict[str, Any]] = {
    "split": {"kind": "enum", "values": ["train", "valid", "test"]},
    "fold": {"kind": "number"},
    "ink": {"kind": "number"},
}
SHAPES_SCHEMA: dict[str, dict[str, Any]] = {
    "lighting": {"kind": "enum", "values": ["day", "night"]},
    "camera": {"kind": "string"},
}
SCHEMA = {**DIGITS_SCHEMA, **SHAPES_SCHEMA}


@dataclass(frozen=True)
class DemoImage:
    """One image: its object name under its dataset, bytes, typed metadata, labels."""

    name: str  # object name in the landing bucket, "<dataset>/<file>.png"
    png: bytes
    metadata: dict[str, str | int | float]
    labels: list[dict[str, Any]]
    predictions: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class DemoSet:
    """One dataset with its metadata fields, its images and its model run."""

    dataset: str
    schema: dict[str, dict[str, Any]]  # PATCH /v1/metadataSchema "fields"
    images: list[DemoImage]
    run: dict[str, Any]  # POST /v1/modelRuns body
    flipped: frozenset[str] = frozenset()  # names of images whose label is deliberately wrong

    def global_key(self, bucket: str, image: DemoImage) -> str:
        return f"gs://{bucket}/{image.name}"

    def manifest_name(self) -> str:
        return f"imports/{self.dataset}-labels.ndjson"


# ---- digits ------------------------------------------------------------------------------


def digit_png(pixels: NDArray[np.floating[Any]], scale: int = 4) -> bytes:
    """An 8x8 digit (0..16, ink high) as a dark-on-white grayscale PNG, ``scale`` times larger."""
    gray = (255 - np.rint(pixels.reshape(8, 8) * (255 / 16))).astype(np.uint8)
    return demo_png.encode(np.kron(gray, np.ones((scale, scale), np.uint8)))


def flip_labels(
    y: NDArray[np.integer[Any]], rng: np.random.Generator
) -> tuple[NDArray[np.integer[Any]], NDArray[np.intp]]:
    """A copy of ``y`` with FLIP_FRACTION of its labels changed to another digit; the indices."""
    count = max(1, round(len(y) * FLIP_FRACTION))
    flipped = np.sort(rng.choice(len(y), size=count, replace=False))
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.integers(1, 10, size=count)) % 10
    return noisy, flipped


def out_of_fold_probabilities(
    x: NDArray[np.floating[Any]], y: NDArray[np.integer[Any]], folds: NDArray[np.intp]
) -> NDArray[np.floating[Any]]:
    """Class probabilities of each image from a model that never saw it (cross-validation)."""
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415 (slow import)
    from sklearn.model_selection import PredefinedSplit, cross_val_predict  # noqa: PLC0415
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # noqa: PLC0415

    model = LogisticRegression(max_iter=2000)
    # One BLAS thread: the problem is tiny, and the machine is busy landing the images (more
    # threads made it several times slower).
    with threadpool_limits(limits=1):
        probabilities: NDArray[np.floating[Any]] = cross_val_predict(
            model, x, y, cv=PredefinedSplit(folds), method="predict_proba"
        )
    return probabilities


def bundled_digits() -> tuple[NDArray[np.floating[Any]], NDArray[np.integer[Any]]]:
    """scikit-learn's bundled digits, (pixels 0..16, digit), read as ``load_digits`` reads
    them but without importing scikit-learn (seconds on a busy machine): the demo needs the
    classifier only later, and trains it meanwhile."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("scikit-learn is not installed: the demo runs from the dev venv")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    data = np.loadtxt(path, delimiter=",")
    return data[:, :-1], data[:, -1].astype(int)


def digits(limit: int | None = None, *, predictions: bool = True) -> DemoSet:
    """The digits set (the first ``limit`` images, or all 1,797); without ``predictions`` the
    classifier is not trained (images and labels only, in a fraction of the time)."""
    pixels, target = bundled_digits()
    x, y = pixels[:limit], target[:limit]
    rng = np.random.default_rng(SEED)
    noisy, flipped = flip_labels(y, rng)
    # Folds stratified by hand (label order, then round robin) so that they depend on nothing
    # but the data and the seed.
    folds = np.empty(len(y), dtype=np.intp)
    for digit in range(10):
        members = np.flatnonzero(noisy == digit)
        rng.shuffle(members)
        folds[members] = np.arange(len(members)) % FOLDS
    probabilities = out_of_fold_probabilities(x / 16, noisy, folds) if predictions else None
    images = []
    for i in range(len(y)):
        meta: dict[str, str | int | float] = {
            "split": SPLITS.get(int(folds[i]), "train"),
            "fold": int(folds[i]),
            "ink": round(float(x[i].mean() / 16), 3),
        }
        preds = []
        if probabilities is not None:
            best = int(probabilities[i].argmax())
            preds = [{"name": str(best), "confidence": round(float(probabilities[i, best]), 4)}]
        images.append(
            DemoImage(
                name=f"digits/{i:04d}.png",
                png=digit_png(x[i]),
                metadata=meta,
                labels=[{"name": str(int(noisy[i]))}],
                predictions=preds,
            )
        )
    return DemoSet(
        dataset="digits",
        schema=DIGITS_SCHEMA,
        images=images,
        run={
            "name": "digits-logreg",
            "model": "scikit-learn LogisticRegression, 5-fold out-of-fold",
            "classes": DIGIT_CLASSES,
            # The classifier's top class is its answer, however unsure: keep nearly all of them.
            "confidenceThreshold": 0.2,
        },
        flipped=frozenset(images[i].name for i in flipped),
    )


# ---- shapes ------------------------------------------------------------------------------

WIDTH, HEIGHT = 96, 72
COLORS = {
    "circle": (220, 60, 50),
    "square": (40, 110, 220),
    "triangle": (40, 170, 70),
}
CAMERAS = ["cam-1", "cam-2", "cam-3"]


def _draw(
    canvas: NDArray[np.uint8], kind: str, box: Sequence[int], color: NDArray[np.uint8]
) -> None:
    left, top, width, height = box
    yy, xx = np.mgrid[top : top + height, left : left + width]
    if kind == "square":
        inside = np.ones_like(yy, dtype=bool)
    elif kind == "circle":
        cy, cx, r = top + (height - 1) / 2, left + (width - 1) / 2, min(width, height) / 2
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    else:  # triangle, apex up
        rel_y = (yy - top + 0.5) / height
        inside = np.abs(xx - (left + (width - 1) / 2)) <= rel_y * width / 2
    canvas[yy[inside], xx[inside]] = color


def _scene(rng: np.random.Generator, night: bool) -> tuple[NDArray[np.uint8], list[dict[str, Any]]]:
    background = rng.integers(30, 60) if night else rng.integers(200, 235)
    noise = rng.normal(0, 6, size=(HEIGHT, WIDTH, 3))
    canvas = np.clip(background + noise, 0, 255).astype(np.uint8)
    labels = []
    for _ in range(int(rng.integers(1, 6))):
        kind = SHAPE_CLASSES[int(rng.integers(len(SHAPE_CLASSES)))]
        size = int(rng.integers(10, 26))
        left, top = int(rng.integers(0, WIDTH - size)), int(rng.integers(0, HEIGHT - size))
        dim = 0.45 if night else 1.0
        color = np.clip(np.array(COLORS[kind]) * dim + rng.normal(0, 12, 3), 0, 255)
        _draw(canvas, kind, (left, top, size, size), color.astype(np.uint8))
        labels.append(
            {"name": kind, "bbox": {"left": left, "top": top, "width": size, "height": size}}
        )
    return canvas, labels


def _detect(
    rng: np.random.Generator, labels: list[dict[str, Any]], night: bool
) -> list[dict[str, Any]]:
    """A noisy detector: misses, class confusions, jittered boxes, false alarms."""
    predictions = []
    for label in labels:
        if rng.random() > (0.6 if night else 0.9):
            continue  # missed
        box = label["bbox"]
        name = label["name"]
        if rng.random() < 0.07:
            name = SHAPE_CLASSES[(SHAPE_CLASSES.index(name) + int(rng.integers(1, 3))) % 3]
        jitter = rng.normal(0, 0.12 if night else 0.07, 4) * box["width"]
        confidence = rng.beta(3, 3) if night else rng.beta(8, 2)
        predictions.append(
            {
                "name": name,
                "bbox": {
                    "left": round(float(box["left"] + jitter[0]), 1),
                    "top": round(float(box["top"] + jitter[1]), 1),
                    "width": round(max(2.0, float(box["width"] + jitter[2])), 1),
                    "height": round(max(2.0, float(box["height"] + jitter[3])), 1),
                },
                "confidence": round(float(confidence), 3),
            }
        )
    for _ in range(int(rng.poisson(0.6 if night else 0.25))):
        size = float(rng.integers(8, 24))
        predictions.append(
            {
                "name": SHAPE_CLASSES[int(rng.integers(3))],
                "bbox": {
                    "left": float(rng.integers(0, WIDTH - 8)),
                    "top": float(rng.integers(0, HEIGHT - 8)),
                    "width": size,
                    "height": size,
                },
                "confidence": round(float(rng.uniform(0.3, 0.85)), 3),
            }
        )
    return predictions


def shapes(count: int = 120) -> DemoSet:
    """``count`` generated scenes with boxes, and a noisy detector's predictions."""
    rng = np.random.default_rng(SEED + 1)
    images = []
    for i in range(count):
        night = bool(rng.random() < 0.3)
        canvas, labels = _scene(rng, night)
        images.append(
            DemoImage(
                name=f"shapes/{i:04d}.png",
                png=demo_png.encode(canvas),
                metadata={
                    "lighting": "night" if night else "day",
                    "camera": CAMERAS[int(rng.integers(len(CAMERAS)))],
                },
                labels=labels,
                predictions=_detect(rng, labels, night),
            )
        )
    return DemoSet(
        dataset="shapes",
        schema=SHAPES_SCHEMA,
        images=images,
        run={
            "name": "shapes-detector",
            "model": "simulated box detector",
            "classes": SHAPE_CLASSES,
            "iouThreshold": 0.5,
            "confidenceThreshold": 0.5,
        },
    )
