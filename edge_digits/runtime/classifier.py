"""Inference without TensorFlow: one Classifier interface over onnxruntime and ai-edge-litert.

Every classifier takes float32 (N, 28, 28, 1) images in [0, 1] (MNIST polarity) and returns
(N, 10) probabilities; each backend converts to its own input contract (float or uint8).
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path
from typing import Any

import numpy as np

from edge_digits.errors import EdgeDigitsError, error_line
from edge_digits.formats import FORMATS, Format, format_for_file
from edge_digits.runtime.manifest import MANIFEST_NAME, verify_artifact
from edge_digits.runtime.trust import NO_VERIFY_WITH_KEYS, Trust, checked_manifest, trust_from

EXPORT_DIR_VARIABLE = "EDGE_DIGITS_EXPORT"
BACKENDS = ("onnx", "tflite")


def packaged_export_dir() -> Path | None:
    """The models the installed package carries (edge_digits/export in the wheel), or in a source
    checkout the repository's export/ that the build maps there; None when neither holds a manifest."""
    shipped = importlib.resources.files("edge_digits") / "export"
    checkout = Path(__file__).resolve().parent.parent.parent / "export"
    for candidate in (shipped, checkout):
        if isinstance(candidate, Path) and (candidate / MANIFEST_NAME).is_file():
            return candidate
    return None


def default_export_dir() -> Path:
    """Where models come from when none is given: $EDGE_DIGITS_EXPORT, else ./export when it holds a
    manifest, else the package's own copy (see packaged_export_dir)."""
    variable = os.environ.get(EXPORT_DIR_VARIABLE)
    if variable:
        if not (Path(variable) / MANIFEST_NAME).is_file():
            raise EdgeDigitsError(f"${EXPORT_DIR_VARIABLE} is {variable}, which holds no {MANIFEST_NAME}; "
                                  "point it at an export directory or unset it")
        return Path(variable)
    if (Path("export") / MANIFEST_NAME).is_file():
        return Path("export")
    packaged = packaged_export_dir()
    if packaged is not None:
        return packaged
    raise EdgeDigitsError(
        f"no exported models found (looked in ${EXPORT_DIR_VARIABLE}, ./export and the package's own copy); "
        "pass --model PATH, reinstall edge-digits (its wheel carries the models) "
        "or, with the build tier, run `edge-digits export --int8`"
    )


def resolve_artifact(model: str | os.PathLike | None, backend: str, precision: str = "int8") -> Path:
    """Turn a file, a directory or None (default_export_dir's choice) into one artifact path for `backend`."""
    if backend not in BACKENDS:
        raise EdgeDigitsError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    directory = default_export_dir() if model is None else Path(model)
    if directory.is_file():
        return directory
    if not directory.is_dir():
        raise EdgeDigitsError(f"model not found: {directory}; pass an .onnx/.tflite file or an export directory")
    preferred = [entry for entry in FORMATS if entry.backend == backend]
    preferred.sort(key=lambda entry: entry.precision != precision)  # asked-for precision first
    for entry in preferred:
        if (directory / entry.file).is_file():
            return directory / entry.file
    raise EdgeDigitsError(f"no {backend} model in {directory}; run `edge-digits export --int8 --out {directory}`")


class Classifier:
    """Digit probabilities for batches of 28x28 images, whatever the backend."""

    format: Format
    path: Path

    def predict(self, images: np.ndarray) -> np.ndarray:
        """(N, 28, 28, 1) float32 in [0, 1] -> (N, 10) float32 probabilities."""
        images = check_images(images)
        if len(images) == 0:
            return np.zeros((0, 10), dtype=np.float32)
        return self._run(images)

    def _run(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def check_images(images: Any) -> np.ndarray:
    """Validate the public input contract; ValueError says what was expected."""
    if not isinstance(images, np.ndarray):
        raise ValueError(f"expected a numpy array of shape (N, 28, 28, 1), got {type(images).__name__}")
    if images.ndim == 3 and images.shape[1:] == (28, 28):
        images = images[..., None]
    if images.ndim != 4 or images.shape[1:] != (28, 28, 1):
        raise ValueError(f"expected images of shape (N, 28, 28, 1), got {images.shape}")
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"expected float images scaled to [0, 1], got dtype {images.dtype}")
    return np.ascontiguousarray(images, dtype=np.float32)


