"""Field reading scores: character accuracy and exact-string rate on labelled field folders (cheques-dev)
and on synthetic strings of MNIST test digits.

A labelled folder is split once, by sorted file name: every HELD_BACK_EVERY-th field is held back
(never looked at while choosing a model), the rest is the development part. Both are in-sample for this
project's development; the held-back part is reported separately.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from edge_digits.errors import EdgeDigitsError
from edge_digits.measure.photos import load_labels
from edge_digits.measure.textdistance import levenshtein
from edge_digits.options import progress
from edge_digits.runtime.field_strip import prepare_field
from edge_digits.runtime.imageio import load_image

HELD_BACK_EVERY = 4  # sorted index % 4 == 3: the held-back quarter
PARTS = ("development", "held-back", "all", "first200")


def field_examples(directory: str | os.PathLike, part: str = "all") -> list[tuple[str, str]]:
    """(file, digits) of a labelled folder's `part`: development, held-back, all, or first200 (the first
    200 by name, the issue's RapidOCR comparison set)."""
    if part not in PARTS:
        raise EdgeDigitsError(f"unknown part {part!r}; choose one of: {', '.join(PARTS)}")
    examples = sorted(load_labels(directory))
    if part == "first200":
        return examples[:200]
    if part == "all":
        return examples
    held_back = part == "held-back"
    return [example for index, example in enumerate(examples) if (index % HELD_BACK_EVERY == HELD_BACK_EVERY - 1) == held_back]


def string_scores(readings: list[str], labels: list[str]) -> tuple[float, float]:
    """(character accuracy = 1 - sum of edit distances (each at most the label's length) / sum of label
    lengths, exact-string rate)."""
    if len(readings) != len(labels):
        raise ValueError(f"{len(readings)} readings for {len(labels)} labels")
    distance = sum(min(levenshtein(read, label), len(label)) for read, label in zip(readings, labels))
    total = sum(len(label) for label in labels)
    exact = sum(read == label for read, label in zip(readings, labels))
    return 1.0 - distance / max(total, 1), exact / max(len(labels), 1)


def prepared_strips(directory: str | os.PathLike, part: str) -> tuple[np.ndarray, list[str]]:
    """The part's fields as (N, H, W, 1) uint8 model strips, with their labels (to choose a model on)."""
    examples = field_examples(directory, part)
    strips = np.stack([np.round(prepare_field(load_image(Path(directory) / file)).pixels * 255).astype(np.uint8)
                       for file, _ in examples])
    return strips[..., None], [label for _, label in examples]


@dataclass
class FieldScore:
    """One reader on one set of fields."""

    name: str
    fields: int
    char_accuracy: float
    exact_rate: float
    median_ms: float
    readings: list[str]

    def row(self) -> str:
        return f"{self.name:28s} {self.fields:6d} {self.char_accuracy:8.2%} {self.exact_rate:8.2%} {self.median_ms:9.2f}"


HEADER = f"{'reader':28s} {'fields':>6s} {'char acc':>8s} {'exact':>8s} {'ms/field':>9s}"


def score_reader(name: str, read: Callable[[np.ndarray], str], images: list[np.ndarray], labels: list[str]) -> FieldScore:
    """Read every image with `read` (image -> digit string), timing each call."""
    readings, times = [], []
    for image in progress(images, name, unit="field"):
        start = time.perf_counter()
        readings.append(read(image))
        times.append(time.perf_counter() - start)
    accuracy, exact = string_scores(readings, labels)
    return FieldScore(name, len(labels), accuracy, exact, float(np.median(times)) * 1000 if times else 0.0, readings)


def load_fields(directory: str | os.PathLike, part: str) -> tuple[list[np.ndarray], list[str]]:
    """The part's images (as loaded, colour or gray) and labels."""
    examples = field_examples(directory, part)
    return [load_image(Path(directory) / file) for file, _ in examples], [label for _, label in examples]


def synthetic_fields(data_path: str | None, count: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    """`count` synthetic field photos (gray uint8) of MNIST TEST digits, with their labels."""
    from edge_digits.build.field_strings import synthetic_field
    from edge_digits.build.mnist import load_mnist

    mnist = load_mnist(data_path)
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for _ in range(count):
        image, digits = synthetic_field(mnist.x_test, mnist.y_test, rng)
        images.append(image)
        labels.append("".join(str(int(digit)) for digit in digits))
    return images, labels
