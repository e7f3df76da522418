"""Synthetic field images: strings of 1-8 MNIST digits as people write them in a field.

Digits touch, overlap and are joined by ligatures; punctuation (. , - /-), underlines, printed comb
boxes and security-pattern backgrounds are drawn as non-digits; stroke width, slant, blur, contrast,
resolution and ink polarity vary. Each image then goes through the runtime's prepare_field, so the
model learns on exactly what it will read. Training uses MNIST's training digits; the score suite
(measure/fields.py) uses the test digits. Needs numpy and OpenCV only.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_digits.runtime.field_strip import FIELD_HEIGHT, FIELD_WIDTH, prepare_field

CANVAS_HEIGHT = 64
MAX_DIGITS = 8
LENGTH_WEIGHTS = np.array([3, 5, 10, 14, 14, 10, 6, 4], np.float64)  # 1..8 digits; fields hold 3-6 most often


def crop_columns(digit: np.ndarray) -> np.ndarray:
    """A 28x28 MNIST digit (uint8, light on black) cut to its ink's rows and columns, as float [0, 1]."""
    mask = digit > 30
    rows, columns = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if rows.size == 0:
        return digit.astype(np.float32) / 255.0
    return digit[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1].astype(np.float32) / 255.0


def stroke(canvas: np.ndarray, points: np.ndarray, thickness: int, level: float = 1.0) -> None:
    """Draw a polyline of ink into a float canvas (max-composited)."""
    layer = np.zeros_like(canvas)
    cv2.polylines(layer, [np.round(points).astype(np.int32)], False, level, max(1, thickness), cv2.LINE_AA)
    np.maximum(canvas, layer, out=canvas)


def shaped_digit(digit: np.ndarray, height: int, rng: np.random.Generator) -> np.ndarray:
    """One digit scaled to `height` rows, slanted, and thickened or thinned."""
    crop = crop_columns(digit)
    scale = height / crop.shape[0]
    width = max(2, int(round(crop.shape[1] * scale * rng.uniform(0.8, 1.25))))
    shaped = cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR)
    shear = rng.uniform(-0.35, 0.25)
    pad = int(abs(shear) * height) + 1
    matrix = np.float32([[1, shear, pad - (shear * height if shear > 0 else 0)], [0, 1, 0]])
    shaped = cv2.warpAffine(shaped, matrix, (width + pad, height))
    kernel = np.ones((2, 2), np.uint8)
    change = rng.random()
    if change < 0.3:
        shaped = cv2.dilate(shaped, kernel)
    elif change < 0.45:
        shaped = cv2.erode(shaped, kernel) if shaped.max() > 0 else shaped
    columns = np.nonzero(shaped.max(axis=0) > 0.1)[0]
    return shaped[:, columns[0]:columns[-1] + 1] if columns.size else shaped


