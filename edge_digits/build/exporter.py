"""Export a Keras digit model to every format row in formats.FORMATS, validated, as one atomic set.

Each row names its writer here (`Format.exporter`); `export()` stages the whole set beside `out`,
loads every artifact back through runtime.load_classifier, measures it against the Keras model on
MNIST test, writes manifest.json, and only then swaps the set in (see staging.py).
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_digits.build import artifact_io, tflite_metadata
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
)
from edge_digits.build.provenance import (
    CALIBRATION_IMAGES,
    export_command,
    portable_path,
)
from edge_digits.build.staging import StagedDirectory, sigterm_as_interrupt
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
from edge_digits.runtime.manifest import MANIFEST_NAME, package_versions, sha256_file
from edge_digits.runtime.quiet import quiet_stderr

LABELS_FILE = "labels.txt"
OPSET = 18
SET_NAMES = frozenset({row.file for row in FORMATS} | {LABELS_FILE, MANIFEST_NAME})  # replaced as one set
TOOLS = ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "ai-edge-litert", "numpy")


@dataclass
class ExportContext:
    """What every writer needs: the model, its tf.function, calibration images, scratch space."""

    model: Any
    source: Path
    work: Path
    calibration: np.ndarray  # float32 (N, 28, 28, 1) in [0, 1], from the training split
    cache: dict[str, Any] = field(default_factory=dict)

    def serving_function(self, channels: int = 1) -> tuple[Any, list]:
        """tf.function image -> {'probabilities': ...} with a dynamic batch, traced once and shared.

        channels=3 takes RGB and averages it into the model's gray input inside the graph."""
        key = f"serve{channels}"
        if key not in self.cache:
            tf, _ = import_tensorflow()
            signature = [tf.TensorSpec([None, 28, 28, channels], tf.float32, name=INPUT_NAME)]
            model = self.model

            @tf.function(input_signature=signature)
            def serve(image):
                return {OUTPUT_NAME: model(_as_gray(tf, image), training=False)}

            self.cache[key] = (serve, signature)
        return self.cache[key]


def export_keras(context: ExportContext, path: Path) -> dict[str, Any]:
    """Copy the source .keras byte for byte: the oracle ships with the set it vouches for."""
    shutil.copyfile(context.source, path)
    return {}


def export_onnx_fp32(context: ExportContext, path: Path) -> dict[str, Any]:
    """tf2onnx from the tf.function (from_keras is broken for Keras 3), opset 18, batch dim 'batch'."""
    artifact_io.save_onnx(onnx_fp32_proto(context), path)
    return {"opset": OPSET}


def onnx_fp32_proto(context: ExportContext) -> Any:
    if "onnx_fp32" not in context.cache:
        import tf2onnx

        serve, signature = context.serving_function()
        with quiet_stderr():
            proto, _ = tf2onnx.convert.from_function(serve, input_signature=signature, opset=OPSET)
        context.cache["onnx_fp32"] = artifact_io.finish_onnx(proto)
    return context.cache["onnx_fp32"]


