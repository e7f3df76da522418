"""Page layouts the plain synthetic suite never shows, each a known way to lose digits.

`lone`: one digit on a large, mostly empty page. `touching`: a row where two neighbours' ink
touches. `stray`: a row of digits beside a stray mark far smaller or thinner than the digits (a
tick, a dash, a hairline), which is not a digit. `scattered`: digits in loose groups over the page,
read group by group, top to bottom (groups whose centres lie within half a digit height of each
other count as one row, read left to right). `closeup`: one digit in thick strokes filling the frame.
`cluster`: a row in which three or four neighbours touch in turn. MNIST test digits only;
`edge-digits score --layouts N`.
"""

from __future__ import annotations

import os
from typing import Callable

import cv2
import numpy as np

from edge_digits.build.mnist import load_mnist
from edge_digits.measure.scenes import Scene, any_overlap, digit_alpha, photograph

LAYOUTS = ("lone", "touching", "stray", "scattered", "closeup", "cluster")
Digits = tuple[np.ndarray, np.ndarray]
Placed = list[tuple[np.ndarray, int, int, int]]  # (alpha mask, x, y, label) per digit


def _compose(rng: np.random.Generator, placed: Placed, lines: list[list[int]], width: int, height: int,
             marks: list[tuple[np.ndarray, int, int]] = ()) -> Scene:
    """Photograph the placed digits (and marks that are not digits); `lines` index `placed` in reading order."""
    alpha = np.zeros((height, width), np.float32)
    for mask, x, y, *_ in [*placed, *marks]:
        region = alpha[y:y + mask.shape[0], x:x + mask.shape[1]]
        np.maximum(region, mask, out=region)
    order = [index for line in lines for index in line]
    line_of = [number for number, line in enumerate(lines) for _ in line]
    return Scene(photograph(rng, alpha, width, height),
                 "\n".join("".join(str(placed[i][3]) for i in line) for line in lines),
                 [(placed[i][1], placed[i][2], placed[i][0].shape[1], placed[i][0].shape[0]) for i in order],
                 [placed[i][3] for i in order], line_of)


def _row(rng: np.random.Generator, digits: Digits, count: int, height: float, x: float, centre_y: float,
         gaps: tuple[float, float] = (0.25, 0.6), jitter: float = 0.06) -> Placed:
    """`count` random digits left to right from x, centred on centre_y, gaps in digit heights."""
    images, labels = digits
    placed = []
    for index in rng.integers(0, len(images), size=count):
        mask = digit_alpha(rng, images[index], height)
        y = centre_y - mask.shape[0] / 2 + rng.uniform(-jitter, jitter) * height
        placed.append((mask, int(round(x)), int(round(y)), int(labels[index])))
        x += mask.shape[1] + rng.uniform(*gaps) * height
    return placed


def _inside(placed: Placed, width: int, height: int, margin: int = 4) -> bool:
    return all(margin <= x and margin <= y and x + m.shape[1] <= width - margin and y + m.shape[0] <= height - margin
               for m, x, y, _ in placed)


def lone(rng: np.random.Generator, digits: Digits) -> Scene | None:
    """One digit 4-10% of a 1280-2400 px page's height, anywhere on it."""
    width = int(rng.choice((1280, 1600, 2000, 2400)))
    height = width * 3 // 4
    placed = _row(rng, digits, 1, rng.uniform(0.04, 0.10) * height, 0, 0)
    mask = placed[0][0]
    x, y = rng.uniform(0.05, 0.95, 2) * (width - mask.shape[1], height - mask.shape[0])
    placed = [(mask, int(x), int(y), placed[0][3])]
    return _compose(rng, placed, [[0]], width, height)


def touching(rng: np.random.Generator, digits: Digits) -> Scene | None:
    """A row of 3-6 digits in which one pair is pushed together until their ink overlaps a little."""
    width, height = 640, 480
    count = int(rng.integers(3, 7))
    size = rng.uniform(0.12, 0.2) * height
    placed = _row(rng, digits, count, size, rng.uniform(0.05, 0.2) * width, rng.uniform(0.3, 0.7) * height)
    placed = _press(rng, placed, int(rng.integers(0, count - 1)), size)
    if placed is None or not _inside(placed, width, height):
        return None
    return _compose(rng, placed, [list(range(count))], width, height)


