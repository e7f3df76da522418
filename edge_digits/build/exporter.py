"""Export a Keras digit model to every format row in formats.FORMATS, validated, as one atomic set.

Each row names its writer in writers.py (`Format.exporter`); `export()` stages the whole set beside `out`,
loads every artifact back through runtime.load_classifier, measures it against the Keras model on
MNIST test, writes manifest.json, and only then swaps the set in (see staging.py).

manifest.json says what the set is (files, hashes, contracts, calibration, versions, the parity gate's verdict
and thresholds): the same bytes on every CPU. What this machine measured (accuracies, agreements, max |dp|, and
the CPU and instruction-set path) goes to parity.json beside it, which is not part of the set's identity.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from edge_digits.build import artifact_io, tflite_metadata, writers
from edge_digits.build.folding import fold_batch_norm
from edge_digits.build.keras_io import (
    check_keras_file,
    import_tensorflow,
    load_keras_model,
    predict_probabilities,
)
from edge_digits.build.mnist import (
    balanced_sample,
    check_mnist_file,
    load_mnist,
    preprocess,
)
from edge_digits.build.parity import (
    THRESHOLDS,
    build_report,
    compare,
    predict_in_batches,
    saturation_proofs,
)
from edge_digits.build.provenance import (
    CALIBRATION_IMAGES,
    export_command,
    portable_path,
)
from edge_digits.build.signer import keep_signature_if_unchanged
from edge_digits.build.staging import StagedDirectory, sigterm_as_interrupt
from edge_digits.build.writers import ExportContext
from edge_digits.errors import EdgeDigitsError
from edge_digits.files import write_json_atomic
from edge_digits.formats import (
    FORMATS,
    INPUT_NAME,
    LABELS,
    OUTPUT_NAME,
    PREPROCESSING,
    Format,
    format_by_name,
    selected_formats,
)
from edge_digits.options import progress
from edge_digits.runtime.classifier import load_classifier
from edge_digits.runtime.cpu import describe_machine
from edge_digits.runtime.manifest import MANIFEST_NAME, MEASUREMENTS_NAME, package_versions, sha256_file
from edge_digits.runtime.quiet import quiet_stderr
from edge_digits.runtime.trust import SIGNATURE_NAME

LABELS_FILE = "labels.txt"
# replaced as one set; a signature of the previous manifest is dropped unless the new manifest is the same bytes
SET_NAMES = frozenset({row.file for row in FORMATS} | {LABELS_FILE, MANIFEST_NAME, MEASUREMENTS_NAME, SIGNATURE_NAME})
TOOLS = ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "ai-edge-litert", "numpy")


class ParityFailed(EdgeDigitsError):
    """The new set failed a parity threshold, so it was not swapped in (the previous set is untouched)."""


def export(
    model: str | os.PathLike | None = None,
    out: str | os.PathLike = "export",
    int8: bool = False,
    fp16: bool = False,
    data_path: str | os.PathLike | None = None,
    calibration: int = CALIBRATION_IMAGES,
    seed: int = 0,
    command: str | None = None,
    keep_failing: bool = False,
    train: bool = False,
) -> dict[str, Any]:
    """Write the selected formats + labels.txt + manifest.json + parity.json into `out` atomically; return the
    manifest, with this machine's measurements under the key "measured" (written to parity.json, not the manifest).

    A set that fails parity raises ParityFailed and leaves `out` as it was, unless `keep_failing`
    (the manifest then says parity failed and that the set was kept anyway). Without `model`, the set's own
    digits.keras is re-exported; when there is none, `train` must say that a training run is wanted.
    """
    if isinstance(calibration, bool) or not isinstance(calibration, (int, np.integer)) or calibration < 1:
        raise EdgeDigitsError(f"--calibration must be a whole number of images >= 1, got {calibration!r}")
    out_path = Path(out).expanduser()
    source = None if model is None else Path(model).expanduser()
    if source is not None and not source.is_file():
        raise EdgeDigitsError(f"Keras model not found: {source}; train one with `edge-digits train` or pass --model PATH")
    if source is not None:
        check_keras_file(source)  # a non-zip source fails here, before TensorFlow is imported
    elif not (out_path / format_by_name("keras").file).is_file() and not train:
        raise EdgeDigitsError(f"{out_path / format_by_name('keras').file} does not exist, so there is no model to export: "
                              "pass --model PATH (export/digits.keras is the shipped model), or --train to train the "
                              "default 'edge' model first (about 10 minutes on 2 cores)")
    if data_path is not None:
        check_mnist_file(data_path)  # so is a missing, non-npz or pickled --data
    with sigterm_as_interrupt(), StagedDirectory(out_path, SET_NAMES) as stage:
        import_tensorflow()
        mnist = load_mnist(data_path)
        if source is None:
            source = _default_source(out_path, stage.work, data_path, seed)
        keras_model = load_keras_model(source)
        picked = balanced_sample(mnist.y_train, int(calibration), seed)
        # converters get the model with batch norms folded in float64 (bytes independent of the CPU's rsqrt)
        context = ExportContext(fold_batch_norm(keras_model), source, stage.work, preprocess(mnist.x_train[picked]))
        test_images, test_labels = preprocess(mnist.x_test), mnist.y_test.astype(np.int64)
        reference = predict_probabilities(keras_model, test_images)
        _check_probabilities(reference, source)

        (stage.path / LABELS_FILE).write_text("\n".join(LABELS) + "\n", encoding="utf-8")  # packed into .tflite too
        predictions, entries, measured = {}, [], []
        for entry in progress(selected_formats(int8=int8, fp16=fp16), "export", unit="format"):
            writer = getattr(writers, entry.exporter, None)
            if not callable(writer):
                raise ValueError(f"formats.py names exporter {entry.exporter!r} for {entry.name}, but writers.py has none")
            path = stage.path / entry.file
            extra = writer(context, path)
            if entry.backend == "tflite":
                extra.update(tflite_metadata.write_metadata(path, entry, stage.path / LABELS_FILE))
            predictions[entry.name] = _validate(entry, path, source, reference, test_images)
            entries.append(_artifact_record(entry, path, extra))
            measured.append(_artifact_measurement(entry, predictions[entry.name], reference, test_labels))
        proofs = saturation_proofs(stage.path)
        for record in entries:
            proof = next((proof for proof in proofs if proof.file == record["file"]), None)
            if proof is not None:  # a property of the file, the same on every CPU
                record["int16_saturation"] = proof.record()
        report = build_report(predictions, test_labels, directory=".", proofs=proofs)  # the manifest's own directory
        if not report.passed and not keep_failing:
            raise ParityFailed(f"parity failed: {report.failures()}; {out_path} was left as it was "
                               "(pass --keep-failing to write the failing set anyway)")

        source_name = portable_path(source, out_path, stage.path)
        data_file = None if mnist.source.startswith("keras.") else Path(mnist.source)
        manifest = {
            "schema": 2,
            "command": command or export_command(int8, fp16, calibration, seed,
                                                 model=None if source_name == format_by_name("keras").file else source_name,
                                                 data=None if data_path is None else Path(data_path).name),
            "source_model": {"path": source_name, "sha256": sha256_file(source), "name": keras_model.name,
                             "parameters": int(keras_model.count_params())},
            "labels": list(LABELS),
            "labels_file": {"file": LABELS_FILE, "bytes": (stage.path / LABELS_FILE).stat().st_size,
                            "sha256": sha256_file(stage.path / LABELS_FILE)},
            "input_name": INPUT_NAME,
            "output_name": OUTPUT_NAME,
            "preprocessing": PREPROCESSING,
            "calibration": {"count": int(len(picked)), "requested": int(calibration), "seed": seed,
                            "split": "train", "class_counts": np.bincount(mnist.y_train[picked], minlength=10).tolist(),
                            "method": "edge_digits.build.mnist.balanced_sample: class-balanced, seeded, from the training "
                                      "split (never the test split)"},
            "evaluation": {"split": "test", "count": int(len(test_labels)),
                           "data": mnist.source if data_file is None else data_file.name,
                           "data_sha256": None if data_file is None else sha256_file(data_file)},
            "artifacts": entries,
            "parity": {"passed": report.passed, "kept_failing": not report.passed,
                       "thresholds": [{"pair": row.pair, "threshold": row.threshold} for row in report.rows],
                       "measurements": MEASUREMENTS_NAME},
            "tool_versions": package_versions(TOOLS),
        }
        measurements = {"schema": 1, "measured_on": report.measured_on, "command": manifest["command"],
                        "keras_accuracy": float(np.mean(reference.argmax(1) == test_labels)),
                        "artifacts": measured, "parity": report.to_dict()}
        write_json_atomic(stage.path / MANIFEST_NAME, manifest)
        write_json_atomic(stage.path / MEASUREMENTS_NAME, measurements)
        keep_signature_if_unchanged(stage.out, stage.path)
        stage.commit()
    return {**manifest, "measured": measurements}


def _default_source(out: Path, work: Path, data_path, seed: int) -> Path:
    """<out>/digits.keras, or train the default edge model into the stage when there is none (export(train=True))."""
    existing = out / format_by_name("keras").file
    if existing.is_file():
        return existing
    from edge_digits.build.train import (
        train_model,  # build tier, written separately; imported only when needed
    )

    print(f"no model given and {existing} does not exist: training the default 'edge' model first", file=sys.stderr)
    return Path(train_model(arch="edge", data_path=data_path, seed=seed, out=work / "trained.keras").model_path)


def _check_probabilities(reference: np.ndarray, source: Path) -> None:
    if not np.all(np.isfinite(reference)) or np.abs(reference.sum(axis=1) - 1.0).max() > 1e-3:
        raise EdgeDigitsError(f"{source}: model outputs are not softmax probabilities (rows must sum to 1)")


def _validate(entry: Format, path: Path, source: Path, reference: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Load the written artifact in its own runtime and return its test-set probabilities."""
    if entry.backend == "keras":
        load_keras_model(path)  # it must load; its bytes equal the source, whose outputs are `reference`
        if sha256_file(path) != sha256_file(source):
            raise EdgeDigitsError(f"copy of {source} to {path} is damaged; check the disk and retry")
        return reference
    with quiet_stderr():  # the LiteRT "created XNNPACK delegate" banner
        classifier = load_classifier(path, backend=entry.backend, verify=False)
        return predict_in_batches(classifier.predict, images)


