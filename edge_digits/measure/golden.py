"""Golden vectors for ports of the reader's preprocessing: crops, the exact bytes normalize_crop makes, the int8 output.

A Kotlin, Swift or JavaScript port decodes each case's crop, runs its own normalization, compares its 784 bytes
with `normalized` and its model output with `probabilities` (docs/mobile.md, "Golden vectors"). The crops are
MNIST *training* digits rendered as photo crops, dataset samples and hard cases (tiny, touching the frame,
noisy, a marker stroke, a hairline, a narrow 7, an empty crop), so the file never shows a test digit.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from edge_digits.build.handstyle import cross_seven, flag_one
from edge_digits.build.mnist import load_mnist
from edge_digits.files import write_json_atomic
from edge_digits.measure.crops import STYLES
from edge_digits.runtime import normalize
from edge_digits.runtime.classifier import load_classifier
from edge_digits.runtime.manifest import sha256_file

GOLDEN_NAME = "golden_vectors.json"
MODEL_FILE = "digits_int8.tflite"
SEED = 17
PAPER, INK = 228, 36  # grey levels of paper and pen in the photo-like crops

Render = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def to_bytes(image: np.ndarray) -> np.ndarray:
    """normalize_crop's float output (28, 28[, 1]) in [0, 1] -> the uint8 bytes the int8 model takes."""
    return np.clip(np.rint(np.asarray(image, np.float32).reshape(28, 28) * 255.0), 0, 255).astype(np.uint8)


def _on_paper(light: np.ndarray, rng: np.random.Generator, noise: float = 3.0, paper: int = PAPER,
              ink: int = INK) -> np.ndarray:
    """A light-on-black plane printed as pen on paper, with a little sensor noise."""
    alpha = light.astype(np.float32) / 255.0
    gray = paper - (paper - ink) * alpha + rng.normal(0.0, noise, light.shape)
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8)


def _scaled(digit: np.ndarray, width: int, height: int) -> np.ndarray:
    return cv2.resize(digit, (width, height), interpolation=cv2.INTER_CUBIC)


def _placed(digit: np.ndarray, canvas: tuple[int, int], size: tuple[int, int], corner: tuple[int, int]) -> np.ndarray:
    """`digit` scaled to `size` (w, h) on a black canvas (h, w) with its top-left at `corner` (x, y)."""
    out = np.zeros(canvas, np.uint8)
    x, y = corner
    out[y:y + size[1], x:x + size[0]] = _scaled(digit, *size)
    return out


def _marker(digit: np.ndarray) -> np.ndarray:
    big = _scaled(digit, 48, 48)
    return cv2.dilate(big, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (11, 11)))


def _hairline(digit: np.ndarray) -> np.ndarray:
    big = _scaled(digit, 60, 60)
    return cv2.erode(big, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))


def _rotated(digit: np.ndarray, degrees: float) -> np.ndarray:
    matrix = cv2.getRotationMatrix2D((14.0, 14.0), degrees, 1.0)
    return cv2.warpAffine(_scaled(digit, 28, 28), matrix, (28, 28), flags=cv2.INTER_LINEAR)


# (name, digit, ink, render): `render` turns one MNIST training digit (light on black, 28x28) into the crop.
HARD_CASES: tuple[tuple[str, int, str, Render], ...] = (
    ("off-centre", 7, "dark", lambda d, rng: _on_paper(_placed(d, (40, 48), (22, 22), (2, 1)), rng)),
    ("tall-1", 1, "dark", lambda d, rng: _on_paper(_scaled(d, 18, 56), rng)),
    ("wide-0", 0, "dark", lambda d, rng: _on_paper(_scaled(d, 56, 26), rng)),
    ("tiny", 3, "dark", lambda d, rng: _on_paper(_placed(d, (20, 20), (11, 11), (5, 4)), rng)),
    ("touching-frame-usps", 5, "light", lambda d, rng: STYLES["usps-16"](d)),
    ("binary-semeion", 2, "dark", lambda d, rng: STYLES["semeion-16"](d)),
    ("bitmap-optdigits", 8, "dark", lambda d, rng: STYLES["optdigits-32"](d)),
    ("noisy", 4, "dark", lambda d, rng: _on_paper(_scaled(d, 36, 36), rng, noise=22.0)),
    ("low-contrast", 9, "dark", lambda d, rng: _on_paper(_scaled(d, 32, 32), rng, paper=196, ink=140)),
    ("marker", 6, "dark", lambda d, rng: _on_paper(_marker(d), rng)),
    ("hairline", 2, "dark", lambda d, rng: _on_paper(_hairline(d), rng)),
    ("narrow-7", 7, "dark", lambda d, rng: _on_paper(_scaled(d, 18, 60), rng)),
    ("tilted", 3, "dark", lambda d, rng: _on_paper(_rotated(d, 18.0), rng)),
    ("flagged-1", 1, "light", lambda d, rng: flag_one(d, rng, curved=True)),
    ("crossed-7", 7, "light", lambda d, rng: cross_seven(d, rng, curved=True)),
    ("empty", -1, "dark", lambda d, rng: _on_paper(np.zeros((32, 32), np.uint8), rng)),
)


