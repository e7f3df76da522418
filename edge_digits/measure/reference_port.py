"""A numpy port of normalize_crop without OpenCV, step for step as the Kotlin and Swift in docs/mobile.md.

It is what an app's port should compute, written the same way (same thresholds, the same OpenCV resize
taps, plain bilinear shift), so the golden-vector test can check the documented algorithm itself, and
port_tolerance.py can swap one step for a cheaper one and measure what that costs.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

SIZE, BOX = 28, 20
STROKE_TARGET, STROKE_MIN, STROKE_MAX = 2.6, 1.8, 4.5
NARROW, STRUCTURE = 0.45, 3.0
FLT_EPSILON = 1.1920929e-7
F32 = np.float32

Resize = Callable[[np.ndarray, int, int], np.ndarray]  # (plane, width, height) -> plane


def normalize_crop(pixels: np.ndarray, dark_ink: bool, shrink: Resize | None = None) -> np.ndarray:
    """(H, W) uint8 gray crop -> the 784 bytes (28, 28) uint8; `shrink` replaces the area filter if given."""
    # 1. MNIST polarity: ink bright on a dark background.
    gray = pixels.astype(F32) / F32(255)
    if dark_ink:
        gray = F32(1) - gray
    # 2. Stretch the contrast between the background (20th percentile) and the ink (99.5th percentile).
    ordered = np.sort(gray.ravel())
    background, level = percentile(ordered, 20.0), percentile(ordered, 99.5)
    if level - background < F32(0.05):
        return np.zeros((SIZE, SIZE), np.uint8)
    soft = np.clip((gray - background) / (level - background), F32(0), F32(1))
    # 3. Drop paper texture: pixels below half the Otsu threshold (at most 64 of 255).
    cut = F32(min(otsu(soft), 128)) * F32(0.5)
    soft[soft * F32(255) < cut] = 0
    return to_bytes(normalize_mask(soft, shrink))


def normalize_mask(mask: np.ndarray, shrink: Resize | None = None) -> np.ndarray:
    """Ink plane (ink > 0) -> the 28x28 MNIST image in [0, 1]."""
    peak = float(mask.max()) if mask.size else 0.0
    if peak <= 0:
        return np.zeros((SIZE, SIZE), F32)
    ink = mask * F32(1.0 / peak)
    # 4. Crop to the ink, widen a narrow 7 or 9, bring the stroke width near MNIST's.
    ink = fix_stroke(widen(trim(ink)))
    # 5. Fit the longest side to 20 px keeping the aspect ratio: area filter to shrink, bilinear to enlarge.
    height, width = ink.shape
    scale = BOX / max(width, height)
    new_width, new_height = max(1, round(width * scale)), max(1, round(height * scale))
    small = (shrink or resize_area)(ink, new_width, new_height) if scale < 1 else resize_bilinear(ink, new_width, new_height)
    # 6. Move the centre of mass to the centre (14, 14) of a black 28x28 image.
    total = float(small.astype(np.float64).sum())
    if total <= 0:
        return np.zeros((SIZE, SIZE), F32)
    sum_y, sum_x = (float((small.astype(np.float64).sum(axis=axis) * np.arange(small.shape[1 - axis])).sum()) for axis in (1, 0))
    return shift(small, F32(SIZE / 2 - sum_x / total), F32(SIZE / 2 - sum_y / total))


def to_bytes(image: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> bytes, rounded to the nearest grey level (ties to even)."""
    return np.clip(np.rint(image * F32(255)), 0, 255).astype(np.uint8)


def percentile(ordered: np.ndarray, q: float) -> np.float32:
    """numpy's default (linear) percentile of sorted values."""
    position = q / 100.0 * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * F32(position - below)


def otsu(values: np.ndarray) -> int:
    """Otsu's threshold of the values' 0..255 histogram, as OpenCV computes it."""
    histogram = np.bincount((values.ravel() * F32(255)).astype(np.int64), minlength=256)
    scale = 1.0 / values.size
    mu = float(np.dot(np.arange(256, dtype=np.float64), histogram)) * scale
    mu1 = q1 = max_sigma = 0.0
    best = 0
    for i in range(256):
        p = histogram[i] * scale
        mu1 *= q1
        q1 += p
        q2 = 1.0 - q1
        if min(q1, q2) < FLT_EPSILON or max(q1, q2) > 1.0 - FLT_EPSILON:
            continue
        mu1 = (mu1 + i * p) / q1
        mu2 = (mu - q1 * mu1) / q2
        sigma = q1 * q2 * (mu1 - mu2) * (mu1 - mu2)
        if sigma > max_sigma:
            max_sigma, best = sigma, i
    return best