def cluster(rng: np.random.Generator, digits: Digits) -> Scene | None:
    """A row of 3-6 digits in which 3-4 neighbours are pushed together in turn: a cluster of touching digits."""
    width, height = 640, 480
    count = int(rng.integers(3, 7))
    size = rng.uniform(0.12, 0.2) * height
    placed = _row(rng, digits, count, size, rng.uniform(0.05, 0.2) * width, rng.uniform(0.3, 0.7) * height)
    members = int(rng.integers(3, min(4, count) + 1))
    first = int(rng.integers(0, count - members + 1))
    for pair in range(first, first + members - 1):
        placed = _press(rng, placed, pair, size)
        if placed is None:
            return None
    if not _inside(placed, width, height):
        return None
    return _compose(rng, placed, [list(range(count))], width, height)


def closeup(rng: np.random.Generator, digits: Digits) -> Scene | None:
    """One digit in thick strokes filling a 160-640 px frame's height, its ink touching the frame's top
    and bottom or up to 3% of the height short of them (a phone held close to one digit)."""
    width = int(rng.choice((160, 240, 320, 480, 640)))
    height = width * 3 // 4 if rng.random() < 0.6 else width
    images, labels = digits
    index = int(rng.integers(0, len(images)))
    margins = rng.uniform(0.0, 0.03, 2) * height
    mask = digit_alpha(rng, images[index], height - margins.sum())
    radius = int(round(rng.uniform(0.0, 0.025) * height))  # a marker's stroke: thicker than a pen's
    if radius >= 1:
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)))
    scale = (height - margins.sum()) / mask.shape[0]
    mask = cv2.resize(mask, (max(3, round(mask.shape[1] * scale)), round(mask.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    if mask.shape[1] > width - 2:
        return None
    x = int(rng.uniform(0.3, 0.7) * (width - mask.shape[1]))
    y = int(round(margins[0]))
    return _compose(rng, [(mask, x, y, int(labels[index]))], [[0]], width, height)


def _press(rng: np.random.Generator, placed: Placed, pair: int, size: float) -> Placed | None:
    """Slide the digit after `pair` (and all after it) left until the two share ink, then a little further;
    None if they never touch."""
    left, right = placed[pair], placed[pair + 1]
    shift = 0
    while shift < right[0].shape[1] and not _touch(left, right, shift):
        shift += 1
    shift += int(rng.integers(0, max(1, round(0.03 * size))))
    placed = placed[:pair + 1] + [(m, x - shift, y, label) for m, x, y, label in placed[pair + 1:]]
    return placed if _touch(left, placed[pair + 1], 0) else None


def _touch(left, right, shift: int) -> bool:
    """Whether the two placed masks share an inked pixel when `right` moves `shift` pixels left."""
    (a, ax, ay, _), (b, bx, by, _) = left, right
    bx -= shift
    x0, x1 = max(ax, bx), min(ax + a.shape[1], bx + b.shape[1])
    y0, y1 = max(ay, by), min(ay + a.shape[0], by + b.shape[0])
    if x1 <= x0 or y1 <= y0:
        return False
    return bool(((a[y0 - ay:y1 - ay, x0 - ax:x1 - ax] > 0.5) & (b[y0 - by:y1 - by, x0 - bx:x1 - bx] > 0.5)).any())


def stray(rng: np.random.Generator, digits: Digits) -> Scene | None:
    """A row of 3-6 digits with a mark beside it: a short tick or dash (a quarter to 0.4 of a digit),
    or a hairline as tall as a digit but a third of its stroke width."""
    width, height = 640, 480
    count = int(rng.integers(3, 7))
    size = rng.uniform(0.12, 0.2) * height
    centre_y = rng.uniform(0.3, 0.7) * height
    placed = _row(rng, digits, count, size, rng.uniform(0.05, 0.3) * width, centre_y)
    side = int(rng.integers(0, 2))
    hairline = rng.random() < 0.4
    length = size * (rng.uniform(0.8, 1.0) if hairline else rng.uniform(0.25, 0.4))
    angle = np.deg2rad(rng.uniform(60, 120) if hairline or rng.random() < 0.6 else rng.uniform(-30, 30))
    dx, dy = length * np.cos(angle) / 2, length * np.sin(angle) / 2
    pad = int(abs(dx) + abs(dy)) + 4
    mark = np.zeros((2 * pad, 2 * pad), np.float32)
    scale = 4  # drawn 4x larger and shrunk: a hairline keeps a sub-pixel, anti-aliased width
    big = cv2.resize(mark, None, fx=scale, fy=scale)
    thickness = max(1, round(scale * 0.035 * size * (0.35 if hairline else 1.0)))
    cv2.line(big, (round(scale * (pad - dx)), round(scale * (pad - dy))), (round(scale * (pad + dx)), round(scale * (pad + dy))),
             1.0, thickness, cv2.LINE_AA)
    mark = cv2.resize(big, (2 * pad, 2 * pad), interpolation=cv2.INTER_AREA)
    ys, xs = np.nonzero(mark > 0.02)
    mark = np.clip(mark[ys.min():ys.max() + 1, xs.min():xs.max() + 1] * 1.5, 0, 1)
    gap = rng.uniform(0.3, 0.8) * size
    if side == 0:
        mx = placed[0][1] - gap - mark.shape[1]
    else:
        last = placed[-1]
        mx = last[1] + last[0].shape[1] + gap
    my = centre_y + rng.uniform(-0.3, 0.3) * size - mark.shape[0] / 2
    marks = [(mark, int(mx), int(my))]
    if not _inside(placed + [(mark, int(mx), int(my), -1)], width, height):
        return None
    return _compose(rng, placed, [list(range(count))], width, height, marks)


def scattered(rng: np.random.Generator, digits: Digits) -> Scene | None:
    """2-4 groups of 1-4 digits at random places on a 1024x768 page, each group's size its own."""
    width, height = 1024, 768
    groups: list[Placed] = []
    for _ in range(int(rng.integers(2, 5))):
        size = rng.uniform(0.06, 0.1) * height
        group = _row(rng, digits, int(rng.integers(1, 5)), size, rng.uniform(0.03, 0.75) * width,
                     rng.uniform(0.1, 0.9) * height, gaps=(0.2, 0.7), jitter=0.12)
        if not _inside(group, width, height):
            return None
        groups.append(group)
    boxes = [_box(group) for group in groups]
    if any_overlap(boxes, pad=int(0.08 * height)):  # groups stay apart by more than a digit height
        return None
    centres = [y + h / 2 for _, y, _, h in boxes]
    sizes = [h for *_, h in boxes]
    # reading order: top to bottom; centres within half a digit height are one row, read left to right
    order = sorted(range(len(groups)), key=lambda g: (centres[g], boxes[g][0]))
    for a, b in zip(order, order[1:]):
        if abs(centres[a] - centres[b]) < 0.5 * min(sizes[a], sizes[b]) and boxes[b][0] < boxes[a][0]:
            return None  # ambiguous: same row but given out of left-to-right order by the sort
    placed: Placed = []
    lines: list[list[int]] = []
    for previous, g in zip([None, *order], order):
        members = list(range(len(placed), len(placed) + len(groups[g])))
        level = previous is not None and abs(centres[previous] - centres[g]) < 0.5 * min(sizes[previous], sizes[g])
        lines[-1:] = [lines[-1] + members] if level else [*lines[-1:], members]
        placed.extend(groups[g])
    return _compose(rng, placed, lines, width, height)


def _box(placed: Placed) -> tuple[int, int, int, int]:
    x0 = min(x for _, x, _, _ in placed)
    y0 = min(y for _, _, y, _ in placed)
    x1 = max(x + m.shape[1] for m, x, _, _ in placed)
    y1 = max(y + m.shape[0] for m, _, y, _ in placed)
    return x0, y0, x1 - x0, y1 - y0


MAKERS: dict[str, Callable[[np.random.Generator, Digits], Scene | None]] = {
    "lone": lone, "touching": touching, "stray": stray, "scattered": scattered, "closeup": closeup, "cluster": cluster}


def make_layout(name: str, rng: np.random.Generator, digits: Digits, attempts: int = 50) -> Scene:
    """One scene of layout `name`, retried with the same generator until it fits the page."""
    if name not in MAKERS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {name!r}")
    for _ in range(attempts):
        scene = MAKERS[name](rng, digits)
        if scene is not None:
            return scene
    raise ValueError(f"could not lay out a {name} scene in {attempts} attempts")


def make_layouts(count: int, seed: int = 0, data_path: str | os.PathLike | None = None) -> dict[str, list[Scene]]:
    """`count` scenes of every layout from MNIST test digits; scene i depends only on (seed, layout, i)."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    mnist = load_mnist(data_path)
    digits = (mnist.x_test, mnist.y_test)
    return {name: [make_layout(name, np.random.default_rng([seed, number, index]), digits) for index in range(count)]
            for number, name in enumerate(LAYOUTS)}
