"""Parity: thresholds on synthetic predictions, the round trip on the full test set, the shipped export."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from export_support import copy_of, exported

from edge_digits.build.parity import THRESHOLDS, build_report, format_table, run_parity
from edge_digits.errors import EdgeDigitsError
from edge_digits.runtime.manifest import MANIFEST_NAME

SHIPPED = Path(__file__).resolve().parent.parent / "export"


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory, mnist_path) -> Path:
    return exported(tmp_path_factory.getbasetemp(), mnist_path)


def _one_hot_probabilities(classes: np.ndarray) -> np.ndarray:
    probabilities = np.full((len(classes), 10), 0.01, dtype=np.float32)
    probabilities[np.arange(len(classes)), classes] = 0.91
    return probabilities


def test_thresholds_match_the_acceptance_criteria():
    assert THRESHOLDS[("fp32", "keras")].check(1.0, 1e-4, 0.0)
    assert not THRESHOLDS[("fp32", "keras")].check(1.0, 1.01e-4, 0.0)
    assert not THRESHOLDS[("fp32", "keras")].check(0.9999, 0.0, 0.0)
    assert THRESHOLDS[("fp16", "keras")].check(0.999, 1.0, 0.0)
    assert not THRESHOLDS[("fp16", "keras")].check(0.9989, 0.0, 0.0)
    assert THRESHOLDS[("int8", "keras")].check(0.5, 1.0, -0.1)
    assert not THRESHOLDS[("int8", "keras")].check(1.0, 0.0, -0.11)
    assert THRESHOLDS[("int8", "int8")].check(0.999, 1.0, 5.0)
    assert not THRESHOLDS[("int8", "int8")].check(0.9989, 0.0, 0.0)


def test_build_report_flags_each_kind_of_failure():
    labels = np.arange(10000) % 10
    keras = _one_hot_probabilities(labels)
    fp32 = keras.copy()
    fp32[0, 0] += 2e-4  # tiny drift beyond 1e-4, same top-1
    int8_wrong = labels.copy()
    int8_wrong[:11] = (labels[:11] + 1) % 10  # 11 more mistakes: 0.11 pp accuracy drop
    int8_onnx = _one_hot_probabilities(int8_wrong)
    int8_tflite = _one_hot_probabilities(labels)
    report = build_report({"keras": keras, "onnx-fp32": fp32, "onnx-int8": int8_onnx, "tflite-int8": int8_tflite}, labels)
    verdicts = {row.pair: row.passed for row in report.rows}
    assert verdicts == {"onnx-fp32 vs keras": False, "onnx-int8 vs keras": False,
                        "tflite-int8 vs keras": True, "tflite-int8 vs onnx-int8": False}
    assert not report.passed
    table = format_table(report)
    assert "FAIL" in table and "overall: FAIL" in table


@pytest.mark.slow
def test_round_trip_export_passes_parity_on_full_test_set(export_dir, mnist_path):
    report = run_parity(export_dir, data_path=mnist_path)
    print(format_table(report))
    assert report.count == 10000
    assert {row.pair for row in report.rows} == {
        "onnx-fp32 vs keras", "tflite-fp32 vs keras", "tflite-fp16 vs keras",
        "onnx-int8 vs keras", "tflite-int8 vs keras", "tflite-int8 vs onnx-int8",
        "tflite-int8-tasks vs keras", "tflite-int8-tasks vs tflite-int8", "tflite-int8-tasks vs onnx-int8"}
    assert report.passed, format_table(report)
    tasks = next(row for row in report.rows if row.pair == "tflite-int8-tasks vs tflite-int8")
    assert tasks.agreement >= 0.999  # the RGB model, fed gray replicated to R, G, B, reads as the gray one


@pytest.mark.slow
@pytest.mark.parametrize("folder", [".", "second"])  # the shipped set, and the reader's second model's own set
def test_shipped_artifacts_pass_parity_on_full_test_set(folder, mnist_path):
    shipped = SHIPPED / folder
    if not (shipped / MANIFEST_NAME).is_file():
        pytest.skip(f"no shipped export yet: {shipped / MANIFEST_NAME} does not exist (run `edge-digits export --int8`)")
    report = run_parity(shipped, data_path=mnist_path)
    assert report.count == 10000
    assert report.passed, format_table(report)


@pytest.mark.slow
def test_parity_catches_a_swapped_artifact(export_dir, tmp_path, mnist_path):
    broken = copy_of(export_dir, tmp_path / "broken")
    (broken / MANIFEST_NAME).unlink()  # no checksums: only the numbers can catch it
    shutil.copyfile(export_dir / "digits_int8.onnx", broken / "digits_fp32.onnx")
    report = run_parity(broken, data_path=mnist_path, limit=2000)
    rows = {row.pair: row for row in report.rows}
    assert report.count == 2000 and not report.passed
    assert not rows["onnx-fp32 vs keras"].passed and rows["onnx-fp32 vs keras"].max_abs_dp > 1e-4
    assert rows["tflite-fp32 vs keras"].passed


def test_parity_refuses_a_tampered_artifact(export_dir, tmp_path, mnist_path):
    tampered = copy_of(export_dir, tmp_path / "tampered")
    data = bytearray((tampered / "digits_int8.tflite").read_bytes())
    data[-1] ^= 0xFF
    (tampered / "digits_int8.tflite").write_bytes(bytes(data))
    with pytest.raises(EdgeDigitsError, match="does not match manifest.json"):
        run_parity(tampered, data_path=mnist_path, limit=100)


def test_parity_needs_a_directory_with_the_keras_model(export_dir, tmp_path, mnist_path):
    with pytest.raises(EdgeDigitsError, match="not found"):
        run_parity(tmp_path / "missing", data_path=mnist_path)
    no_keras = copy_of(export_dir, tmp_path / "no_keras")
    (no_keras / "digits.keras").unlink()
    with pytest.raises(EdgeDigitsError, match="digits.keras"):
        run_parity(no_keras, data_path=mnist_path)
