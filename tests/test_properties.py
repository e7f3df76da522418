"""Property-based tests (hypothesis) of the segmenter and the reader on arbitrary images, and the
input contracts of DigitReader.read, imageio.as_uint8 and Classifier.predict."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import EXPORT_DIR
from export_support import exported
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from edge_digits.runtime import imageio, segment

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, mnist_path) -> Path:
    """The shipped export/ when it has a manifest, else the shared tiny export."""
    if (EXPORT_DIR / "manifest.json").is_file():
        return EXPORT_DIR
    return exported(tmp_path_factory.getbasetemp(), mnist_path)


@pytest.fixture(scope="module")
def reader(model_dir):
    from edge_digits import DigitReader

    return DigitReader(model=model_dir)


# ------------------------------------------------------------------ arbitrary images

DTYPES = ("uint8", "uint16", "float32")


@st.composite
def arbitrary_images(draw) -> np.ndarray:
    """1x1 .. 300x300; 2-D or (H, W, 1|3|4); uint8/uint16/float32; noise, constant, shapes or digits."""
    side = st.integers(1, 300) | st.integers(80, 300)  # hypothesis favours small numbers; pages need room
    height, width = draw(side), draw(side)
    channels = draw(st.sampled_from([None, 1, 3, 4]))
    kind = draw(st.sampled_from(["noise", "constant", "shapes", "shapes", "digits", "digits"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    depth = channels or 1
    if kind == "noise":
        image = rng.integers(0, 256, (height, width, depth), dtype=np.uint8)
    elif kind == "constant":
        image = np.full((height, width, depth), draw(st.integers(0, 255)), np.uint8)
    elif kind == "digits":  # printed digits of any size, weight and colour on light paper: real candidates
        image = np.full((height, width, depth), draw(st.integers(150, 255)), np.uint8)
        for _ in range(draw(st.integers(1, 10))):
            colour = tuple(int(v) for v in rng.integers(0, 120, depth))
            origin = (int(rng.integers(-10, width)), int(rng.integers(0, height + 20)))
            font = int(rng.choice([cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX]))
            text = "".join(str(d) for d in rng.integers(0, 10, int(rng.integers(1, 5))))
            cv2.putText(image, text, origin, font, float(rng.uniform(0.3, 4)), colour, int(rng.integers(1, 9)))
    else:
        image = np.full((height, width, depth), draw(st.integers(120, 255)), np.uint8)
        if depth == 4:
            image[..., 3] = draw(st.sampled_from([255, 0, 128]))
        for _ in range(draw(st.integers(1, 15))):
            shape = draw(st.sampled_from(["rectangle", "line", "circle", "ellipse", "blob"]))
            colour = tuple(int(v) for v in rng.integers(0, 256, depth))
            x0, x1 = (int(v) for v in rng.integers(-20, width + 20, 2))
            y0, y1 = (int(v) for v in rng.integers(-20, height + 20, 2))
            thickness = int(rng.choice([-1, 1, 2, 3, 6, 12]))
            if shape == "rectangle":
                cv2.rectangle(image, (x0, y0), (x1, y1), colour, thickness)
            elif shape == "line":
                cv2.line(image, (x0, y0), (x1, y1), colour, max(thickness, 1))
            elif shape == "circle":
                cv2.circle(image, (x0, y0), int(rng.integers(1, 80)), colour, thickness)
            elif shape == "ellipse":
                axes = (int(rng.integers(1, 60)), int(rng.integers(1, 60)))
                cv2.ellipse(image, (x0, y0), axes, float(rng.uniform(0, 180)), 0, 360, colour, thickness)
            else:
                points = np.stack([rng.integers(-10, width + 10, 6), rng.integers(-10, height + 10, 6)], 1)
                cv2.fillPoly(image, [points.astype(np.int32)], colour)
    if channels is None:
        image = image[..., 0]
    dtype = draw(st.sampled_from(DTYPES))
    if dtype == "uint16":
        image = image.astype(np.uint16) * 257 + rng.integers(0, 257, image.shape).astype(np.uint16)
    elif dtype == "float32":
        scale = draw(st.sampled_from([1 / 255, 1.0]))  # [0, 1] floats and floats on a 0..255 scale
        image = image.astype(np.float32) * np.float32(scale)
        if draw(st.booleans()) and image.size:
            image.flat[rng.integers(0, image.size, max(1, image.size // 50))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return np.ascontiguousarray(image)


def _height_width(image: np.ndarray) -> tuple[int, int]:
    return image.shape[0], image.shape[1]


@SETTINGS
@given(image=arbitrary_images())
def test_segmenter_never_fails_and_boxes_stay_inside(image):
    height, width = _height_width(image)
    bgr = imageio.as_uint8(image)
    candidates = segment.find_candidates(bgr)
    event(f"candidates: {min(len(candidates), 3)}{'+' if len(candidates) >= 3 else ''}")
    assert bgr.dtype == np.uint8 and bgr.shape[:2] == (height, width) and bgr.ndim in (2, 3)
    for candidate in candidates:
        for box in [candidate.box, *(piece.box for split in candidate.splits for piece in split)]:
            x, y, w, h = box
            assert all(isinstance(v, int) for v in box), box
            assert w >= 1 and h >= 1 and x >= 0 and y >= 0, box
            assert x + w <= width and y + h <= height, (box, (width, height))
        assert candidate.mask.dtype == np.uint8 and candidate.mask.ndim == 2 and candidate.mask.size > 0


@SETTINGS
@given(image=arbitrary_images())
def test_reader_never_fails_and_its_output_is_well_formed(reader, image):
    height, width = _height_width(image)
    reading = reader.read(image)
    event(f"digits read: {min(len(reading.digits), 3)}{'+' if len(reading.digits) >= 3 else ''}")  # --hypothesis-show-statistics
    lines = [digit.line for digit in reading.digits]
    assert lines == sorted(lines) and all(isinstance(line, int) and line >= 0 for line in lines)
    assert sorted(set(lines)) == list(range(len(set(lines))))  # lines numbered 0, 1, 2 ... without gaps
    for digit in reading.digits:
        assert isinstance(digit.digit, int) and 0 <= digit.digit <= 9
        assert isinstance(digit.confidence, float) and reader.min_confidence <= digit.confidence <= 1.0
        x, y, w, h = digit.box
        assert all(isinstance(v, int) for v in digit.box)
        assert x >= 0 and y >= 0 and w >= 1 and h >= 1 and x + w <= width and y + h <= height, (digit.box, (width, height))
    rows = reading.text.split("\n") if reading.text else []
    assert len(rows) == len(set(lines))
    assert rows == ["".join(str(d.digit) for d in reading.digits if d.line == line) for line in sorted(set(lines))]
    within_line = [[d.box[0] + d.box[2] / 2 for d in reading.digits if d.line == line] for line in set(lines)]
    assert all(centres == sorted(centres) for centres in within_line)  # left to right along each line
    json.dumps(reading.to_dict())  # plain JSON types only


# ------------------------------------------------------------------ input contracts


@pytest.mark.parametrize("bad, expected", [
    (np.zeros((30, 30), np.complex64), "dtype"),
    (np.zeros((30, 30), bool), "dtype"),
    (np.zeros((30, 30), object), "dtype"),
    (np.zeros((30, 30), np.int8), "dtype"),
    (np.zeros(30, np.uint8), "shape"),
    (np.zeros((2, 30, 30, 3), np.uint8), "shape"),
    (np.zeros((30, 30, 5), np.uint8), "shape"),
    (np.zeros((30, 30, 2), np.float32), "shape"),
    ([[0, 255], [255, 0]], "numpy array"),
    (None, "numpy array"),
])
def test_reader_rejects_what_is_not_an_image(reader, bad, expected):
    with pytest.raises(ValueError, match="expected") as raised:
        reader.read(bad)
    assert expected in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize("shape", [(0, 0), (0, 40), (40, 0, 3)])
def test_reader_reads_nothing_in_an_empty_image(reader, shape):
    assert reader.read(np.zeros(shape, np.uint8)).digits == []


@pytest.mark.parametrize("backend", ["onnx", "tflite"])
@pytest.mark.parametrize("bad, expected", [
    (np.zeros((28, 28), np.float32), "(N, 28, 28, 1)"),
    (np.zeros((2, 28, 28, 3), np.float32), "(N, 28, 28, 1)"),
    (np.zeros((2, 32, 32, 1), np.float32), "(N, 28, 28, 1)"),
    (np.zeros((1, 2, 28, 28, 1), np.float32), "(N, 28, 28, 1)"),
    (np.zeros((2, 28, 28, 1), np.uint8), "float"),
    (np.zeros((2, 28, 28, 1), np.complex64), "float"),
    ([[0.0] * 28] * 28, "numpy array"),
])
def test_classifier_predict_rejects_wrong_inputs(model_dir, backend, bad, expected):
    from edge_digits.runtime.classifier import load_classifier

    classifier = load_classifier(model_dir, backend=backend)
    with pytest.raises(ValueError, match="expected") as raised:
        classifier.predict(bad)
    assert expected in str(raised.value)
    good = classifier.predict(np.zeros((3, 28, 28, 1), np.float32))  # and it still works afterwards
    assert good.shape == (3, 10) and np.allclose(good.sum(axis=1), 1.0, atol=1e-2)