def _artifact_record(entry: Format, path: Path, extra: dict) -> dict[str, Any]:
    """What the manifest says of one file: format, size, hash, I/O contract, how it was made."""
    record = {"file": entry.file, "format": entry.name, "backend": entry.backend, "precision": entry.precision,
              "description": entry.description, "bytes": path.stat().st_size, "sha256": sha256_file(path)}
    record.update(artifact_io.describe_io(entry, path))
    record.update(extra)
    return record


def _artifact_measurement(entry: Format, probabilities: np.ndarray, reference: np.ndarray,
                          labels: np.ndarray) -> dict[str, Any]:
    """What this machine measured of one file against Keras (for parity.json, not the manifest)."""
    metrics = compare(probabilities, reference, labels)
    record = {"file": entry.file, "accuracy": metrics["candidate_accuracy"], "top1_agreement_vs_keras": metrics["agreement"],
              "max_abs_dp_vs_keras": metrics["max_abs_dp"]}
    threshold = THRESHOLDS.get((entry.precision, "keras")) if entry.backend != "keras" else None
    if threshold is not None:
        gap_pp = 100.0 * (metrics["candidate_accuracy"] - metrics["reference_accuracy"])
        record["parity_vs_keras"] = {"threshold": threshold.describe(),
                                     "passed": threshold.check(metrics["agreement"], metrics["max_abs_dp"], gap_pp)}
    return record


def summary(manifest: dict[str, Any]) -> str:
    """One line per artifact (size, accuracy, agreement) and the gate's verdict, for the CLI after an export."""
    measured = {record["file"]: record for record in manifest["measured"]["artifacts"]}
    lines = []
    for record in manifest["artifacts"]:
        figures = measured[record["file"]]
        lines.append(f"{record['file']:<26} {record['bytes'] / 1024:>8.1f} KiB  acc {figures['accuracy']:.2%}  "
                     f"agree {figures['top1_agreement_vs_keras']:.2%}  max|dp| {figures['max_abs_dp_vs_keras']:.1e}")
    for proof in manifest["measured"]["parity"]["proofs"]:
        lines.append(f"int16 saturation proof: {'PASS' if proof['safe'] else 'FAIL'} ({proof['file']}, any CPU)")
    lines.append(f"parity vs keras: {'PASS' if manifest['parity']['passed'] else 'FAIL'} "
                 f"(measured on {describe_machine(manifest['measured']['measured_on'])}; figures in {MEASUREMENTS_NAME})")
    return "\n".join(lines)
