"""Rows as a person writes them: digits of varied size whose tops wobble, which a person still reads as
one row each. 640x480 frames of two rows of five MNIST test digits, 44-72 px tall, rows 170 px apart,
each digit's top moved up or down by up to 0 / 15 / 30 px (the jitter levels). The reader should give
the digits in order and the two lines exactly at every level. `edge-digits score --rows N`.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from edge_digits.build.mnist import load_mnist
from edge_digits.measure.scenes import Scene, digit_alpha, photograph, scene_accuracy
from edge_digits.options import progress

JITTERS = (0, 15, 30)  # pixels a digit's top may move up or down from its row's
WIDTH, HEIGHT = 640, 480
ROW_PITCH = 170  # pixels between the rows' tops
SIZES = (44.0, 72.0)  # digit heights, pixels
PER_ROW, ROWS = 5, 2


def jittered_rows(rng: np.random.Generator, digits: tuple[np.ndarray, np.ndarray], jitter: float) -> Scene:
    """One frame: two rows of five digits, each of its own height, its top within `jitter` px of its row's."""
    images, labels = digits
    alpha = np.zeros((HEIGHT, WIDTH), np.float32)
    first_top = rng.uniform(50, HEIGHT - 50 - ROW_PITCH - SIZES[1] * 1.2)
    boxes, truth, lines = [], [], []
    for row in range(ROWS):
        masks, values = [], []
        for index in rng.integers(0, len(images), size=PER_ROW):
            masks.append(digit_alpha(rng, images[index], rng.uniform(*SIZES)))
            values.append(int(labels[index]))
        gaps = rng.uniform(0.25, 0.6, size=PER_ROW - 1) * SIZES[1]
        span = sum(mask.shape[1] for mask in masks) + gaps.sum()
        x = rng.uniform(20, max(20, WIDTH - 20 - span))
        for number, (mask, value) in enumerate(zip(masks, values)):
            top = first_top + row * ROW_PITCH + rng.uniform(-jitter, jitter)
            xi, yi = int(round(x)), int(round(top))
            region = alpha[yi:yi + mask.shape[0], xi:xi + mask.shape[1]]
            np.maximum(region, mask[:region.shape[0], :region.shape[1]], out=region)
            boxes.append((xi, yi, mask.shape[1], mask.shape[0]))
            truth.append(value)
            lines.append(row)
            x += mask.shape[1] + (gaps[number] if number < len(gaps) else 0)
    text = "\n".join("".join(str(v) for v, line in zip(truth, lines) if line == row) for row in range(ROWS))
    return Scene(photograph(rng, alpha, WIDTH, HEIGHT), text, boxes, truth, lines)


def make_rows(count: int, jitter: float, seed: int = 0, data_path: str | os.PathLike | None = None,
              digits: tuple[np.ndarray, np.ndarray] | None = None) -> list[Scene]:
    """`count` frames at one jitter level; frame i depends only on (seed, i), so the digits, sizes and
    places are the same at every level and only the tops move."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if jitter < 0:
        raise ValueError(f"jitter must be at least 0 pixels, got {jitter}")
    if digits is None:
        mnist = load_mnist(data_path)
        digits = (mnist.x_test, mnist.y_test)
    return [jittered_rows(np.random.default_rng([seed, index]), digits, jitter) for index in range(count)]


def rows_accuracy(count: int, reader: Any, seed: int = 0, data_path: str | os.PathLike | None = None,
                  jitters: tuple[float, ...] = JITTERS) -> dict[str, dict[str, float | int]]:
    """Per jitter level: scene_accuracy's figures (`exact_scenes`: frames whose digits all come out right and
    in order; `exact_lines`: and in the two lines exactly), and the same two shares for the boxes alone,
    whatever digit each is read as (`boxes_in_order`, `boxes_in_lines`): the line grouping's own score."""
    mnist = load_mnist(data_path)
    digits = (mnist.x_test, mnist.y_test)
    results = {}
    for jitter in jitters:
        scenes = make_rows(count, jitter, seed, digits=digits)
        readings = [reader.read(scene.image) for scene in progress(scenes, f"rows ±{jitter} px", unit="frame")]
        replay = _Replay(readings)
        result = scene_accuracy(scenes, replay)
        grouped = [grouping(scene, reading) for scene, reading in zip(scenes, readings)]
        result["boxes_in_order"] = sum(order for order, _ in grouped) / count
        result["boxes_in_lines"] = sum(lines for _, lines in grouped) / count
        results[str(jitter)] = result
    return results


class _Replay:
    """A stand-in reader that gives back readings already made, in turn (each frame is read once)."""

    def __init__(self, readings: list):
        self.readings = iter(readings)

    def read(self, image: np.ndarray):
        return next(self.readings)


def grouping(scene: Scene, reading: Any) -> tuple[bool, bool]:
    """(in order, in lines): each true digit found once (a read box's centre inside its box) and the read
    boxes in the true reading order; and, in addition, the line breaks where the truth has them."""
    found = []
    for digit in reading.digits:
        x, y, w, h = digit.box
        inside = [k for k, (u, v, s, t) in enumerate(scene.boxes) if u <= x + w / 2 <= u + s and v <= y + h / 2 <= v + t]
        found.append(inside[0] if len(inside) == 1 else -1)
    in_order = found == list(range(len(scene.boxes)))
    same_lines = [scene.lines[k] for k in found] if in_order else []
    read_lines = [digit.line for digit in reading.digits]
    return in_order, in_order and all((a == b) == (c == d) for a, b, c, d in
                                      zip(same_lines, same_lines[1:], read_lines, read_lines[1:]))


def format_rows(results: dict[str, dict[str, Any]], count: int, seed: int) -> str:
    """Digits in order and lines exact per jitter level, read and as boxes alone."""
    return (f"jittered rows ({count} frames of 2 rows x 5 digits, seed {seed}; digits read in order / in lines exactly; "
            "boxes alone in order / in lines): "
            + ", ".join(f"±{jitter} px {result['exact_scenes']:.0%} / {result['exact_lines']:.0%}; "
                        f"{result['boxes_in_order']:.0%} / {result['boxes_in_lines']:.0%}" for jitter, result in results.items()))
