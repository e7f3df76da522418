"""Export the field model (build/field_model.py) as its own set, OUT/field/: Keras, ONNX fp32 + int8,
TFLite fp32 + int8, a manifest and parity.json, all or nothing (staging.StagedDirectory).

The writers are the digit model's (build/writers.py, the same int8 recipes: onnxruntime QDQ with 7-bit
per-channel weights, TFLite full-integer with uint8 input); only the traced input shape differs. The
calibration strips are synthetic strings of MNIST TRAINING digits; parity compares every file with the
Keras oracle on synthetic strings of MNIST TEST digits: decoded strings and per-column probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_digits.build import artifact_io, writers
from edge_digits.build.field_model import FIELD_SHAPES
from edge_digits.build.field_strings import field_batch, labels_of
from edge_digits.build.folding import fold_batch_norm
from edge_digits.build.keras_io import check_keras_file, import_tensorflow, load_keras_model
from edge_digits.build.mnist import load_mnist
from edge_digits.build.staging import StagedDirectory, sigterm_as_interrupt
from edge_digits.errors import EdgeDigitsError
from edge_digits.files import write_json_atomic
from edge_digits.formats import FIELD_FORMATS, FIELD_PREPROCESSING, INPUT_NAME, OUTPUT_NAME
from edge_digits.runtime.cpu import measured_on
from edge_digits.runtime.field_reader import FIELD_DIR, FieldReader
from edge_digits.runtime.field_strip import FIELD_HEIGHT, FIELD_WIDTH, decode_strings
from edge_digits.runtime.manifest import MANIFEST_NAME, MEASUREMENTS_NAME, package_versions, sha256_file

SET_NAMES = frozenset({row.file for row in FIELD_FORMATS} | {MANIFEST_NAME, MEASUREMENTS_NAME})
TOOLS = ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "ai-edge-litert", "numpy")
# (precision) -> least decoded-string agreement with Keras, largest max |dp| of any column's probability
THRESHOLDS = {"fp32": (0.999, 1e-4), "int8": (0.97, 0.5)}


@dataclass
class FieldParityRow:
    """One artifact against the Keras oracle on the parity strings."""

    file: str
    precision: str
    string_agreement: float
    max_abs_dp: float
    char_accuracy: float
    exact_rate: float
    passed: bool

    def line(self) -> str:
        return (f"{self.file:20s} {self.precision:5s} {self.string_agreement:9.2%} {self.max_abs_dp:10.2e} "
                f"{self.char_accuracy:9.2%} {self.exact_rate:7.2%}  {'pass' if self.passed else 'FAIL'}")


PARITY_HEADER = f"{'file':20s} {'prec':5s} {'agree':>9s} {'max|dp|':>10s} {'char acc':>9s} {'exact':>7s}"


def export_field(model: str | Path, out: str | Path = "export", data_path: str | None = None, calibration: int = 500,
                 parity_strings: int = 1000, seed: int = 0, scorer=None, keep_failing: bool = False) -> tuple[dict, list[FieldParityRow]]:
    """Write OUT/field/ from the .keras `model`; raise (leaving OUT/field/ as it was) when parity fails
    unless keep_failing. `scorer(readings, labels)` -> (character accuracy, exact rate)."""
    if scorer is None:
        raise ValueError("export_field needs a scorer(readings, labels) -> (character accuracy, exact rate)")
    source = Path(model).expanduser()
    if not source.is_file():
        raise EdgeDigitsError(f"field model not found: {source}; train one with `edge-digits train --arch field`")
    check_keras_file(source)
    target = Path(out) / FIELD_DIR
    with sigterm_as_interrupt(), StagedDirectory(target, SET_NAMES) as stage:
        import_tensorflow()
        mnist = load_mnist(data_path)
        keras_model = load_keras_model(source, FIELD_SHAPES)
        calibration_strips, _, _ = field_batch(mnist.x_train, mnist.y_train, calibration, seed + 1000)
        parity_strips, targets, lengths = field_batch(mnist.x_test, mnist.y_test, parity_strings, seed + 2000)
        labels = labels_of(targets, lengths)
        floats = parity_strips.astype(np.float32) / 255.0
        context = writers.ExportContext(fold_batch_norm(keras_model), source, stage.work,
                                        calibration_strips.astype(np.float32) / 255.0, (FIELD_HEIGHT, FIELD_WIDTH))
        reference = keras_model.predict(floats, batch_size=256, verbose=0)
        reference_strings = decode_strings(reference)
        entries, rows = [], []
        for entry in FIELD_FORMATS:
            path = stage.path / entry.file
            extra = getattr(writers, entry.exporter)(context, path)
            record = {"file": entry.file, "format": entry.name, "backend": entry.backend, "precision": entry.precision,
                      "description": entry.description, "bytes": path.stat().st_size, "sha256": sha256_file(path)}
            if entry.backend != "keras":
                record.update(artifact_io.describe_io(entry, path))
                probabilities = FieldReader(path, verify=False).probabilities(floats)
            else:
                probabilities = reference
            record.update(extra)
            entries.append(record)
            strings = decode_strings(probabilities)
            agreement = float(np.mean([a == b for a, b in zip(strings, reference_strings)]))
            max_dp = float(np.abs(probabilities - reference).max())
            accuracy, exact = scorer(strings, labels)
            least, largest = THRESHOLDS[entry.precision]
            rows.append(FieldParityRow(entry.file, entry.precision, agreement, max_dp, accuracy, exact,
                                       agreement >= least and max_dp <= largest))
        passed = all(row.passed for row in rows)
        if not passed and not keep_failing:
            failing = ", ".join(row.file for row in rows if not row.passed)
            raise EdgeDigitsError(f"field parity failed for {failing}; {target} was left as it was")
        manifest = {
            "schema": 2, "kind": "field",
            "command": f"edge-digits export-field --model {source.name}" + (f" --seed {seed}" if seed else ""),
            "source_model": {"path": source.name, "sha256": sha256_file(source), "name": keras_model.name,
                             "parameters": int(keras_model.count_params())},
            "labels": [str(digit) for digit in range(10)] + ["blank"],
            "input_name": INPUT_NAME, "output_name": OUTPUT_NAME, "preprocessing": FIELD_PREPROCESSING,
            "calibration": {"count": calibration, "seed": seed + 1000, "split": "train",
                            "method": "edge_digits.build.field_strings.field_batch of MNIST training digits"},
            "artifacts": entries,
            "parity": {"passed": passed, "thresholds": {precision: {"string_agreement_at_least": least, "max_abs_dp_at_most": largest}
                                                       for precision, (least, largest) in THRESHOLDS.items()},
                       "measurements": MEASUREMENTS_NAME},
            "tool_versions": package_versions(TOOLS),
        }
        measurements = {"schema": 1, "measured_on": measured_on(), "strings": parity_strings, "seed": seed + 2000,
                        "split": "test", "rows": [row.__dict__ for row in rows]}
        write_json_atomic(stage.path / MANIFEST_NAME, manifest)
        write_json_atomic(stage.path / MEASUREMENTS_NAME, measurements)
        stage.commit()
    return manifest, rows
