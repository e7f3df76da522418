"""Stray marks beside a row of digits: a tick, a dash or a hairline is not a digit, however
confidently the classifier reads it as a 1. A blob is a stray mark when it is one straight stroke
and the digits of its row (level with it and near it) are far larger, or draw strokes far thicker.
Small digits written beside tall ones (a 0 or a 5 a third of a 7's height) are not straight strokes."""

from __future__ import annotations

import cv2
import numpy as np

from edge_digits.runtime.normalize import stroke_width

STRAY_SIZE = 0.5  # a blob whose longest side is under this share of its row neighbours' height ...
STRAY_STROKE = 0.4  # ... or whose strokes are under this share of theirs (a hairline) is a stray mark
NEAR = 1.5  # row neighbours: level with the blob and at most this many of their heights away
STRAIGHT = 1.3  # a straight stroke's outline is at most this many times twice its box's diagonal ...
ELONGATED = 3.0  # ... and it is at least this many times longer than wide


def stray_marks(boxes: np.ndarray, masks: list[np.ndarray]) -> np.ndarray:
    """Which blobs (boxes x, y, w, h and their 0/255 masks, working pixels) are stray marks beside a row."""
    count = len(boxes)
    found = np.zeros(count, bool)
    if count < 2:
        return found
    x, y, w, h = (boxes[:, i].astype(np.float64) for i in range(4))
    centre = y + h / 2
    gap = np.maximum(x[None, :] - (x + w)[:, None], x[:, None] - (x + w)[None, :])  # [i, j]: horizontal gap
    level = (centre[:, None] >= y[None, :]) & (centre[:, None] <= (y + h)[None, :])  # i's centre within j's rows
    near = level & (gap <= NEAR * h[None, :])
    np.fill_diagonal(near, False)
    suspects = np.flatnonzero(near.any(axis=1))
    if suspects.size == 0:
        return found
    strokes: dict[int, float] = {}

    def stroke(index: int) -> float:
        if index not in strokes:
            strokes[index] = stroke_width(masks[index])
        return strokes[index]

    for i in suspects:
        if not straight(masks[i]):
            continue
        neighbours = np.flatnonzero(near[i])
        if max(w[i], h[i]) < STRAY_SIZE * float(np.median(h[neighbours])):
            found[i] = True
        elif stroke(i) < STRAY_STROKE * float(np.median([stroke(j) for j in neighbours])):
            found[i] = True
    return found


def straight(mask: np.ndarray) -> bool:
    """Whether a 0/255 mask is one straight stroke: its outline no longer than STRAIGHT times the
    two sides of a line along its box's diagonal (curves, loops and crossings make it longer), and
    at least ELONGATED stroke widths long (a digit too small to show its loop is a dot, not a stroke)."""
    ink = (mask > 0).view(np.uint8)
    area = cv2.countNonZero(ink)
    outline = area - cv2.countNonZero(cv2.erode(ink, np.ones((3, 3), np.uint8), borderValue=0))
    # length / width of a stroke = (outline / 2) / (2 * area / outline)
    return outline <= STRAIGHT * 2.0 * float(np.hypot(*mask.shape)) and outline * outline >= 4.0 * ELONGATED * area
