"""TFLite Model Metadata for the exported .tflite files: description, input range, labels.txt packed in.

Android Studio's ML Model Binding, the TFLite Task Library and MediaPipe Tasks read this metadata; MediaPipe
takes category names from the packed labels file. Written with the flatbuffer bindings of the metadata
schema that the mediapipe wheel ships (see docs/development.md, "TFLite metadata"); the operators, tensors
and weights the interpreter runs are left as they were.
"""

from __future__ import annotations

import importlib.metadata
import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from edge_digits.errors import EdgeDigitsError
from edge_digits.formats import INPUT_NAME, LABELS, OUTPUT_NAME, Format

METADATA_NAME = b"TFLITE_METADATA"  # the Model.metadata entry readers look for
METADATA_IDENTIFIER = b"M001"  # the metadata flatbuffer's file identifier
MIN_PARSER_VERSION = "1.0.0"  # every field written here exists since metadata schema 1.0.0
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed zip entry time: the same model gives the same bytes
AUTHOR = "edge-digits contributors"
LICENSE = "MIT"


def _schema() -> Any:
    from mediapipe.tasks.metadata import metadata_schema_py_generated

    return metadata_schema_py_generated


def project_version() -> str:
    """The installed edge-digits version, the models' metadata version."""
    try:
        return importlib.metadata.version("edge-digits")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def build_metadata(entry: Format, labels_file: str) -> bytes:
    """The ModelMetadata flatbuffer (identifier M001) describing `entry`'s one input and one output."""
    schema = _schema()
    image = schema.TensorMetadataT()
    image.name = INPUT_NAME
    image.content = schema.ContentT()
    image.content.contentPropertiesType = schema.ContentProperties.ImageProperties
    image.content.contentProperties = schema.ImagePropertiesT()
    image.content.contentProperties.colorSpace = (schema.ColorSpaceType.RGB if entry.input_channels == 3
                                                  else schema.ColorSpaceType.GRAYSCALE)
    layout = f"[batch, 28, 28, {entry.input_channels}] NHWC"
    what = ("a digit normalized as MNIST: white ink on black, fitted into 20x20 keeping its aspect ratio and "
            "centred by centre of mass in 28x28")
    image.stats = schema.StatsT()
    if entry.input_dtype == "uint8":
        image.stats.min, image.stats.max = [0.0], [255.0]
        pixels = "uint8 raw pixels 0..255 (quantization scale 1/255, zero point 0)"
    else:
        image.stats.min, image.stats.max = [0.0], [1.0]
        pixels = "float32 pixel / 255 in [0, 1]"
        normalization = schema.ProcessUnitT()
        normalization.optionsType = schema.ProcessUnitOptions.NormalizationOptions
        normalization.options = schema.NormalizationOptionsT()
        normalization.options.mean, normalization.options.std = [0.0], [255.0]
        image.processUnits = [normalization]
    colour = " RGB with R = G = B (the model averages the channels)" if entry.input_channels == 3 else " gray"
    image.description = f"{layout}{colour}, {pixels}: {what}."

    probabilities = schema.TensorMetadataT()
    probabilities.name = OUTPUT_NAME
    probabilities.description = ("float32 [batch, 10] softmax probabilities; index i is the digit on line i of "
                                 f"{labels_file}. An empty (all-black) input reads as a confident '1': "
                                 "classify only regions that hold ink.")
    probabilities.content = schema.ContentT()
    probabilities.content.contentPropertiesType = schema.ContentProperties.FeatureProperties
    probabilities.content.contentProperties = schema.FeaturePropertiesT()
    probabilities.stats = schema.StatsT()
    probabilities.stats.min, probabilities.stats.max = [0.0], [1.0]
    labels = schema.AssociatedFileT()
    labels.name = labels_file
    labels.description = "Digit names, one per line, in output index order."
    labels.type = schema.AssociatedFileType.TENSOR_AXIS_LABELS
    probabilities.associatedFiles = [labels]

    subgraph = schema.SubGraphMetadataT()
    subgraph.name = "digits"
    subgraph.inputTensorMetadata = [image]
    subgraph.outputTensorMetadata = [probabilities]
    model = schema.ModelMetadataT()
    model.name = f"edge-digits {entry.name}"
    model.description = f"Handwritten digit classifier (MNIST CNN). {entry.description}"
    model.version = project_version()
    model.author = AUTHOR
    model.license = LICENSE
    model.minParserVersion = MIN_PARSER_VERSION
    model.subgraphMetadata = [subgraph]

    import flatbuffers

    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), METADATA_IDENTIFIER)
    return bytes(builder.Output())


