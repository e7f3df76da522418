"""Writing styles MNIST barely holds: continental 1s and 7s, looped 2s, open 4s, marker and pencil.

MNIST's writers were American: almost every 1 is a bare stroke, no 7 is crossed, few 2s start
with a loop, few 4s are open at the top, and every digit is in a similar pen, so a model trained
on it reads a flagged 1 as a 7 and a looped 2 as a 9. These functions draw the missing styles on
MNIST digits (light ink on black, 28x28 uint8): training adds them to a share of its digits
(augment.add_hand_styles), and `edge-digits score --styles` measures them with a different
rendering (`curved`: strokes bent and drawn 4x larger), so the check is not the training generator."""

from __future__ import annotations

import cv2
import numpy as np

from edge_digits.runtime.normalize import stroke_width as mean_stroke_width

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
    """A copy of a 1 with a short flag from its top down to the left, and sometimes (1 in 4) a foot at its base."""
    return _flagged(image, rng, curved, length=(0.22, 0.4), angle=(30.0, 65.0), foot_probability=0.25)


def continental_one(image: np.ndarray, rng: np.random.Generator, curved: bool = False, foot: bool | None = None) -> np.ndarray:
    """A copy of a 1 as continental writers draw it: a long flag at a sharp angle to the stem, with a
    foot or without (`foot`; None: either, evenly). The sharp angle is what tells it from a 7's bar."""
    return _flagged(image, rng, curved, length=(0.4, 0.65), angle=(40.0, 65.0),
                    foot_probability=0.5 if foot is None else float(foot))


def any_flag(image: np.ndarray, rng: np.random.Generator, curved: bool = False) -> np.ndarray:
    """A copy of a 1 with a short flag (flag_one) or, as often, a continental one (continental_one)."""
    return (continental_one if rng.random() < 0.5 else flag_one)(image, rng, curved)


def _flagged(image: np.ndarray, rng: np.random.Generator, curved: bool, length: tuple[float, float],
             angle: tuple[float, float], foot_probability: float) -> np.ndarray:
    """`image` with a flag of `length` (share of the height) at `angle` degrees below the horizontal,
    and a foot with `foot_probability`."""
    ink = _ink_rows(image)
    if ink is None:
        return image.copy()
    rows, cols, top, bottom, height = ink
    top_x = float(cols[rows <= top + 1].mean())
    flag = rng.uniform(*length) * height
    slope = np.deg2rad(rng.uniform(*angle))
    end = (top_x - flag * np.cos(slope), top + flag * np.sin(slope))
    strokes = [_bent((top_x, top), end, rng) if curved else [(top_x, top), end]]
    if rng.random() < foot_probability:
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