def security_pattern(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Faint guilloche-like arcs or waves in [0, 1] behind the ink."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    kind = rng.integers(3)
    if kind == 0:  # concentric arcs around a far centre, as on cheques
        cy, cx = rng.uniform(-3, 4) * height, rng.uniform(-1, 2) * width
        radius = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        pattern = 0.5 + 0.5 * np.cos(radius * 2 * np.pi / rng.uniform(3, 9))
    elif kind == 1:  # waves
        period = rng.uniform(4, 12)
        pattern = 0.5 + 0.5 * np.cos((yy + rng.uniform(2, 8) * np.sin(xx / rng.uniform(6, 20))) * 2 * np.pi / period)
    else:  # crossed hatching
        a, b = rng.uniform(3, 8), rng.uniform(3, 8)
        pattern = np.maximum(0.5 + 0.5 * np.cos((xx + yy) * 2 * np.pi / a), 0.5 + 0.5 * np.cos((xx - yy) * 2 * np.pi / b))
    return (pattern > rng.uniform(0.6, 0.9)).astype(np.float32) * rng.uniform(0.15, 0.45)


def draw_punctuation(canvas: np.ndarray, x: float, baseline: float, size: float, kind: str, thickness: int) -> float:
    """Draw '.', ',', '-', '/-', '=' or a check mark starting at x on the baseline; returns the x after it."""
    if kind == ".":
        cv2.circle(canvas, (int(x + size * 0.1), int(baseline - 1)), max(1, thickness), 1.0, -1, cv2.LINE_AA)
        return x + size * 0.3
    if kind == ",":
        stroke(canvas, np.array([[x + size * 0.15, baseline - 2], [x, baseline + size * 0.2]]), thickness)
        return x + size * 0.3
    if kind == "-":
        y = baseline - size * np.random.default_rng(int(x)).uniform(0.1, 0.5)
        stroke(canvas, np.array([[x, y], [x + size * 0.5, y - 1]]), thickness)
        return x + size * 0.6
    if kind == "=":
        for offset in (0.25, 0.5):
            stroke(canvas, np.array([[x, baseline - size * offset], [x + size * 0.5, baseline - size * offset]]), thickness)
        return x + size * 0.6
    if kind == "tick":  # a check mark some writers put before an amount
        stroke(canvas, np.array([[x, baseline - size * 0.4], [x + size * 0.2, baseline], [x + size * 0.45, baseline - size]]),
               thickness)
        return x + size * 0.5
    # "/-"
    stroke(canvas, np.array([[x, baseline], [x + size * 0.3, baseline - size * 0.8]]), thickness)
    stroke(canvas, np.array([[x + size * 0.3, baseline - size * 0.4], [x + size * 0.7, baseline - size * 0.42]]), thickness)
    return x + size * 0.8


def compose_string(digits: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """The ink mask (float [0, 1], CANVAS_HEIGHT rows) of one written field, with non-digit marks,
    and how many of the digits it holds (all of them unless the canvas ran out)."""
    size = CANVAS_HEIGHT * rng.uniform(0.5, 0.75)
    top = CANVAS_HEIGHT * 0.15
    baseline = top + size
    thickness = int(rng.integers(1, 4))
    combed = rng.random() < 0.12
    cell = size * rng.uniform(0.9, 1.3)
    width = int(len(digits) * size * 1.4 + size * 3 + 40)
    canvas = np.zeros((CANVAS_HEIGHT, width), np.float32)
    x = rng.uniform(2, 15)
    if combed:  # printed boxes: a cell per digit, digits written inside
        box_top, box_bottom = top - size * 0.15, baseline + size * 0.15
        for index in range(len(digits) + int(rng.integers(0, 3))):
            left = x + index * cell
            cv2.rectangle(canvas, (int(left), int(box_top)), (int(left + cell), int(box_bottom)), rng.uniform(0.6, 1.0), 1)
    if not combed and rng.random() < 0.08:  # a leading check mark or dash
        x = draw_punctuation(canvas, x, baseline, size, str(rng.choice(["tick", "-"])), thickness) + rng.uniform(0, 6)
    small_from = len(digits) - int(rng.integers(1, 4)) if rng.random() < 0.15 else len(digits)  # "1 oo": small last digits
    ends = []
    for index, digit in enumerate(digits):
        height = int(size * (rng.uniform(0.8, 1.1) if index < small_from else rng.uniform(0.45, 0.75)))
        shaped = shaped_digit(digit, height, rng)
        y = int(np.clip(baseline - height + rng.normal(0, size * 0.06), 0, CANVAS_HEIGHT - height))
        if combed:
            x = x + (cell - shaped.shape[1]) / 2 if index == 0 else ends[-1][0] + (cell - shaped.shape[1]) / 2
        left = max(0, int(x))
        if left + shaped.shape[1] >= width:
            break
        np.maximum(canvas[y:y + height, left:left + shaped.shape[1]], shaped, out=canvas[y:y + height, left:left + shaped.shape[1]])
        if combed:
            ends.append((left + shaped.shape[1] + (cell - shaped.shape[1]) / 2, y + height))
            x = ends[-1][0]
            continue
        if ends and rng.random() < 0.2:  # a ligature from the previous digit's foot into this one
            previous_x, previous_bottom = ends[-1]
            stroke(canvas, np.array([[previous_x - 2, previous_bottom - size * 0.2],
                                     [(previous_x + left) / 2, previous_bottom - size * rng.uniform(0.0, 0.3)],
                                     [left + 2, y + height * rng.uniform(0.5, 0.85)]]), thickness)
        ends.append((left + shaped.shape[1], y + height))
        gap = shaped.shape[1] * rng.uniform(-0.3, 0.35)
        if rng.random() < 0.1 and index < len(digits) - 1:  # a thousands separator
            x = draw_punctuation(canvas, left + shaped.shape[1] + 2, baseline, size, str(rng.choice([".", ","])), thickness) + 2
        else:
            x = left + shaped.shape[1] + gap
    if not combed and rng.random() < 0.35:  # a trailing mark: "100.-", "25,-", "/-"
        x = draw_punctuation(canvas, x + 2, baseline, size, str(rng.choice([".", "-", "/-", ",", "="])), thickness)
        if rng.random() < 0.4:
            x = draw_punctuation(canvas, x + 1, baseline, size, "-", thickness)
    if not combed and rng.random() < 0.3:  # an underline the digits may touch
        y = baseline + rng.uniform(-2, size * 0.25)
        stroke(canvas, np.array([[0, y], [width - 1, y + rng.uniform(-3, 3)]]), int(rng.integers(1, 3)), rng.uniform(0.5, 1.0))
    if rng.random() < 0.15:  # a printed border or stray bar at either end of the field
        side = rng.uniform(0, 4) if rng.random() < 0.5 else min(width - 2, x + rng.uniform(2, 20))
        stroke(canvas, np.array([[side, rng.uniform(0, top)], [side, CANVAS_HEIGHT - rng.uniform(0, 8)]]), 1, rng.uniform(0.4, 1.0))
    right = int(min(width, x + rng.uniform(2, 30)))
    return canvas[:, :max(right, 8)], len(ends)


def render_photo(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ink mask -> a uint8 gray 'photo' of it: paper shade, pattern, ink contrast, blur, noise, resolution."""
    height, width = mask.shape
    paper = rng.uniform(110, 245)
    ink_level = paper * rng.uniform(0.0, 0.6)
    marks = mask.copy()
    if rng.random() < 0.5:
        marks = np.maximum(marks, security_pattern(height, width, rng))
    gray = paper - (paper - ink_level) * marks
    gray += rng.normal(0, rng.uniform(1, 8), gray.shape) + np.linspace(0, rng.uniform(-25, 25), width)[None, :]
    sigma = rng.uniform(0.1, 1.3)
    gray = cv2.GaussianBlur(gray, (0, 0), sigma)
    target_height = int(rng.uniform(28, 80))
    if target_height < height:
        gray = cv2.resize(gray, (max(4, int(width * target_height / height)), target_height), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.08:  # light ink on a dark board
        gray = 255 - gray
    return np.clip(gray, 0, 255).astype(np.uint8)


def sample_digits(labels: np.ndarray, rng: np.random.Generator) -> list[int]:
    """Indices of one string's digits: 1-8 of them, weighted to 3-6; some strings end in runs of zeros."""
    length = int(rng.choice(MAX_DIGITS, p=LENGTH_WEIGHTS / LENGTH_WEIGHTS.sum())) + 1
    zeros = np.nonzero(labels == 0)[0]
    if rng.random() < 0.15 and zeros.size:  # amounts end in zeros: "2000", "500000"
        return [int(rng.integers(len(labels)))] + [int(pick) for pick in rng.choice(zeros, length - 1)]
    return [int(pick) for pick in rng.integers(0, len(labels), length)]


def field_batch(images: np.ndarray, labels: np.ndarray, count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`count` synthetic fields from MNIST (images, labels): strips (count, H, W, 1) uint8,
    targets (count, MAX_DIGITS) int32 padded with -1, and lengths (count,) int32."""
    rng = np.random.default_rng(seed)
    strips = np.zeros((count, FIELD_HEIGHT, FIELD_WIDTH, 1), np.uint8)
    targets = np.full((count, MAX_DIGITS), -1, np.int32)
    lengths = np.zeros(count, np.int32)
    for index in range(count):
        photo, written = synthetic_field(images, labels, rng)
        strip = prepare_field(photo).pixels
        strips[index, :, :, 0] = np.round(strip * 255).astype(np.uint8)
        targets[index, :len(written)] = written
        lengths[index] = len(written)
    return strips, targets, lengths


def synthetic_field(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic field photo (gray uint8) of digits drawn from (images, labels), and the digits it holds."""
    picks = sample_digits(labels, rng)
    mask, written = compose_string([images[pick] for pick in picks], rng)
    return render_photo(mask, rng), labels[picks[:written]]


def labels_of(targets: np.ndarray, lengths: np.ndarray) -> list[str]:
    """field_batch's padded targets and lengths -> the digit strings."""
    return ["".join(str(digit) for digit in row[:length]) for row, length in zip(targets, lengths)]
