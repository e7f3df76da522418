"""The one table of export formats. The exporter, runtime, parity, bench and docs all read it.

Adding a format is one row here plus one writer function in build/writers.py (named by `exporter`).
This module is runtime tier: plain data, no TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    """One artifact: where it lives, which runtime loads it and what its input looks like."""

    name: str  # short id used on the command line and in the manifest
    file: str  # file name inside the export directory
    backend: str  # "keras", "onnx" or "tflite": which runtime loads it
    precision: str  # "fp32", "fp16" or "int8"
    input_dtype: str  # "float32" (pixels in [0, 1]) or "uint8" (raw pixels 0..255)
    exporter: str  # function in build/writers.py that writes it (build tier)
    flag: str | None  # the export flag that asks for it (None: always exported)
    description: str
    input_channels: int = 1  # 1: gray (N, 28, 28, 1); 3: RGB (N, 28, 28, 3), the graph turns it into gray


FORMATS: tuple[Format, ...] = (
    Format("keras", "digits.keras", "keras", "fp32", "float32", "export_keras", None,
           "Source Keras model; the oracle for parity."),
    Format("onnx-fp32", "digits_fp32.onnx", "onnx", "fp32", "float32", "export_onnx_fp32", None,
           "ONNX opset 18 via tf2onnx, for onnxruntime on laptops and Raspberry Pi."),
    Format("tflite-fp32", "digits_fp32.tflite", "tflite", "fp32", "float32", "export_tflite_fp32", None,
           "TFLite float model for LiteRT."),
    Format("tflite-fp16", "digits_fp16.tflite", "tflite", "fp16", "float32", "export_tflite_fp16", "fp16",
           "TFLite with float16 weights: half the size, float math."),
    Format("onnx-int8", "digits_int8.onnx", "onnx", "int8", "float32", "export_onnx_int8", "int8",
           "ONNX static QDQ quantization (S8S8, per-channel 7-bit weights: the same answers on every x86 "
           "kernel path), float input and output."),
    Format("tflite-int8", "digits_int8.tflite", "tflite", "int8", "uint8", "export_tflite_int8", "int8",
           "TFLite full-integer model; uint8 input takes raw pixel bytes (scale 1/255, zero point 0)."),
    Format("tflite-int8-tasks", "digits_int8_tasks.tflite", "tflite", "int8", "uint8", "export_tflite_int8_tasks", "int8",
           "TFLite full-integer model for MediaPipe Tasks ImageClassifier: uint8 RGB input (the graph averages "
           "R, G and B into gray), float32 probabilities, labels in its metadata.", input_channels=3),
)

LABELS = tuple(str(digit) for digit in range(10))
INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
PREPROCESSING = {
    "shape": [28, 28, 1],
    "layout": "NHWC",
    "polarity": "white digit (high values) on black background, as MNIST",
    "float_input": "pixel / 255.0, float32 in [0, 1]",
    "uint8_input": "raw pixel values 0..255 (scale 1/255, zero point 0)",
    "digit_box": "ink fitted into 20x20 keeping aspect ratio, centred by centre of mass in 28x28",
}


def format_by_name(name: str) -> Format:
    """Look a format up by its name; ValueError lists the known names."""
    for entry in FORMATS:
        if entry.name == name:
            return entry
    raise ValueError(f"unknown format {name!r}; known formats: {', '.join(entry.name for entry in FORMATS)}")


def format_for_file(file_name: str) -> Format | None:
    """The table row whose file name matches, or None for a file the table does not know."""
    return next((entry for entry in FORMATS if entry.file == file_name), None)


def selected_formats(int8: bool = False, fp16: bool = False) -> list[Format]:
    """The formats an export with these flags writes, in table order."""
    flags = {"int8": int8, "fp16": fp16}
    return [entry for entry in FORMATS if entry.flag is None or flags.get(entry.flag, False)]


# The field model (docs/fields.md): one strip of a whole field in, per-column digit-or-blank probabilities
# out. Its own set (export/field/), written by build/field_export.py from the same kinds of writers.
FIELD_FORMATS: tuple[Format, ...] = (
    Format("field-keras", "field.keras", "keras", "fp32", "float32", "export_keras", None,
           "Source Keras field model; the oracle for parity."),
    Format("field-onnx-fp32", "field_fp32.onnx", "onnx", "fp32", "float32", "export_onnx_fp32", None,
           "ONNX opset 18 via tf2onnx."),
    Format("field-onnx-int8", "field_int8.onnx", "onnx", "int8", "float32", "export_onnx_int8", None,
           "ONNX static QDQ quantization (the digit model's 7-bit weight recipe), float input and output."),
    Format("field-tflite-fp32", "field_fp32.tflite", "tflite", "fp32", "float32", "export_tflite_fp32", None,
           "TFLite float model for LiteRT."),
    Format("field-tflite-int8", "field_int8.tflite", "tflite", "int8", "uint8", "export_tflite_int8", None,
           "TFLite full-integer model; uint8 input takes the strip's bytes (scale 1/255, zero point 0)."),
)
FIELD_PREPROCESSING = {
    "shape": [32, 128, 1],
    "layout": "NHWC",
    "polarity": "ink bright on black, paper level 0, strongest ink 1 (runtime/field_strip.py prepare_field)",
    "strip": "ink box scaled to 28 rows keeping aspect, 2 px above and below, left-aligned, squeezed to 128 columns",
    "output": "(batch, 32, 11) softmax per 4 strip columns; classes 0-9 are digits, 10 is the CTC blank",
}

