"""Single-digit crops in the layouts of other digit datasets, rendered from MNIST test digits.

The reader meets more than photos: people feed it dataset samples and crops. These styles copy
how well-known sets store a digit (no pixels of theirs are used; the real sets are not available
offline here): MNIST's light ink on black 28x28, USPS's 16x16 grey digit scaled to touch the
frame, Semeion's 16x16 binary digit stretched to fill it, UCI optdigits' 32x32 bitmaps and their
8x8 block counts, and photo-like crops and close-ups that the digit fills. `edge-digits score --crops N` prints one accuracy per style.
`--styles N` reads test digits in writing styles MNIST lacks (handstyle.py), as stored and as close-ups.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Callable

import cv2
import numpy as np

from edge_digits.build.handstyle import (
    continental_one,
    cross_seven,
    flag_one,
    loop_two,
    open_four,
    restroke,
    shorten_seven,
)
from edge_digits.build.mnist import load_mnist
from edge_digits.options import progress

INK = 40  # MNIST pixel value above which a pixel counts as ink when finding the digit's box


def _digit_box(image: np.ndarray) -> np.ndarray:
    """The digit cut to its ink's bounding box."""
    rows, cols = np.nonzero(image > INK)
    if rows.size == 0:
        return image
    return image[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def _fit(image: np.ndarray, side: int, stretch: bool) -> np.ndarray:
    """The digit's box scaled into a side x side square: to fill it (stretch) or keeping aspect, centred."""
    box = _digit_box(image)
    if stretch:
        return cv2.resize(box, (side, side), interpolation=cv2.INTER_AREA)
    height, width = box.shape
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    out = np.zeros((side, side), np.uint8)
    top, left = (side - size[1]) // 2, (side - size[0]) // 2
    out[top:top + size[1], left:left + size[0]] = cv2.resize(box, size, interpolation=cv2.INTER_AREA)
    return out


def _closeup(digit: np.ndarray, side: int) -> np.ndarray:
    """Dark ink on white, the digit's box scaled to touch two sides of a side x side image."""
    return 255 - cv2.resize(_fit(digit, 28, stretch=False), (side, side), interpolation=cv2.INTER_CUBIC)


def _block_counts(bitmap: np.ndarray) -> np.ndarray:
    """UCI optdigits' preprocessed form: ink pixels counted in 4x4 blocks of the 32x32 bitmap (0..16),
    shown light on black with 16 as white."""
    counts = (bitmap > 0).reshape(8, 4, 8, 4).sum(axis=(1, 3))
    return np.rint(counts * (255 / 16)).astype(np.uint8)


def _binary(image: np.ndarray) -> np.ndarray:
    """0/255 bitmap of the ink (as Semeion and optdigits store it)."""
    return np.where(image > 100, 255, 0).astype(np.uint8)


STYLES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mnist-28": lambda digit: digit,  # light ink on black, as stored
    "usps-16": lambda digit: _fit(digit, 16, stretch=False),  # grey, light on dark, touching the frame
    "semeion-16": lambda digit: 255 - _binary(_fit(digit, 16, stretch=True)),  # binary, stretched to fill
    "optdigits-32": lambda digit: 255 - _binary(_fit(digit, 32, stretch=False)),  # binary bitmap
    "optdigits-8": lambda digit: _block_counts(_binary(_fit(digit, 32, stretch=False))),  # 8x8 counts (as scikit-learn's digits)
    "crop-200": lambda digit: _closeup(digit, 200),  # a dark digit filling a crop
    "closeup-600": lambda digit: _closeup(digit, 600),  # ... or a close-up photo
}