def with_metadata(model_bytes: bytes, metadata: bytes, files: dict[str, bytes]) -> bytes:
    """`model_bytes` with `metadata` as its TFLITE_METADATA buffer and `files` appended as an uncompressed zip."""
    from tensorflow.lite.python import schema_py_generated as model_schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_bytes))
    buffer = model_schema.BufferT()
    buffer.data = np.frombuffer(metadata, dtype=np.uint8)
    model.buffers.append(buffer)
    entry = model_schema.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, len(model.buffers) - 1
    model.metadata = [kept for kept in (model.metadata or []) if kept.name != METADATA_NAME] + [entry]
    stream = io.BytesIO(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))
    with zipfile.ZipFile(stream, mode="a", compression=zipfile.ZIP_STORED) as archive:
        for name, data in sorted(files.items()):
            archive.writestr(zipfile.ZipInfo(name, date_time=ZIP_TIME), data)
    return stream.getvalue()


def write_metadata(path: Path, entry: Format, labels_path: Path) -> dict[str, Any]:
    """Add metadata + the labels file to the .tflite at `path` in place; return its manifest record."""
    labels = labels_path.read_bytes()
    if labels.decode("utf-8").split() != list(LABELS):
        raise EdgeDigitsError(f"{labels_path} does not list the labels {', '.join(LABELS)} one per line")
    path.write_bytes(with_metadata(path.read_bytes(), build_metadata(entry, labels_path.name), {labels_path.name: labels}))
    written = read_metadata(path)
    if written["packed_files"].get(labels_path.name) != labels:
        raise EdgeDigitsError(f"{path}: the labels file packed into the model does not read back; re-export")
    return {"tflite_metadata": {key: written[key] for key in ("name", "version", "author", "license",
                                                              "min_parser_version")}
            | {"associated_files": sorted(written["packed_files"]),
               "input_range": written["inputs"][0]["range"], "output_range": written["outputs"][0]["range"]}}


def read_metadata(path: Path) -> dict[str, Any]:
    """Read a .tflite's metadata back with the generated schema bindings: model fields, tensors, packed files."""
    from ai_edge_litert import schema_py_generated as model_schema

    blob = path.read_bytes()
    model = model_schema.Model.GetRootAs(blob, 0)
    found = [model.Metadata(index) for index in range(model.MetadataLength())]
    buffers = [entry.Buffer() for entry in found if entry.Name() == METADATA_NAME]
    if not buffers:
        raise EdgeDigitsError(f"{path} carries no TFLite metadata; re-export it with `edge-digits export`")
    data = model.Buffers(buffers[0]).DataAsNumpy().tobytes()
    schema = _schema()
    if not schema.ModelMetadata.ModelMetadataBufferHasIdentifier(data, 0):
        raise EdgeDigitsError(f"{path}: the TFLITE_METADATA buffer is not a metadata flatbuffer (identifier M001)")
    metadata = schema.ModelMetadataT.InitFromObj(schema.ModelMetadata.GetRootAs(data, 0))
    subgraph = metadata.subgraphMetadata[0]
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        packed = {name: archive.read(name) for name in archive.namelist()}
    return {"name": _text(metadata.name), "description": _text(metadata.description),
            "version": _text(metadata.version), "author": _text(metadata.author),
            "license": _text(metadata.license), "min_parser_version": _text(metadata.minParserVersion),
            "inputs": [_tensor(schema, tensor) for tensor in subgraph.inputTensorMetadata],
            "outputs": [_tensor(schema, tensor) for tensor in subgraph.outputTensorMetadata],
            "packed_files": packed}


def _text(value: bytes | str | None) -> str | None:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _tensor(schema: Any, tensor: Any) -> dict[str, Any]:
    """One TensorMetadataT as plain data: name, value range, colour space, normalization, associated files."""
    stats = tensor.stats
    properties = tensor.content.contentProperties if tensor.content else None
    colour = getattr(properties, "colorSpace", None)
    normalization = [unit.options for unit in tensor.processUnits or []
                     if unit.optionsType == schema.ProcessUnitOptions.NormalizationOptions]
    return {"name": _text(tensor.name), "description": _text(tensor.description),
            "range": None if stats is None else [float(stats.min[0]), float(stats.max[0])],
            "color_space": _enum_names(schema.ColorSpaceType).get(colour),
            "normalization": [{"mean": [float(x) for x in unit.mean], "std": [float(x) for x in unit.std]}
                              for unit in normalization],
            "associated_files": [{"name": _text(item.name), "type": _enum_names(schema.AssociatedFileType).get(item.type)}
                                 for item in tensor.associatedFiles or []]}


def _enum_names(enum: type) -> dict[int, str]:
    return {value: key for key, value in vars(enum).items() if not key.startswith("_")}
