"""FieldReader: the image is one field (a cheque amount, a row of form boxes, a meter reading); the answer
is its digit string, with a confidence and an approximate x-span per digit. No TensorFlow.

The field model (an .onnx or .tflite of export/field/, checked against that set's manifest like the digit
models) reads the whole strip at once, so touching digits, cursive runs of zeros, underlines, comb boxes and
punctuation need no segmentation. `edge-digits read --field IMAGE...` is the command line over it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_digits.errors import EdgeDigitsError, error_line
from edge_digits.formats import FIELD_FORMATS
from edge_digits.runtime.classifier import default_export_dir
from edge_digits.runtime.field_strip import BLANK, FIELD_HEIGHT, FIELD_WIDTH, FieldDigit, decode_field, prepare_field
from edge_digits.runtime.manifest import verify_artifact
from edge_digits.runtime.trust import checked_manifest

FIELD_DIR = "field"  # the field set's folder inside an export directory


@dataclass
class FieldReading:
    """A field's digits: the string, and each digit with its confidence and x-span."""

    digits: list[FieldDigit] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(str(digit.digit) for digit in self.digits)

    @property
    def confidence(self) -> float:
        """The weakest digit's confidence (1.0 for an empty field)."""
        return min((digit.confidence for digit in self.digits), default=1.0)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "confidence": round(self.confidence, 4), "digits": [digit.to_dict() for digit in self.digits]}


def resolve_field_model(model: str | os.PathLike | None, backend: str = "onnx", precision: str = "int8") -> Path:
    """A field model file: `model` itself, or the backend/precision file of a directory (an export
    directory's field/ set, or a field set itself); default: the default export directory's."""
    directory = Path(model) if model is not None else default_export_dir()
    if model is not None and not directory.is_dir():
        return directory
    if (directory / FIELD_DIR).is_dir():
        directory = directory / FIELD_DIR
    for entry in FIELD_FORMATS:
        if entry.backend == backend and entry.precision == precision:
            return directory / entry.file
    raise EdgeDigitsError(f"no {precision} {backend} field model format; the field set has onnx and tflite, fp32 and int8")


class FieldReader:
    """Loads one field model (onnx or tflite, fp32 or int8) and reads field images."""

    def __init__(self, model: str | os.PathLike | None = None, backend: str = "onnx", precision: str = "int8",
                 verify: bool = True, threads: int = 1):
        self.path = resolve_field_model(model, backend, precision)
        if not self.path.is_file():
            raise EdgeDigitsError(f"field model not found: {self.path} (export one with `edge-digits export-field`)")
        content = self.path.read_bytes()
        if verify:
            verify_artifact(self.path, checked_manifest(self.path.parent), content)
        suffix = self.path.suffix.lower()
        if suffix == ".onnx":
            self.run = onnx_runner(self.path, content, threads)
        elif suffix == ".tflite":
            self.run = tflite_runner(self.path, content, threads)
        else:
            raise EdgeDigitsError(f"don't know how to load {self.path}: expected a .onnx or .tflite field model")

    def probabilities(self, strips: np.ndarray) -> np.ndarray:
        """(N, 32, 128, 1) float32 strips in [0, 1] -> (N, 32, 11) per-column probabilities."""
        if strips.ndim != 4 or strips.shape[1:] != (FIELD_HEIGHT, FIELD_WIDTH, 1):
            raise ValueError(f"expected strips of shape (N, {FIELD_HEIGHT}, {FIELD_WIDTH}, 1), got {strips.shape}")
        return np.concatenate([self.run(strips[index:index + 1]) for index in range(len(strips))]) if len(strips) else \
            np.zeros((0, FIELD_WIDTH // 4, BLANK + 1), np.float32)

    def read(self, image: Any) -> FieldReading:
        """One field image (gray or BGR array, dark or light ink) -> its digits."""
        strip = prepare_field(image)
        probabilities = self.run(strip.pixels[None, :, :, None])[0]
        return FieldReading(decode_field(probabilities, strip))


def onnx_runner(path: Path, content: bytes, threads: int):
    """A function strips -> probabilities over an onnxruntime session of `content`."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = onnxruntime.InferenceSession(content, options, providers=["CPUExecutionProvider"])
    except Exception as error:
        raise EdgeDigitsError(f"cannot load ONNX field model {path}: {error_line(error)}") from None
    name = session.get_inputs()[0].name
    return lambda strips: session.run(None, {name: np.ascontiguousarray(strips, np.float32)})[0]


def tflite_runner(path: Path, content: bytes, threads: int):
    """A function strips -> probabilities over a LiteRT interpreter of `content` (batch 1 per call)."""
    from ai_edge_litert.interpreter import Interpreter

    from edge_digits.runtime.quiet import quiet_stderr

    try:
        with quiet_stderr(replay=False):
            interpreter = Interpreter(model_content=content, num_threads=threads)
            interpreter.allocate_tensors()
    except Exception as error:
        raise EdgeDigitsError(f"cannot load TFLite field model {path}: {error_line(error)}") from None
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    def run(strips: np.ndarray) -> np.ndarray:
        outputs = []
        for strip in strips:
            value = strip[None].astype(np.float32)
            if source["dtype"] != np.float32:
                scale, zero_point = source["quantization"]
                limits = np.iinfo(source["dtype"])
                value = np.clip(np.rint(value / scale + zero_point), limits.min, limits.max).astype(source["dtype"])
            interpreter.set_tensor(source["index"], value)
            interpreter.invoke()
            output = interpreter.get_tensor(target["index"])
            if output.dtype != np.float32:
                scale, zero_point = target["quantization"]
                output = (output.astype(np.float32) - zero_point) * scale
            outputs.append(output[0])
        return np.stack(outputs)

    return run
