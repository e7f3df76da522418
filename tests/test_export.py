"""Exporter: manifest vs files, ONNX/TFLite contracts, bad inputs, atomic replacement under interrupts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from export_support import copy_of, exported, fingerprint, leftovers, source_model as shared_source_model

from edge_digits.build import exporter, writers
from edge_digits.build.staging import PREFIX, recover
from edge_digits.errors import EdgeDigitsError
from edge_digits.formats import (
    LABELS,
    PREPROCESSING,
    format_by_name,
    selected_formats,
)
from edge_digits.runtime.manifest import read_manifest, sha256_file

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory, mnist_path) -> Path:
    return exported(tmp_path_factory.getbasetemp(), mnist_path)


@pytest.fixture(scope="module")
def source_model(export_dir, tmp_path_factory, mnist_path) -> Path:
    return shared_source_model(tmp_path_factory.getbasetemp())


def test_manifest_matches_files(export_dir, source_model):
    manifest = read_manifest(export_dir)
    expected = {entry.file for entry in selected_formats(int8=True, fp16=True)}
    assert {record["file"] for record in manifest["artifacts"]} == expected
    assert set(os.listdir(export_dir)) == expected | {"labels.txt", "manifest.json", "parity.json"}
    measured = json.loads((export_dir / "parity.json").read_text(encoding="utf-8"))
    accuracy = {record["file"]: record["accuracy"] for record in measured["artifacts"]}
    for record in manifest["artifacts"]:
        path = export_dir / record["file"]
        assert record["bytes"] == path.stat().st_size
        assert record["sha256"] == sha256_file(path)
        entry = format_by_name(record["format"])
        assert (record["backend"], record["precision"]) == (entry.backend, entry.precision)
        assert 0.99 < accuracy[record["file"]] <= 1.0
    assert manifest["labels_file"]["sha256"] == sha256_file(export_dir / "labels.txt")
    assert (export_dir / "labels.txt").read_text().split() == list(LABELS)
    assert manifest["source_model"]["sha256"] == sha256_file(source_model) == sha256_file(export_dir / "digits.keras")
    assert manifest["preprocessing"] == PREPROCESSING and manifest["labels"] == list(LABELS)
    calibration = manifest["calibration"]
    assert calibration["split"] == "train" and calibration["count"] == 1000 and calibration["class_counts"] == [100] * 10
    assert {"tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "ai-edge-litert", "numpy", "python"} <= set(manifest["tool_versions"])
    assert manifest["evaluation"]["count"] == 10000 and manifest["command"] == "pytest" and manifest["parity"]["passed"]


def test_the_manifest_holds_no_measurement_and_parity_json_names_the_cpu(export_dir):
    """What a machine measured differs between CPUs (max |dp| in the 7th digit, at least), so it must not be in
    the manifest that identifies the set; parity.json holds it with the CPU and instruction-set path it came from."""
    from edge_digits.runtime.cpu import instruction_path

    manifest = read_manifest(export_dir)
    measured_keys = {"accuracy", "top1_agreement_vs_keras", "max_abs_dp_vs_keras", "parity_vs_keras", "keras_accuracy"}
    for record in [*manifest["artifacts"], manifest["evaluation"]]:
        assert not measured_keys & set(record), record
    assert set(manifest["parity"]) == {"passed", "kept_failing", "thresholds", "measurements"}
    measured = json.loads((export_dir / manifest["parity"]["measurements"]).read_text(encoding="utf-8"))
    assert measured["measured_on"]["path"] == instruction_path() != "unknown"
    assert {row["pair"] for row in measured["parity"]["rows"]} == {row["pair"] for row in manifest["parity"]["thresholds"]}
    (proof,) = measured["parity"]["proofs"]
    assert proof["file"] == "digits_int8.onnx" and proof["safe"]
    int8 = next(record for record in manifest["artifacts"] if record["file"] == "digits_int8.onnx")["int16_saturation"]
    assert int8["safe"] and int8["limit"] == 128 and 64 <= int8["largest_weight_pair"] <= 128, int8


def test_onnx_contract(export_dir):
    import onnx
    import onnxruntime

    for name in ("digits_fp32.onnx", "digits_int8.onnx"):
        model = onnx.load(str(export_dir / name))
        onnx.checker.check_model(model)
        assert {opset.domain or "ai.onnx": opset.version for opset in model.opset_import}["ai.onnx"] == 18
        (image,), (output,) = model.graph.input, model.graph.output
        assert (image.name, output.name) == ("image", "probabilities")
        for value, tail in ((image, [28, 28, 1]), (output, [10])):
            dims = value.type.tensor_type.shape.dim
            assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
            assert dims[0].dim_param == "batch" and [dim.dim_value for dim in dims[1:]] == tail
        metadata = {prop.key: prop.value for prop in model.metadata_props}
        assert json.loads(metadata["labels"]) == list(LABELS)
        assert json.loads(metadata["preprocessing"]) == PREPROCESSING
        session = onnxruntime.InferenceSession(str(export_dir / name), providers=["CPUExecutionProvider"])
        for batch in (1, 7):
            probabilities = session.run(None, {"image": np.zeros((batch, 28, 28, 1), np.float32)})[0]
            assert probabilities.shape == (batch, 10) and probabilities.dtype == np.float32

    int8 = onnx.load(str(export_dir / "digits_int8.onnx"))
    initializers = {tensor.name: onnx.numpy_helper.to_array(tensor) for tensor in int8.graph.initializer}
    quantize = [node for node in int8.graph.node if node.op_type == "QuantizeLinear"]
    dequantize = [node for node in int8.graph.node if node.op_type == "DequantizeLinear"]
    assert quantize and dequantize, "int8 ONNX must be QDQ"
    activation_points = [initializers[node.input[2]] for node in quantize]
    assert activation_points and all(point.dtype == np.int8 for point in activation_points), "activations must be int8"
    weight_points = [initializers[node.input[2]] for node in dequantize if node.input[0] in initializers]
    assert any(point.dtype == np.int8 for point in weight_points), "weights must be int8"
    assert all(point.dtype in (np.int8, np.int32) for point in weight_points), "int8 weights, int32 biases only"
    assert any(initializers[node.input[1]].size > 1 for node in dequantize), "weights must be per-channel"


def test_tflite_int8_contract(export_dir, mnist):
    from ai_edge_litert.interpreter import Interpreter

    from edge_digits.build.mnist import preprocess
    from edge_digits.runtime.classifier import load_classifier

    interpreter = Interpreter(model_path=str(export_dir / "digits_int8.tflite"))
    assert interpreter.get_signature_list() == {"serving_default": {"inputs": ["image"], "outputs": ["probabilities"]}}
    detail = interpreter.get_input_details()[0]
    scale, zero_point = detail["quantization"]
    assert detail["dtype"] == np.uint8 and zero_point == 0 and scale == pytest.approx(1 / 255, rel=1e-6)
    manifest = read_manifest(export_dir)
    record = next(r for r in manifest["artifacts"] if r["file"] == "digits_int8.tflite")
    assert record["inputs"][0]["dtype"] == "uint8" and record["inputs"][0]["quantization"]["zero_point"] == 0
    assert record["outputs"][0]["dtype"] == np.dtype(interpreter.get_output_details()[0]["dtype"]).name

    ends = {detail["index"], interpreter.get_output_details()[0]["index"]}
    inner = [t["name"] for t in interpreter.get_tensor_details() if t["index"] not in ends]
    assert inner and all(len(name) <= 6 for name in inner), inner[:3]  # no TF scope paths: ~9% of the bytes
    raw = mnist.x_test[:16].reshape(16, 28, 28, 1)  # raw bytes straight from the file, as a phone would feed them
    direct = interpreter.get_signature_runner("serving_default")(image=raw)["probabilities"]  # resizes to 16
    via_runtime = load_classifier(export_dir / "digits_int8.tflite", backend="tflite").predict(preprocess(mnist.x_test[:16]))
    np.testing.assert_allclose(direct, via_runtime, atol=1e-6)
    assert np.mean(direct.argmax(1) == mnist.y_test[:16]) >= 0.8


def test_export_without_a_model_asks_instead_of_training(tmp_path, mnist_path, capsys, monkeypatch):
    """`export --out DIR` with no --model and no DIR/digits.keras used to start a 10-minute training silently."""
    from edge_digits.apps.cli import main
    from edge_digits.build import train

    def no_training(**options):
        raise AssertionError(f"export started a training run: {options}")

    monkeypatch.setattr(train, "train_model", no_training)
    out = tmp_path / "fresh"
    assert main(["export", "--int8", "--out", str(out), "--data", str(mnist_path)]) != 0
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(errors) == 1 and "--model PATH" in errors[0] and "--train" in errors[0], errors
    assert not out.exists()


def _assert_nothing_written(tmp_path: Path, before: set[str]) -> None:
    after = {str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*")}
    assert after == before, f"export left files behind: {sorted(after - before)}"


@pytest.mark.parametrize("case", ["missing", "corrupt", "unwritable", "calibration", "wrong_shape"])
def test_bad_inputs_raise_one_line_and_write_nothing(case, tmp_path, source_model, mnist_path):
    model, out, calibration = source_model, tmp_path / "out", 1000
    if case == "missing":
        model = tmp_path / "nope.keras"
    elif case == "corrupt":
        model = tmp_path / "corrupt.keras"
        model.write_bytes(np.random.default_rng(0).bytes(4096))
    elif case == "unwritable":
        (tmp_path / "a_file").write_text("not a directory")
        out = tmp_path / "a_file" / "export"
    elif case == "calibration":
        calibration = 0
    elif case == "wrong_shape":
        import keras

        inputs = keras.Input((32, 32, 1))
        wrong = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs)))
        model = tmp_path / "wrong.keras"
        wrong.save(model)
    before = {str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*")}
    with pytest.raises(EdgeDigitsError) as raised:
        exporter.export(model, out=out, int8=True, data_path=mnist_path, calibration=calibration)
    assert "\n" not in str(raised.value) and str(raised.value)
    _assert_nothing_written(tmp_path, before)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only directory")
def test_read_only_out_dir_is_refused(tmp_path, source_model, mnist_path):
    out = tmp_path / "ro"
    out.mkdir(mode=0o500)
    with pytest.raises(EdgeDigitsError, match="not writable"):
        exporter.export(source_model, out=out, data_path=mnist_path)


@pytest.mark.parametrize("failure", [KeyboardInterrupt, RuntimeError])
def test_failure_mid_export_keeps_previous_set(failure, tmp_path, export_dir, source_model, mnist_path, monkeypatch):
    out = copy_of(export_dir, tmp_path / "out")
    before = fingerprint(out)
    calls = []

    def boom(context, path):
        calls.append(path)
        raise failure("simulated failure while writing the fp32 TFLite model")

    monkeypatch.setattr(writers, "export_tflite_fp32", boom)
    with pytest.raises(failure):
        exporter.export(source_model, out=out, int8=True, data_path=mnist_path)
    assert calls, "the export function named in formats.py was not called"
    assert fingerprint(out) == before
    assert leftovers(tmp_path) == []


def test_reexport_replaces_the_set_and_keeps_other_files(tmp_path, export_dir, source_model, mnist_path):
    out = copy_of(export_dir, tmp_path / "out")
    (out / "README.md").write_text("hand-written notes")
    (out / ".gitkeep").write_text("")
    (out / "notes").mkdir()
    (out / "notes" / "a.txt").write_text("kept")
    manifest = exporter.export(source_model, out=out, data_path=mnist_path)  # no --int8/--fp16 this time
    names = set(os.listdir(out))
    assert names == {entry.file for entry in selected_formats()} | {"labels.txt", "manifest.json", "parity.json", "README.md", ".gitkeep", "notes"}
    assert (out / "README.md").read_text() == "hand-written notes" and (out / "notes" / "a.txt").read_text() == "kept"
    assert read_manifest(out) == {key: value for key, value in manifest.items() if key != "measured"}
    assert leftovers(tmp_path) == []


def test_recover_restores_previous_set_after_crash_between_renames(tmp_path):
    out = tmp_path / "out"
    old = tmp_path / f"{PREFIX}out.old.0123abcd"
    old.mkdir()
    (old / "manifest.json").write_text("{}")
    stage = tmp_path / f"{PREFIX}out.stage.89abcdef"
    stage.mkdir()
    (stage / "digits.keras").write_text("half written")
    recover(out)
    assert (out / "manifest.json").read_text() == "{}"
    assert leftovers(tmp_path) == []
    leftover_old = tmp_path / f"{PREFIX}out.old.fedcba98"  # crash after the stage was renamed in
    leftover_old.mkdir()
    recover(out)
    assert leftovers(tmp_path) == [] and (out / "manifest.json").is_file()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_export_keeps_previous_set(signum, tmp_path, export_dir, source_model, mnist_path):
    out = copy_of(export_dir, tmp_path / "out")
    before = fingerprint(out)
    script = ("import sys; from edge_digits.build.exporter import export; "
              "export(sys.argv[1], out=sys.argv[2], int8=True, fp16=True, data_path=sys.argv[3])")
    log = tmp_path / "stderr.log"
    with open(log, "wb") as stderr:
        process = subprocess.Popen([sys.executable, "-c", script, str(source_model), str(out), str(mnist_path)],
                                   cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr,
                                   env={**os.environ, "PYTHONPATH": str(REPO)},
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # even if pytest runs in the background
    deadline = time.monotonic() + 240
    try:
        while not list(tmp_path.glob(f"{PREFIX}out.stage.*/digits_fp32.onnx")):  # mid-export: conversions under way
            assert process.poll() is None, f"export ended before it could be interrupted: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "export never reached the ONNX conversion"
            time.sleep(0.05)
        process.send_signal(signum)
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode != 0
    assert fingerprint(out) == before
    assert leftovers(tmp_path) == []
