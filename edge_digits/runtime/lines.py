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
JOIN_OVERLAP = 0.05  # lines join when their local bands overlap by this share of the smaller band ...
STACKED = 0.3  # ... and no digit of one overlaps a digit of the other horizontally by this share of its width


@dataclass
class ReadDigit:
    """One digit read: its value, classifier confidence, box (x, y, w, h) in image pixels and line index."""

    digit: int
    confidence: float
    box: tuple[int, int, int, int]
    line: int


def order_lines(items: list[tuple[int, float, tuple[int, int, int, int]]]) -> list[ReadDigit]:
    """Group digits into lines (see group_lines): lines top to bottom by their median (deskewed) centre,
    digits left to right within each."""
    if not items:
        return []
    boxes = np.array([item[2] for item in items], dtype=np.float64)
    x, y, w, h = boxes.T
    cx, cy = x + w / 2, y + h / 2
    slope, lines = fit_rows(x, y, w, h)
    # plain floats: lists are short
    xs, ys = cx.tolist(), (cy - slope * cx).tolist()
    ordered = sorted(lines, key=lambda members: statistics.median(ys[k] for k in members))
    out = []
    for number, members in enumerate(ordered):
        for i in sorted(members, key=lambda k: xs[k]):
            digit, confidence, box = items[i]
            out.append(ReadDigit(int(digit), round(float(confidence), 4), tuple(int(v) for v in box), number))
    return out


def fit_rows(x: np.ndarray, y: np.ndarray, w: np.ndarray, h: np.ndarray) -> tuple[float, list[list[int]]]:
    """The page's row slope and its lines (group_lines): the slope row_slope estimates, unless the rows read
    level make fewer lines, or as many lines whose centres lie closer to their line's (digits written up and
    down can feign a slope; a turned camera, whose rows read level scatter more, cannot feign level)."""
    slope = row_slope(x + w / 2, y + h / 2, h)
    lines = group_lines(x, y, w, h, slope)
    if slope:
        level = group_lines(x, y, w, h, 0.0)
        centres = y + h / 2
        if (len(level), _spread(level, centres)) <= (len(lines), _spread(lines, centres - slope * (x + w / 2))):
            return 0.0, level
    return slope, lines


def _spread(lines: list[list[int]], centres: np.ndarray) -> float:
    """How far the digits' centres lie from their line's median centre, in all."""
    values = centres.tolist()  # plain floats: lines are short, and statistics.median is 10x np.median there
    total = 0.0
    for members in lines:
        middle = statistics.median(values[k] for k in members)
        total += sum(abs(values[k] - middle) for k in members)
    return total


def group_lines(x: np.ndarray, y: np.ndarray, w: np.ndarray, h: np.ndarray, slope: float) -> list[list[int]]:
    """Lines (lists of box indices) once the page's `slope` is undone: each digit chains to its nearest
    right neighbour that overlaps it vertically (relative to the smaller height), so sloped rows and
    descenders stay together; then fragments of one row are joined (_join_fragments)."""
    n = len(x)
    sets = _Sets(n)
    cx = x + w / 2
    shift = slope * cx
    cy = y + h / 2 - shift
    top, bottom = y - shift, y + h - shift
    # link each digit to its nearest right neighbour on the same (deskewed) row (all pairs at once)
    overlap = np.minimum(bottom[:, None], bottom[None, :]) - np.maximum(top[:, None], top[None, :])
    smaller = np.minimum(h[:, None], h[None, :])
    ahead = (cx[None, :] > cx[:, None]) & (overlap / smaller > CHAIN_OVERLAP)
    # across a gap wider than a digit (another group of a scattered page), only a level neighbour continues the line
    gap = x[None, :] - (x + w)[:, None]
    ahead &= (gap <= GROUP_GAP * np.maximum(h[:, None], h[None, :])) | (np.abs(cy[None, :] - cy[:, None]) < LEVEL * smaller)
    cost = np.where(ahead, (cx[None, :] - cx[:, None]) + 0.5 * np.abs(cy[None, :] - cy[:, None]), np.inf)
    nearest = cost.argmin(axis=1)
    for i in np.flatnonzero(ahead.any(axis=1)):
        sets.join(int(i), int(nearest[i]))
    _join_fragments(sets, x, w, top, bottom)
    lines: dict[int, list[int]] = {}
    for i in range(n):
        lines.setdefault(sets.find(i), []).append(i)
    return list(lines.values())


