"""Camera-pipeline benchmark: the DigitReader per runtime artifact vs a naive fixed-threshold webcam demo.

Frames are synthetic 640x480 scenes (scenes.make_scene, exactly DIGITS_PER_FRAME digits each), kept in
memory so decoding is not timed. Runtime tier only: no TensorFlow.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from edge_digits.build.mnist import load_mnist
from edge_digits.errors import error_line
from edge_digits.formats import FORMATS
from edge_digits.measure.scenes import Scene, make_scene
from edge_digits.measure.textdistance import levenshtein
from edge_digits.options import progress
from edge_digits.runtime.classifier import (
    BACKENDS,
    Classifier,
    load_classifier,
    resolve_artifact,
)
from edge_digits.runtime.reader import DigitReader, Reading, order_lines

DIGITS_PER_FRAME = 10
FRAME_SIZE = (640, 480)  # (width, height), a VGA webcam frame
STAGES = ("segmentation", "normalization", "classification", "ordering")
NAIVE_MIN_HEIGHT = 10  # px: the usual "ignore specks" filter of contour demos
NAIVE_NAME = "naive-threshold"


WARMUP_FRAMES = 10


def make_frames(count: int, data_path: str | os.PathLike | None = None, seed: int = 0) -> list[Scene]:
    """`count` synthetic frames with exactly DIGITS_PER_FRAME MNIST test digits each; frame i depends on (seed, i)."""
    mnist = load_mnist(data_path)
    digits = (mnist.x_test, mnist.y_test)
    return [make_scene(np.random.default_rng([seed, 7, index]), digits, FRAME_SIZE, count=DIGITS_PER_FRAME)
            for index in range(count)]


def reading_accuracy(texts: list[str], frames: list[Scene]) -> tuple[float, float]:
    """(1 - total edit distance / total digits, fraction of frames read exactly), line breaks ignored."""
    truths = [frame.text.replace("\n", "") for frame in frames]
    reads = [text.replace("\n", "") for text in texts]
    errors = sum(levenshtein(read, truth) for read, truth in zip(reads, truths))
    digits = sum(len(truth) for truth in truths)
    exact = sum(read == truth for read, truth in zip(reads, truths))
    return 1.0 - errors / max(digits, 1), exact / max(len(frames), 1)


def naive_read(image: np.ndarray, classifier: Classifier, timings: dict[str, float] | None = None) -> Reading:
    """What most webcam demos do: gray, Otsu inverse threshold, external contours, boxes squashed to
    28x28, one batch classified; no confidence filter. Ordered with the reader's order_lines (fair ordering)."""
    mark = time.perf_counter()
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    _, binary = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    boxes = [box for box in (cv2.boundingRect(contour) for contour in contours) if box[3] >= NAIVE_MIN_HEIGHT]
    mark = _lap(timings, "segmentation", mark)
    if not boxes:
        return Reading()
    crops = [cv2.resize(binary[y:y + h, x:x + w], (28, 28), interpolation=cv2.INTER_AREA) for x, y, w, h in boxes]
    images = (np.stack(crops).astype(np.float32) / 255.0)[..., None]
    mark = _lap(timings, "normalization", mark)
    probabilities = classifier.predict(images)
    mark = _lap(timings, "classification", mark)
    items = [(int(p.argmax()), float(p.max()), box) for p, box in zip(probabilities, boxes)]
    reading = Reading(order_lines(items))
    _lap(timings, "ordering", mark)
    return reading


def time_reader(name: str, kind: str, model: str, read: Callable[[np.ndarray, dict], Reading],
                frames: list[Scene]) -> dict[str, Any]:
    """Read every frame once after WARMUP_FRAMES untimed reads; per-frame totals and per-stage medians in ms."""
    for frame in frames[:WARMUP_FRAMES]:  # one read left the first backend measured visibly slower
        read(frame.image, {})
    totals, stages, texts = [], {stage: [] for stage in STAGES}, []
    for frame in progress(frames, name, unit="frame"):  # the bar draws between timed reads
        timings: dict[str, float] = {}
        started = time.perf_counter()
        texts.append(read(frame.image, timings).text)
        totals.append(time.perf_counter() - started)
        for stage in STAGES:
            stages[stage].append(timings.get(stage, 0.0))
    accuracy, exact = reading_accuracy(texts, frames)
    total_ms = 1000.0 * float(np.median(totals))
    row: dict[str, Any] = {"name": name, "kind": kind, "model": model, "status": "passed", "frames": len(frames),
                           "fps_p50": 1000.0 / total_ms if total_ms > 0 else None, "total_ms_p50": total_ms}
    row.update({f"{stage}_ms_p50": 1000.0 * float(np.median(stages[stage])) for stage in STAGES})
    row.update({"reading_accuracy": accuracy, "exact_frames": exact})
    return row


def error_row(name: str, kind: str, model: str, error: BaseException) -> dict[str, Any]:
    """A pipeline row for a reader that could not run; every measured field None."""
    row: dict[str, Any] = {"name": name, "kind": kind, "model": model, "status": f"error: {error_line(error, limit=200)}",
                           "frames": 0, "fps_p50": None, "total_ms_p50": None}
    row.update({f"{stage}_ms_p50": None for stage in STAGES})
    row.update({"reading_accuracy": None, "exact_frames": None})
    return row


def run_pipeline(directory: str | os.PathLike, frames: list[Scene], threads: int = 1) -> list[dict[str, Any]]:
    """One row per runtime artifact present (reader, table order), then the naive baseline on the onnx model."""
    directory = Path(directory)
    rows = []
    for entry in FORMATS:
        if entry.backend not in BACKENDS or not (directory / entry.file).is_file():
            continue
        name = f"reader/{entry.name}"
        try:
            # the reader as users get it: with the second/ set's model of the same file name, when the export has one
            reader = DigitReader(load_classifier(directory / entry.file, backend=entry.backend, threads=threads),
                                 backend=entry.backend, threads=threads)
            name += "" if reader.second_opinion is None else "+second"
            rows.append(time_reader(name, "reader", entry.name, reader.read, frames))
        except Exception as error:  # one broken artifact must not sink the whole benchmark
            rows.append(error_row(name, "reader", entry.name, error))
    try:
        path = resolve_artifact(directory, "onnx", "int8")
    except Exception:
        return rows  # no onnx model: no baseline
    model = path.name
    try:
        classifier = load_classifier(path, backend="onnx", threads=threads)
        model = classifier.format.name
        rows.append(time_reader(f"{NAIVE_NAME}/{model}", "baseline", model,
                                lambda image, timings: naive_read(image, classifier, timings), frames))
    except Exception as error:
        rows.append(error_row(f"{NAIVE_NAME}/{model}", "baseline", model, error))
    return rows


def _lap(timings: dict[str, float] | None, stage: str, since: float) -> float:
    now = time.perf_counter()
    if timings is not None:
        timings[stage] = now - since
    return now
