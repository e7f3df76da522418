"""Stray marks beside a row of digits: a tick, a dash or a hairline is not a digit, however
confidently the classifier reads it as a 1. A blob is a stray mark when it is one straight stroke
and the digits of its row (level with it and near it) are far larger, or draw strokes far thicker.
Small digits written beside tall ones (a 0 or a 5 a third of a 7's height) are not straight strokes."""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

STRAY_SIZE = 0.5  # a blob whose longest side is under this share of its row neighbours' height ...
STRAY_STROKE = 0.3  # ... or whose strokes are under this share of theirs (a hairline) is a stray mark
NEAR = 1.5  # row neighbours: level with the blob and at most this many of their heights away
STRAIGHT = 1.3  # a straight stroke's outline is at most this many times twice its box's diagonal ...
ELONGATED = 3.0  # ... and it is at least this many times longer than wide


def outline(mask: np.ndarray) -> int:
    """Outline pixels of a 0/255 mask: ink with paper among its 8 neighbours."""
    ink = (mask > 0).view(np.uint8)
    return cv2.countNonZero(ink) - cv2.countNonZero(cv2.erode(ink, np.ones((3, 3), np.uint8), borderValue=0))


def stray_marks(boxes: np.ndarray, areas: np.ndarray, outline_of: Callable[[int], int]) -> np.ndarray:
    """Which blobs (boxes x, y, w, h and ink areas in working pixels; `outline_of(i)` gives blob i's
    outline length, asked only of the few blobs that may be marks and their neighbours) are stray marks."""
    found = np.zeros(len(boxes), bool)
    if len(boxes) < 2:
        return found
    x, y, w, h = (boxes[:, i].astype(np.float64) for i in range(4))
    centre = y + h / 2
    gap = np.maximum(x[None, :] - (x + w)[:, None], x[:, None] - (x + w)[None, :])  # [i, j]: horizontal gap
    level = (centre[:, None] >= y[None, :]) & (centre[:, None] <= (y + h)[None, :])  # i's centre within j's rows
    near = level & (gap <= NEAR * h[None, :])
    np.fill_diagonal(near, False)
    diagonal = np.hypot(w, h)
    # ink per diagonal pixel is a straight stroke's width and at least any digit's, so it finds every
    # possible hairline; size alone finds the small marks
    thin = areas / diagonal
    edges: dict[int, float] = {}

    def edge(index: int) -> float:
        if index not in edges:
            edges[index] = max(float(outline_of(index)), 1.0)
        return edges[index]

    rows = near.any(axis=1)
    if not rows.any():
        return found
    small = np.maximum(w, h)[rows] < STRAY_SIZE * _row_medians(h, near[rows])
    hairline = thin[rows] < STRAY_STROKE * _row_medians(thin, near[rows])
    for i, is_small in zip(np.flatnonzero(rows)[small | hairline], small[small | hairline]):
        neighbours = np.flatnonzero(near[i])
        # one straight stroke: an outline about twice the diagonal, and long for its width ((outline / 2) / stroke)
        if edge(i) > STRAIGHT * 2.0 * diagonal[i] or edge(i) ** 2 < 4.0 * ELONGATED * areas[i]:
            continue
        found[i] = is_small or 2.0 * areas[i] / edge(i) < STRAY_STROKE * float(np.median(
            [2.0 * areas[j] / edge(j) for j in neighbours]))
    return found


def _row_medians(values: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Per row of the boolean matrix `chosen` (none empty), the median of the values it chooses."""
    ordered = np.sort(np.where(chosen, values[None, :], np.inf), axis=1)
    count, rows = chosen.sum(axis=1), np.arange(len(chosen))
    return (ordered[rows, (count - 1) // 2] + ordered[rows, count // 2]) / 2.0
