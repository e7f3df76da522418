"""Test-set evaluation of a Keras model: accuracy, per-class accuracy, confusion matrix, mistakes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from edge_digits.build.keras_io import load_keras_model, predict_probabilities
from edge_digits.build.mnist import load_mnist, preprocess
from edge_digits.errors import EdgeDigitsError


def confusion_matrix(truths: np.ndarray, predictions: np.ndarray, classes: int = 10) -> np.ndarray:
    """Counts of (true, predicted) pairs."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (truths, predictions), 1)
    return matrix


def evaluate_model(model_path: str | os.PathLike, data_path: str | os.PathLike | None = None,
                   out_dir: str | os.PathLike | None = None, plots: bool = True) -> dict[str, Any]:
    """Score MODEL on the MNIST test split and write the confusion and mistakes PNGs beside it."""
    model_path = Path(model_path)
    model = load_keras_model(model_path)
    mnist = load_mnist(data_path)
    images, truths = preprocess(mnist.x_test), mnist.y_test.astype(np.int64)
    predictions = predict_probabilities(model, images).argmax(axis=1)
    matrix = confusion_matrix(truths, predictions)
    wrong = np.flatnonzero(predictions != truths)
    result: dict[str, Any] = {
        "model": str(model_path),
        "data": mnist.source,
        "test_images": int(len(truths)),
        "accuracy": float(np.mean(predictions == truths)),
        "per_class_accuracy": {str(digit): float(matrix[digit, digit] / max(1, matrix[digit].sum())) for digit in range(10)},
        "misclassified": int(len(wrong)),
        "confusion_matrix": matrix.tolist(),
    }
    if plots:
        from edge_digits.build.plots import plot_confusion_matrix, plot_misclassified

        out_dir = Path(out_dir) if out_dir else model_path.parent
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            result["confusion_png"] = str(plot_confusion_matrix(matrix, out_dir / f"{model_path.stem}.confusion.png",
                                                                f"{model_path.name}: {result['accuracy']:.2%} on MNIST test"))
            result["misclassified_png"] = str(plot_misclassified(images[wrong], truths[wrong], predictions[wrong],
                                                                 out_dir / f"{model_path.stem}.misclassified.png"))
        except OSError as error:
            raise EdgeDigitsError(f"cannot write plots to {out_dir}: {error.strerror or error}") from None
    return result


def format_evaluation(result: dict[str, Any]) -> str:
    """Human-readable summary of evaluate_model's result."""
    lines = [
        f"model:        {result['model']}",
        f"test images:  {result['test_images']} ({result['data']})",
        f"accuracy:     {result['accuracy']:.4%}",
        f"misclassified: {result['misclassified']}",
        "per class:    " + "  ".join(f"{digit}:{accuracy:.2%}" for digit, accuracy in result["per_class_accuracy"].items()),
    ]
    for key in ("confusion_png", "misclassified_png"):
        if key in result:
            lines.append(f"wrote {result[key]}")
    return "\n".join(lines)
