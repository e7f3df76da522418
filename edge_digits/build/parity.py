"""Parity: the Keras model is the oracle; every exported artifact must agree with it on MNIST test.

Artifacts are found through formats.FORMATS and loaded with runtime.load_classifier, the same
code users run, so a broken runtime path fails parity too. Thresholds live in THRESHOLDS only.
A model with RGB input (Format.input_channels 3) gets the gray test images replicated to R, G and B
by its classifier and is held to the int8 pair threshold against the int8 TFLite as well as Keras.
Beside the measured pairs, every int8 ONNX model must carry a host-independent proof (build/saturation.py) that
its integer kernels cannot saturate on any x86 CPU: a measurement on one CPU cannot see another CPU's bug.
A micro/ set (micro_export.py) adds one row: the TFLM interpreter against the int8 TFLite, same threshold.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from edge_digits.build.mnist import load_mnist, preprocess
from edge_digits.build.saturation import SaturationProof, prove
from edge_digits.errors import EdgeDigitsError
from edge_digits.formats import FORMATS, Format, format_by_name
from edge_digits.runtime.classifier import load_classifier
from edge_digits.runtime.cpu import describe_machine, measured_on
from edge_digits.runtime.manifest import verify_artifact
from edge_digits.runtime.trust import checked_manifest

BATCH_SIZE = 1000


@dataclass(frozen=True)
class Threshold:
    """An acceptance criterion for one kind of pair; unset fields are not checked."""

    min_agreement: float | None = None  # top-1 agreement, fraction of images
    max_abs_dp: float | None = None  # largest |p_candidate - p_reference| over all images and classes
    max_accuracy_gap_pp: float | None = None  # |accuracy difference| in percentage points

    def check(self, agreement: float, max_abs_dp: float, accuracy_gap_pp: float) -> bool:
        """True when every set criterion holds (tiny epsilon absorbs float rounding of ratios)."""
        return (
            (self.min_agreement is None or agreement >= self.min_agreement - 1e-12)
            and (self.max_abs_dp is None or max_abs_dp <= self.max_abs_dp)
            and (self.max_accuracy_gap_pp is None or abs(accuracy_gap_pp) <= self.max_accuracy_gap_pp + 1e-9)
        )

    def describe(self) -> str:
        parts = []
        if self.min_agreement is not None:
            parts.append(f"agree>={self.min_agreement:.1%}")
        if self.max_abs_dp is not None:
            parts.append(f"max|dp|<={self.max_abs_dp:g}")
        if self.max_accuracy_gap_pp is not None:
            parts.append(f"|dacc|<={self.max_accuracy_gap_pp:g}pp")
        return ", ".join(parts)


# (candidate precision, reference): the acceptance criteria, in one place.
THRESHOLDS: dict[tuple[str, str], Threshold] = {
    ("fp32", "keras"): Threshold(min_agreement=1.0, max_abs_dp=1e-4),
    ("fp16", "keras"): Threshold(min_agreement=0.999),
    ("int8", "keras"): Threshold(max_accuracy_gap_pp=0.1),
    ("int8", "int8"): Threshold(min_agreement=0.999),
}


@dataclass
class ParityRow:
    """One compared pair, e.g. 'onnx-fp32 vs keras'."""

    pair: str
    candidate: str
    reference: str
    count: int
    agreement: float
    max_abs_dp: float
    candidate_accuracy: float
    reference_accuracy: float
    threshold: str
    passed: bool


@dataclass
class ParityReport:
    """All pairs compared on the same images, and the int8 ONNX saturation proofs; `passed` only when every
    row passed and every proof holds. `measured_on` names the CPU and instruction-set path of the figures."""

    directory: str
    count: int
    rows: list[ParityRow] = field(default_factory=list)
    proofs: list[SaturationProof] = field(default_factory=list)
    measured_on: dict[str, str] = field(default_factory=measured_on)

    @property
    def passed(self) -> bool:
        return bool(self.rows) and all(row.passed for row in self.rows) and all(proof.safe for proof in self.proofs)

    def failures(self) -> str:
        """The failing pairs with their figures and thresholds, and the unsafe proofs, on one line."""
        failed = [f"{row.pair} (agree {row.agreement:.2%}, max|dp| {row.max_abs_dp:.1e}, acc "
                  f"{row.candidate_accuracy:.2%} vs {row.reference_accuracy:.2%}; needs {row.threshold})"
                  for row in self.rows if not row.passed]
        return "; ".join(failed + [proof.summary() for proof in self.proofs if not proof.safe])

    def to_dict(self) -> dict:
        return {"directory": self.directory, "count": self.count, "passed": self.passed, "measured_on": self.measured_on,
                "rows": [asdict(row) for row in self.rows], "proofs": [proof.to_dict() for proof in self.proofs]}


def predict_in_batches(predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray,
                       batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Run `predict` over `images` in fixed-size batches (bounded memory, never one image at a time)."""
    chunks = [np.asarray(predict(images[start:start + batch_size]), dtype=np.float32)
              for start in range(0, len(images), batch_size)]
    return np.concatenate(chunks) if chunks else np.zeros((0, 10), dtype=np.float32)


