"""A target's answers held against the native ones (the oracle), and the one table of the whole matrix.

Readings: every text equal, the same digits offered to the second model (but a digit whose first confidence
falls on either side of the threshold by a rounding difference). Models: the same top-1 as natively on every
digit; an int8 model also agrees with the native int8 TFLite of its set and stays within parity's accuracy
gap of the Keras model (build/parity.py's THRESHOLDS).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cpu_matrix.steps import CheckFailed
from edge_digits.build.parity import THRESHOLDS
from edge_digits.formats import format_for_file

FLIP_TOLERANCE = 0.01  # a digit may be re-read on one CPU only when its two first confidences are this close
# (OpenCV's ARM and x86 SIMD paths differ by a grey level here and there: readings' confidences by up to 0.004 so far)


@dataclass
class ModelCell:
    """One model on one target."""

    accuracy: float
    same_top1: float  # fraction of digits whose top-1 equals the native one
    max_abs_dp: float  # against the native probabilities
    failures: list[str] = field(default_factory=list)


def second_reads(second: dict) -> int:
    """How many digits the second model re-read: those the first model read below the threshold."""
    return sum(confidence < second["below"] for confidence in second["first"]) if second["model"] else 0


def compare_second(target: dict, native: dict, label: str) -> None:
    """Both load the packaged second model and re-read the same digits, except a digit whose first confidence
    lands on either side of the threshold by a rounding difference (within FLIP_TOLERANCE); else CheckFailed."""
    def summary(second: dict) -> str:
        return f"{second['model']} re-reading {second_reads(second)} of {len(second['first'])} digits"

    if (native["model"] != "export/second/digits_fp32.onnx" or target["model"] != native["model"]
            or target["below"] != native["below"] or len(target["first"]) != len(native["first"])):
        raise CheckFailed(f"{label}: the reader's packaged second model here {summary(target)}, natively {summary(native)}")
    below = native["below"]
    for index, (here, there) in enumerate(zip(target["first"], native["first"])):
        if (here < below) != (there < below) and abs(here - there) > FLIP_TOLERANCE:
            raise CheckFailed(f"{label}: the second model re-read digit {index} on one CPU only (first confidence "
                              f"{here:.6f} here, {there:.6f} natively, threshold {below})")


def compare_readings(target: dict, native: dict, label: str) -> tuple[tuple[int, str], tuple[float, str], int]:
    """The largest box difference (px) and confidence difference, each with where it occurred, and the number of
    readings compared; CheckFailed on any text that differs, or a second model loaded or used otherwise."""
    compare_second(target["second"], native["second"], label)
    if len(target["read"]) != len(native["read"]) or len(target["camera"]) != len(native["camera"]):
        raise CheckFailed(f"{label}: {len(target['read'])}/{len(target['camera'])} readings/frames here, "
                          f"{len(native['read'])}/{len(native['camera'])} natively")
    pairs = [(f"read {Path(a['image']).name}", a, b) for a, b in zip(target["read"], native["read"])]
    pairs += [(f"camera {a.get('source')}", a, b) for a, b in zip(target["camera"], native["camera"])]
    box, confidence = (0, "-"), (0.0, "-")
    for name, a, b in pairs:
        for key in ("text", "raw_text"):
            if a.get(key) != b.get(key):
                raise CheckFailed(f"{label}: {name} reads {a.get(key)!r} here but {b.get(key)!r} natively")
        for digit_a, digit_b in zip(a["digits"], b["digits"]):
            box = max(box, (max(abs(p - q) for p, q in zip(digit_a["box"], digit_b["box"])), name))
            confidence = max(confidence, (abs(digit_a["confidence"] - digit_b["confidence"]), name))
    return box, confidence, len(pairs)


def compare_models(target: dict[str, np.ndarray], native: dict[str, np.ndarray], labels: np.ndarray,
                   keras_accuracy: dict[str, float]) -> dict[str, ModelCell]:
    """Each model of `native` on this target: accuracy, top-1 equal to native, and the int8 criteria."""
    cells = {}
    for key, reference in native.items():
        if key not in target:
            cells[key] = ModelCell(float("nan"), 0.0, float("inf"), ["missing on this target"])
            continue
        set_name, file_name = key.split(":", 1)
        probabilities, truth = target[key], labels[:len(reference)]
        top1 = probabilities.argmax(1)
        cell = ModelCell(accuracy=float(np.mean(top1 == truth)), same_top1=float(np.mean(top1 == reference.argmax(1))),
                         max_abs_dp=float(np.max(np.abs(probabilities - reference))))
        if cell.same_top1 < 1.0:
            cell.failures.append(f"top-1 differs from native on {round((1 - cell.same_top1) * len(truth))} digits")
        entry = format_for_file(file_name)
        if entry is not None and entry.precision == "int8":
            tflite = native.get(f"{set_name}:digits_int8.tflite")
            if tflite is not None:
                agreement = float(np.mean(top1 == tflite.argmax(1)))
                if not THRESHOLDS[("int8", "int8")].check(agreement, 0.0, 0.0):
                    cell.failures.append(f"agrees {agreement:.2%} with native int8 TFLite (needs "
                                         f"{THRESHOLDS[('int8', 'int8')].describe()})")
            gap_pp = 100.0 * (cell.accuracy - keras_accuracy[set_name])
            if not THRESHOLDS[("int8", "keras")].check(1.0, 0.0, gap_pp):
                cell.failures.append(f"accuracy {gap_pp:+.2f} pp from Keras (needs {THRESHOLDS[('int8', 'keras')].describe()})")
        cells[key] = cell
    return cells


def format_matrix(models: dict[str, dict[str, ModelCell]], paths: dict[str, str], counts: dict[str, int],
                  keras_accuracy: dict[str, float], readings: dict[str, str]) -> str:
    """One table: a row per model (accuracy, '=' when every top-1 equals native's), a row of reader texts."""
    targets = list(models)
    keys = list(next(iter(models.values())))
    width = max(14, *(len(name) + 1 for name in targets))
    lines = [f"{'model':<32}{'digits':>7}{'keras':>9}  " + "".join(f"{name:>{width}}" for name in targets),
             f"{'':<32}{'':>7}{'':>9}  " + "".join(f"{paths[name]:>{width}}" for name in targets)]
    lines.append("-" * len(lines[0]))
    for key in keys:
        set_name, file_name = key.split(":", 1)
        cells = "".join(f"{format_cell(models[name][key]):>{width}}" for name in targets)
        lines.append(f"{set_name + '/' + file_name:<32}{counts[set_name]:>7}{keras_accuracy[set_name]:>9.2%}  {cells}")
    lines.append(f"{'reader texts (photos, scenes, camera)':<48}" + "".join(f"{readings[name]:>{width}}" for name in targets))
    lines.append("cell: accuracy; '=' every top-1 equals the native one, else '~' and FAIL with the reason below")
    return "\n".join(lines)


def format_cell(cell: ModelCell) -> str:
    mark = "=" if cell.same_top1 == 1.0 else "~"
    return f"{cell.accuracy:.2%} {mark}" + (" FAIL" if cell.failures else "")
