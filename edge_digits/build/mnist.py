"""MNIST loading: find the npz locally or online, validate it, and prepare it for the models.

Resolution order: an explicit path, $EDGE_DIGITS_MNIST, the Keras cache, then Keras' download.
Only the download step imports Keras; everything else is numpy, so the runtime tier can use it.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_digits.errors import EdgeDigitsError

ENVIRONMENT_VARIABLE = "EDGE_DIGITS_MNIST"
ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")
HOW_TO_POINT = (
    f"pass --data PATH or set {ENVIRONMENT_VARIABLE}=PATH to a Keras-layout mnist.npz "
    "(x_train, y_train, x_test, y_test)"
)


@dataclass
class Mnist:
    """The four uint8 arrays of MNIST as Keras lays them out, plus where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str


def keras_cache_path() -> Path:
    """Where `keras.datasets.mnist.load_data()` caches the file (honours $KERAS_HOME)."""
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(keras_home) / "datasets" / "mnist.npz"


def resolve_mnist_path(path: str | os.PathLike | None = None) -> Path | None:
    """Return the local file to load, or None when only the online download is left.

    An explicit path or the environment variable must exist: a typo is an error, not a download.
    """
    for candidate, origin in ((path, "--data"), (os.environ.get(ENVIRONMENT_VARIABLE), ENVIRONMENT_VARIABLE)):
        if candidate:
            candidate = Path(candidate).expanduser()
            if not candidate.is_file():
                raise EdgeDigitsError(f"MNIST file not found: {candidate} (from {origin}); {HOW_TO_POINT}")
            return candidate
    cached = keras_cache_path()
    return cached if cached.is_file() else None


def load_mnist(path: str | os.PathLike | None = None) -> Mnist:
    """Load and validate MNIST; raise EdgeDigitsError with a one-line fix when it can't."""
    local = resolve_mnist_path(path)
    if local is not None:
        arrays = _read_npz(local)
        source = str(local)
    else:
        arrays = _download_with_keras()
        source = "keras.datasets.mnist.load_data()"
    mnist = Mnist(*arrays, source=source)
    validate_mnist(mnist)
    return mnist


def check_mnist_file(path: str | os.PathLike, origin: str = "--data") -> Path:
    """Cheap checks before any slow import: `path` is an npz archive holding the four arrays, none pickled.

    Reads only the archive's table and the array headers, so a wrong --data fails in milliseconds.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise EdgeDigitsError(f"MNIST file not found: {path} (from {origin}); {HOW_TO_POINT}")
    if not zipfile.is_zipfile(path):
        raise EdgeDigitsError(f"{path} is not an .npz archive; {HOW_TO_POINT}")
    try:
        with zipfile.ZipFile(path) as archive:
            members = set(archive.namelist())
            missing = [key for key in ARRAY_NAMES if f"{key}.npy" not in members]
            if missing:
                raise EdgeDigitsError(f"{path} is not a Keras-layout MNIST file: missing {', '.join(missing)}; {HOW_TO_POINT}")
            for key in ARRAY_NAMES:
                with archive.open(f"{key}.npy") as handle:
                    version = np.lib.format.read_magic(handle)
                    header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                    _, _, dtype = header(handle)
                if dtype.hasobject:
                    raise EdgeDigitsError(f"{path}: {key} holds pickled Python objects, which are never loaded "
                                          f"(unpickling can run code); {HOW_TO_POINT}")
    except EdgeDigitsError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise EdgeDigitsError(f"cannot read MNIST file {path}: {error.__class__.__name__}: {error}; {HOW_TO_POINT}") from None
    return path


def _read_npz(path: Path) -> tuple[np.ndarray, ...]:
    check_mnist_file(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            return tuple(np.asarray(npz[key]) for key in ARRAY_NAMES)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise EdgeDigitsError(f"cannot read MNIST file {path}: {error.__class__.__name__}: {error}; {HOW_TO_POINT}") from None


def _download_with_keras() -> tuple[np.ndarray, ...]:
    try:
        import keras  # only online users without a local file get here

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except ImportError:
        raise EdgeDigitsError(f"no local MNIST file found and Keras is not installed; {HOW_TO_POINT}") from None
    except Exception as error:  # network errors come in many types
        raise EdgeDigitsError(f"no local MNIST file found and the download failed ({error.__class__.__name__}); {HOW_TO_POINT}") from None
    return x_train, y_train, x_test, y_test


def validate_mnist(mnist: Mnist) -> None:
    """Check shapes, dtypes and label range so a wrong file fails here, not mid-training."""
    for split in ("train", "test"):
        images, labels = getattr(mnist, f"x_{split}"), getattr(mnist, f"y_{split}")
        if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
            raise EdgeDigitsError(
                f"{mnist.source}: x_{split} should be uint8 (N, 28, 28), got {images.dtype} {images.shape}; {HOW_TO_POINT}"
            )
        if labels.ndim != 1 or labels.shape[0] != images.shape[0] or not np.issubdtype(labels.dtype, np.integer):
            raise EdgeDigitsError(
                f"{mnist.source}: y_{split} should be {images.shape[0]} integer labels, got {labels.dtype} {labels.shape}; {HOW_TO_POINT}"
            )
        if labels.size == 0 or labels.min() < 0 or labels.max() > 9:
            raise EdgeDigitsError(f"{mnist.source}: y_{split} labels must be digits 0..9; {HOW_TO_POINT}")


def preprocess(images: np.ndarray) -> np.ndarray:
    """The tutorial's preprocessing: scale uint8 pixels to [0, 1] and add the channel axis."""
    return (np.asarray(images, dtype=np.float32) / 255.0).reshape(-1, 28, 28, 1)


def split_validation(
    images: np.ndarray, labels: np.ndarray, validation_size: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Carve a seeded validation set out of the *training* split (the test split is never used)."""
    if not 0 < validation_size < len(images):
        raise ValueError(f"validation_size must be between 1 and {len(images) - 1}, got {validation_size}")
    order = np.random.default_rng(seed).permutation(len(images))
    validation, train = order[:validation_size], order[validation_size:]
    return images[train], labels[train], images[validation], labels[validation]


def balanced_sample(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Indices of `count` examples drawn class-balanced and seeded (used for calibration)."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class = [rng.permutation(np.flatnonzero(labels == label)) for label in classes]
    picked: list[int] = []
    for round_index in range(max(len(indices) for indices in per_class)):
        for indices in per_class:
            if round_index < len(indices) and len(picked) < count:
                picked.append(int(indices[round_index]))
    return np.sort(np.array(picked))
