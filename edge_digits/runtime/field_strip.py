"""One field image -> the field model's input strip, and the model's per-column output -> digits.

The strip is FIELD_HEIGHT x FIELD_WIDTH, ink bright on black in [0, 1] (MNIST's polarity), the ink's
rows scaled to the strip's height and its columns left-aligned (squeezed when the field is wider).
Synthetic training strings go through the same prepare_field, so training and reading see one
preprocessing. Greedy CTC decoding: the best class per column, repeats merged, blanks dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from edge_digits.runtime.normalize import to_gray_float

FIELD_HEIGHT = 32
FIELD_WIDTH = 128
INK_HEIGHT = 28  # rows of the strip the ink's box fills; 2 px margin above and below
BLANK = 10  # CTC blank: classes 0-9 are the digits
STRIDE = 4  # strip columns per output column


@dataclass
class Strip:
    """The model input and how strip columns map back to the image's x coordinates."""

    pixels: np.ndarray  # (FIELD_HEIGHT, FIELD_WIDTH) float32
    x_offset: float  # image x of strip column 0
    x_scale: float  # image pixels per strip column
    ink_width: int  # strip columns holding the field (the rest is padding)


def ink_image(image: Any) -> np.ndarray:
    """Gray image -> ink in [0, 1], bright on black: the minority polarity is ink, the paper's level is 0
    and the strongest ink (99.5th percentile) is 1, so light security patterns stay faint."""
    gray = to_gray_float(image)
    low, median, high = np.percentile(gray, (0.2, 50, 99.8))
    if median - low > high - median:  # paper brighter than the ink: dark ink
        gray = 1.0 - gray
    background = float(np.percentile(gray, 50))
    level = float(np.percentile(gray, 99.5))
    if level - background < 0.04:  # blank field
        return np.zeros(gray.shape, np.float32)
    return np.clip((gray - background) / (level - background), 0.0, 1.0).astype(np.float32)


def ink_box(ink: np.ndarray, threshold: float = 0.45) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the rows and columns holding ink; isolated specks (under 2% of the
    heaviest row's or column's ink) do not stretch the box."""
    mask = ink > threshold
    rows, columns = mask.sum(axis=1), mask.sum(axis=0)
    if rows.max(initial=0) == 0:
        return 0, ink.shape[0], 0, ink.shape[1]
    kept_rows = np.nonzero(rows > max(1.0, 0.02 * rows.max()))[0]
    if kept_rows.size == 0:  # a hairline: one ink pixel per row
        kept_rows = np.nonzero(rows)[0]
    kept_columns = np.nonzero(columns > 0.02 * columns.max())[0]
    return int(kept_rows[0]), int(kept_rows[-1]) + 1, int(kept_columns[0]), int(kept_columns[-1]) + 1


def prepare_field(image: Any) -> Strip:
    """Any field image (gray or colour, dark or light ink) -> the (FIELD_HEIGHT, FIELD_WIDTH) strip."""
    ink = ink_image(image)
    top, bottom, left, right = ink_box(ink)
    margin = max(1, (bottom - top) // 12)
    top, bottom = max(0, top - margin), min(ink.shape[0], bottom + margin)
    left, right = max(0, left - margin), min(ink.shape[1], right + margin)
    crop = ink[top:bottom, left:right]
    scale = INK_HEIGHT / crop.shape[0]
    width = max(1, int(round(crop.shape[1] * scale)))
    if width > FIELD_WIDTH:  # a long field is squeezed sideways to fit
        width = FIELD_WIDTH
    resized = cv2.resize(crop, (width, INK_HEIGHT), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    strip = np.zeros((FIELD_HEIGHT, FIELD_WIDTH), np.float32)
    pad = (FIELD_HEIGHT - INK_HEIGHT) // 2
    strip[pad:pad + INK_HEIGHT, :width] = resized
    return Strip(strip, float(left), crop.shape[1] / width, width)


@dataclass
class FieldDigit:
    """One decoded digit: its value, confidence and approximate image x-span."""

    digit: int
    confidence: float
    x0: float
    x1: float

    def to_dict(self) -> dict[str, Any]:
        return {"digit": self.digit, "confidence": round(self.confidence, 4), "x": [round(self.x0, 1), round(self.x1, 1)]}


def greedy_decode(probabilities: np.ndarray) -> list[tuple[int, float, int, int]]:
    """(T, 11) per-column probabilities -> (digit, confidence, first column, last column) per digit:
    the best class per column, runs merged, blanks dropped; confidence is the run's highest probability."""
    if probabilities.ndim != 2 or probabilities.shape[1] != BLANK + 1:
        raise ValueError(f"expected (columns, {BLANK + 1}) probabilities, got shape {probabilities.shape}")
    best = probabilities.argmax(axis=1)
    digits: list[tuple[int, float, int, int]] = []
    previous = BLANK
    for column, label in enumerate(best):
        label = int(label)
        if label != BLANK and label == previous:
            digit, confidence, first, _ = digits[-1]
            digits[-1] = (digit, max(confidence, float(probabilities[column, label])), first, column)
        elif label != BLANK:
            digits.append((label, float(probabilities[column, label]), column, column))
        previous = label
    return digits


def decode_strings(probabilities: np.ndarray) -> list[str]:
    """(N, T, 11) probabilities -> the N greedy CTC digit strings."""
    return ["".join(str(digit) for digit, *_ in greedy_decode(row)) for row in probabilities]


def decode_field(probabilities: np.ndarray, strip: Strip) -> list[FieldDigit]:
    """Greedy CTC digits with their x-spans mapped back to the image (each output column covers
    STRIDE strip columns; a span is widened by one column each side, as CTC peaks are narrow)."""
    result = []
    for digit, confidence, first, last in greedy_decode(probabilities):
        x0 = max(0.0, (first - 1) * STRIDE)
        x1 = min(float(strip.ink_width), (last + 2) * STRIDE)
        result.append(FieldDigit(digit, confidence, strip.x_offset + x0 * strip.x_scale, strip.x_offset + x1 * strip.x_scale))
    return result
