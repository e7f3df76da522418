"""Reading order: digits grouped into (possibly sloped) lines, lines top to bottom, digits left to right.

Neighbours chain into lines where their heights overlap; fragments of one row whose digits vary in size
and wobble (a top 30 px higher, a digit a third taller) are then joined where their local bands overlap
and no digit of one stands above a digit of the other, as a person reads a row whatever its wobble."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np

DESKEW_FROM = 6.0  # degrees: digits on rows tilted at least this much are turned level before classifying,
DESKEW_DIGITS = 3  # when at least this many digits show the tilt
GROUP_GAP = 1.0  # digits further apart than this many digit heights are in one line only if level:
LEVEL = 0.5  # their centres (deskewed) within this share of the smaller digit's height
CHAIN_OVERLAP = 0.35  # neighbours chain when their heights overlap by this share of the smaller one
BAND_MEMBERS = 3  # a line's local band: the extent of its this many digits nearest the other line
JOIN_OVERLAP = 0.25  # lines join when their local bands overlap by this share of the smaller band ...
STACKED = 0.3  # ... and no digit of one overlaps a digit of the other horizontally by this share of its width


@dataclass
class ReadDigit:
    """One digit read: its value, classifier confidence, box (x, y, w, h) in image pixels and line index."""

    digit: int
    confidence: float
    box: tuple[int, int, int, int]
    line: int


def order_lines(items: list[tuple[int, float, tuple[int, int, int, int]]]) -> list[ReadDigit]:
    """Group digits into lines by chaining each to its nearest right neighbour that overlaps it
    vertically (relative to the smaller height), so sloped rows and descenders stay together."""
    if not items:
        return []
    boxes = np.array([item[2] for item in items], dtype=np.float64)
    x, y, w, h = boxes.T
    cx, cy = x + w / 2, y + h / 2
    n = len(items)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # undo the page's slope first (camera tilt), then chain by overlap relative to the smaller height
    shift = estimate_slope(cx, cy, h) * cx
    cy = cy - shift
    top, bottom = y - shift, y + h - shift
    # link each digit to its nearest right neighbour on the same (deskewed) row (all pairs at once)
    overlap = np.minimum(bottom[:, None], bottom[None, :]) - np.maximum(top[:, None], top[None, :])
    smaller = np.minimum(h[:, None], h[None, :])
    ahead = (cx[None, :] > cx[:, None]) & (overlap / smaller > 0.35)
    # across a gap wider than a digit (another group of a scattered page), only a level neighbour continues the line
    gap = x[None, :] - (x + w)[:, None]
    ahead &= (gap <= GROUP_GAP * np.maximum(h[:, None], h[None, :])) | (np.abs(cy[None, :] - cy[:, None]) < LEVEL * smaller)
    cost = np.where(ahead, (cx[None, :] - cx[:, None]) + 0.5 * np.abs(cy[None, :] - cy[:, None]), np.inf)
    nearest = cost.argmin(axis=1)
    for i in np.flatnonzero(ahead.any(axis=1)):
        parent[find(int(i))] = find(int(nearest[i]))
    lines: dict[int, list[int]] = {}
    for i in range(n):
        lines.setdefault(find(i), []).append(i)
    # lines top to bottom by their median centre; within a line left to right (plain floats: lists are short)
    xs, ys = cx.tolist(), cy.tolist()
    ordered = sorted(lines.values(), key=lambda members: statistics.median(ys[k] for k in members))
    out = []
    for number, members in enumerate(ordered):
        for i in sorted(members, key=lambda k: xs[k]):
            digit, confidence, box = items[i]
            out.append(ReadDigit(int(digit), round(float(confidence), 4), tuple(int(v) for v in box), number))
    return out




def page_tilt(boxes: list[tuple[int, int, int, int]]) -> float:
    """Degrees to turn each digit counter-clockwise so its rows run level: the rows' slope when it is at
    least DESKEW_FROM degrees (a tilted camera), else 0 (smaller tilts are within training's rotations)."""
    if len(boxes) < DESKEW_DIGITS:
        return 0.0
    x, y, w, h = np.array(boxes, dtype=np.float64).T
    degrees = float(np.degrees(np.arctan(estimate_slope(x + w / 2, y + h / 2, h))))
    return degrees if abs(degrees) >= DESKEW_FROM else 0.0


def estimate_slope(cx: np.ndarray, cy: np.ndarray, heights: np.ndarray) -> float:
    """Dominant row slope dy/dx: median direction from each digit to its nearest neighbour, keeping
    only near-horizontal pairs (within 40 degrees), so grids' vertical neighbours do not count, and
    pairs within a group (at most 1 + GROUP_GAP digit heights apart), so scattered groups do not either."""
    if len(cx) < 3:
        return 0.0
    dx, dy = cx[None, :] - cx[:, None], cy[None, :] - cy[:, None]
    distance = np.hypot(dx, dy)
    np.fill_diagonal(distance, np.inf)
    nearest = distance.argmin(axis=1)
    rows = np.arange(len(cx))
    vx, vy = dx[rows, nearest], dy[rows, nearest]
    vy = np.where(vx < 0, -vy, vy)
    vx = np.abs(vx)
    horizontal = (vx > 0) & (distance[rows, nearest] <= (1 + GROUP_GAP) * np.maximum(heights, heights[nearest]))
    slopes = vy[horizontal] / vx[horizontal]
    slopes = slopes[np.abs(slopes) < np.tan(np.radians(40))]
    return statistics.median(slopes.tolist()) if len(slopes) >= max(2, len(cx) // 3) else 0.0  # np.median's value, 10x faster
