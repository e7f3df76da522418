"""Export: byte-identical re-exports, no machine paths in the manifest, what reaches the quantizers,
the parity gate, and the rollback of the directory swap itself."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from export_support import copy_of, exported, fingerprint, leftovers, source_model as shared_source_model

from edge_digits.apps.cli import main
from edge_digits.build import exporter, parity, provenance
from edge_digits.build.staging import PREFIX, StagedDirectory
from edge_digits.errors import EdgeDigitsError
from edge_digits.formats import FORMATS
from edge_digits.runtime.manifest import read_manifest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory, mnist_path) -> Path:
    return exported(tmp_path_factory.getbasetemp(), mnist_path)


@pytest.fixture(scope="module")
def source_model(tmp_path_factory, mnist_path) -> Path:
    return shared_source_model(tmp_path_factory.getbasetemp())


@pytest.fixture
def calibration_counts(monkeypatch) -> dict[str, list[int]]:
    """Images the ONNX calibration reader and the TFLite representative dataset actually yield, counted
    per quantized model on their way into the real quantizers (which still run on every image)."""
    import tensorflow as tf
    from onnxruntime import quantization

    counts: dict[str, list[int]] = {"onnx": [], "tflite": []}
    real_quantize = quantization.quantize_static

    def counting_quantize(model_input, model_output, calibration_data_reader, *args, **kwargs):
        counts["onnx"].append(0)

        class Counting(quantization.CalibrationDataReader):
            def get_next(self):
                batch = calibration_data_reader.get_next()
                if batch is not None:
                    counts["onnx"][-1] += len(next(iter(batch.values())))
                return batch

        return real_quantize(model_input, model_output, Counting(), *args, **kwargs)

    real_from_saved_model = tf.lite.TFLiteConverter.from_saved_model

    def counting_converter(*args, **kwargs):
        converter = real_from_saved_model(*args, **kwargs)
        real_convert = converter.convert

        def convert():
            dataset = converter.representative_dataset
            if dataset is not None:
                counts["tflite"].append(0)

                def counted():
                    for sample in dataset():
                        counts["tflite"][-1] += len(sample[0])
                        yield sample

                converter.representative_dataset = counted
            return real_convert()

        converter.convert = convert
        return converter

    monkeypatch.setattr(quantization, "quantize_static", counting_quantize)
    monkeypatch.setattr(tf.lite.TFLiteConverter, "from_saved_model", counting_converter)
    return counts


def test_second_export_is_byte_identical_and_quantizers_get_the_recorded_count(tmp_path, export_dir, source_model,
                                                                                 mnist_path, calibration_counts):
    """Same model, same options, another directory (and another TensorFlow function counter): same files.
    The counted calibration images must be the count the manifest records (one export serves both checks)."""
    again = tmp_path / "elsewhere" / "export"
    exporter.export(source_model, out=again, int8=True, fp16=True, data_path=mnist_path, command="pytest")
    assert fingerprint(again) == fingerprint(export_dir)
    text = (again / "manifest.json").read_text(encoding="utf-8")
    for machine_path in {str(tmp_path), str(export_dir.parent), str(source_model.parent), str(mnist_path.parent)}:
        assert machine_path not in text
    manifest = json.loads(text)
    assert manifest["source_model"]["path"] == source_model.name and manifest["evaluation"]["data"] == mnist_path.name
    assert manifest["parity"]["kept_failing"] is False
    assert json.loads((again / "parity.json").read_text(encoding="utf-8"))["parity"]["directory"] == "."
    recorded = manifest["calibration"]["count"]
    assert recorded == 1000
    # MNIST samples hold pure 0 and 255 pixels, so the TFLite full-range guard adds no extra image.
    quantized = {backend: [entry for entry in FORMATS if entry.precision == "int8" and entry.backend == backend]
                 for backend in ("onnx", "tflite")}
    assert calibration_counts == {backend: [recorded] * len(rows) for backend, rows in quantized.items()}


def test_cli_records_a_command_without_paths(tmp_path, source_model, mnist_path):
    assert provenance.export_command(True, False, 1000, 0) == "edge-digits export --int8"
    assert provenance.export_command(False, True, 200, 3, model="m.keras", data="mnist.npz") == \
        "edge-digits export --fp16 --model m.keras --data mnist.npz --calibration 200 --seed 3"
    out = tmp_path / "out"
    stage = tmp_path / "stage"
    assert provenance.portable_path(out / "digits.keras", out, stage) == "digits.keras"
    assert provenance.portable_path(stage / ".work" / "trained.keras", out, stage) == "digits.keras"
    assert provenance.portable_path(source_model, out, stage) == source_model.name


def test_failing_parity_keeps_the_previous_set_and_exits_1(tmp_path, export_dir, source_model, mnist_path, capsys,
                                                           monkeypatch):
    """A stricter fp32 criterion (the test's injected threshold) makes this real export fail parity.
    No --int8: the gate does not depend on which pair fails, and quantizing would only add time."""
    monkeypatch.setitem(parity.THRESHOLDS, ("fp32", "keras"), parity.Threshold(max_abs_dp=1e-12))
    out = copy_of(export_dir, tmp_path / "out")
    before = fingerprint(out)
    argv = ["export", "--model", str(source_model), "--out", str(out), "--data", str(mnist_path)]
    assert main(argv) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("edge-digits: error: parity failed: "), errors
    assert "onnx-fp32 vs keras" in errors[0] and "--keep-failing" in errors[0]
    assert fingerprint(out) == before
    assert leftovers(tmp_path) == []

    assert main([*argv, "--keep-failing"]) == 1  # kept on request, still not a success
    manifest = read_manifest(out)
    assert manifest["parity"]["passed"] is False and manifest["parity"]["kept_failing"] is True
    measured = json.loads((out / "parity.json").read_text(encoding="utf-8"))["parity"]
    assert any(not row["passed"] and row["pair"] == "onnx-fp32 vs keras" for row in measured["rows"])
    assert fingerprint(out) != before and leftovers(tmp_path) == []


def test_swap_rolls_back_when_the_new_set_cannot_move_in(tmp_path, monkeypatch):
    """Fail the second rename of the commit: the previous set, moved aside, must come back untouched."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text('{"artifacts": []}')
    (out / "digits.keras").write_bytes(b"previous model")
    (out / "notes.txt").write_text("not part of the set")
    before = fingerprint(out)
    real_rename = os.rename

    def rename(source, target):
        if Path(source).name.startswith(f"{PREFIX}out.stage."):
            raise OSError(errno.EIO, "simulated I/O error", str(source))
        return real_rename(source, target)

    with pytest.raises(EdgeDigitsError, match="previous set is unchanged"), \
            StagedDirectory(out, {"manifest.json", "digits.keras"}) as stage:
        (stage.path / "manifest.json").write_text('{"artifacts": ["new"]}')
        monkeypatch.setattr(os, "rename", rename)
        stage.commit()
    monkeypatch.undo()
    assert fingerprint(out) == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("model, reorderable", [("digits_fp32.onnx", False), ("digits_int8.onnx", True)])  # fp32: a chain
def test_onnx_bytes_do_not_depend_on_node_order_or_names(model, reorderable):
    """tf2onnx orders nodes by names that carry process-wide counters: the same graph with every inner
    name changed and its nodes in another valid order must come out of canonical_names byte-identical."""
    import random

    import onnx

    from edge_digits.build.artifact_io import canonical_names

    original = onnx.load(str(Path(__file__).resolve().parents[1] / "export" / model))
    scrambled = onnx.ModelProto()
    scrambled.CopyFrom(original)
    graph, rng = scrambled.graph, random.Random(0)
    kept = {value.name for value in graph.input} | {value.name for value in graph.output}
    names = {name for node in graph.node for name in list(node.input) + list(node.output) if name and name not in kept}
    fresh = {name: f"tmp__{rng.randrange(10**6)}_{index}" for index, name in enumerate(sorted(names))}
    for node in graph.node:
        node.name = f"node__{rng.randrange(10**6)}"
        node.input[:] = [fresh.get(name, name) for name in node.input]
        node.output[:] = [fresh.get(name, name) for name in node.output]
    for tensor in list(graph.initializer) + list(graph.value_info):
        tensor.name = fresh.get(tensor.name, tensor.name)
    made, order, pending = set(kept) | {tensor.name for tensor in graph.initializer} | {""}, [], list(graph.node)
    while pending:  # another topological order: ready nodes taken at random
        ready = [node for node in pending if all(name in made for name in node.input)]
        node = rng.choice(ready)
        order.append(node)
        pending.remove(node)
        made.update(node.output)
    copies = [onnx.NodeProto() for _ in order]
    for copy, node in zip(copies, order):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)
    reordered = [node.op_type for node in graph.node] != [node.op_type for node in original.graph.node]
    assert reordered == reorderable

    canonical_names(original)
    canonical_names(scrambled)
    onnx.checker.check_model(scrambled)
    assert scrambled.SerializeToString(deterministic=True) == original.SerializeToString(deterministic=True)


