"""Bench results as a terminal table, README markdown and PNG plots (reusing plots.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edge_digits.errors import EdgeDigitsError

SLOW_MARK = "!"  # marks an int8 row whose p50 latency is worse than its fp32 twin's
PLOT_NAMES = {"latency": "latency.png", "size": "size.png", "confusion": "confusion.png",
              "misclassified": "misclassified.png", "curves": "training_curves.png"}


def _number(value: Any, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def _latency(row: dict[str, Any], key: str) -> str:
    mark = SLOW_MARK if key == "latency_p50_ms" and row.get("int8_slower_than_fp32") else ""
    return _number(row.get(key), ".3f") + mark


ARTIFACT_COLUMNS: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
    ("format", lambda row: row["name"]),
    ("status", lambda row: row["status"]),
    ("size KiB", lambda row: _number(None if row["bytes"] is None else row["bytes"] / 1024, ".1f")),
    ("accuracy", lambda row: _number(None if row["accuracy"] is None else 100 * row["accuracy"], ".2f", "%")),
    ("Δacc pp", lambda row: _number(row["accuracy_delta_pp"], "+.2f")),
    ("agree", lambda row: _number(None if row["agreement"] is None else 100 * row["agreement"], ".2f", "%")),
    ("p50 ms", lambda row: _latency(row, "latency_p50_ms")),
    ("p99 ms", lambda row: _latency(row, "latency_p99_ms")),
    ("img/s @256", lambda row: _number(row["throughput_ips"], ",.0f")),
    ("load ms", lambda row: _number(row["load_ms"], ".1f")),
    ("peak MB", lambda row: _number(row["peak_memory_mb"], ".0f")),
)
PIPELINE_COLUMNS: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
    ("pipeline", lambda row: row["name"] if row["status"] == "passed" else f"{row['name']} ({row['status']})"),
    ("FPS p50", lambda row: _number(row["fps_p50"], ".1f")),
    ("total ms", lambda row: _number(row["total_ms_p50"], ".2f")),
    ("segment ms", lambda row: _number(row["segmentation_ms_p50"], ".2f")),
    ("normalize ms", lambda row: _number(row["normalization_ms_p50"], ".2f")),
    ("classify ms", lambda row: _number(row["classification_ms_p50"], ".2f")),
    ("order ms", lambda row: _number(row["ordering_ms_p50"], ".2f")),
    ("reading acc", lambda row: _number(None if row["reading_accuracy"] is None else 100 * row["reading_accuracy"], ".1f", "%")),
    ("exact frames", lambda row: _number(None if row["exact_frames"] is None else 100 * row["exact_frames"], ".0f", "%")),
)


def _cells(rows: list[dict[str, Any]], columns) -> tuple[list[str], list[list[str]]]:
    return [title for title, _ in columns], [[cell(row) for _, cell in columns] for row in rows]


def _predict_line(results: dict[str, Any]) -> str | None:
    baseline = results.get("keras_predict_baseline")
    if not baseline:
        return None
    return (f"Keras `model.predict` on one image (the tutorial's way, {baseline['runs']} runs): "
            f"p50 {baseline['latency_p50_ms']:.1f} ms, p99 {baseline['latency_p99_ms']:.1f} ms")


def _notes(results: dict[str, Any]) -> list[str]:
    settings, machine = results["settings"], results["machine"]
    notes = [f"{machine['cpu']} ({machine['path']} path), {settings['threads']} thread(s), batch-1 latency over {settings['runs']} runs "
             f"after {settings['warmup']} warm-up runs; accuracy on {settings['test_images']} MNIST test images."]
    if any(row.get("int8_slower_than_fp32") for row in results["artifacts"]):
        notes.append(f"{SLOW_MARK} int8 slower (p50) than the fp32 model of the same runtime.")
    line = _predict_line(results)
    return notes + ([line] if line else [])


def _pipeline_note(results: dict[str, Any]) -> str:
    settings = results["settings"]
    width, height = settings["frame_size"]
    return (f"Camera pipeline: {settings['pipeline_frames']} synthetic {width}x{height} frames with "
            f"{settings['digits_per_frame']} digits each, {settings['threads']} thread(s); per-frame medians.")


def _blocks(results: dict[str, Any]) -> list[tuple[tuple[list[str], list[list[str]]], int, list[str]]]:
    """(header and rows, how many left-aligned columns, notes) for the artifact and pipeline tables."""
    blocks = [(_cells(results["artifacts"], ARTIFACT_COLUMNS), 2, _notes(results))]  # 2: name, status left-aligned
    if results["pipeline"]:
        blocks.append((_cells(results["pipeline"], PIPELINE_COLUMNS), 1, [_pipeline_note(results)]))
    return blocks


def format_table(results: dict[str, Any]) -> str:
    """Fixed-width terminal tables: artifacts, then the camera pipeline."""
    blocks = _blocks(results)
    lines: list[str] = []
    for (header, body), left, notes in blocks:
        widths = [max(len(text) for text in column) for column in zip(header, *body)]

        def render(cells: list[str]) -> str:
            return "  ".join(text.ljust(width) if index < left else text.rjust(width)
                             for index, (text, width) in enumerate(zip(cells, widths))).rstrip()

        lines += [render(header), "-" * len(render(header)), *(render(cells) for cells in body), *notes, ""]
    return "\n".join(lines).rstrip() + "\n"


def format_markdown(results: dict[str, Any]) -> str:
    """GitHub markdown tables for the README, with the machine and settings underneath."""
    blocks = _blocks(results)
    lines: list[str] = []
    for (header, body), left, notes in blocks:
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---"] * left + ["---:"] * (len(header) - left)) + "|")
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        lines += [""] + notes + [""]
    return "\n".join(lines).rstrip() + "\n"


def write_plots(results: dict[str, Any], predictions: dict[str, np.ndarray], images: np.ndarray, labels: np.ndarray,
                directory: Path, manifest: dict | None, plots_dir: str | os.PathLike) -> list[Path]:
    """Latency and size bars, the shipped model's confusion matrix and mistakes, training curves if found."""
    from edge_digits.build.evaluate import confusion_matrix
    from edge_digits.build.plots import (
        plot_bars,
        plot_confusion_matrix,
        plot_misclassified,
        plot_training_curves,
    )

    out = Path(plots_dir)
    written: list[Path] = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        timed = [row for row in results["artifacts"] if row["latency_p50_ms"] is not None and row["backend"] != "keras"]
        if timed:  # Keras is 100x slower and would flatten the bars: it goes in the title instead
            written.append(plot_bars([row["name"] for row in timed], [row["latency_p50_ms"] for row in timed],
                                     out / PLOT_NAMES["latency"], "batch-1 latency p50 (ms)",
                                     f"latency per format, {results['settings']['threads']} thread{_keras_note(results)}"))
        sized = [row for row in results["artifacts"] if row["bytes"] is not None]
        if sized:
            written.append(plot_bars([row["name"] for row in sized], [row["bytes"] / 1024 for row in sized],
                                     out / PLOT_NAMES["size"], "file size (KiB)", "size per format"))
        shipped = shipped_format(directory)
        if shipped in predictions:
            predicted = predictions[shipped].argmax(axis=1)
            accuracy = float(np.mean(predicted == labels))
            written.append(plot_confusion_matrix(confusion_matrix(labels, predicted), out / PLOT_NAMES["confusion"],
                                                 f"{shipped}: {accuracy:.2%} on MNIST test"))
            wrong = np.flatnonzero(predicted != labels)
            written.append(plot_misclassified(images[wrong], labels[wrong], predicted[wrong], out / PLOT_NAMES["misclassified"]))
        history = find_history(directory, manifest)
        if history is not None:
            written.append(plot_training_curves(history, out / PLOT_NAMES["curves"]))
    except OSError as error:
        raise EdgeDigitsError(f"cannot write plots to {out}: {error.strerror or error}") from None
    return written


