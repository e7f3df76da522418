"""Single-digit crops in the layouts of other digit datasets, rendered from MNIST test digits.

The reader meets more than photos: people feed it dataset samples and crops. These styles copy
how well-known sets store a digit (no pixels of theirs are used; the real sets are not available
offline here): MNIST's light ink on black 28x28, USPS's 16x16 grey digit scaled to touch the
frame, Semeion's 16x16 binary digit stretched to fill it, UCI optdigits' 32x32 bitmaps and their
8x8 block counts, and photo-like crops and close-ups that the digit fills. `edge-digits score --crops N` prints one accuracy per style.
`--styles N` reads test 1s given a flag and 7s given a crossbar (handstyle.py), as stored and as close-ups.
"""

from __future__ import annotations

import os
from typing import Callable

import cv2
import numpy as np

from edge_digits.build.handstyle import cross_seven, flag_one
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


HAND_STYLES = {"flagged-1": (1, flag_one), "crossed-7": (7, cross_seven)}
HAND_LAYOUTS = ("mnist-28", "crop-200")


def make_style_crops(count: int, seed: int = 0, data_path: str | os.PathLike | None = None
                     ) -> dict[str, tuple[list[np.ndarray], np.ndarray]]:
    """`count` seeded MNIST test 1s with a flag and 7s with a crossbar, in each of HAND_LAYOUTS ->
    {"<style> <layout>": (images, labels)}. The strokes are curved and drawn 4x larger, unlike training's."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    mnist = load_mnist(data_path)
    rng = np.random.default_rng([seed, 7])
    out = {}
    for name, (digit, draw) in HAND_STYLES.items():
        pool = np.flatnonzero(mnist.y_test == digit)
        picked = rng.choice(pool, size=min(count, len(pool)), replace=False)
        styled = [draw(mnist.x_test[index], rng, curved=True) for index in picked]
        for layout in HAND_LAYOUTS:
            out[f"{name} {layout}"] = ([STYLES[layout](image) for image in styled], np.full(len(picked), digit))
    return out


def crop_accuracy(crops: dict[str, list[np.ndarray]], labels: np.ndarray, reader) -> dict[str, float]:
    """Share of crops per style whose whole reading is exactly their one digit."""
    return {name: float(np.mean([reader.read(image).text == str(label)
                                 for image, label in progress(zip(images, labels), name, total=len(images), unit="digit")]))
            for name, images in crops.items()}
