"""Stray marks beside a row of digits: a tick, a dash or a hairline is not a digit, however
confidently the classifier reads it as a 1. A blob is a stray mark when it is one straight stroke
and the digits of its row (level with it and near it) are far larger, or draw strokes far thicker.
Small digits written beside tall ones (a 0 or a 5 a third of a 7's height) are not straight strokes."""

from __future__ import annotations

import cv2
import numpy as np

STRAY_SIZE = 0.5  # a blob whose longest side is under this share of its row neighbours' height ...
STRAY_STROKE = 0.3  # ... or whose strokes are under this share of theirs (a hairline) is a stray mark
NEAR = 1.5  # row neighbours: level with the blob and at most this many of their heights away
STRAIGHT = 1.3  # a straight stroke's outline is at most this many times twice its box's diagonal ...
ELONGATED = 3.0  # ... and it is at least this many times longer than wide


def outlines(labels: np.ndarray) -> np.ndarray:
    """Outline pixels (ink with paper among its 8 neighbours) of every label of a labelled image, by label."""
    ink = (labels > 0).view(np.uint8)
    edge = cv2.subtract(ink, cv2.erode(ink, np.ones((3, 3), np.uint8), borderValue=0))
    return np.bincount(labels[edge > 0], minlength=int(labels.max()) + 1)


def stray_marks(boxes: np.ndarray, areas: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Which blobs (boxes x, y, w, h, ink areas and outline lengths, working pixels) are stray marks beside a row."""
    found = np.zeros(len(boxes), bool)
    if len(boxes) < 2:
        return found
    x, y, w, h = (boxes[:, i].astype(np.float64) for i in range(4))
    centre = y + h / 2
    gap = np.maximum(x[None, :] - (x + w)[:, None], x[:, None] - (x + w)[None, :])  # [i, j]: horizontal gap
    level = (centre[:, None] >= y[None, :]) & (centre[:, None] <= (y + h)[None, :])  # i's centre within j's rows
    near = level & (gap <= NEAR * h[None, :])
    np.fill_diagonal(near, False)
    edges = np.maximum(edges.astype(np.float64), 1.0)
    # one straight stroke: an outline about twice the diagonal, and long for its width ((outline / 2) / stroke)
    straight = (edges <= STRAIGHT * 2.0 * np.hypot(w, h)) & (edges * edges >= 4.0 * ELONGATED * areas)
    stroke = 2.0 * areas / edges  # mean stroke width
    for i in np.flatnonzero(straight & near.any(axis=1)):
        neighbours = np.flatnonzero(near[i])
        found[i] = (max(w[i], h[i]) < STRAY_SIZE * float(np.median(h[neighbours]))
                    or stroke[i] < STRAY_STROKE * float(np.median(stroke[neighbours])))
    return found