def compare(candidate: np.ndarray, reference: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Top-1 agreement, max |delta p| and both accuracies of two (N, 10) probability arrays."""
    if candidate.shape != reference.shape or candidate.shape[0] != len(labels):
        raise ValueError(f"cannot compare predictions of shapes {candidate.shape} and {reference.shape} "
                         f"for {len(labels)} labels")
    top_candidate, top_reference = candidate.argmax(axis=1), reference.argmax(axis=1)
    return {
        "agreement": float(np.mean(top_candidate == top_reference)),
        "max_abs_dp": float(np.max(np.abs(candidate - reference))) if candidate.size else 0.0,
        "candidate_accuracy": float(np.mean(top_candidate == labels)),
        "reference_accuracy": float(np.mean(top_reference == labels)),
    }


def pairs_for(names: list[str]) -> list[tuple[str, str, Threshold]]:
    """(candidate, reference, threshold) for every pair the criteria cover among these formats."""
    pairs = []
    for name in names:
        entry = format_by_name(name)
        if entry.backend != "keras" and (entry.precision, "keras") in THRESHOLDS:
            pairs.append((name, "keras", THRESHOLDS[(entry.precision, "keras")]))
    int8 = [name for name in names if format_by_name(name).precision == "int8" and format_by_name(name).backend != "keras"]
    for index, first in enumerate(int8):
        for second in int8[index + 1:]:
            pairs.append((second, first, THRESHOLDS[("int8", "int8")]))
    return pairs


def saturation_proofs(directory: Path) -> list[SaturationProof]:
    """The saturation proof of every int8 ONNX model of the table present in `directory`."""
    return [prove(directory / entry.file) for entry in artifacts_in(directory)
            if entry.backend == "onnx" and entry.precision == "int8"]


def build_report(predictions: dict[str, np.ndarray], labels: np.ndarray, directory: str = "",
                 proofs: list[SaturationProof] | None = None) -> ParityReport:
    """Compare every covered pair among `predictions` (format name -> probabilities, 'keras' included)."""
    if "keras" not in predictions:
        raise ValueError("parity needs the Keras model's predictions as the reference")
    report = ParityReport(directory=directory, count=len(labels), proofs=list(proofs or []))
    for candidate, reference, threshold in pairs_for(list(predictions)):
        metrics = compare(predictions[candidate], predictions[reference], labels)
        gap_pp = 100.0 * (metrics["candidate_accuracy"] - metrics["reference_accuracy"])
        passed = threshold.check(metrics["agreement"], metrics["max_abs_dp"], gap_pp)
        report.rows.append(ParityRow(pair=f"{candidate} vs {reference}", candidate=candidate, reference=reference,
                                     count=len(labels), threshold=threshold.describe(), passed=passed, **metrics))
    return report


def artifacts_in(directory: Path) -> list[Format]:
    """The table's formats whose files exist in `directory`, in table order."""
    return [entry for entry in FORMATS if (directory / entry.file).is_file()]


def run_parity(directory: str | os.PathLike, data_path: str | os.PathLike | None = None,
               limit: int | None = None) -> ParityReport:
    """Load the Keras oracle and every other artifact in `directory`; compare on the MNIST test set."""
    directory = Path(directory)
    if not directory.is_dir():
        raise EdgeDigitsError(f"export directory not found: {directory}; run `edge-digits export --out {directory}`")
    keras_entry = format_by_name("keras")
    if not (directory / keras_entry.file).is_file():
        raise EdgeDigitsError(f"{directory} has no {keras_entry.file}, the reference for parity; re-export into it")
    if limit is not None and limit < 1:
        raise EdgeDigitsError(f"--limit must be at least 1, got {limit}")
    others = [entry for entry in artifacts_in(directory) if entry.backend != "keras"]
    if not others:
        raise EdgeDigitsError(f"{directory} holds no exported artifacts to compare; run `edge-digits export --out {directory}`")
    manifest = checked_manifest(directory)  # signed, when trusted keys are configured
    for entry in [keras_entry, *others]:  # checksums first: a tampered file fails in a second, not after TF loads
        verify_artifact(directory / entry.file, manifest)
    mnist = load_mnist(data_path)
    images, labels = preprocess(mnist.x_test[:limit]), mnist.y_test[:limit].astype(np.int64)

    from edge_digits.build.keras_io import load_keras_model, predict_probabilities
    from edge_digits.runtime.quiet import quiet_stderr

    model = load_keras_model(directory / keras_entry.file)
    predictions = {"keras": predict_probabilities(model, images, batch_size=BATCH_SIZE)}
    for entry in others:
        classifier = load_classifier(directory / entry.file, backend=entry.backend, verify=True)
        with quiet_stderr(replay=False):  # LiteRT prints a delegate banner on first invoke
            predictions[entry.name] = predict_in_batches(classifier.predict, images)
    report = build_report(predictions, labels, directory=str(directory), proofs=saturation_proofs(directory))
    from edge_digits.build import micro_export  # it imports this module; TFLM loads only for a micro set

    if (directory / micro_export.MICRO_DIR).is_dir():  # the TFLM interpreter against the int8 TFLite
        report.rows.append(micro_export.micro_parity_row(directory, images, labels, predictions.get("tflite-int8")))
    return report


def format_table(report: ParityReport) -> str:
    """A fixed-width table of the report, one row per pair, with a PASS/FAIL verdict line."""
    header = f"{'pair':<34} {'agree':>8} {'max|dp|':>10} {'acc':>8} {'ref acc':>8}  {'threshold':<32} result"
    lines = [f"parity on {report.count} MNIST test images ({report.directory}), measured on "
             f"{describe_machine(report.measured_on)}", header, "-" * len(header)]
    for row in report.rows:
        lines.append(
            f"{row.pair:<34} {row.agreement:>8.2%} {row.max_abs_dp:>10.2e} {row.candidate_accuracy:>8.2%} "
            f"{row.reference_accuracy:>8.2%}  {row.threshold:<32} {'PASS' if row.passed else 'FAIL'}"
        )
    for proof in report.proofs:
        lines.append(f"{'PASS' if proof.safe else 'FAIL'} int16 saturation proof (any CPU): {proof.summary()}")
    lines.append(f"overall: {'PASS' if report.passed else 'FAIL'}")
    return "\n".join(lines)