class _Sets:
    """Union-find over n items: which line (or group) each digit is in, merged as links are found."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(self, i: int, j: int) -> None:
        self.parent[self.find(i)] = self.find(j)

    def roots(self) -> np.ndarray:
        return np.array([self.find(i) for i in range(len(self.parent))])


def _join_fragments(sets: _Sets, x: np.ndarray, w: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> None:
    """Join lines that are fragments of one row: two lines with a pair of digits near each other (at most
    GROUP_GAP digit heights apart) join when the bands of the BAND_MEMBERS digits of each nearest that pair
    overlap by JOIN_OVERLAP of the smaller band, unless a digit of one stands above or below a digit of the
    other (rows of a grid, stacked lines). Pairs are tried closest in height first; `sets` is updated in place."""
    n = len(x)
    if n < 2:
        return
    right = x + w
    beside = np.minimum(right[:, None], right[None, :]) - np.maximum(x[:, None], x[None, :])
    stacked = beside > STACKED * np.minimum(w[:, None], w[None, :])
    h = bottom - top
    near = -beside <= GROUP_GAP * np.maximum(h[:, None], h[None, :])  # -beside: the gap between their boxes
    centre = (top + bottom) / 2
    roots = sets.roots()
    owner = (roots[None, :] == np.arange(n)[:, None]).astype(np.int64)  # owner[r, k]: digit k is in line r
    apart = owner @ stacked.astype(np.int64) @ owner.T > 0  # lines with a digit of one above one of the other
    pairs = np.argwhere(np.triu(near, 1) & ~stacked & ~apart[roots[:, None], roots[None, :]])
    if not len(pairs):
        return
    pairs = pairs[np.argsort(np.abs(centre[pairs[:, 0]] - centre[pairs[:, 1]]), kind="stable")]
    cx = (x + right) / 2
    for i, j in pairs.tolist():
        a, b = int(roots[i]), int(roots[j])
        if a == b or apart[a, b]:
            continue
        first, second = np.flatnonzero(roots == a), np.flatnonzero(roots == b)
        near_j = first[np.argsort(np.abs(cx[first] - cx[j]), kind="stable")[:BAND_MEMBERS]]
        near_i = second[np.argsort(np.abs(cx[second] - cx[i]), kind="stable")[:BAND_MEMBERS]]
        band_a = top[near_j].min(), bottom[near_j].max()
        band_b = top[near_i].min(), bottom[near_i].max()
        overlap = min(band_a[1], band_b[1]) - max(band_a[0], band_b[0])
        if overlap > JOIN_OVERLAP * min(band_a[1] - band_a[0], band_b[1] - band_b[0]):
            sets.join(b, a)
            roots[second] = a
            apart[a] |= apart[b]
            apart[:, a] |= apart[:, b]


def page_tilt(boxes: list[tuple[int, int, int, int]]) -> float:
    """Degrees to turn each digit counter-clockwise so its rows run level: the rows' slope when it is at
    least DESKEW_FROM degrees (a tilted camera) and the rows read level do not make fewer lines (fit_rows),
    else 0 (smaller tilts are within training's rotations)."""
    if len(boxes) < DESKEW_DIGITS:
        return 0.0
    x, y, w, h = np.array(boxes, dtype=np.float64).T
    if abs(np.degrees(np.arctan(row_slope(x + w / 2, y + h / 2, h)))) < DESKEW_FROM:
        return 0.0
    return float(np.degrees(np.arctan(fit_rows(x, y, w, h)[0])))


def row_slope(cx: np.ndarray, cy: np.ndarray, heights: np.ndarray) -> float:
    """Dominant row slope dy/dx. Each digit is linked to its nearest neighbour when that is near-horizontal
    (within 40 degrees: grids' vertical neighbours do not count) and within a group (at most 1 + GROUP_GAP
    digit heights apart: scattered groups do not either); the slope is the median over every pair of digits
    the links connect, each weighted by its run squared (a long baseline is not thrown by one digit written higher)."""
    n = len(cx)
    if n < 3:
        return 0.0
    dx, dy = cx[None, :] - cx[:, None], cy[None, :] - cy[:, None]
    distance = np.hypot(dx, dy)
    np.fill_diagonal(distance, np.inf)
    nearest = distance.argmin(axis=1)
    rows = np.arange(n)
    vx, vy = dx[rows, nearest], dy[rows, nearest]
    linked = (vx != 0) & (distance[rows, nearest] <= (1 + GROUP_GAP) * np.maximum(heights, heights[nearest]))
    linked &= np.abs(vy) < np.tan(np.radians(40)) * np.abs(vx)
    if linked.sum() < max(2, n // 3):
        return 0.0
    sets = _Sets(n)
    for i in np.flatnonzero(linked).tolist():
        sets.join(i, int(nearest[i]))
    roots = sets.roots()
    pairs = (roots[:, None] == roots[None, :]) & (dx > 0)
    run = dx[pairs]
    slopes = dy[pairs] / run
    level = np.abs(slopes) < np.tan(np.radians(40))
    if not level.any():
        return 0.0
    slopes, weights = slopes[level], run[level] ** 2
    order = np.argsort(slopes)
    cumulative = np.cumsum(weights[order])
    return float(slopes[order][np.searchsorted(cumulative, cumulative[-1] / 2.0)])
