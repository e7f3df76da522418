"""The pictures people look at: training curves, confusion matrix, misclassified digits."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: str | os.PathLike) -> Path:
    """Save through a temp file and a rename so an interrupted run leaves no half PNG."""
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.tmp.png")
    try:
        figure.savefig(temporary, dpi=110, bbox_inches="tight")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
        _pyplot().close(figure)
    return path


def plot_training_curves(history: dict[str, list[float]], path: str | os.PathLike, title: str = "") -> Path:
    """Loss and accuracy per epoch, training vs validation."""
    plt = _pyplot()
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    for key, axis in (("loss", loss_axis), ("accuracy", accuracy_axis)):
        for prefix, label in (("", "train"), ("val_", "validation")):
            if history.get(prefix + key):
                axis.plot(epochs, history[prefix + key], marker="o", label=label)
        axis.set_xlabel("epoch")
        axis.set_ylabel(key)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title or "training curves")
    return save_figure(figure, path)


def plot_confusion_matrix(matrix: np.ndarray, path: str | os.PathLike, title: str = "") -> Path:
    """Counts of true (rows) vs predicted (columns) digits, off-diagonal errors highlighted."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6.5, 5.5))
    errors = matrix.astype(float).copy()
    np.fill_diagonal(errors, np.nan)
    image = axis.imshow(errors, cmap="Reds")
    for true_digit in range(10):
        for predicted in range(10):
            count = int(matrix[true_digit, predicted])
            if count:
                weight = "bold" if true_digit == predicted else "normal"
                axis.text(predicted, true_digit, str(count), ha="center", va="center", fontsize=7, weight=weight)
    axis.set_xticks(range(10))
    axis.set_yticks(range(10))
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    figure.colorbar(image, ax=axis, label="errors")
    axis.set_title(title or "confusion matrix (diagonal: correct)")
    return save_figure(figure, path)


def plot_misclassified(images: np.ndarray, truths: np.ndarray, predictions: np.ndarray, path: str | os.PathLike, limit: int = 64) -> Path:
    """A grid of misclassified digits captioned `true->predicted`."""
    plt = _pyplot()
    count = min(limit, len(images))
    columns = 8
    rows = max(1, int(np.ceil(count / columns)))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.2, rows * 1.4))
    for index, axis in enumerate(np.atleast_1d(axes).ravel()):
        axis.axis("off")
        if index < count:
            axis.imshow(images[index].reshape(28, 28), cmap="gray")
            axis.set_title(f"{truths[index]}->{predictions[index]}", fontsize=8)
    figure.suptitle(f"misclassified test digits (first {count})")
    return save_figure(figure, path)


def plot_bars(names: list[str], values: list[float], path: str | os.PathLike, ylabel: str, title: str) -> Path:
    """A bar per format (latency, size, ...)."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(max(5, len(names) * 1.1), 3.8))
    axis.bar(names, values, color="#4477aa")
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.tick_params(axis="x", rotation=30)
    axis.grid(axis="y", alpha=0.3)
    return save_figure(figure, path)
