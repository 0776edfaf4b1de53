"""The demo's generated data: valid PNGs, deterministic sets, flipped labels where it says."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from local import demo_data, demo_png


def decode(png: bytes) -> np.ndarray:
    """Just enough of a PNG decoder for what demo_png writes (8-bit, filter 0)."""
    assert png.startswith(demo_png.SIGNATURE)
    at, chunks = len(demo_png.SIGNATURE), {}
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, body = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks[kind] = chunks.get(kind, b"") + body
        at += 12 + length
    width, height, depth, color, _, _, _ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert depth == 8
    channels = {demo_png.GRAYSCALE: 1, demo_png.RGB: 3}[color]
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, -1)
    assert (raw[:, 0] == 0).all()  # every scanline unfiltered
    pixels = raw[:, 1:].reshape(height, width, channels)
    return pixels[:, :, 0] if channels == 1 else pixels


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.uint8, st.tuples(st.integers(1, 9), st.integers(1, 9)))
    | arrays(np.uint8, st.tuples(st.integers(1, 9), st.integers(1, 9), st.just(3)))
)
def test_png_round_trips(pixels: np.ndarray) -> None:
    assert np.array_equal(decode(demo_png.encode(pixels)), pixels)


@pytest.mark.parametrize("shape", [(0, 3), (3, 4, 4), (2, 2, 2, 2)])
def test_png_refuses_what_it_cannot_write(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="pixel"):
        demo_png.encode(np.zeros(shape, np.uint8))


def test_digits_are_deterministic_with_a_few_flipped_labels() -> None:
    first, again = demo_data.digits(200), demo_data.digits(200)
    assert [(i.name, i.png, i.labels, i.predictions, i.metadata) for i in first.images] == [
        (i.name, i.png, i.labels, i.predictions, i.metadata) for i in again.images
    ]
    truth = demo_data.bundled_digits()[1][:200]
    wrong = {
        image.name
        for image, digit in zip(first.images, truth, strict=True)
        if image.labels != [{"name": str(digit)}]
    }
    assert wrong == first.flipped
    assert len(wrong) == round(200 * demo_data.FLIP_FRACTION)
    for image in first.images:
        assert decode(image.png).shape == (32, 32)
        (prediction,) = image.predictions
        assert prediction["name"] in demo_data.DIGIT_CLASSES
        assert 0 < prediction["confidence"] <= 1
        assert image.metadata["split"] in demo_data.DIGITS_SCHEMA["split"]["values"]


def test_the_bundled_digits_are_read_as_scikit_learn_reads_them() -> None:
    from sklearn.datasets import load_digits  # noqa: PLC0415

    pixels, target = demo_data.bundled_digits()
    expected = load_digits()
    assert np.array_equal(pixels, expected.data)
    assert np.array_equal(target, expected.target)


def test_digits_without_predictions_are_the_same_images_and_labels() -> None:
    quick, full = demo_data.digits(50, predictions=False), demo_data.digits(50)
    assert [(i.name, i.png, i.labels, i.metadata) for i in quick.images] == [
        (i.name, i.png, i.labels, i.metadata) for i in full.images
    ]
    assert quick.flipped == full.flipped
    assert all(not i.predictions for i in quick.images)


def test_digit_predictions_are_out_of_fold_and_mostly_right() -> None:
    digits = demo_data.digits(400)
    right = sum(i.predictions[0]["name"] == i.labels[0]["name"] for i in digits.images)
    assert 0.8 < right / len(digits.images) < 1.0  # a real, imperfect classifier


def test_scenes_have_boxes_inside_the_image_and_noisy_predictions() -> None:
    scenes = demo_data.shapes(40)
    assert [i.png for i in scenes.images] == [i.png for i in demo_data.shapes(40).images]
    missed = jittered = 0
    for image in scenes.images:
        assert decode(image.png).shape == (demo_data.HEIGHT, demo_data.WIDTH, 3)
        assert 1 <= len(image.labels) <= 5
        for label in image.labels:
            box = label["bbox"]
            assert label["name"] in demo_data.SHAPE_CLASSES
            assert box["left"] >= 0
            assert box["top"] >= 0
            assert box["left"] + box["width"] <= demo_data.WIDTH
            assert box["top"] + box["height"] <= demo_data.HEIGHT
        boxes = [label["bbox"] for label in image.labels]
        for prediction in image.predictions:
            assert 0 <= prediction["confidence"] <= 1
            assert all(type(v) is float for v in prediction["bbox"].values())
            jittered += prediction["bbox"] not in boxes
        missed += len(image.predictions) < len(image.labels)
    assert missed > 0
    assert jittered > 0