def export_onnx_int8(context: ExportContext, path: Path) -> dict[str, Any]:
    """onnxruntime static quantization: QDQ, int8 activations and per-channel int8 weights."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self, images: np.ndarray):
            self.batches = iter(np.array_split(images, max(1, len(images) // 100)))

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {INPUT_NAME: batch}

    float_path, prepared_path, quantized_path = (context.work / name for name in ("f.onnx", "p.onnx", "q.onnx"))
    artifact_io.save_onnx(onnx_fp32_proto(context), float_path)
    with quiet_stderr():
        quant_pre_process(str(float_path), str(prepared_path))
        quantize_static(str(prepared_path), str(quantized_path), Reader(context.calibration),
                        quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8, per_channel=True)
    import onnx

    artifact_io.save_onnx(artifact_io.finish_onnx(onnx.load(str(quantized_path))), path)
    return {"opset": OPSET, "quantization_scheme": {"tool": "onnxruntime.quantization.quantize_static", "format": "QDQ",
            "activations": "int8 (per-tensor, MinMax calibration)", "weights": "int8 per-channel",
            "io": "float32 input and output; quantize/dequantize happen inside the graph"}}


def export_tflite_fp32(context: ExportContext, path: Path) -> dict[str, Any]:
    """Plain float TFLite from the serving tf.function (signature serving_default: image -> probabilities)."""
    path.write_bytes(_convert_tflite(context, lambda converter, tf: None))
    return {}


def export_tflite_fp16(context: ExportContext, path: Path) -> dict[str, Any]:
    """float16 weights, float32 math and I/O: half the size of fp32."""
    def configure(converter, tf):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]

    path.write_bytes(_convert_tflite(context, configure))
    return {"quantization_scheme": {"weights": "float16", "activations": "float32"}}


def export_tflite_int8(context: ExportContext, path: Path) -> dict[str, Any]:
    """Full-integer TFLite: uint8 input = raw pixel bytes (scale 1/255, zero point 0), float32 output.

    The softmax runs in int8 (scale 1/256) and one Dequantize op hands float probabilities out, so
    apps read floats directly; a uint8 output would carry exactly the same information.
    """
    path.write_bytes(_convert_tflite(context, _full_integer(context, channels=1)))
    artifact_io.check_tflite_uint8_input(path)
    return {"quantization_scheme": {"tool": "tf.lite full-integer (TFLITE_BUILTINS_INT8)", "weights": "int8 per-channel",
            "activations": "int8", "io": "uint8 input (raw pixels), float32 output (dequantized inside the model)"}}


def export_tflite_int8_tasks(context: ExportContext, path: Path) -> dict[str, Any]:
    """The full-integer model behind a uint8 RGB (1, 28, 28, 3) input, as MediaPipe Tasks ImageClassifier needs:
    a MEAN over R, G, B inside the graph gives the gray model input (exact for gray replicated to RGB)."""
    path.write_bytes(_convert_tflite(context, _full_integer(context, channels=3), channels=3))
    artifact_io.check_tflite_uint8_input(path)
    return {"quantization_scheme": {"tool": "tf.lite full-integer (TFLITE_BUILTINS_INT8)", "weights": "int8 per-channel",
            "activations": "int8", "io": "uint8 RGB input (raw pixels, gray = mean of R, G, B in the graph), "
                                         "float32 output (dequantized inside the model)"},
            "contract": {"input": "uint8 [1, 28, 28, 3] RGB, raw pixels 0..255: the normalized MNIST-style digit "
                                  "(white on black) with R = G = B", "output": "float32 [1, 10] probabilities, "
                                  "categories '0'..'9' from the labels.txt packed in the model's metadata",
                         "loader": "MediaPipe Tasks ImageClassifier (mp.Image in SRGB) or the LiteRT Interpreter"}}


def _full_integer(context: ExportContext, channels: int):
    """Converter settings for a full-integer model: int8 inside, uint8 raw-pixel input, float32 output."""
    images = _with_full_range(np.repeat(context.calibration, channels, axis=-1))

    def representative_dataset():
        for index in range(len(images)):
            yield [images[index:index + 1]]

    def configure(converter, tf):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.float32

    return configure


def _with_full_range(images: np.ndarray) -> np.ndarray:
    """Make sure calibration sees pixel values 0 and 1 so the uint8 input gets scale 1/255, zero 0."""
    if images.min() <= 0.0 and images.max() >= 1.0:
        return images
    extra = images[:1].copy()
    extra.flat[0], extra.flat[-1] = 0.0, 1.0
    return np.concatenate([images, extra])


def _as_gray(tf: Any, image: Any) -> Any:
    """The model's gray input: the image itself, or the mean of R, G and B for an RGB image."""
    return image if image.shape[-1] == 1 else tf.reduce_mean(image, axis=-1, keepdims=True)


def _saved_model(context: ExportContext, channels: int = 1) -> Path:
    """A SavedModel (Keras ExportArchive, which freezes cleanly) with serving_default: image -> probabilities."""
    key = f"saved_model{channels}"
    if key not in context.cache:
        tf, keras = import_tensorflow()
        _, signature = context.serving_function(channels)
        model = context.model
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(name="serving_default", input_signature=signature,
                             fn=lambda image: {OUTPUT_NAME: model(_as_gray(tf, image), training=False)})
        directory = context.work / ("saved_model" if channels == 1 else f"saved_model_{channels}")
        with quiet_stderr():
            archive.write_out(str(directory), verbose=False)
        context.cache[key] = directory
    return context.cache[key]


def _convert_tflite(context: ExportContext, configure, channels: int = 1) -> bytes:
    """TFLiteConverter from the SavedModel (variables frozen, so int8 calibration can run it)."""
    tf, _ = import_tensorflow()
    directory = _saved_model(context, channels)
    with quiet_stderr():
        converter = tf.lite.TFLiteConverter.from_saved_model(str(directory), signature_keys=["serving_default"])
        configure(converter, tf)
        return _short_tensor_names(converter.convert())


