"""Find handwritten digit candidates in a photo, without TensorFlow.

Pipeline: colour-aware ink map (each channel divided by its estimated paper background, so blue,
red, pencil and yellow paper all become "ink strength"), hysteresis threshold relative to the image's
own noise and ink level, printed lines erased (rules.py), connected components, fragment grouping and rejection of non-digit blobs
with limits relative to the typical digit size, and split proposals for touching digits.
All of it runs at a working scale chosen from the digits' size (a coarse pass first), so a camera
frame of big digits is processed at a fraction of its pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edge_digits.runtime import rules
from edge_digits.runtime.split import Candidate, split_proposals, to_image
from edge_digits.runtime.strays import outline, stray_marks

WORK_MAX_SIDE = 1024  # larger images are downscaled for speed; boxes are mapped back
COARSE_SIDE = 320  # a first pass on a copy this size measures the typical digit height ...
MIN_DIGIT = 28  # ... and is kept when digits are at least this tall there (working pixels);
TARGET_DIGIT = 40  # otherwise the image is processed again with digits about this tall ...
SMALL_DIGIT = 20  # ... and again, finer or upscaled, when they are still shorter than this (but not dust,
UPSCALED_SIDE = 2048  # under MIN_SIDE; their masks are too coarse to read), the longest side within this
BACKGROUND_SIDE = 128  # background is estimated on a copy this small (shadows are smooth)
SPLIT_WIDE = 1.4  # blobs this much wider than the typical digit get touching-digit split proposals
DIGIT_ASPECT = 0.8  # a single digit is seldom wider than this share of its (or the typical) height
LONE_ASPECT = 1.2  # a lone blob (no other to compare) is one digit unless wider than this share of its height
FRAGMENT_MIN = 0.12  # blobs smaller than this fraction of the typical height are dust, not fragments
FAINT_RULES = 0.5  # printed rules are looked for at this share of the ink threshold (see rules.erase_rules)
MIN_SIDE = 6  # working pixels: nothing smaller can be a readable digit at any resolution
HUGE_SPAN = 0.6  # components wider or taller than this share of the image ...
HUGE_SHARE = 0.1  # ... do not set the typical digit height if the others hold this share of their ink
HOLDS_ONE = 0.35  # a component whose box holds another this share of its height is a ring around ink ...
HOLDS_SEVERAL = 3  # ... as is one holding this many components of a readable size (a page or frame outline)
LARGEST_CHECKED = 16  # only the largest boxes are checked for what they hold
LOOP_SHARE = 0.02  # paper enclosed by a blob, as a share of its box, that makes it a loop (o, 0), not a stroke
OPENING = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))  # ink_map's kernels, made once
CLOSING = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (11, 11))


def ink_map(image: np.ndarray) -> np.ndarray:
    """uint8 ink strength (0 = paper): 1 - darkest channel after dividing by the paper background.

    Background per channel = opening + closing on a small copy (removes strokes, keeps shadows).
    """
    height, width = image.shape[:2]
    factor = min(1.0, BACKGROUND_SIDE / max(height, width))
    small = shrink(image, (max(1, round(width * factor)), max(1, round(height * factor))))
    # opening removes features brighter than the paper in some channel (red ink in R), closing dark ones
    # (a small opening: wide enough for strokes, too narrow to eat the paper between big digits)
    opened = cv2.morphologyEx(small, cv2.MORPH_OPEN, OPENING)
    background = cv2.morphologyEx(opened, cv2.MORPH_CLOSE, CLOSING)
    background = cv2.max(cv2.blur(background, (5, 5)), 1)
    background = cv2.resize(background, (width, height), interpolation=cv2.INTER_LINEAR)
    ratio = cv2.divide(image, background, scale=255)  # paper -> ~255 in every channel
    if ratio.ndim == 3:
        blue, green, red = cv2.split(ratio)
        ratio = cv2.min(cv2.min(blue, green), red)
    return cv2.subtract(255, ratio)


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Downscale to size (w, h): area averaging by the largest whole factor (OpenCV's fast path, the
    last < factor rows/columns dropped), then bilinear for the remaining < 2x."""
    height, width = image.shape[:2]
    factor = min(width // size[0], height // size[1])
    if factor >= 2:
        image = image[:height - height % factor, :width - width % factor]
        image = cv2.resize(image, (width // factor, height // factor), interpolation=cv2.INTER_AREA)
    if (image.shape[1], image.shape[0]) != tuple(size):
        image = cv2.resize(image, tuple(size), interpolation=cv2.INTER_LINEAR)
    return image


def ink_levels(ink: np.ndarray) -> tuple[float, float] | None:
    """(low, high) hysteresis thresholds from the ink histogram: above the paper noise (median + MAD),
    and a fraction of the ink's own strength (90th percentile of clearly-inked pixels). None if blank."""
    hist = cv2.calcHist([ink], [0], None, [256], [0, 256]).ravel()
    values = np.arange(256, dtype=np.float64)
    cumulative = np.cumsum(hist)
    median = float(np.searchsorted(cumulative, cumulative[-1] / 2.0))
    deviation = np.bincount(np.abs(values - median).astype(np.int64), weights=hist, minlength=256)
    mad = float(np.searchsorted(np.cumsum(deviation), cumulative[-1] / 2.0))
    noise_floor = median + max(5.0 * (1.4826 * mad + 1.0), 14.0)
    above = hist * (values > noise_floor)
    if above.sum() < 8:
        return None
    level = float(np.searchsorted(np.cumsum(above), 0.9 * above.sum()))  # the ink's own strength
    low = max(noise_floor, median + 0.25 * (level - median))
    high = max(noise_floor, median + 0.5 * (level - median))
    return low, high


def binarize(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hysteresis threshold: weak-ink components that contain some strong ink (printed lines erased, see rules.py).

    Returns (labels, stats, ids) of the 8-connected components of the weak mask, ids kept.
    """
    levels = ink_levels(ink)
    if levels is None:
        return np.zeros(ink.shape, np.int32), np.zeros((1, 5), np.int32), np.zeros(0, np.int64)
    low, high = levels
    weak = cv2.threshold(ink, low, 255, cv2.THRESH_BINARY)[1]
    # Grana's block-based labelling: same components as the default, ~3x faster single-threaded
    count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(weak, 8, cv2.CV_32S, cv2.CCL_GRANA)
    faint = cv2.threshold(ink, FAINT_RULES * low, 255, cv2.THRESH_BINARY)[1]
    unruled = rules.erase_rules(weak, stats, ink, faint)  # the rules of the paper, then boxes drawn around digits
    if unruled is not weak:
        count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(unruled, 8, cv2.CV_32S, cv2.CCL_GRANA)
    unboxed = rules.erase_frames(unruled, labels, stats)
    if unboxed is not None:
        count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(unboxed, 8, cv2.CV_32S, cv2.CCL_GRANA)
    strong = labels.ravel()[np.flatnonzero(ink > high)]  # labels[ink > high], a third faster
    ids = np.flatnonzero(np.bincount(strong, minlength=count)[1:]) + 1
    return labels, stats, ids


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """Median of values where each counts in proportion to its weight (big ink blobs dominate)."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2.0)])


@dataclass
class Blobs:
    """Ink components of an image at one working scale, and the typical digit height there."""

    scale: float
    labels: np.ndarray
    stats: np.ndarray
    ids: np.ndarray  # plausible component ids (see _components)
    typical: float


def detect(image: np.ndarray, scale: float) -> Blobs | None:
    """Ink components of `image` resized by `scale`; None when there is no ink."""
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if scale > 1.0:
        work = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
    else:
        work = image if scale == 1.0 else shrink(image, size)
    labels, stats, ids = binarize(cv2.GaussianBlur(ink_map(work), (3, 3), 0))
    ids = _components(stats, ids, work.shape[:2])
    if ids.size == 0:
        return None
    return Blobs(scale, labels, stats, ids, typical_height(stats[ids], work.shape[:2]))


def typical_height(stats: np.ndarray, shape: tuple[int, int]) -> float:
    """Area-weighted median height of the components, so dust does not count. Components spanning
    more than HUGE_SPAN of the image (the outline a page on a dark desk leaves in the ink map) are
    left out when the rest hold at least HUGE_SHARE of their ink: several digits beside it."""
    heights, areas = stats[:, 3].astype(np.float64), stats[:, 4].astype(np.float64)
    huge = np.maximum(stats[:, 2] / shape[1], stats[:, 3] / shape[0]) > HUGE_SPAN
    if huge.any() and (~huge).any() and areas[~huge].sum() >= HUGE_SHARE * areas[huge].sum():
        heights, areas = heights[~huge], areas[~huge]
    return weighted_median(heights, areas)


def find_blobs(image: np.ndarray) -> Blobs | None:
    """Components at a working scale chosen from the digits' size: a coarse pass, kept when its
    typical digit is tall enough, else a second pass at the scale that makes digits ~TARGET_DIGIT,
    and for digits still under SMALL_DIGIT px, a pass finer still (beyond WORK_MAX_SIDE, upscaled if need be)."""
    blobs = _downscaled_blobs(image)
    if blobs is None or not MIN_SIDE <= blobs.typical < SMALL_DIGIT:
        return blobs
    scale = _finer_scale(blobs.scale * TARGET_DIGIT / blobs.typical, max(image.shape[:2]))
    if scale <= blobs.scale:
        return blobs
    return detect(image, scale) or blobs


def _finer_scale(wanted: float, longest: int) -> float:
    """A whole upscaling factor, or 1/k, near `wanted` that keeps the longest side within UPSCALED_SIDE."""
    limit = UPSCALED_SIDE / longest
    if wanted > 1.0 and limit >= 2.0:
        return float(min(math.ceil(wanted), int(limit)))
    return _whole_factor(min(wanted, limit), min(1.0, limit))


def _downscaled_blobs(image: np.ndarray) -> Blobs | None:
    """The coarse pass, and the finer one (at most WORK_MAX_SIDE) when its digits are too small."""
    longest = max(image.shape[:2])
    finest = min(1.0, WORK_MAX_SIDE / longest)
    coarse = _whole_factor(COARSE_SIDE / longest, finest)
    blobs = detect(image, coarse)
    if coarse >= finest or (blobs is not None and blobs.typical >= MIN_DIGIT):
        return blobs
    scale = finest if blobs is None else _whole_factor(coarse * TARGET_DIGIT / blobs.typical, finest)
    return detect(image, scale) if scale > coarse else blobs


def _whole_factor(scale: float, finest: float) -> float:
    """The smallest scale 1/k (k whole: fast, exact area averaging) that is >= scale, at most `finest`."""
    return min(finest, 1.0 / max(1, int(1.0 / scale + 1e-9)))


def find_candidates(image: np.ndarray) -> list[Candidate]:
    """Digit candidates of a validated image (see imageio.as_uint8), boxes in the image's pixels."""
    height, width = image.shape[:2]
    if min(height, width) < 8:
        return []
    blobs = find_blobs(image)
    if blobs is None:
        return []
    labels, stats, scale = blobs.labels, blobs.stats, blobs.scale
    groups, boxes, areas = _group_fragments(blobs.ids, stats, blobs.typical, labels)
    groups, boxes, areas = _reject(groups, boxes, areas, blobs.typical)
    if not groups:
        return []
    typical_width = weighted_median(boxes[:, 2], areas)
    typical_aspect = weighted_median(boxes[:, 2] / boxes[:, 3], areas)
    if len(groups) > 1:
        def outline_of(index: int) -> int:
            x, y, w, h = (int(v) for v in boxes[index].tolist())
            return outline(_mask(labels[y:y + h, x:x + w], groups[index]))

        stray = stray_marks(boxes, areas, outline_of)
        groups, boxes = [group for group, mark in zip(groups, stray) if not mark], boxes[~stray]
    candidates = []
    for group, box in zip(groups, boxes.tolist()):  # plain floats: numpy scalars are slow one at a time
        x, y, w, h = (int(v) for v in box)
        crop = _mask(labels[y:y + h, x:x + w], group)
        # wider than usual both absolutely and for its height (a tall slanted 7 is not two digits); or, beside
        # other blobs, wider than a digit of the typical height can be (touching pairs that set the usual width);
        # a lone blob sets the typical width itself, so only its own shape tells a cluster of touching digits
        wide = min(w / max(typical_width, 1.0), (w / h) / max(typical_aspect, 1e-3))
        wide = max(wide, w / (DIGIT_ASPECT * max(blobs.typical, h)) if len(groups) > 1 else w / (LONE_ASPECT * h))
        candidate = Candidate(to_image(box, scale), crop, wide=wide)
        if wide > SPLIT_WIDE:
            pieces = max(wide, w / typical_width, w / (DIGIT_ASPECT * h))  # how many digits it may hold
            candidate.splits, candidate.split_costs = split_proposals(crop, (x, y), pieces, scale)
        candidates.append(candidate)
    return candidates


def _mask(labels: np.ndarray, group: list[int]) -> np.ndarray:
    """uint8 0/255 mask of the pixels whose label is in `group` (OpenCV's compare gives 0/255 in one pass;
    a group has few labels, and np.isin costs ten times one comparison)."""
    mask = cv2.compare(labels, group[0], cv2.CMP_EQ)
    for label in group[1:]:
        mask |= cv2.compare(labels, label, cv2.CMP_EQ)
    return mask


def _components(stats: np.ndarray, ids: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Component ids worth considering: not specks, not touching the frame edge like a page border."""
    height, width = shape
    x, y, w, h, area = (stats[ids, i] for i in range(5))
    min_area = max(4, int(height * width * 2e-6))
    touches = (x <= 1) | (y <= 1) | (x + w >= width - 1) | (y + h >= height - 1)
    # A digit cut by the frame edge is unreadable anyway; page borders, desk edges and shadows touch it.
    keep = (area >= min_area) & (np.maximum(w, h) >= 3) & ~touches & (h < 0.9 * height) & (w < 0.9 * width)
    ids = ids[keep]
    return ids[~_enclosures(stats[ids])]


def _enclosures(stats: np.ndarray) -> np.ndarray:
    """Which components hold others inside their box: the ring a page on a desk leaves in the ink map,
    a frame drawn around digits, a circle around one. A digit holds at most dust or a 7's bar."""
    x, y, w, h = (stats[:, i] for i in range(4))
    found = np.zeros(len(stats), bool)
    big = np.argsort(w * h)[::-1][:LARGEST_CHECKED, None]  # a column: each big box against every box
    inside = (x > x[big]) & (y > y[big]) & (x + w < x[big] + w[big]) & (y + h < y[big] + h[big])
    found[big[:, 0]] = (inside & (h >= HOLDS_ONE * h[big])).any(axis=1) | ((inside & (h >= MIN_SIDE)).sum(axis=1) >= HOLDS_SEVERAL)
    return found


def _union(stats: np.ndarray, group: list[int]) -> tuple[int, int, int, int]:
    x0 = stats[group, 0].min()
    y0 = stats[group, 1].min()
    x1 = (stats[group, 0] + stats[group, 2]).max()
    y1 = (stats[group, 1] + stats[group, 3]).max()
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def _has_loop(labels: np.ndarray, stats: np.ndarray, index: int) -> bool:
    """Whether component `index` closes around paper (an o or a small 0 does; a stray stroke does not)."""
    x, y, w, h = (int(v) for v in stats[index, :4])
    paper = np.pad(labels[y:y + h, x:x + w] != index, 1, constant_values=True).view(np.uint8)
    count, _, holes, _ = cv2.connectedComponentsWithStats(paper, connectivity=4)
    return bool(count > 2 and holes[2:, cv2.CC_STAT_AREA].max() >= max(2, LOOP_SHARE * w * h))


def _group_fragments(ids: np.ndarray, stats: np.ndarray, typical: float, labels: np.ndarray):
    """Merge pieces of one broken digit: horizontally overlapping, vertically close, merged size plausible."""
    ids = ids[np.maximum(stats[ids, 2], stats[ids, 3]) >= FRAGMENT_MIN * typical]  # dust
    groups = [[int(i)] for i in ids]
    boxes = stats[ids, :4].astype(np.float64).reshape(-1, 4)
    areas = stats[ids, 4].astype(np.float64)
    merged = True
    while merged and len(groups) > 1:
        merged = False
        x0, y0 = boxes[:, 0], boxes[:, 1]
        x1, y1 = x0 + boxes[:, 2], y0 + boxes[:, 3]
        for i in np.argsort(boxes[:, 3]):  # the smallest pieces look for a partner first
            wi, hi = boxes[i, 2], boxes[i, 3]
            if hi > 0.8 * typical and wi > 0.8 * typical:
                break  # complete-looking digits do not absorb others on their own initiative
            overlap = np.minimum(x1[i], x1) - np.maximum(x0[i], x0)
            gap = np.maximum(y0[i], y0) - np.minimum(y1[i], y1)  # negative when they overlap vertically
            span_y = np.maximum(y1[i], y1) - np.minimum(y0[i], y0)
            span_x = np.maximum(x1[i], x1) - np.minimum(x0[i], x0)
            stacked = ((overlap >= 0.3 * np.minimum(wi, boxes[:, 2])) | (overlap >= 0.5 * wi)) & (gap <= 0.3 * typical)
            # a short stroke (not a dot) just beside a bigger blob, e.g. a 1's serif or a 4's detached side
            beside = (max(wi, hi) < 0.5 * typical) & (hi >= 0.25 * typical) & (gap < 0) \
                & (-overlap <= 0.15 * typical) & (boxes[:, 3] > hi)
            ok = (stacked | beside) & (span_y <= 1.35 * typical) & (span_x <= 1.4 * typical)
            ok[i] = False
            if (ok & ~stacked).any() and len(groups[i]) == 1 and _has_loop(labels, stats, groups[i][0]):
                ok &= stacked  # a small loop beside a digit is a digit of its own (the 0 of a close "10")
            if ok.any():
                j = int(np.argmin(np.where(ok, gap, np.inf)))
                groups[i] = groups[i] + groups[j]
                boxes[i] = _union(stats, groups[i])
                areas[i] += areas[j]
                del groups[j]
                boxes, areas = np.delete(boxes, j, axis=0), np.delete(areas, j)
                merged = True
                break
    return groups, boxes, areas


def _reject(groups, boxes, areas, typical: float):
    """Drop blobs that are not digit-shaped relative to the typical digit height."""
    x, y, w, h = boxes.T
    long_side = np.maximum(w, h)
    keep = (
        # specks, dots, texture (small digits stay); where specks are the typical blob (a dusty or noisy
        # frame), only blobs twice MIN_SIDE stand out from them: the rest is the specks' own tail
        (np.maximum(w, h) >= max(0.3 * typical, MIN_SIDE if typical >= MIN_SIDE else 2 * MIN_SIDE))
        & (h <= 2.2 * typical)  # big shapes: shadows, drawings
        & (w <= 4.0 * typical)  # rules and long strokes (touching digits stay under this)
        & ~((long_side > 1.6 * typical) & (np.minimum(w, h) < 0.25 * long_side) & (w > h))  # horizontal rules
        & ~((h > 1.8 * typical) & (w < 0.2 * h))  # long vertical lines (edges, margins)
    )
    index = np.flatnonzero(keep)
    return [groups[i] for i in index], boxes[index], areas[index]