def _largest_part(image: np.ndarray) -> np.ndarray:
    """`image` with only its largest connected piece of ink: what a cut leaves hanging is dropped."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((image > 0).view(np.uint8), connectivity=8)
    if count <= 2:
        return image
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return np.where(labels == biggest, image, 0).astype(image.dtype)


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


def shorten_seven(image: np.ndarray, rng: np.random.Generator, curved: bool = False) -> np.ndarray:
    """A copy of a 7 whose top bar is cut to 0.25-0.45 of its height, as writers who barely mark the bar
    draw it; the measuring renderer (`curved`) erases the whole bar and draws a new short one instead."""
    ink = _ink_rows(image)
    if ink is None:
        return image.copy()
    rows, cols, top, _, height = ink
    corner_x = int(cols[rows <= top + 2].max())  # where the bar turns into the stem
    corner_y = int(rows[(rows <= top + 2) & (cols == corner_x)].min())
    band = top + max(2, int(round(0.22 * height)))
    bar = corner_x - int(cols[rows <= band].min())
    keep = min(rng.uniform(0.25, 0.45) * height, bar)  # never longer than the bar was
    out = image.copy()
    cut = max(0, int(round(corner_x - (0.5 * stroke_width(image) + 1 if curved else keep))))
    out[max(0, top - 1):band + 1, :cut] = 0
    out = _largest_part(out)
    if not curved:
        return out
    tilt = np.tan(np.deg2rad(rng.uniform(-10.0, 10.0))) * keep
    return _draw(out, [_bent((corner_x, corner_y), (corner_x - keep, corner_y + tilt), rng)], stroke_width(image), True)


def loop_two(image: np.ndarray, rng: np.random.Generator, curved: bool = False) -> np.ndarray:
    """A copy of a 2 that starts with a small loop: a closed curl hanging from the left end of its top hook."""
    ink = _ink_rows(image)
    if ink is None:
        return image.copy()
    rows, cols, top, _, height = ink
    upper = rows <= top + 0.4 * height
    start = int(np.argmin(np.where(upper, cols, 10**6)))
    start_x, start_y = float(cols[start]), float(rows[start])
    radius = max(rng.uniform(0.09, 0.14) * height, 1.1 * stroke_width(image))  # a loop, not a blot
    aspect = rng.uniform(0.75, 1.25)
    centre = (start_x + rng.uniform(0.1, 0.5) * radius, start_y + rng.uniform(0.6, 0.9) * radius)
    turns = np.linspace(0.0, 2.0 * np.pi, 24 if curved else 12)
    begin = np.arctan2(start_y - centre[1], start_x - centre[0])
    loop = [(centre[0] + radius * aspect * np.cos(begin + t), centre[1] + radius * np.sin(begin + t)) for t in turns]
    return _draw(image, [loop], stroke_width(image), curved)


def open_four(image: np.ndarray, rng: np.random.Generator, curved: bool = False) -> np.ndarray:
    """A 4 with an open top drawn in `image`'s ink box and pen width: the left arm stops well short of
    the stem, the crossbar runs past it (MNIST holds few, and a reader meeting one sees a 9)."""
    ink = _ink_rows(image)
    if ink is None:
        return image.copy()
    rows, cols, top, bottom, height = ink
    left, width = float(cols.min()), float(max(cols.max() - cols.min() + 1, 0.5 * height))
    stem_x = left + rng.uniform(0.6, 0.8) * width
    bar_y = top + rng.uniform(0.55, 0.7) * height
    pen = stroke_width(image)
    arm_top = (min(left + rng.uniform(0.05, 0.4) * width, stem_x - 1.5 * pen - 0.1 * width), top + rng.uniform(0.0, 0.12) * height)
    arm_foot = (left + rng.uniform(0.0, 0.1) * width, bar_y)
    stem = [(stem_x, top + rng.uniform(0.0, 0.15) * height), (stem_x - rng.uniform(-0.05, 0.15) * width, bottom)]
    bar = [arm_foot, (left + width * rng.uniform(0.95, 1.05), bar_y - rng.uniform(0.0, 0.06) * height)]
    arm = [arm_top, arm_foot]
    if curved:
        stem, arm, bar = _bent(*stem, rng), _bent(*arm, rng), _bent(*bar, rng)
    return _draw(np.zeros_like(image), [arm + bar[1:], stem], pen, curved)


def restroke(image: np.ndarray, rng: np.random.Generator, heavy: bool, curved: bool = False) -> np.ndarray:
    """A copy of a digit in a heavy marker stroke (4.5-6 px) or a thin grey pencil line (1-1.6 px).

    Training dilates or erodes at 28x28; the measuring renderer (`curved`) re-draws at UPSCALE with a
    round pen, so the check does not use the training generator."""
    if not (image > INK).any():
        return image.copy()
    if not curved:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        out = cv2.dilate(image, kernel, iterations=int(rng.integers(1, 3))) if heavy else cv2.erode(image, np.ones((2, 2), np.uint8))
        if not heavy and (out > INK).sum() < 0.3 * (image > INK).sum():
            out = image.copy()
    else:
        big = cv2.resize(image, (28 * UPSCALE, 28 * UPSCALE), interpolation=cv2.INTER_CUBIC)
        mask = (big > INK).astype(np.uint8) * 255
        current = mean_stroke_width(mask)  # in UPSCALE pixels
        target = (rng.uniform(4.5, 6.0) if heavy else rng.uniform(1.1, 1.6)) * UPSCALE
        radius = max(1, int(round(abs(target - current) / 2)))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        thinned = cv2.erode(mask, kernel)
        mask = cv2.dilate(mask, kernel) if heavy else (thinned if thinned.any() else mask)
        out = cv2.resize(mask, (28, 28), interpolation=cv2.INTER_AREA)
    if not heavy:  # pencil greys: the measuring renderer's line is wider, so it is kept a little darker
        out = np.rint(out * (rng.uniform(0.6, 0.9) if curved else rng.uniform(0.5, 0.85))).astype(np.uint8)
    return out