def golden_crops(data_path: str | os.PathLike | None = None, seed: int = SEED) -> list[dict[str, Any]]:
    """The cases' crops: every digit dark on light paper and light on black, then HARD_CASES."""
    mnist = load_mnist(data_path)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(mnist.y_train))
    pools = {digit: [int(i) for i in order[mnist.y_train[order] == digit][:4]] for digit in range(10)}
    cases = []
    for digit in range(10):
        index = pools[digit][0]
        cases.append({"name": f"dark-on-light-{digit}", "label": digit, "ink": "dark", "mnist_train_index": index,
                      "crop": _on_paper(_scaled(mnist.x_train[index], 32, 32), rng)})
    for digit in range(10):
        index = pools[digit][1]
        cases.append({"name": f"light-on-dark-{digit}", "label": digit, "ink": "light", "mnist_train_index": index,
                      "crop": mnist.x_train[index].copy()})
    for number, (name, digit, ink, render) in enumerate(HARD_CASES):
        index = pools[max(digit, 0)][2 + number % 2]
        crop = render(mnist.x_train[index], rng)
        cases.append({"name": name, "label": None if digit < 0 else digit, "ink": ink,
                      "mnist_train_index": None if digit < 0 else index, "crop": np.ascontiguousarray(crop, np.uint8)})
    return cases


def encode(pixels: np.ndarray) -> str:
    """uint8 pixels, row by row, as base64 (what Kotlin's Base64 and Swift's Data(base64Encoded:) read)."""
    return base64.b64encode(np.ascontiguousarray(pixels, np.uint8).tobytes()).decode("ascii")


def decode(text: str, width: int, height: int) -> np.ndarray:
    """The (height, width) uint8 image `encode` wrote."""
    return np.frombuffer(base64.b64decode(text), np.uint8).reshape(height, width).copy()


def golden_vectors(export_dir: str | os.PathLike, data_path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The whole file as a dict: format notes, the model it was made with, and every case."""
    model_path = Path(export_dir) / MODEL_FILE
    classifier = load_classifier(model_path, backend="tflite", verify=False)
    crops = golden_crops(data_path)
    normalized = [to_bytes(normalize.normalize_crop(case["crop"], ink=case["ink"])) for case in crops]
    probabilities = classifier.predict(np.stack(normalized)[..., None].astype(np.float32) / 255.0)
    cases = []
    for case, pixels, scores in zip(crops, normalized, probabilities):
        height, width = case["crop"].shape
        cases.append({"name": case["name"], "label": case["label"], "ink": case["ink"],
                      "mnist_train_index": case["mnist_train_index"], "width": width, "height": height,
                      "crop": encode(case["crop"]), "normalized": encode(pixels),
                      "probabilities": [float(value) for value in scores], "digit": int(np.argmax(scores))})
    return {
        "format": "edge-digits golden vectors 1",
        "encoding": "crop: base64 of width*height uint8 gray pixels, row by row from the top-left; normalized: "
                    "base64 of the 28*28 bytes normalize_crop(crop, ink) makes, value = round(255 * float output)",
        "ink": "dark: dark digit on light paper (inverted first); light: light digit on dark, as MNIST",
        "steps": ["invert dark ink", "stretch contrast between the 20th and 99.5th percentile (blank below 0.05)",
                  "drop pixels under half the Otsu threshold", "crop to ink > 0.05 of the peak",
                  "widen narrow digits with a bar to 0.45 aspect", "fix stroke width to 1.8..4.5 px at 20x20",
                  "fit the longest side to 20 px keeping the aspect ratio (area filter down, bilinear up)",
                  "shift the centre of mass to (14, 14) with bilinear interpolation"],
        "normalization": {"function": "edge_digits.runtime.normalize.normalize_crop", "box": normalize.BOX,
                          "size": normalize.SIZE},
        "model": {"file": MODEL_FILE, "sha256": sha256_file(model_path),
                  "input": "the normalized bytes as uint8 [1, 28, 28, 1]", "output": "float32 [1, 10] probabilities"},
        "tolerance": "a port matches when every byte is within 2 grey levels of `normalized` and `digit` agrees; "
                     "see docs/mobile.md",
        "cases": cases,
    }


def write_golden(export_dir: str | os.PathLike = "export", out: str | os.PathLike | None = None,
                 data_path: str | os.PathLike | None = None) -> Path:
    """Write golden_vectors.json (into `export_dir` unless `out` is given) and return its path."""
    path = Path(out) if out is not None else Path(export_dir) / GOLDEN_NAME
    write_json_atomic(path, golden_vectors(export_dir, data_path))
    return path


def read_golden(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a golden vectors file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
