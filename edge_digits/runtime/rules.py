"""Erase printed lines: the rules of lined and squared paper, and the boxes of forms.

On a notebook page the rules run across the whole frame, and every digit that touches one is
joined to it and to its neighbours: one component as wide as the image, dropped as a page edge.
A rule is found as a long straight run of ink, in a mask at a lower threshold than the digits' (a
downscaled thin line fades), by opening with a line kernel a third of the image's
longer side on the mask sheared so that rules tilted up to 6 degrees run level; only a family
of thin ones counts (RULE_FAMILY or more, MAX_THICKNESS thick at the median): a close-up 8 has three
long strokes, but thick ones. Rule pixels with ink just beside them on both sides are a stroke crossing the
rule and stay. Boxes drawn around digits are found per component (erase_frames). Runtime tier.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

RULE_SPAN = 1 / 3  # a rule is a straight run at least this share of the image's longer side
RULE_FAMILY = 3  # ... and only when at least this many such runs are present
CROSS_MARGIN = 2  # pixels: ink within a rule's thickness plus this, on both sides of it, is a stroke crossing it
MIN_RULE = 40  # pixels: images narrower than this hold no rules worth finding
FRAME_SIDES = 3  # a box is inked along at least this many sides of its bounding box (a comb field
FRAME_COVER = 0.9  # has no top), each over this share of its length,
FRAME_BAND = 4  # working pixels: within this band along the side
MIN_FRAME = 12  # working pixels: smaller components are not boxes worth erasing
RULE_SLOPES = np.tan(np.deg2rad(np.arange(-6.0, 6.1, 0.75)))  # tilts of photographed rules tried
RULE_GAP = 3  # rows of the 4x smaller copy: a rule's row is fuller than the rows up to this far away
SLOPE_POINTS = 1024  # the tilt search samples at most about this many ink pixels of the smaller copy
DARKER_THAN_RULE = 2.0  # ink this many times stronger than the rules' median is a stroke on a rule
MAX_THICKNESS = 6.0  # working pixels: printed rules are thin lines (median); a close-up digit's long strokes are thick


def erase_rules(mask: np.ndarray, stats: np.ndarray, ink: np.ndarray | None = None,
                faint: np.ndarray | None = None) -> np.ndarray:
    """The 0/255 ink `mask` without its horizontal and vertical rule families (`mask` itself if none).

    Rules are looked for in `faint`, if given, a mask at a lower threshold than `mask`: a thin printed
    line fades when a photo is downscaled to the working scale, and breaks into pieces at the ink
    threshold itself (a grid most). Without it, in `mask`, where `stats` (its connected-component
    statistics, OpenCV's) settle most images at once: a rule is one component RULE_SPAN of the image
    long. With the `ink` strength map, rule pixels DARKER_THAN_RULE times the rules' median strength
    are a pen stroke lying on the rule, and stay.
    """
    height, width = mask.shape
    # of the longer side: in a strip of big digits, one stroke spans a third of the height
    length = int(max(height, width) * RULE_SPAN)
    if length < MIN_RULE:
        return mask
    search = mask if faint is None else faint
    small = None
    families = []  # (rule pixels, reach, transposed)
    for transposed in (False, True):  # vertical rules are horizontal ones of the transposed mask
        extents = stats[1:, cv2.CC_STAT_HEIGHT if transposed else cv2.CC_STAT_WIDTH]
        if faint is None and int((extents >= length).sum()) == 0:
            continue
        if small is None:
            small = cv2.resize(search, (max(1, width // 4), max(1, height // 4)), interpolation=cv2.INTER_AREA)
        slope = _rule_slope(small.T if transposed else small, length)
        found = None if slope is None else _rule_family(np.ascontiguousarray(search.T) if transposed else search, length, slope)
        if found is not None:
            runs, reach = found
            families.append((runs.T if transposed else runs, reach, transposed))
    if not families:
        return mask
    all_rules = families[0][0] if len(families) == 1 else families[0][0] | families[1][0]
    rules = mask & all_rules  # what of the rules the ink threshold kept
    if not rules.any():
        return mask
    rest = mask & ~rules  # strokes: what is left once every rule (of both directions) is out
    erase = np.zeros_like(mask)
    for runs, reach, transposed in families:
        # a stroke crossing a rule has ink on both sides of it, within the rule's thickness: keep those pixels
        before, after = _ink_beside(rest.T if transposed else rest, reach)
        crossing = (before & after).T if transposed else before & after
        erase |= runs & ~crossing
    if ink is not None:
        on_rule = float(np.median(ink[all_rules > 0]))  # of whole rules: strokes on them are darker
        erase &= cv2.threshold(ink, DARKER_THAN_RULE * on_rule, 255, cv2.THRESH_BINARY_INV)[1]
    return mask & ~erase if erase.any() else mask


def _rule_family(mask: np.ndarray, length: int, slope: float) -> tuple[np.ndarray, int] | None:
    """(rule pixels, reach) of the rules running at `slope`, or None without a family; reach is the
    distance, past the rules' median thickness, within which ink on both sides marks a crossing stroke.

    Photographed rules are tilted, so the mask is first sheared to make them level (the tilt comes
    from a 4x smaller copy, see _rule_slope); the rule mask found there is sheared back.
    """
    height, width = mask.shape
    lift = int(np.ceil(abs(slope) * width)) + 1
    shear = np.float32([[1, 0, 0], [-slope, 1, lift if slope > 0 else 0]])  # (x, y) -> (x, y - slope * x)
    level = cv2.warpAffine(mask, shear, (width, height + lift), flags=cv2.INTER_NEAREST)
    thick = cv2.dilate(level, cv2.getStructuringElement(cv2.MORPH_RECT, (1, 3)))  # bridges a leftover tilt
    runs = cv2.morphologyEx(thick, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1)))
    runs &= level
    # a component spanning `length` columns holds a pixel in each (8-connected, it skips none): with fewer pixels
    # than RULE_FAMILY such rules need, there is no family, and labelling (most of this function's cost) is spared
    if cv2.countNonZero(runs) < RULE_FAMILY * length:
        return None
    _, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(runs, 8, cv2.CV_32S, cv2.CCL_GRANA)
    extent = stats[1:, cv2.CC_STAT_WIDTH]
    thickness = stats[1:, cv2.CC_STAT_AREA] / np.maximum(extent, 1)
    rule = extent >= length
    # the family must be thin as a whole; a rule that digits touch is thicker there and still a rule
    if int(rule.sum()) < RULE_FAMILY or float(np.median(thickness[rule])) > MAX_THICKNESS:
        return None
    runs = np.concatenate([[0], rule]).astype(np.uint8)[labels] * np.uint8(255)
    # where digits crowd the rules the ink map can lose stretches of them, leaving pieces beside the
    # digits: once a family is sure, thin runs a third as long are rules too
    median = float(np.median(thickness[rule]))
    short = max(3, length // 3)
    pieces = cv2.morphologyEx(thick, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (short, 1))) & level
    _, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(pieces, 8, cv2.CV_32S, cv2.CCL_GRANA)
    extent = stats[1:, cv2.CC_STAT_WIDTH]
    piece = (extent >= short) & (stats[1:, cv2.CC_STAT_AREA] / np.maximum(extent, 1) <= median + 1.0)
    runs |= np.concatenate([[0], piece]).astype(np.uint8)[labels] * np.uint8(255)
    back = cv2.warpAffine(runs, shear, (width, height), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
    return back & mask, int(np.ceil(median)) + CROSS_MARGIN


def _rule_slope(small: np.ndarray, length: int) -> float | None:
    """The tilt (dy/dx) among RULE_SLOPES that levels the rules of `small` (the mask 4x smaller), or None.

    The tilt is the one whose sheared row counts are most concentrated (the projection-profile
    skew estimate); None when, at that tilt, fewer than RULE_FAMILY separate thin rows (much fuller
    than the rows RULE_GAP away) hold `length` ink pixels: a cheap test before the full-size search.
    """
    points = cv2.findNonZero(np.ascontiguousarray(small))  # (x, y), in np.nonzero's row-major order
    if points is None or len(points) < length // 4:
        return None
    every = max(1, len(points) // SLOPE_POINTS)  # a textured mask: every k-th pixel, counted k times
    points = points.reshape(-1, 2)[::every]
    # row r - slope * c, rounded, as a lookup of column c's shift plus r
    sheared = column_shifts(small.shape[1])[:, points[:, 0]]
    sheared += points[:, 1]
    sheared -= sheared.min(axis=1, keepdims=True)
    tops = sheared.max(axis=1)
    span = int(tops.max()) + 1  # one bincount for every tilt: row r of tilt t counts at t * span + r
    sheared += span * np.arange(len(RULE_SLOPES))[:, None]
    profiles = np.bincount(sheared.ravel(), minlength=span * len(RULE_SLOPES)).reshape(len(RULE_SLOPES), span)
    best = int(np.argmax(np.einsum("ij,ij->i", profiles, profiles)))  # sums of squares, exact in integers
    profile = profiles[best, :int(tops[best]) + 1]
    count = len(profile) + 1  # a rule may straddle two rows: each row plus the one before it
    padded = np.zeros(count + 2 * RULE_GAP, np.int64)  # zeros beyond both ends (np.pad is ~20x slower)
    window = padded[RULE_GAP:RULE_GAP + count]
    window[:-1] = profile
    window[1:] += profile
    window *= every
    # the emptiest of the rows 2..RULE_GAP above, and of those below (a dense grid's next rule is near)
    above = functools.reduce(np.minimum, [padded[RULE_GAP - step:RULE_GAP - step + count] for step in range(2, RULE_GAP + 1)])
    below = functools.reduce(np.minimum, [padded[RULE_GAP + step:RULE_GAP + step + count] for step in range(2, RULE_GAP + 1)])
    beside = np.maximum(above, below)
    thin = (window >= 0.8 * length / 4) & (window - beside >= 0.5 * length / 4)  # a line, not a row of digits
    long_rows = np.concatenate([[False], thin, [False]])
    rules_seen = int(np.count_nonzero(long_rows[1:] & ~long_rows[:-1]))  # separate groups of long rows
    return float(RULE_SLOPES[best]) if rules_seen >= RULE_FAMILY else None


@functools.lru_cache(maxsize=16)
def column_shifts(width: int) -> np.ndarray:
    """Per tilt of RULE_SLOPES and column c < width, round(-slope * c): shearing row r of column c by a tilt
    lands on row r + this, exactly np.rint(r - slope * c) (checked for every r and c under 8192, four times
    the largest working scale), so the shear is a lookup instead of a multiply and a rounding per ink pixel."""
    shifts = np.rint(-(RULE_SLOPES[:, None] * np.arange(width))).astype(np.int64)
    shifts.flags.writeable = False
    return shifts


def _ink_beside(rest: np.ndarray, reach: int) -> tuple[np.ndarray, np.ndarray]:
    """Masks of pixels with ink within `reach` pixels above, and within `reach` below."""
    before = np.zeros_like(rest)
    after = np.zeros_like(rest)
    for step in range(1, reach + 1):
        before[step:] |= rest[:-step]
        after[:-step] |= rest[step:]
    return before, after


def erase_frames(weak: np.ndarray, labels: np.ndarray, stats: np.ndarray) -> np.ndarray | None:
    """`weak` with the sides of drawn boxes erased, or None when no component is a box.

    A box is a component whose bounding box is inked along at least FRAME_SIDES of its four sides
    (FRAME_COVER of each side's length, within a thin band); a handwritten 0 touches its box at
    four points only. The box's sides are erased, so a digit written inside it, touching it or
    not, becomes a component of its own.
    """
    x, y, w, h, area = (stats[1:, i] for i in range(5))
    hollow = (np.minimum(w, h) >= MIN_FRAME) & (area < 0.5 * w * h)
    out = None
    for index in np.flatnonzero(hollow):
        left, top, width, height = int(x[index]), int(y[index]), int(w[index]), int(h[index])
        inside = labels[top:top + height, left:left + width] == index + 1
        bands = _frame_bands(inside)
        if bands is None:
            continue
        if out is None:
            out = weak.copy()
        region = out[top:top + height, left:left + width]
        region[bands & inside] = 0
    return out


def _frame_bands(inside: np.ndarray) -> np.ndarray | None:
    """Mask of the four side bands of a component's box, or None unless FRAME_SIDES sides are inked.

    All four bands are returned: a side the component only partly inks (the open top of a comb
    field, a gap in a pen-drawn box) would otherwise be left behind as a stroke; so are the lines
    that cross the box from side to side, the separators of a row (or grid) of boxes.
    """
    height, width = inside.shape
    band = min(FRAME_BAND, height // 4, width // 4)
    sides = (lambda: inside[:band].any(axis=0), lambda: inside[height - band:].any(axis=0),
             lambda: inside[:, :band].any(axis=1), lambda: inside[:, width - band:].any(axis=1))
    missing = 0
    for side in sides:  # most components are digits: stop at the second side they do not ink
        inked = side()
        missing += np.count_nonzero(inked) / inked.size < FRAME_COVER  # its mean, without mean()'s overhead
        if missing > 4 - FRAME_SIDES:
            return None
    bands = np.zeros_like(inside)
    bands[:band], bands[height - band:], bands[:, :band], bands[:, width - band:] = True, True, True, True
    # the separators of a comb of boxes (a postcode field) cross it from side to side
    columns = np.convolve(inside.mean(axis=0) >= FRAME_COVER, np.ones(3), mode="same") > 0
    rows = np.convolve(inside.mean(axis=1) >= FRAME_COVER, np.ones(3), mode="same") > 0
    bands[:, columns] = True
    bands[rows, :] = True
    return bands
