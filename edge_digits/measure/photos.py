"""Character accuracy of a DigitReader on a labelled photo folder (labels.json), without TensorFlow.

Per image: 1 - edit_distance(read, label) / len(label), floored at 0 (newlines ignored);
overall: the same weighted by label length, i.e. 1 - sum(distances) / sum(lengths) with each floor.
From the command line: `edge-digits score DIR [--view far|desk|wood] [--scenes N]`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_digits.errors import EdgeDigitsError
from edge_digits.measure import views
from edge_digits.measure.textdistance import char_accuracy
from edge_digits.options import progress
from edge_digits.runtime.imageio import load_image


@dataclass
class PhotoResult:
    """One labelled photo: what was expected, what was read, its accuracy and reading time."""

    file: str
    label: str
    text: str
    accuracy: float
    seconds: float


def load_labels(directory: str | os.PathLike) -> list[tuple[str, str]]:
    """(file, digits) pairs from DIR/labels.json (a list of {"file", "digits"} entries)."""
    path = Path(directory) / "labels.json"
    if not path.is_file():
        raise EdgeDigitsError(f"no labels.json in {directory}; expected a list of {{'file': ..., 'digits': ...}}")
    entries = json.loads(path.read_text())
    return [(entry["file"], str(entry["digits"])) for entry in entries]


def evaluate_photos(directory: str | os.PathLike, reader, repeats: int = 1, view: str = "as-is") -> tuple[list[PhotoResult], float]:
    """Read every labelled photo, as `view` (views.py) shows it; returns per-image results and the
    length-weighted overall accuracy."""
    results = []
    for file, label in progress(load_labels(directory), "photos", unit="photo"):
        image = views.view(load_image(Path(directory) / file), view)
        times = []
        for _ in range(max(1, repeats)):
            start = time.perf_counter()
            reading = reader.read(image)
            times.append(time.perf_counter() - start)
        results.append(PhotoResult(file, label, reading.text, char_accuracy(reading.text, label), float(np.median(times))))
    return results, overall_accuracy(results)


def overall_accuracy(results: list[PhotoResult]) -> float:
    """Accuracy weighted by label length."""
    total = sum(len(result.label) for result in results)
    return sum(result.accuracy * len(result.label) for result in results) / max(total, 1)


def format_table(results: list[PhotoResult], overall: float) -> str:
    """A plain-text per-image table plus the overall figure and the median time per photo."""
    rows = [f"{'file':40s} {'acc':>6s} {'ms':>7s}  label / read"]
    for result in results:
        rows.append(f"{result.file[:40]:40s} {result.accuracy:6.1%} {result.seconds * 1000:7.1f}  "
                    f"{result.label} / {result.text.replace(chr(10), '|')}")
    median_ms = float(np.median([result.seconds for result in results])) * 1000 if results else 0.0
    rows.append(f"overall character accuracy {overall:.2%} on {len(results)} images; median {median_ms:.1f} ms per photo")
    return "\n".join(rows)