def _keras_note(results: dict[str, Any]) -> str:
    keras = next((row for row in results["artifacts"] if row["backend"] == "keras" and row["latency_p50_ms"]), None)
    predict = results.get("keras_predict_baseline")
    parts = ([f"Keras model(x) {keras['latency_p50_ms']:.1f} ms"] if keras else []) + (
        [f"model.predict {predict['latency_p50_ms']:.0f} ms"] if predict else [])
    return f"\n(not shown: {', '.join(parts)})" if parts else ""


def shipped_format(directory: Path) -> str | None:
    """The format the reader loads from `directory` by default (runtime.resolve_artifact's choice)."""
    from edge_digits.formats import format_for_file
    from edge_digits.runtime.classifier import resolve_artifact

    try:
        entry = format_for_file(resolve_artifact(directory, "onnx", "int8").name)
    except EdgeDigitsError:
        return None
    return entry.name if entry else None


def find_history(directory: Path, manifest: dict | None) -> dict[str, list[float]] | None:
    """Training history from <DIR>/digits.history.json or beside the manifest's source model, if any."""
    from edge_digits.formats import format_by_name

    stem = Path(format_by_name("keras").file).stem
    candidates = [directory / f"{stem}.history.json"]
    source = (manifest or {}).get("source_model", {}).get("path")
    if source:
        source = directory / source  # recorded relative to the export directory (older manifests: absolute)
        candidates.append(source.with_name(f"{source.stem}.history.json"))
    for path in candidates:
        try:
            history = json.loads(path.read_text(encoding="utf-8")).get("history")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(history, dict) and history.get("loss"):
            return history
    return None