def trim(ink: np.ndarray) -> np.ndarray:
    """The bounding box of the pixels above 0.05."""
    rows, cols = np.nonzero(ink > F32(0.05))
    return ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def stroke_width(ink: np.ndarray) -> float:
    """Mean stroke width of the pixels above 0.5: 2 * area / boundary (ink pixels with a non-ink 8-neighbour)."""
    binary = np.pad(ink > F32(0.5), 1)
    area = int(binary.sum())
    if area == 0:
        return 0.0
    height, width = ink.shape
    inner = np.ones((height, width), bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            inner &= binary[1 + dy:1 + dy + height, 1 + dx:1 + dx + width]
    return 2.0 * area / max(area - int(inner.sum()), 1)


def widen(ink: np.ndarray) -> np.ndarray:
    """A narrow digit whose widest row spans 3 stroke widths (the bar of a 7) is stretched to aspect 0.45."""
    height, width = ink.shape
    if width >= NARROW * height:
        return ink
    widest = -1
    for row in ink > F32(0.5):
        columns = np.flatnonzero(row)
        if columns.size:
            widest = max(widest, int(columns[-1]) + 1 - int(columns[0]))
    if widest < 0 or widest < STRUCTURE * stroke_width(ink):
        return ink
    return resize_bilinear(ink, max(1, round(NARROW * height)), height)


def fix_stroke(ink: np.ndarray) -> np.ndarray:
    """Thicken a pen stroke or thin a marker stroke so that it is 1.8..4.5 px wide at the 20x20 scale."""
    scale = BOX / max(ink.shape)
    current = stroke_width(ink) * scale
    if current == 0 or STROKE_MIN <= current <= STROKE_MAX:
        return ink
    change = (STROKE_TARGET - current) / scale
    radius = round(abs(change) / 2.0)
    if radius < 1:
        return ink
    if change > 0:
        return trim(morphology(np.pad(ink, radius), radius, dilate=True))
    thinned = morphology(ink, radius, dilate=False)
    return trim(thinned) if thinned.max() > F32(0.5) else ink


def morphology(ink: np.ndarray, radius: int, dilate: bool) -> np.ndarray:
    """Grey dilation (max) or erosion (min) with OpenCV's elliptic (2r+1)x(2r+1) kernel; outside pixels ignored."""
    fill = F32(-np.inf) if dilate else F32(np.inf)
    height, width = ink.shape
    padded = np.pad(ink, radius, constant_values=fill)
    out = np.full_like(ink, fill)
    pick = np.maximum if dilate else np.minimum
    for i in range(2 * radius + 1):
        dy = i - radius
        reach = int(np.rint(radius * math.sqrt((radius * radius - dy * dy) / (radius * radius))))
        for dx in range(-reach, reach + 1):
            out = pick(out, padded[radius + dy:radius + dy + height, radius + dx:radius + dx + width])
    return out


def linear_taps(source: int, target: int) -> np.ndarray:
    """(target, source) matrix of OpenCV's INTER_LINEAR weights along one axis (pixel centres aligned, edges clamped)."""
    scale = 1.0 / (target / source)
    matrix = np.zeros((target, source), F32)
    for d in range(target):
        f = F32((d + 0.5) * scale - 0.5)
        s = math.floor(f)
        f = F32(f - s)
        if s < 0:
            s, f = 0, F32(0)
        if s >= source - 1:
            s, f = source - 1, F32(0)
        matrix[d, s] += F32(1) - f
        matrix[d, min(s + 1, source - 1)] += f
    return matrix


def area_taps(source: int, target: int) -> np.ndarray:
    """(target, source) matrix of OpenCV's INTER_AREA weights: the share of each source pixel under a target pixel."""
    scale = 1.0 / (target / source)
    matrix = np.zeros((target, source), F32)
    for d in range(target):
        start = d * scale
        end = start + scale
        cell = min(scale, source - start)
        s2 = min(math.floor(end), source - 1)
        s1 = min(math.ceil(start), s2)
        if s1 - start > 1e-3:
            matrix[d, s1 - 1] = F32((s1 - start) / cell)
        matrix[d, s1:s2] = F32(1.0 / cell)
        if end - s2 > 1e-3:
            matrix[d, s2] = F32(min(min(end - s2, 1.0), cell) / cell)
    return matrix


def resize_bilinear(src: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize (OpenCV INTER_LINEAR)."""
    return linear_taps(src.shape[0], height) @ src @ linear_taps(src.shape[1], width).T


def resize_area(src: np.ndarray, width: int, height: int) -> np.ndarray:
    """Shrink by averaging the source area under each target pixel (OpenCV INTER_AREA)."""
    return area_taps(src.shape[0], height) @ src @ area_taps(src.shape[1], width).T


def shift(small: np.ndarray, dx: np.float32, dy: np.float32) -> np.ndarray:
    """out(x, y) = small(x - dx, y - dy), bilinear, black outside (OpenCV warpAffine, INTER_LINEAR)."""
    height, width = small.shape
    padded = np.pad(small, 1)  # one black pixel all round: neighbours outside read 0
    sx = np.arange(SIZE, dtype=np.float64) - float(dx)
    sy = np.arange(SIZE, dtype=np.float64) - float(dy)
    x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
    ax, ay = (sx - x0).astype(F32), (sy - y0).astype(F32)

    def at(ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        inside = ((ys >= 0) & (ys < height))[:, None] & ((xs >= 0) & (xs < width))[None, :]
        values = padded[np.clip(ys, -1, height) + 1][:, np.clip(xs, -1, width) + 1]
        return np.where(inside, values, F32(0))

    top = (F32(1) - ax) * at(y0, x0) + ax * at(y0, x0 + 1)
    bottom = (F32(1) - ax) * at(y0 + 1, x0) + ax * at(y0 + 1, x0 + 1)
    return np.clip((F32(1) - ay)[:, None] * top + ay[:, None] * bottom, F32(0), F32(1))
