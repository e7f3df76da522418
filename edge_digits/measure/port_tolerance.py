"""What a port's deviations from normalize_crop cost: byte differences and top-1 agreement of the int8 model.

`edge-digits golden --tolerance` renders MNIST test digits as crops (as stored, light on black, and as
56x56 photo-like crops, dark on paper), normalizes them with the reader (the reference), then with
variants a port might use: the documented algorithm without OpenCV (reference_port.py), the same bytes
off by 1 or 2 grey levels, and other shrinking filters. Numbers feed docs/mobile.md's tolerance section.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from edge_digits.build.mnist import load_mnist
from edge_digits.measure import reference_port
from edge_digits.measure.golden import MODEL_FILE, to_bytes
from edge_digits.runtime import normalize
from edge_digits.runtime.classifier import load_classifier

Variant = Callable[[np.ndarray, bool, np.random.Generator], np.ndarray]  # (crop, dark ink, rng) -> 28x28 bytes


def _pil_bilinear(plane: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(plane.astype(np.float32)).resize((width, height), Image.BILINEAR), np.float32)


def _nearest(plane: np.ndarray, width: int, height: int) -> np.ndarray:
    rows = np.minimum((np.arange(height) + 0.5) * plane.shape[0] / height, plane.shape[0] - 1).astype(int)
    cols = np.minimum((np.arange(width) + 0.5) * plane.shape[1] / width, plane.shape[1] - 1).astype(int)
    return plane[rows][:, cols]


def _off_by(levels: int) -> Variant:
    def variant(crop: np.ndarray, dark: bool, rng: np.random.Generator) -> np.ndarray:
        exact = to_bytes(normalize.normalize_crop(crop, ink="dark" if dark else "light")).astype(np.int16)
        return np.clip(exact + rng.integers(-levels, levels + 1, exact.shape), 0, 255).astype(np.uint8)
    return variant


def _port(shrink=None) -> Variant:
    return lambda crop, dark, rng: reference_port.normalize_crop(crop, dark, shrink=shrink)


VARIANTS: dict[str, Variant] = {
    "documented port (no OpenCV)": _port(),
    "bytes +-1 grey level (random)": _off_by(1),
    "bytes +-2 grey levels (random)": _off_by(2),
    "bytes +-4 grey levels (random)": _off_by(4),
    "bilinear (OpenCV taps) to shrink": _port(reference_port.resize_bilinear),
    "PIL bilinear to shrink": _port(_pil_bilinear),
    "nearest neighbour to shrink": _port(_nearest),
}


def rendered(digit: np.ndarray, rendering: str, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """An MNIST digit as stored (light, 28x28) or as a 56x56 dark-on-paper crop with sensor noise."""
    if rendering == "mnist-28":
        return digit, False
    import cv2

    light = cv2.resize(digit, (56, 56), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255.0
    paper = 228.0 - 192.0 * light + rng.normal(0.0, 3.0, light.shape)
    return np.clip(np.rint(paper), 0, 255).astype(np.uint8), True


def measure_tolerance(export_dir: str | os.PathLike = "export", data_path: str | os.PathLike | None = None,
                      limit: int | None = None, seed: int = 0) -> list[dict]:
    """One row per (rendering, variant): max byte difference, share of differing bytes, top-1 agreement."""
    mnist = load_mnist(data_path)
    digits, labels = mnist.x_test[:limit], mnist.y_test[:limit]
    classifier = load_classifier(Path(export_dir) / MODEL_FILE, backend="tflite", verify=False)

    def predict(images: list[np.ndarray]) -> np.ndarray:
        return classifier.predict(np.stack(images)[..., None].astype(np.float32) / 255.0).argmax(axis=1)

    rows = []
    for rendering in ("mnist-28", "paper-56"):
        rng = np.random.default_rng(seed)
        crops = [rendered(digit, rendering, rng) for digit in digits]
        exact = [to_bytes(normalize.normalize_crop(crop, ink="dark" if dark else "light")) for crop, dark in crops]
        reference = predict(exact)
        for name, variant in VARIANTS.items():
            rng = np.random.default_rng(seed)
            candidate = [variant(crop, dark, rng) for crop, dark in crops]
            difference = np.abs(np.stack(candidate).astype(np.int16) - np.stack(exact))
            predicted = predict(candidate)
            rows.append({"rendering": rendering, "variant": name, "count": len(digits),
                         "max_byte_difference": int(difference.max()),
                         "bytes_differing": float(np.mean(difference > 0)),
                         "agreement": float(np.mean(predicted == reference)),
                         "accuracy": float(np.mean(predicted == labels)),
                         "reference_accuracy": float(np.mean(reference == labels))})
    return rows


def format_tolerance(rows: list[dict]) -> str:
    """A fixed-width table of measure_tolerance's rows."""
    header = f"{'rendering':<10} {'variant':<34} {'max|db|':>7} {'bytes !=':>9} {'agree':>8} {'acc':>7} {'ref acc':>7}"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(f"{row['rendering']:<10} {row['variant']:<34} {row['max_byte_difference']:>7} "
                     f"{row['bytes_differing']:>9.2%} {row['agreement']:>8.2%} {row['accuracy']:>7.2%} "
                     f"{row['reference_accuracy']:>7.2%}")
    return "\n".join(lines)