def make_crops(count: int, seed: int = 0, data_path: str | os.PathLike | None = None
               ) -> tuple[dict[str, list[np.ndarray]], np.ndarray]:
    """`count` seeded MNIST test digits rendered in every style -> ({style: images}, labels)."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    mnist = load_mnist(data_path)
    picked = np.random.default_rng(seed).choice(len(mnist.x_test), size=min(count, len(mnist.x_test)), replace=False)
    digits, labels = mnist.x_test[picked], mnist.y_test[picked].astype(int)
    return {name: [style(digit) for digit in digits] for name, style in STYLES.items()}, labels


def _stretched(digit: np.ndarray, rng: np.random.Generator, curved: bool = True) -> np.ndarray:
    """A binary digit stretched to fill a 20x20 box in a 28x28 frame, as scanners and Semeion store them."""
    return np.pad(_binary(_fit(digit, 20, stretch=True)), 4)


def _heavy(digit: np.ndarray, rng: np.random.Generator, curved: bool = True) -> np.ndarray:
    return restroke(digit, rng, heavy=True, curved=curved)


def _thin(digit: np.ndarray, rng: np.random.Generator, curved: bool = True) -> np.ndarray:
    return restroke(digit, rng, heavy=False, curved=curved)


def _short_crossed(digit: np.ndarray, rng: np.random.Generator, curved: bool = True) -> np.ndarray:
    return cross_seven(shorten_seven(digit, rng, curved), rng, curved)


# style -> (the digit it is drawn on, None for every digit; how it is drawn)
HAND_STYLES: dict[str, tuple[int | None, Callable[..., np.ndarray]]] = {
    "flagged-1": (1, flag_one),  # a short flag, sometimes a foot
    "continental-1": (1, partial(continental_one, foot=False)),  # a long flag at a sharp angle
    "continental-1-foot": (1, partial(continental_one, foot=True)),
    "crossed-7": (7, cross_seven),  # MNIST's long bar, crossed
    "short-bar-7": (7, shorten_seven),
    "short-bar-crossed-7": (7, _short_crossed),
    "looped-2": (2, loop_two),  # a closed curl where the pen starts
    "open-4": (4, open_four),  # arm and stem apart at the top
    "marker": (None, _heavy),  # every digit in a 4.5-6 px stroke
    "pencil": (None, _thin),  # every digit in a thin grey line
    "stretched": (None, _stretched),  # every digit binarized and stretched to fill its box
}
HAND_LAYOUTS = ("mnist-28", "crop-200")


def make_style_crops(count: int, seed: int = 0, data_path: str | os.PathLike | None = None
                     ) -> dict[str, tuple[list[np.ndarray], np.ndarray]]:
    """`count` seeded MNIST test digits in each of HAND_STYLES and HAND_LAYOUTS ->
    {"<style> <layout>": (images, labels)}. Strokes are curved and drawn 4x larger, unlike training's."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    mnist = load_mnist(data_path)
    rng = np.random.default_rng([seed, 7])
    out = {}
    for name, (digit, draw) in HAND_STYLES.items():
        pool = np.arange(len(mnist.y_test)) if digit is None else np.flatnonzero(mnist.y_test == digit)
        picked = rng.choice(pool, size=min(count, len(pool)), replace=False)
        styled = [draw(mnist.x_test[index], rng, curved=True) for index in picked]
        labels = mnist.y_test[picked].astype(int)
        for layout in HAND_LAYOUTS:
            out[f"{name} {layout}"] = ([STYLES[layout](image) for image in styled], labels)
    return out


def crop_accuracy(crops: dict[str, list[np.ndarray]], labels: np.ndarray, reader) -> dict[str, float]:
    """Share of crops per style whose whole reading is exactly their one digit."""
    return {name: float(np.mean([reader.read(image).text == str(label)
                                 for image, label in progress(zip(images, labels), name, total=len(images), unit="digit")]))
            for name, images in crops.items()}


def format_styles(accuracy: dict[str, float], count: int, seed: int) -> str:
    """`score --styles` as a table: a row per hand style, a column per layout."""
    width = max(len(name) for name in HAND_STYLES)
    lines = [f"hand styles (up to {count} MNIST test digits each, seed {seed}; exact reading):",
             f"{'style':{width}}  " + "  ".join(f"{layout:>9}" for layout in HAND_LAYOUTS)]
    for name in HAND_STYLES:
        lines.append(f"{name:{width}}  " + "  ".join(f"{accuracy[f'{name} {layout}']:>9.1%}" for layout in HAND_LAYOUTS))
    return "\n".join(lines)