def _short_tensor_names(blob: bytes) -> bytes:
    """The model with its inner tensors named t<index>. TensorFlow's scope paths ("functional_1/re_lu_6_1/
    Relu;functional_1/batch_normalization_6_1/...") took 3.7 KB of a 43 KB int8 file; the input and
    output keep their names, and the signature refers to tensors by index, so runtimes see no change."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(blob))
    for graph in model.subgraphs:
        kept = set(graph.inputs) | set(graph.outputs)
        for index, tensor in enumerate(graph.tensors):
            if index not in kept:
                tensor.name = f"t{index}".encode()
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


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
) -> dict[str, Any]:
    """Write the selected formats + labels.txt + manifest.json into `out` atomically; return the manifest.

    A set that fails parity raises ParityFailed and leaves `out` as it was, unless `keep_failing`
    (the manifest then says parity failed and that the set was kept anyway).
    """
    if isinstance(calibration, bool) or not isinstance(calibration, (int, np.integer)) or calibration < 1:
        raise EdgeDigitsError(f"--calibration must be a whole number of images >= 1, got {calibration!r}")
    out_path = Path(out).expanduser()
    source = None if model is None else Path(model).expanduser()
    if source is not None and not source.is_file():
        raise EdgeDigitsError(f"Keras model not found: {source}; train one with `edge-digits train` or pass --model PATH")
    if source is not None:
        check_keras_file(source)  # a non-zip source fails here, before TensorFlow is imported
    if data_path is not None:
        check_mnist_file(data_path)  # so is a missing, non-npz or pickled --data
    with sigterm_as_interrupt(), StagedDirectory(out_path, SET_NAMES) as stage:
        import_tensorflow()
        mnist = load_mnist(data_path)
        if source is None:
            source = _default_source(out_path, stage.work, data_path, seed)
        keras_model = load_keras_model(source)
        picked = balanced_sample(mnist.y_train, int(calibration), seed)
        context = ExportContext(keras_model, source, stage.work, preprocess(mnist.x_train[picked]))
        test_images, test_labels = preprocess(mnist.x_test), mnist.y_test.astype(np.int64)
        reference = predict_probabilities(keras_model, test_images)
        _check_probabilities(reference, source)

        (stage.path / LABELS_FILE).write_text("\n".join(LABELS) + "\n", encoding="utf-8")  # packed into .tflite too
        predictions, entries = {}, []
        for entry in progress(selected_formats(int8=int8, fp16=fp16), "export", unit="format"):
            writer = globals().get(entry.exporter)
            if not callable(writer):
                raise ValueError(f"formats.py names exporter {entry.exporter!r} for {entry.name}, but exporter.py has none")
            path = stage.path / entry.file
            extra = writer(context, path)
            if entry.backend == "tflite":
                extra.update(tflite_metadata.write_metadata(path, entry, stage.path / LABELS_FILE))
            predictions[entry.name] = _validate(entry, path, source, reference, test_images)
            entries.append(_artifact_record(entry, path, extra, predictions[entry.name], reference, test_labels))
        report = build_report(predictions, test_labels, directory=".")  # the manifest's own directory
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
                           "data_sha256": None if data_file is None else sha256_file(data_file),
                           "keras_accuracy": float(np.mean(reference.argmax(1) == test_labels))},
            "artifacts": entries,
            "parity": {**report.to_dict(), "kept_failing": not report.passed},
            "tool_versions": package_versions(TOOLS),
        }
        write_json_atomic(stage.path / MANIFEST_NAME, manifest)
        stage.commit()
    return manifest


def _default_source(out: Path, work: Path, data_path, seed: int) -> Path:
    """<out>/digits.keras, or train the default edge model into the stage when there is none."""
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


def _artifact_record(entry: Format, path: Path, extra: dict, probabilities: np.ndarray,
                     reference: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    metrics = compare(probabilities, reference, labels)
    record = {"file": entry.file, "format": entry.name, "backend": entry.backend, "precision": entry.precision,
              "description": entry.description, "bytes": path.stat().st_size, "sha256": sha256_file(path)}
    record.update(artifact_io.describe_io(entry, path))
    record.update({"accuracy": metrics["candidate_accuracy"], "top1_agreement_vs_keras": metrics["agreement"],
                   "max_abs_dp_vs_keras": metrics["max_abs_dp"]})
    threshold = THRESHOLDS.get((entry.precision, "keras")) if entry.backend != "keras" else None
    if threshold is not None:
        gap_pp = 100.0 * (metrics["candidate_accuracy"] - metrics["reference_accuracy"])
        record["parity_vs_keras"] = {"threshold": threshold.describe(),
                                     "passed": threshold.check(metrics["agreement"], metrics["max_abs_dp"], gap_pp)}
    record.update(extra)
    return record


def summary(manifest: dict[str, Any]) -> str:
    """One line per artifact (size, accuracy, agreement) for the CLI to print after an export."""
    lines = []
    for record in manifest["artifacts"]:
        lines.append(f"{record['file']:<26} {record['bytes'] / 1024:>8.1f} KiB  acc {record['accuracy']:.2%}  "
                     f"agree {record['top1_agreement_vs_keras']:.2%}  max|dp| {record['max_abs_dp_vs_keras']:.1e}")
    lines.append(f"parity vs keras: {'PASS' if manifest['parity']['passed'] else 'FAIL'}")
    return "\n".join(lines)