class OnnxClassifier(Classifier):
    """onnxruntime session on the CPU, built from the model file's bytes (`content`); the batch dimension is dynamic."""

    def __init__(self, path: Path, entry: Format, content: bytes, threads: int = 1):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(content, options, providers=["CPUExecutionProvider"])
        except Exception as error:
            raise EdgeDigitsError(f"cannot load ONNX model {path}: {error_line(error)}") from None
        self.input_name = self.session.get_inputs()[0].name
        self.format, self.path = entry, path

    def _run(self, images: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: images})[0]


class TfliteClassifier(Classifier):
    """ai-edge-litert interpreter over the model file's bytes (`content`, never a memory map of a file that could
    change underneath); resizes its input tensor when the batch size changes."""

    def __init__(self, path: Path, entry: Format, content: bytes, threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        from edge_digits.runtime.quiet import quiet_stderr

        try:
            # LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate" on the first allocation;
            # on stderr it would be a second line beside any one-line error of the CLI or the demo.
            with quiet_stderr(replay=False):
                self.interpreter = Interpreter(model_content=content, num_threads=threads)
                self.interpreter.allocate_tensors()
        except Exception as error:
            raise EdgeDigitsError(f"cannot load TFLite model {path}: {error_line(error)}") from None
        self.input_detail = self.interpreter.get_input_details()[0]
        self.output_detail = self.interpreter.get_output_details()[0]
        self.batch_size = int(self.input_detail["shape"][0])
        self.channels = int(self.input_detail["shape"][-1])  # 3 for the MediaPipe Tasks model (RGB input)
        self.format, self.path = entry, path

    def _run(self, images: np.ndarray) -> np.ndarray:
        if len(images) != self.batch_size:
            self.interpreter.resize_tensor_input(self.input_detail["index"], [len(images), 28, 28, self.channels])
            self.interpreter.allocate_tensors()
            self.batch_size = len(images)
        if self.channels != 1:  # gray replicated: R = G = B, which the RGB model averages back to the same gray
            images = np.repeat(images, self.channels, axis=-1)
        self.interpreter.set_tensor(self.input_detail["index"], self._quantize_input(images))
        self.interpreter.invoke()
        output = self.interpreter.get_tensor(self.output_detail["index"])
        scale, zero_point = self.output_detail["quantization"]
        if output.dtype != np.float32:
            output = (output.astype(np.float32) - zero_point) * scale
        return output

    def _quantize_input(self, images: np.ndarray) -> np.ndarray:
        """Float [0, 1] -> the model's input type; for uint8 (scale 1/255, zero 0) that is raw pixels."""
        dtype = self.input_detail["dtype"]
        if dtype == np.float32:
            return images
        scale, zero_point = self.input_detail["quantization"]
        limits = np.iinfo(dtype)
        return np.clip(np.rint(images / scale + zero_point), limits.min, limits.max).astype(dtype)


LOADERS = {"onnx": OnnxClassifier, "tflite": TfliteClassifier}


def load_classifier(
    model: str | os.PathLike | None = None,
    backend: str = "onnx",
    precision: str = "int8",
    verify: bool = True,
    threads: int = 1,
    trust: Trust | None = None,
) -> Classifier:
    """Load an artifact (file, export directory, or default_export_dir's) checked against its manifest, and with
    `trust.keys` (default: $EDGE_DIGITS_TRUSTED_KEYS's) that manifest against its signature (trust.py). The model
    is built from the bytes that were checked, so a file replaced after the check is never used unchecked."""
    trust = trust_from() if trust is None else trust
    if trust.keys and not verify:
        raise EdgeDigitsError(NO_VERIFY_WITH_KEYS)
    path = resolve_artifact(model, backend, precision)
    if not path.is_file():
        raise EdgeDigitsError(f"model not found: {path}")
    entry = format_for_file(path.name) or _guess_format(path)
    if entry.backend not in LOADERS:
        raise EdgeDigitsError(f"{path} is a {entry.backend} model; the runtime loads .onnx and .tflite files")
    content = path.read_bytes()
    if verify:
        verify_artifact(path, checked_manifest(path.parent, trust), content)
    return LOADERS[entry.backend](path, entry, content, threads=threads)


def _guess_format(path: Path) -> Format:
    """A renamed artifact: infer backend from the suffix and input type from the file itself."""
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return Format(path.stem, path.name, "onnx", "unknown", "float32", "", None, "user-supplied ONNX model")
    if suffix == ".tflite":
        return Format(path.stem, path.name, "tflite", "unknown", "float32", "", None, "user-supplied TFLite model")
    raise EdgeDigitsError(f"don't know how to load {path}: expected a .onnx or .tflite file")
