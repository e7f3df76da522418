"""`edge-digits export --micro`: the microcontroller set in OUT/micro/, derived from OUT/digits_int8.tflite.

The set: digits_micro.tflite (micro_model.py), the C/C++ pair digits_model.h / digits_model.cc that holds it
as an aligned array with its arena size, op list, labels and input contract, and manifest.json (sha256 of
every file). It is written only after the TFLM interpreter agrees with LiteRT on the MNIST test digits, and
swapped in as one set. manifest.json holds no machine-dependent figure: parity is recorded against LiteRT's
reference kernels (integer math, the same on every CPU); `edge-digits parity` also checks LiteRT's default.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_digits.build import micro_model
from edge_digits.build.keras_io import import_tensorflow
from edge_digits.build.mnist import check_mnist_file, load_mnist, preprocess
from edge_digits.build.parity import THRESHOLDS, ParityRow, compare, predict_in_batches
from edge_digits.build.staging import StagedDirectory, sigterm_as_interrupt
from edge_digits.errors import EdgeDigitsError
from edge_digits.files import write_json_atomic
from edge_digits.formats import LABELS, format_by_name
from edge_digits.runtime.classifier import load_classifier
from edge_digits.runtime.manifest import MANIFEST_NAME, package_versions, read_manifest, sha256_file, verify_artifact
from edge_digits.runtime.quiet import quiet_stderr

MICRO_DIR = "micro"
MODEL_FILE = "digits_micro.tflite"
HEADER_FILE = "digits_model.h"
SOURCE_FILE = "digits_model.cc"
SET_NAMES = frozenset({MODEL_FILE, HEADER_FILE, SOURCE_FILE, MANIFEST_NAME})
COMMAND = "edge-digits export --micro"
THRESHOLD = THRESHOLDS[("int8", "int8")]
TOOLS = ("tflite-micro", "tensorflow", "ai-edge-litert", "numpy")
PAIR = "tflite-micro vs tflite-int8"


@dataclass
class MicroExport:
    """What `export_micro` wrote (its manifest) and how it compared with LiteRT as users run it on this machine."""

    manifest: dict[str, Any]
    litert_default: ParityRow
    litert_default_identical: int  # digits whose 10 outputs equal LiteRT's default ones exactly


def source_model_path(export_dir: Path) -> Path:
    return export_dir / format_by_name("tflite-int8").file


def export_micro(export_dir: str | os.PathLike = "export", data_path: str | os.PathLike | None = None) -> MicroExport:
    """Write EXPORT_DIR/micro/ from EXPORT_DIR/digits_int8.tflite, atomically, after checking parity."""
    export_dir = Path(export_dir).expanduser()
    source = source_model_path(export_dir)
    if not source.is_file():
        raise EdgeDigitsError(f"{source} not found: the micro set is derived from it; run `edge-digits export --int8 "
                              f"--out {export_dir}` first")
    micro_model.import_tflite_micro()  # a missing extra fails here, before TensorFlow loads
    if data_path is not None:
        check_mnist_file(data_path)
    with sigterm_as_interrupt(), StagedDirectory(export_dir / MICRO_DIR, SET_NAMES) as stage:
        import_tensorflow()
        int8_bytes = source.read_bytes()
        model = micro_model.micro_model_bytes(int8_bytes)
        operators = micro_model.operator_names(model)
        minimum = micro_model.minimum_arena(model)
        scratch = micro_model.cmsis_nn_scratch_bytes(model)
        arena = micro_model.shipped_arena(minimum, scratch)

        mnist = load_mnist(data_path)
        pixels, labels = np.asarray(mnist.x_test, np.uint8), mnist.y_test.astype(np.int64)
        micro = micro_model.micro_predict(model, arena, pixels)
        reference = micro_model.litert_reference_predict(int8_bytes, pixels)
        exact = compare(micro, reference, labels)
        default, default_identical = _default_litert_row(source, micro, pixels, labels)
        if not (_passes(exact) and default.passed):
            raise EdgeDigitsError(f"TFLM parity failed (agreement {exact['agreement']:.2%} with LiteRT's reference "
                                  f"kernels, {default.agreement:.2%} with its default ones; needs {THRESHOLD.describe()}); "
                                  f"{export_dir / MICRO_DIR} was left as it was")

        (stage.path / MODEL_FILE).write_bytes(model)
        interface = _interface(model)
        (stage.path / HEADER_FILE).write_text(render_header(operators, minimum, scratch, arena, interface, source.name,
                                                            sha256_file(source)), encoding="utf-8")
        (stage.path / SOURCE_FILE).write_text(render_source(model), encoding="utf-8")
        data_file = None if mnist.source.startswith("keras.") else Path(mnist.source)
        manifest = {
            "schema": 1,
            "command": COMMAND if data_path is None else f"{COMMAND} --data {Path(data_path).name}",
            "source_model": {"file": f"../{source.name}", "sha256": sha256_file(source)},
            "model": {"file": MODEL_FILE, "operators": operators, "resolver": micro_model.resolver_lines(operators),
                      "changes": "digits_int8.tflite without its final Dequantize op (int8 output, no float kernel) "
                                 "and without its TFLite Model Metadata; weights 16-byte aligned", **interface},
            "arena": {"minimum_bytes": minimum, "shipped_bytes": arena, "cmsis_nn_scratch_bytes": scratch,
                      "alignment_bytes": micro_model.ARENA_ALIGNMENT,
                      "minimum_measured_with": "the tflite-micro package's interpreter (reference kernels, 64-bit host), "
                                               "by bisection: one byte less fails",
                      "shipped_rule": "minimum + CMSIS-NN's largest scratch buffer + alignment, rounded up to whole KiB"},
            "labels": list(LABELS),
            "evaluation": {"split": "test", "count": int(len(labels)),
                           "data": mnist.source if data_file is None else data_file.name,
                           "data_sha256": None if data_file is None else sha256_file(data_file)},
            "parity": {"pair": PAIR, "candidate": f"{MODEL_FILE} on the TFLM interpreter",
                       "reference": f"{source.name} on LiteRT's reference kernels (BUILTIN_REF)",
                       "count": int(len(labels)), "agreement": exact["agreement"], "max_abs_dp": exact["max_abs_dp"],
                       "identical_outputs": int(np.sum(np.all(micro == reference, axis=1))),
                       "accuracy": exact["candidate_accuracy"], "reference_accuracy": exact["reference_accuracy"],
                       "threshold": THRESHOLD.describe(), "passed": True},
            "artifacts": [_record(stage.path / name, description) for name, description in (
                (MODEL_FILE, "the MCU model: uint8 [1, 28, 28, 1] pixels in, int8 [1, 10] softmax out"),
                (HEADER_FILE, "declarations, arena size, input and output contract, the MicroMutableOpResolver ops"),
                (SOURCE_FILE, f"{MODEL_FILE} as alignas(16) const unsigned char digits_model[], and the labels"))],
            "tool_versions": package_versions(TOOLS),
        }
        write_json_atomic(stage.path / MANIFEST_NAME, manifest)
        stage.commit()
    return MicroExport(manifest, default, default_identical)


def _passes(metrics: dict[str, float]) -> bool:
    return THRESHOLD.check(metrics["agreement"], metrics["max_abs_dp"],
                           100.0 * (metrics["candidate_accuracy"] - metrics["reference_accuracy"]))


def _row(metrics: dict[str, float], count: int) -> ParityRow:
    return ParityRow(pair=PAIR, candidate="tflite-micro", reference="tflite-int8", count=count,
                     threshold=THRESHOLD.describe(), passed=_passes(metrics), **metrics)


def _default_litert_row(source: Path, micro: np.ndarray, pixels: np.ndarray, labels: np.ndarray) -> tuple[ParityRow, int]:
    """TFLM against digits_int8.tflite as the runtime loads it (LiteRT's default kernels), and how many
    digits get exactly the same outputs."""
    with quiet_stderr(replay=False):
        classifier = load_classifier(source, backend="tflite", verify=False)
        reference = predict_in_batches(classifier.predict, preprocess(pixels))
    return _row(compare(micro, reference, labels), len(labels)), int(np.sum(np.all(micro == reference, axis=1)))


def _record(path: Path, description: str) -> dict[str, Any]:
    return {"file": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path), "description": description}


def _interface(model: bytes) -> dict[str, Any]:
    """The model's input and output contract, read from the TFLM interpreter."""
    interpreter = micro_model.micro_interpreter(model, micro_model.ARENA_SEARCH_LIMIT)
    described = {}
    for key, details in (("input", interpreter.get_input_details(0)), ("output", interpreter.get_output_details(0))):
        quantization = details["quantization_parameters"]
        described[key] = {"dtype": np.dtype(details["dtype"]).name, "shape": [int(n) for n in details["shape"]],
                          "scale": float(quantization["scales"][0]), "zero_point": int(quantization["zero_points"][0])}
    return described


def _c_float(value: float) -> str:
    return f"{np.float32(value).item():.9g}f"


def render_header(operators: list[str], minimum: int, scratch: int, arena: int, interface: dict[str, Any],
                  source_name: str, source_sha256: str) -> str:
    """digits_model.h: the declarations and every constant a sketch needs."""
    inputs, outputs = interface["input"], interface["output"]
    resolver = micro_model.resolver_lines(operators)
    add_lines = "".join(f"        (resolver).{micro_model.RESOLVER_METHODS[name]}(); \\\n" for name in operators)
    return f"""// digits_model.h: generated by `{COMMAND}` from {source_name} (sha256 {source_sha256[:16]}...); do not edit.
// The int8 digit model for TensorFlow Lite for Microcontrollers (docs/microcontrollers.md).
#ifndef DIGITS_MODEL_H
#define DIGITS_MODEL_H

// Tensor arena: the TFLM interpreter runs the model in {minimum} bytes and fails with one byte less (tflite-micro's
// host build, reference kernels). Shipped: that plus CMSIS-NN's largest scratch buffer for these convolutions
// ({scratch} bytes) and {micro_model.ARENA_ALIGNMENT} bytes of alignment, rounded up to whole KiB.
#define DIGITS_MODEL_ARENA_MINIMUM {minimum}
#define DIGITS_MODEL_ARENA_SIZE {arena}

// Input: {inputs['dtype']} {inputs['shape']}, the 784 bytes digit_normalize_crop() writes, row by row
// (real value = scale * (q - zero point): pixel / 255).
#define DIGITS_MODEL_INPUT_HEIGHT {inputs['shape'][1]}
#define DIGITS_MODEL_INPUT_WIDTH {inputs['shape'][2]}
#define DIGITS_MODEL_INPUT_CHANNELS {inputs['shape'][3]}
#define DIGITS_MODEL_INPUT_SCALE {_c_float(inputs['scale'])}
#define DIGITS_MODEL_INPUT_ZERO_POINT {inputs['zero_point']}

// Output: {outputs['dtype']} {outputs['shape']} softmax; probability of label i = scale * (q[i] - zero point).
#define DIGITS_MODEL_OUTPUT_COUNT {outputs['shape'][1]}
#define DIGITS_MODEL_OUTPUT_SCALE {_c_float(outputs['scale'])}
#define DIGITS_MODEL_OUTPUT_ZERO_POINT ({outputs['zero_point']})

#define DIGITS_MODEL_LABEL_COUNT {len(LABELS)}

// The ops to register, exactly these:
{''.join(f'//   {line}{chr(10)}' for line in resolver)}// or: static tflite::MicroMutableOpResolver<DIGITS_MODEL_OP_COUNT> resolver; DIGITS_MODEL_ADD_OPS(resolver);
#define DIGITS_MODEL_OP_COUNT {len(operators)}
#define DIGITS_MODEL_ADD_OPS(resolver) \\
    do {{ \\
{add_lines}    }} while (0)

#ifdef __cplusplus
extern "C" {{
#endif

extern const unsigned char digits_model[];  // {MODEL_FILE}, 16-byte aligned
extern const unsigned int digits_model_len;
extern const char *const digits_model_labels[DIGITS_MODEL_LABEL_COUNT];  // digits_model_labels[i] names output i

#ifdef __cplusplus
}}
#endif

#endif  // DIGITS_MODEL_H
"""


def render_source(model: bytes) -> str:
    """digits_model.cc: the model as an aligned array, 12 bytes a line, and the labels."""
    rows = ",\n".join("    " + ", ".join(f"0x{byte:02x}" for byte in model[start:start + 12])
                      for start in range(0, len(model), 12))
    labels = ", ".join(f'"{label}"' for label in LABELS)
    return f"""// digits_model.cc: generated by `{COMMAND}`: {MODEL_FILE} ({len(model)} bytes); do not edit.
#include "{HEADER_FILE}"

alignas(16) const unsigned char digits_model[] = {{
{rows}
}};
const unsigned int digits_model_len = {len(model)};
const char *const digits_model_labels[DIGITS_MODEL_LABEL_COUNT] = {{{labels}}};
"""


def array_bytes(source_text: str) -> bytes:
    """The bytes of the digits_model[] array in a digits_model.cc."""
    found = re.search(r"digits_model\[\]\s*=\s*\{(.*?)\};", source_text, flags=re.S)
    if found is None:
        raise EdgeDigitsError(f"{SOURCE_FILE} holds no digits_model[] array; run `{COMMAND}`")
    return bytes(int(token, 16) for token in re.findall(r"0x([0-9a-fA-F]{2})", found.group(1)))


def checked_micro_set(export_dir: Path) -> tuple[bytes, int]:
    """The micro model's bytes and shipped arena, after checking the set: every file against its manifest, the
    array in digits_model.cc against the .tflite, and the source model against the one beside it now."""
    micro_dir = export_dir / MICRO_DIR
    manifest = read_manifest(micro_dir)
    if manifest is None:
        raise EdgeDigitsError(f"{micro_dir} has no {MANIFEST_NAME}; run `{COMMAND} --out {export_dir}`")
    for name in (MODEL_FILE, HEADER_FILE, SOURCE_FILE):
        if not (micro_dir / name).is_file():
            raise EdgeDigitsError(f"{micro_dir / name} is missing; run `{COMMAND} --out {export_dir}`")
        verify_artifact(micro_dir / name, manifest)
    source = source_model_path(export_dir)
    if not source.is_file() or sha256_file(source) != manifest["source_model"]["sha256"]:
        raise EdgeDigitsError(f"{micro_dir} was made from another {source.name}; run `{COMMAND} --out {export_dir}`")
    model = (micro_dir / MODEL_FILE).read_bytes()
    if array_bytes((micro_dir / SOURCE_FILE).read_text(encoding="utf-8")) != model:
        raise EdgeDigitsError(f"the array in {micro_dir / SOURCE_FILE} differs from {MODEL_FILE}; run `{COMMAND}`")
    return model, int(manifest["arena"]["shipped_bytes"])


def micro_parity_row(export_dir: Path, images: np.ndarray, labels: np.ndarray, reference: np.ndarray | None) -> ParityRow:
    """The TFLM interpreter on `images` (float [0, 1]) with the shipped arena, against digits_int8.tflite's
    probabilities `reference` (LiteRT as the runtime loads it; None when the set has no int8 TFLite)."""
    if reference is None:
        raise EdgeDigitsError(f"{export_dir} has a {MICRO_DIR}/ set but no {source_model_path(export_dir).name} to check it "
                              "against; re-export with --int8")
    model, arena = checked_micro_set(export_dir)
    pixels = np.rint(np.asarray(images, np.float32).reshape(-1, 28, 28) * 255).astype(np.uint8)
    return _row(compare(micro_model.micro_predict(model, arena, pixels), reference, labels), len(labels))


def summary(result: MicroExport, out: Path) -> str:
    """What the CLI prints after `export --micro`."""
    manifest, exact, default = result.manifest, result.manifest["parity"], result.litert_default
    arena, files = manifest["arena"], {record["file"]: record["bytes"] for record in manifest["artifacts"]}
    return "\n".join([
        f"{MODEL_FILE}: {files[MODEL_FILE]} bytes, ops {', '.join(manifest['model']['operators'])}",
        f"arena: minimum {arena['minimum_bytes']} bytes, shipped {arena['shipped_bytes']}",
        f"TFLM vs LiteRT reference kernels: agree {exact['agreement']:.2%}, identical {exact['identical_outputs']} of "
        f"{exact['count']}, max|dp| {exact['max_abs_dp']:.2e}, accuracy {exact['accuracy']:.2%}",
        f"TFLM vs LiteRT default kernels (this machine): agree {default.agreement:.2%}, identical "
        f"{result.litert_default_identical} of {default.count}, max|dp| {default.max_abs_dp:.2e}",
        f"wrote {out / MICRO_DIR / MANIFEST_NAME}",
    ])