def flatten_graph(spelled_out: bool):
    """x [batch, 2, 3, 3] -> Flatten -> MatMul, with the Flatten's shape either a constant [-1, 18] or
    the Shape -> Gather -> Cast -> Slice -> Concat -> Cast chain tf2onnx sometimes leaves (seen in CI)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    def constant(name, values, dtype=np.int64):
        return numpy_helper.from_array(np.asarray(values, dtype), name)

    initializers = [constant("weights", np.linspace(-1, 1, 18 * 4).reshape(18, 4), np.float32)]
    if spelled_out:
        initializers += [constant("nhwc", [0, 2, 3, 1]), constant("start", [0], np.int32), constant("stop", [1], np.int32),
                         constant("rest", [18], np.int32)]
        nodes = [helper.make_node("Shape", ["x"], ["shape"]), helper.make_node("Gather", ["shape", "nhwc"], ["gathered"]),
                 helper.make_node("Cast", ["gathered"], ["as_int32"], to=TensorProto.INT32),
                 helper.make_node("Slice", ["as_int32", "start", "stop", "start"], ["batch"]),
                 helper.make_node("Concat", ["batch", "rest"], ["target32"], axis=0),
                 helper.make_node("Cast", ["target32"], ["target"], to=TensorProto.INT64)]
    else:
        initializers.append(constant("target", [-1, 18]))
        nodes = []
    nodes += [helper.make_node("Reshape", ["x", "target"], ["flat"]), helper.make_node("MatMul", ["flat", "weights"], ["y"])]
    graph = helper.make_graph(nodes, "flatten", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2, 3, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_a_flatten_comes_out_as_one_graph_however_tf2onnx_spelled_its_shape():
    """The tutorial CNN's re-export failed CI twice: tf2onnx had left its Flatten's shape arithmetic in.
    finish_onnx must give both spellings the same bytes, and the graph must still compute the same."""
    import numpy as np
    import onnxruntime

    from edge_digits.build.artifact_io import finish_onnx

    folded, spelled_out = finish_onnx(flatten_graph(False)), finish_onnx(flatten_graph(True))
    assert [node.op_type for node in spelled_out.graph.node] == ["Reshape", "MatMul"]
    assert spelled_out.SerializeToString(deterministic=True) == folded.SerializeToString(deterministic=True)
    images = np.random.default_rng(0).normal(size=(3, 2, 3, 3)).astype(np.float32)
    expected = images.reshape(3, 18) @ np.linspace(-1, 1, 18 * 4).reshape(18, 4).astype(np.float32)
    session = onnxruntime.InferenceSession(spelled_out.SerializeToString(), providers=["CPUExecutionProvider"])
    assert np.allclose(session.run(None, {session.get_inputs()[0].name: images})[0], expected, atol=1e-5)


@pytest.mark.parametrize("folder", [".", "second"])
def test_export_int8_rewrites_the_shipped_set_byte_for_byte(tmp_path, mnist_path, folder, monkeypatch):
    """README's promise: `edge-digits export --int8` on a checkout leaves `git status` clean. The manifest holds no
    measurement, so this holds on any CPU (parity.json, git-ignored, takes the figures); needs the recorded tools."""
    from edge_digits.runtime.manifest import package_versions

    shipped = Path(__file__).resolve().parents[1] / "export" / folder
    manifest = read_manifest(shipped)
    recorded = manifest["tool_versions"]
    if package_versions(tuple(name for name in recorded if name != "python")) | {"python": recorded["python"]} != recorded:
        pytest.skip(f"the shipped set was exported with {recorded}; byte equality is promised for those versions only")
    out = tmp_path / "export"
    out.mkdir()
    (out / "digits.keras").write_bytes((shipped / "digits.keras").read_bytes())
    monkeypatch.setenv("EDGE_DIGITS_MNIST", str(mnist_path))  # as README's install sets it: no --data recorded
    assert main(["export", "--int8", "--out", str(out)]) == 0
    made = fingerprint(out)
    assert set(made) == {"digits.keras", "parity.json", "labels.txt", "manifest.json",
                         *(record["file"] for record in manifest["artifacts"])}
    made.pop("parity.json")
    assert made == {name: digest for name, digest in fingerprint(shipped).items() if name in made}
