"""Loading and running Keras models safely and fast (build tier: imports Keras)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from .errors import EdgeDigitsError


def check_keras_file(path: str | os.PathLike) -> Path:
    """Cheap checks (no TensorFlow import): the file exists and is a .keras zip archive."""
    path = Path(path)
    if not path.is_file():
        raise EdgeDigitsError(f"Keras model not found: {path}; train one with `edge-digits train --out {path}`")
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise EdgeDigitsError(f"{path} is not a .keras model file (Keras 3 zip format)")
    return path


def load_keras_model(path: str | os.PathLike):
    """Load a `.keras` file in safe mode (no arbitrary code), with a one-line error when it can't."""
    path = check_keras_file(path)
    import keras

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # corrupt archives raise many different types
        message = str(error).strip().splitlines()[0][:200] if str(error).strip() else error.__class__.__name__
        raise EdgeDigitsError(f"cannot load Keras model {path}: {message}") from None
    input_shape, output_shape = tuple(model.inputs[0].shape[1:]), tuple(model.outputs[0].shape[1:])
    if input_shape != (28, 28, 1) or output_shape != (10,):
        raise EdgeDigitsError(f"{path} takes {input_shape} and returns {output_shape}; expected (28, 28, 1) -> (10,)")
    return model


def predict_probabilities(model, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Batched forward pass in inference mode; far cheaper than calling predict per image."""
    outputs = [np.asarray(model(images[start:start + batch_size], training=False)) for start in range(0, len(images), batch_size)]
    return np.concatenate(outputs).astype(np.float32) if outputs else np.zeros((0, 10), np.float32)
