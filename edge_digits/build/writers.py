"""One writer per row of formats.FORMATS (named by `Format.exporter`): Keras, ONNX and TFLite files.

Each writer takes the ExportContext (the model, its traced function, calibration images, scratch
space) and a path, writes the artifact, and returns what the manifest should record about it.
"""


from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_digits.build import artifact_io
from edge_digits.build.keras_io import (
    import_tensorflow,
)
from edge_digits.formats import (
    INPUT_NAME,
    OUTPUT_NAME,
)
from edge_digits.runtime.quiet import quiet_stderr

OPSET = 18


@dataclass
class ExportContext:
    """What every writer needs: the model, its tf.function, calibration images, scratch space."""

    model: Any
    source: Path
    work: Path
    calibration: np.ndarray  # float32 (N, height, width, 1) in [0, 1], from the training split
    image_size: tuple[int, int] = (28, 28)  # (height, width) of the traced input: a digit, or a field's strip
    cache: dict[str, Any] = field(default_factory=dict)

    def serving_function(self, channels: int = 1) -> tuple[Any, list]:
        """tf.function image -> {'probabilities': ...} with a dynamic batch, traced once and shared.

        channels=3 takes RGB and averages it into the model's gray input inside the graph."""
        key = f"serve{channels}"
        if key not in self.cache:
            tf, _ = import_tensorflow()
            signature = [tf.TensorSpec([None, *self.image_size, channels], tf.float32, name=INPUT_NAME)]
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
    """onnxruntime static quantization: QDQ, int8 activations and per-channel 7-bit weights (reduce_range).

    Full 8-bit weights saturate onnxruntime's x86 AVX2 U8S8 kernels (pairs of products summed into int16), so
    the same file read 99.37% there and 99.62% on AVX-512 VNNI; with |w| <= 64 every x86 path and ARM give
    identical outputs (docs/cpus.md has the measurements; parity proves it per file, build/saturation.py)."""
    float_path, quantized_path = context.work / "f.onnx", context.work / "q.onnx"
    artifact_io.save_onnx(onnx_fp32_proto(context), float_path)
    quantize_onnx(float_path, quantized_path, context.calibration)
    import onnx

    artifact_io.save_onnx(artifact_io.finish_onnx(onnx.load(str(quantized_path))), path)
    return {"opset": OPSET, "quantization_scheme": {"tool": "onnxruntime.quantization.quantize_static", "format": "QDQ",
            "activations": "int8 (per-tensor, MinMax calibration)",
            "weights": "int8 per-channel, 7-bit range [-64, 64] (reduce_range: no int16 saturation on x86 U8S8 kernels)",
            "io": "float32 input and output; quantize/dequantize happen inside the graph"}}


def quantize_onnx(float_path: Path, out: Path, calibration: np.ndarray, activations: str = "QInt8",
                  weights: str = "QInt8", reduce_range: bool = True) -> Path:
    """Static QDQ per-channel quantization of a float ONNX file, calibrated in batches of 100 images; the
    defaults are the shipped recipe, the others are what scripts/int8-recipes and the tests compare it with."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self, images: np.ndarray):
            self.batches = iter(np.array_split(images, max(1, len(images) // 100)))

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {INPUT_NAME: batch}

    prepared = out.with_name(out.stem + ".prepared.onnx")
    with quiet_stderr():
        quant_pre_process(str(float_path), str(prepared))
        quantize_static(str(prepared), str(out), Reader(calibration), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=getattr(QuantType, activations), weight_type=getattr(QuantType, weights),
                        reduce_range=reduce_range)
    return out


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
