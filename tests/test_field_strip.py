"""The field runtime without a model: strip preparation, greedy CTC decoding, scores and the folder split."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edge_digits.measure.fields import field_examples, string_scores
from edge_digits.runtime.field_strip import (
    BLANK,
    FIELD_HEIGHT,
    FIELD_WIDTH,
    INK_HEIGHT,
    STRIDE,
    decode_field,
    greedy_decode,
    prepare_field,
)


def one_hot(labels: list[int], confidence: float = 0.9) -> np.ndarray:
    probabilities = np.full((len(labels), BLANK + 1), (1 - confidence) / BLANK, np.float32)
    probabilities[np.arange(len(labels)), labels] = confidence
    return probabilities


def written_field(width: int = 300, height: int = 60, dark_ink: bool = True) -> np.ndarray:
    """A gray field with '2 0 7' drawn by OpenCV in the middle, on a textured paper."""
    paper = np.full((height, width), 200, np.uint8)
    paper[::7, :] = 185  # a faint printed pattern
    cv2.putText(paper, "207", (60, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.3, 30, 3)
    return paper if dark_ink else 255 - paper


def test_greedy_decode_merges_runs_and_keeps_blank_separated_repeats():
    b = BLANK
    digits = greedy_decode(one_hot([b, 3, 3, b, 0, b, 0, 0, b, b]))
    assert [digit for digit, *_ in digits] == [3, 0, 0]
    assert [(first, last) for _, _, first, last in digits] == [(1, 2), (4, 4), (6, 7)]
    assert all(abs(confidence - 0.9) < 1e-6 for _, confidence, _, _ in digits)


def test_greedy_decode_refuses_a_wrong_shape():
    with pytest.raises(ValueError, match="probabilities"):
        greedy_decode(np.zeros((32, 10), np.float32))


def test_prepare_field_fits_the_ink_to_the_strip_whatever_the_polarity():
    dark, light = prepare_field(written_field(dark_ink=True)), prepare_field(written_field(dark_ink=False))
    assert dark.pixels.shape == (FIELD_HEIGHT, FIELD_WIDTH)
    np.testing.assert_allclose(dark.pixels, light.pixels, atol=0.02)
    rows = np.nonzero(dark.pixels.max(axis=1) > 0.5)[0]
    assert rows[0] >= (FIELD_HEIGHT - INK_HEIGHT) // 2 - 1 and rows[-1] <= (FIELD_HEIGHT + INK_HEIGHT) // 2
    assert dark.pixels[:, dark.ink_width:].max() == 0.0  # padding is black
    assert 40 < dark.x_offset < 70  # the crop starts at the ink, not the image's edge
    assert dark.pixels[dark.pixels > 0].mean() > 0.3 and np.mean(dark.pixels < 0.1) > 0.5  # pattern suppressed


def test_prepare_field_squeezes_a_long_field_and_keeps_a_blank_one_blank():
    long_field = np.full((40, 2000), 220, np.uint8)
    cv2.putText(long_field, "1234567890" * 3, (5, 32), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 20, 2)
    assert prepare_field(long_field).ink_width == FIELD_WIDTH
    assert prepare_field(np.full((50, 120), 180, np.uint8)).pixels.max() == 0.0


def test_decode_field_maps_columns_back_to_image_x():
    image = written_field()
    strip = prepare_field(image)
    probabilities = one_hot([BLANK] * 32)
    probabilities[10:12] = one_hot([5, 5])
    (digit,) = decode_field(probabilities, strip)
    assert digit.digit == 5
    expected_center = strip.x_offset + 11 * STRIDE * strip.x_scale
    assert digit.x0 < expected_center < digit.x1 <= image.shape[1]


def test_string_scores_count_edits_and_exact_fields():
    accuracy, exact = string_scores(["123", "4556", ""], ["123", "456", "78"])
    assert accuracy == pytest.approx(1 - (0 + 1 + 2) / 8)
    assert exact == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        string_scores(["1"], [])


def test_field_examples_hold_back_every_fourth_field(tmp_path):
    labels = [{"file": f"f{index:03d}.png", "digits": str(index)} for index in range(10)][::-1]
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    development, held_back = field_examples(tmp_path, "development"), field_examples(tmp_path, "held-back")
    assert [file for file, _ in held_back] == ["f003.png", "f007.png"]
    assert sorted(development + held_back) == field_examples(tmp_path, "all")
    assert len(field_examples(tmp_path, "first200")) == 10


def test_prepare_field_takes_a_hairline():
    image = np.full((40, 90), 230, np.uint8)
    cv2.line(image, (40, 35), (44, 5), 40, 1)  # one ink pixel per row
    strip = prepare_field(image)
    assert strip.pixels.max() > 0.3 and strip.ink_width >= 4
