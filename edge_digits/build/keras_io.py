"""Importing TensorFlow quietly, and loading and running Keras models safely and fast (build tier)."""

from __future__ import annotations

import contextlib
import logging
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from edge_digits.errors import EdgeDigitsError, error_line
from edge_digits.runtime.quiet import quiet_stderr


def check_keras_file(path: str | os.PathLike) -> Path:
    """Cheap checks (no TensorFlow import): the file exists and is a .keras zip archive."""
    path = Path(path)
    if not path.is_file():
        raise EdgeDigitsError(f"Keras model not found: {path}; train one with `edge-digits train --out {path}`")
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise EdgeDigitsError(f"{path} is not a .keras model file (Keras 3 zip format)")
    return path


def import_tensorflow() -> tuple[Any, Any]:
    """(tensorflow, keras), imported without the start-up banner, with TF/absl loggers at ERROR."""
    with quiet_stderr():
        import keras
        import tensorflow as tf
    tf.get_logger().setLevel(logging.ERROR)
    with contextlib.suppress(ImportError):
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    for name in ("tf2onnx", "onnx", "onnxruntime", "absl", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return tf, keras


DIGIT_SHAPES = ((28, 28, 1), (10,))


def load_keras_model(path: str | os.PathLike, shapes: tuple[tuple[int, ...], tuple[int, ...]] = DIGIT_SHAPES) -> Any:
    """Load a `.keras` file in safe mode (no arbitrary code), quietly, with a one-line error when it can't
    or when its input and output shapes are not `shapes` (the digit model's by default)."""
    path = check_keras_file(path)
    _, keras = import_tensorflow()
    try:
        with quiet_stderr(replay=False):
            model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # corrupt archives raise many different types
        raise EdgeDigitsError(f"cannot load Keras model {path}: {error_line(error, limit=200)}") from None
    input_shape, output_shape = tuple(model.inputs[0].shape[1:]), tuple(model.outputs[0].shape[1:])
    if (input_shape, output_shape) != shapes:
        raise EdgeDigitsError(f"{path} takes {input_shape} and returns {output_shape}; expected {shapes[0]} -> {shapes[1]}")
    return model


def predict_probabilities(model, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Batched forward pass in inference mode; far cheaper than calling predict per image."""
    outputs = [np.asarray(model(images[start:start + batch_size], training=False)) for start in range(0, len(images), batch_size)]
    return np.concatenate(outputs).astype(np.float32) if outputs else np.zeros((0, 10), np.float32)
