"""TFLite Model Metadata and the MediaPipe Tasks model, checked with the real readers and MediaPipe itself."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import EXPORT_DIR
from export_support import exported

from edge_digits.formats import FORMATS, LABELS, format_for_file

TASKS_MODEL = "digits_int8_tasks.tflite"


def require(module: str):
    """Import `module`; skip without it locally, fail under CI (the train extra installs it)."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{module} is not installed ({error}); pip install -e '.[train,dev]'")


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory, mnist_path) -> Path:
    return exported(tmp_path_factory.getbasetemp(), mnist_path)


def tflite_files(directory: Path) -> list[Path]:
    files = sorted(directory.glob("*.tflite"))
    assert files, f"no .tflite in {directory}"
    return files


def check_metadata(path: Path) -> None:
    """Every field the issue asks for, read back with the schema's generated bindings."""
    from edge_digits.build.tflite_metadata import read_metadata

    entry = format_for_file(path.name)
    metadata = read_metadata(path)
    labels = (path.parent / "labels.txt").read_bytes()
    assert metadata["packed_files"] == {"labels.txt": labels}, path.name
    assert labels.decode().split() == list(LABELS)
    assert metadata["name"] == f"edge-digits {entry.name}" and metadata["version"] and metadata["description"]
    assert metadata["author"] and metadata["license"] == "MIT"
    (image,), (probabilities,) = metadata["inputs"], metadata["outputs"]
    assert image["name"] == "image" and probabilities["name"] == "probabilities"
    assert image["color_space"] == ("RGB" if entry.input_channels == 3 else "GRAYSCALE")
    if entry.input_dtype == "uint8":
        assert image["range"] == [0.0, 255.0] and image["normalization"] == []
    else:
        assert image["range"] == [0.0, 1.0] and image["normalization"] == [{"mean": [0.0], "std": [255.0]}]
    assert probabilities["range"] == [0.0, 1.0]
    assert probabilities["associated_files"] == [{"name": "labels.txt", "type": "TENSOR_AXIS_LABELS"}]


def test_every_exported_tflite_carries_metadata_and_labels(export_dir):
    require("mediapipe")
    names = {path.name for path in tflite_files(export_dir)}
    assert names == {entry.file for entry in FORMATS if entry.backend == "tflite"}
    for path in tflite_files(export_dir):
        check_metadata(path)


def test_shipped_tflite_files_carry_metadata_and_labels():
    require("mediapipe")
    for path in tflite_files(EXPORT_DIR):
        check_metadata(path)


def test_metadata_leaves_what_the_interpreter_runs_unchanged(export_dir, mnist):
    """Strip the metadata from an exported model, write it again: same graph, same weights, same outputs."""
    require("mediapipe")
    from ai_edge_litert.interpreter import Interpreter
    from tensorflow.lite.tools import flatbuffer_utils

    from edge_digits.build.tflite_metadata import METADATA_NAME, build_metadata, with_metadata

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray((export_dir / "digits_int8.tflite").read_bytes()))
    index = next(entry.buffer for entry in model.metadata if entry.name == METADATA_NAME)
    assert index == len(model.buffers) - 1
    model.metadata = [entry for entry in model.metadata if entry.name != METADATA_NAME]
    model.buffers.pop()
    bare = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    dressed = with_metadata(bare, build_metadata(format_for_file("digits_int8.tflite"), "labels.txt"), {"labels.txt": b"x"})
    before, after = (flatbuffer_utils.convert_bytearray_to_object(bytearray(blob)) for blob in (bare, dressed))
    assert len(after.buffers) == len(before.buffers) + 1
    for old, new in zip(before.buffers, after.buffers):
        assert np.array_equal(np.asarray(old.data if old.data is not None else []),
                              np.asarray(new.data if new.data is not None else []))
    assert [op.opcodeIndex for op in before.subgraphs[0].operators] == [op.opcodeIndex for op in after.subgraphs[0].operators]
    images = mnist.x_test[:64, :, :, None]
    outputs = []
    for blob in (bare, dressed):
        interpreter = Interpreter(model_content=blob)
        interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], images.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], images)
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy())
    assert np.array_equal(outputs[0], outputs[1])


def mediapipe_digits(model: Path, images: np.ndarray) -> tuple[np.ndarray, set[str]]:
    """MediaPipe Tasks ImageClassifier on gray digits fed as SRGB: (top digit per image, category names seen)."""
    mp = require("mediapipe")
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=str(model)), max_results=10)
    digits, names = [], set()
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for image in images:
            rgb = np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))
            categories = classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)).classifications[0].categories
            assert all(category.category_name == LABELS[category.index] for category in categories)
            names.update(category.category_name for category in categories)
            digits.append(int(max(categories, key=lambda category: category.score).category_name))
    return np.array(digits), names


@pytest.mark.slow
def test_mediapipe_reads_the_shipped_tasks_model_like_the_int8_tflite(mnist):
    """All 10,000 MNIST test digits (about 3 s): MediaPipe agrees with digits_int8.tflite on >= 99.9%."""
    from edge_digits.build.mnist import preprocess
    from edge_digits.runtime.classifier import load_classifier

    digits, names = mediapipe_digits(EXPORT_DIR / TASKS_MODEL, mnist.x_test)
    assert names == set(LABELS)
    reference = load_classifier(EXPORT_DIR / "digits_int8.tflite", backend="tflite").predict(preprocess(mnist.x_test))
    agreement = float(np.mean(digits == reference.argmax(axis=1)))
    print(f"MediaPipe ImageClassifier vs digits_int8.tflite: {agreement:.2%} of {len(digits)}")
    assert agreement >= 0.999
    assert float(np.mean(digits == mnist.y_test)) > 0.99


def test_mediapipe_loads_a_fresh_export_with_its_labels(export_dir, mnist):
    digits, names = mediapipe_digits(export_dir / TASKS_MODEL, mnist.x_test[:300])
    assert names == set(LABELS)
    assert float(np.mean(digits == mnist.y_test[:300])) > 0.9


def test_runtime_classifier_feeds_gray_to_the_rgb_model(export_dir, mnist):
    from edge_digits.build.mnist import preprocess
    from edge_digits.runtime.classifier import load_classifier

    images = preprocess(mnist.x_test[:500])
    gray = load_classifier(export_dir / "digits_int8.tflite", backend="tflite").predict(images)
    rgb = load_classifier(export_dir / TASKS_MODEL, backend="tflite").predict(images)
    assert rgb.shape == (500, 10)
    assert float(np.mean(gray.argmax(1) == rgb.argmax(1))) >= 0.998
