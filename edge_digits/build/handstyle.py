"""Writing styles MNIST barely holds: the flagged 1 and the crossed 7 of continental Europe and India.

MNIST's writers were American: almost every 1 is a bare stroke and no 7 is crossed, so a model
trained on it reads a 1 with a flag as a 7 or 9. These functions draw the missing strokes onto
MNIST digits (light ink on black, 28x28 uint8): training adds them to a share of its 1s and 7s
(augment.add_hand_styles), and `edge-digits score --styles` measures them with a different
rendering (curved strokes drawn 4x larger), so the check is not the training generator itself.
"""

from __future__ import annotations

import cv2
import numpy as np

INK = 128  # pixel value above which a pixel is ink when locating strokes
UPSCALE = 4  # the measuring renderer draws at this scale, then shrinks with area averaging


def stroke_width(image: np.ndarray) -> int:
    """Pen width in pixels (1-4): twice the largest distance from ink to background."""
    ink = (image > INK).astype(np.uint8)
    if not ink.any():
        return 2
    return int(np.clip(round(2 * float(cv2.distanceTransform(ink, cv2.DIST_L2, 3).max())), 1, 4))


def _ink_rows(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int, int] | None:
    """(rows, cols, top, bottom, height) of the ink pixels, or None for a blank image."""
    rows, cols = np.nonzero(image > INK)
    if rows.size == 0:
        return None
    top, bottom = int(rows.min()), int(rows.max())
    return rows, cols, top, bottom, bottom - top + 1


def flag_one(image: np.ndarray, rng: np.random.Generator, curved: bool = False) -> np.ndarray:
    """A copy of a 1 with a flag from its top down to the left, and sometimes a foot at its base."""
    ink = _ink_rows(image)
    if ink is None:
        return image.copy()
    rows, cols, top, bottom, height = ink
    top_x = float(cols[rows <= top + 1].mean())
    length = rng.uniform(0.22, 0.4) * height
    angle = np.deg2rad(rng.uniform(30.0, 65.0))  # below the horizontal
    end = (top_x - length * np.cos(angle), top + length * np.sin(angle))
    strokes = [_bent((top_x, top), end, rng) if curved else [(top_x, top), end]]
    if rng.random() < 0.25:  # some writers also give the 1 a foot
        bottom_x = float(cols[rows >= bottom - 1].mean())
        half = rng.uniform(0.18, 0.3) * height
        strokes.append([(bottom_x - half, bottom), (bottom_x + half, bottom)])
    return _draw(image, strokes, stroke_width(image), curved)


def cross_seven(image: np.ndarray, rng: np.random.Generator, curved: bool = False) -> np.ndarray:
    """A copy of a 7 with a short bar across its stem, a little below half its height."""
    ink = _ink_rows(image)
    if ink is None:
        return image.copy()
    rows, cols, top, _, height = ink
    y = int(round(top + rng.uniform(0.45, 0.62) * height))
    stem = cols[np.abs(rows - y) <= 1]
    if stem.size == 0:
        return image.copy()
    x = float(stem.mean())
    half = rng.uniform(0.14, 0.24) * height
    tilt = rng.uniform(-0.08, 0.08) * height
    start, end = (x - half, y + tilt), (x + half, y - tilt)
    strokes = [_bent(start, end, rng) if curved else [start, end]]
    return _draw(image, strokes, stroke_width(image), curved)


def _bent(start: tuple[float, float], end: tuple[float, float], rng: np.random.Generator) -> list[tuple[float, float]]:
    """Points of a gently curved stroke from start to end (its middle pushed sideways)."""
    (x0, y0), (x1, y1) = start, end
    length = float(np.hypot(x1 - x0, y1 - y0)) or 1.0
    bow = rng.uniform(-0.15, 0.15) * length
    normal = (-(y1 - y0) / length, (x1 - x0) / length)
    steps = np.linspace(0.0, 1.0, 8)
    offsets = bow * 4 * steps * (1 - steps)
    return [(x0 + (x1 - x0) * t + normal[0] * o, y0 + (y1 - y0) * t + normal[1] * o) for t, o in zip(steps, offsets)]


def _draw(image: np.ndarray, strokes: list[list[tuple[float, float]]], width: int, fine: bool) -> np.ndarray:
    """`image` with the polylines drawn in full-strength ink: directly, or at UPSCALE and shrunk back."""
    scale = UPSCALE if fine else 1
    canvas = np.zeros((28 * scale, 28 * scale), np.uint8)
    for points in strokes:
        # pixel centres sit at +0.5 when scaling coordinates up
        line = np.array([[(x + 0.5) * scale - 0.5, (y + 0.5) * scale - 0.5] for x, y in points])
        cv2.polylines(canvas, [np.round(line).astype(np.int32)], False, 255, width * scale, cv2.LINE_AA)
    if fine:
        canvas = cv2.resize(canvas, (28, 28), interpolation=cv2.INTER_AREA)
    return np.maximum(image, canvas)
