"""Microcontrollers: the export/micro/ set (TFLM model, C array, arena, ops) and micro/'s C99 preprocessing,
built with the host cc and for Cortex-M4F, checked against the golden vectors (on qemu too)."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import EXPORT_DIR, REPO, run_cli

from edge_digits.build import micro_export
from edge_digits.errors import EdgeDigitsError
from edge_digits.measure.golden import GOLDEN_NAME, read_golden
from edge_digits.runtime.manifest import MANIFEST_NAME, read_manifest, sha256_file

MICRO_SOURCES = REPO / "micro"
MICRO_SET = EXPORT_DIR / micro_export.MICRO_DIR
QEMU = ["qemu-system-arm", "-M", "mps2-an386", "-cpu", "cortex-m4", "-nographic", "-monitor", "none", "-serial", "none",
        "-semihosting-config", "enable=on,target=native", "-kernel"]


def require_tools(*tools: str) -> None:
    """Skip when a tool is missing, except in CI, whose .ci/run installs them all."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{', '.join(missing)} missing: .ci/run installs them (see its apt list)")
        pytest.skip(f"{', '.join(missing)} not installed (see .ci/run's apt list)")


def require_tflite_micro() -> None:
    try:
        import tflite_micro  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("tflite-micro missing: .ci/run installs the micro extra")
        pytest.skip("tflite-micro not installed: pip install -e '.[micro]'")


def make(target: str, build: Path, sources: Path = MICRO_SOURCES, *extra: str) -> str:
    done = subprocess.run(["make", "-s", "-C", str(sources), f"BUILD={build}", f"EXPORT={EXPORT_DIR}", *extra, target],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def golden() -> dict:
    return read_golden(EXPORT_DIR / GOLDEN_NAME)


def harness_input(golden: dict) -> str:
    return "".join(f"{case['width']} {case['height']} {case['ink']} {base64.b64decode(case['crop']).hex()}\n"
                   for case in golden["cases"])


def mismatched_cases(golden: dict, output: str) -> dict[str, int]:
    """Cases whose bytes differ from the golden file's: name -> largest difference in grey levels."""
    lines = output.split()
    assert len(lines) == 2 * len(golden["cases"]), output[:500]
    found = {}
    for case, status, pixels in zip(golden["cases"], lines[::2], lines[1::2]):
        made = np.frombuffer(bytes.fromhex(pixels), np.uint8).astype(int)
        expected = np.frombuffer(base64.b64decode(case["normalized"]), np.uint8).astype(int)
        assert int(status) == (1 if case["name"] == "empty" else 0), case["name"]
        if np.abs(made - expected).max():
            found[case["name"]] = int(np.abs(made - expected).max())
    return found


def test_micro_set_matches_its_manifest_and_the_int8_model_beside_it():
    model, arena = micro_export.checked_micro_set(EXPORT_DIR)
    manifest = read_manifest(MICRO_SET)
    listed = {record["file"] for record in manifest["artifacts"]}
    assert listed | {MANIFEST_NAME} == {path.name for path in MICRO_SET.iterdir()}
    header = (MICRO_SET / micro_export.HEADER_FILE).read_text()
    assert f"#define DIGITS_MODEL_ARENA_SIZE {arena}\n" in header
    assert f"#define DIGITS_MODEL_ARENA_MINIMUM {manifest['arena']['minimum_bytes']}\n" in header
    assert f"digits_model_len = {len(model)};" in (MICRO_SET / micro_export.SOURCE_FILE).read_text()
    assert manifest["parity"]["agreement"] >= 0.999 and manifest["parity"]["passed"]
    for line in manifest["model"]["resolver"][1:]:
        assert f"//   {line}" in header and line.replace("resolver.", "(resolver).") in header


def test_docs_quote_the_shipped_set():
    """docs/microcontrollers.md and README state the model size and arena of export/micro/ (re-export: update them)."""
    manifest = read_manifest(MICRO_SET)
    model_bytes = (MICRO_SET / micro_export.MODEL_FILE).stat().st_size
    docs, readme = (REPO / "docs" / "microcontrollers.md").read_text(), (REPO / "README.md").read_text()
    for figure in (model_bytes, manifest["arena"]["minimum_bytes"], manifest["arena"]["shipped_bytes"],
                   manifest["arena"]["cmsis_nn_scratch_bytes"]):
        assert f"{figure:,}" in docs, figure
    assert f"{model_bytes:,} bytes" in readme
    assert f"ops ({len(manifest['model']['operators'])})" in docs


def test_a_changed_array_or_source_model_is_refused(tmp_path):
    copy = tmp_path / "export"
    (copy / micro_export.MICRO_DIR).mkdir(parents=True)
    shutil.copy(EXPORT_DIR / "digits_int8.tflite", copy)
    for path in MICRO_SET.iterdir():
        shutil.copy(path, copy / micro_export.MICRO_DIR)
    source = copy / micro_export.MICRO_DIR / micro_export.SOURCE_FILE
    source.write_text(source.read_text().replace("0x", "0X", 1).replace("0X1", "0x2", 1))  # one byte of the array
    with pytest.raises(EdgeDigitsError, match="does not match"):
        micro_export.checked_micro_set(copy)  # the manifest's sha256 catches it first
    shutil.copy(MICRO_SET / micro_export.SOURCE_FILE, source)
    (copy / "digits_int8.tflite").write_bytes(b"another model")
    with pytest.raises(EdgeDigitsError, match="made from another digits_int8.tflite"):
        micro_export.checked_micro_set(copy)


def test_array_bytes_reads_what_render_source_writes():
    blob = bytes(range(256)) * 3 + b"\x07"
    assert micro_export.array_bytes(micro_export.render_source(blob)) == blob


def test_micro_model_is_integer_only_with_the_int8_softmax_as_output():
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    from edge_digits.build import micro_model

    model_bytes = (MICRO_SET / micro_export.MODEL_FILE).read_bytes()
    assert "DEQUANTIZE" not in micro_model.operator_names(model_bytes)
    graph = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_bytes)).subgraphs[0]
    assert schema.TensorType.FLOAT32 not in {tensor.type for tensor in graph.tensors}
    assert graph.tensors[graph.outputs[0]].type == schema.TensorType.INT8
    assert graph.tensors[graph.inputs[0]].type == schema.TensorType.UINT8


def test_a_model_without_a_final_dequantize_is_refused():
    from edge_digits.build import micro_model

    with pytest.raises(EdgeDigitsError, match="Dequantize"):
        micro_model.micro_model_bytes((EXPORT_DIR / "digits_fp32.tflite").read_bytes())


def test_shipped_arena_is_the_measured_minimum_plus_the_stated_margin():
    require_tflite_micro()
    from edge_digits.build import micro_model

    model = (MICRO_SET / micro_export.MODEL_FILE).read_bytes()
    arena = read_manifest(MICRO_SET)["arena"]
    minimum = micro_model.minimum_arena(model)
    assert minimum == arena["minimum_bytes"]
    assert micro_model.arena_fits(model, minimum) and not micro_model.arena_fits(model, minimum - 1)
    assert arena["shipped_bytes"] == micro_model.shipped_arena(minimum, micro_model.cmsis_nn_scratch_bytes(model))
    assert minimum + arena["cmsis_nn_scratch_bytes"] + arena["alignment_bytes"] <= arena["shipped_bytes"] < minimum + 4096


def test_micro_parity_row_agrees_with_litert(mnist):
    require_tflite_micro()
    from edge_digits.build.mnist import preprocess
    from edge_digits.build.parity import predict_in_batches
    from edge_digits.runtime.classifier import load_classifier

    images, labels = preprocess(mnist.x_test[:2000]), mnist.y_test[:2000].astype(np.int64)
    reference = predict_in_batches(load_classifier(EXPORT_DIR / "digits_int8.tflite", backend="tflite").predict, images)
    row = micro_export.micro_parity_row(EXPORT_DIR, images, labels, reference)
    assert row.passed and row.agreement >= 0.999 and row.count == 2000
    shuffled = micro_export.micro_parity_row(EXPORT_DIR, images, labels, reference[::-1].copy())
    assert not shuffled.passed  # the row compares image by image: misaligned references fail it


@pytest.mark.slow
def test_parity_command_checks_the_micro_set(mnist_path):
    require_tflite_micro()
    result = run_cli("parity", str(EXPORT_DIR), "--limit", "300", "--data", str(mnist_path))
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith(micro_export.PAIR))
    assert row.split()[-1] == "PASS" and "agree>=99.9%" in row


@pytest.mark.slow
def test_export_micro_rewrites_the_shipped_set_byte_for_byte(tmp_path, mnist_path):
    require_tflite_micro()
    out = tmp_path / "export"
    out.mkdir()
    shutil.copy(EXPORT_DIR / "digits_int8.tflite", out)
    result = run_cli("export", "--micro", "--out", str(out), env={"EDGE_DIGITS_MNIST": str(mnist_path)})
    assert result.returncode == 0, result.stderr
    assert "TFLM vs LiteRT default kernels" in result.stdout
    written = sorted(path.name for path in (out / micro_export.MICRO_DIR).iterdir())
    assert written == sorted(path.name for path in MICRO_SET.iterdir())
    for name in (micro_export.MODEL_FILE, micro_export.HEADER_FILE, micro_export.SOURCE_FILE):
        assert sha256_file(out / micro_export.MICRO_DIR / name) == sha256_file(MICRO_SET / name), name
    made, shipped = read_manifest(out / micro_export.MICRO_DIR), read_manifest(MICRO_SET)
    if made["tool_versions"] == shipped["tool_versions"]:  # the same tools write the same bytes ...
        assert sha256_file(out / micro_export.MICRO_DIR / MANIFEST_NAME) == sha256_file(MICRO_SET / MANIFEST_NAME)
    assert {**made, "tool_versions": None} == {**shipped, "tool_versions": None}  # ... and others the same facts


def test_export_micro_without_an_int8_model_is_one_line(tmp_path):
    result = run_cli("export", "--micro", "--out", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "digits_int8.tflite not found" in result.stderr
    assert not (tmp_path / micro_export.MICRO_DIR).exists()
    mixed = run_cli("export", "--micro", "--fp16", "--out", str(tmp_path))
    assert mixed.returncode == 1 and "add --int8" in mixed.stderr


def test_c_preprocessing_matches_every_golden_case_on_the_host(golden, tmp_path):
    require_tools("cc", "make")
    make("host", tmp_path)
    ran = subprocess.run([str(tmp_path / "golden_harness")], input=harness_input(golden), capture_output=True, text=True,
                         timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert mismatched_cases(golden, ran.stdout) == {}


def test_a_changed_c_preprocessing_fails_the_golden_check(golden, tmp_path):
    """The check can fail: the same C with MNIST's stroke target moved from 2.6 to 2.2 px misses cases."""
    require_tools("cc", "make")
    sources = tmp_path / "micro"
    shutil.copytree(MICRO_SOURCES, sources, ignore=shutil.ignore_patterns("build"))
    code = sources / "digit_preprocessing.c"
    code.write_text(code.read_text().replace("#define STROKE_TARGET 2.6", "#define STROKE_TARGET 2.2"))
    make("host", tmp_path / "build", sources)
    ran = subprocess.run([str(tmp_path / "build" / "golden_harness")], input=harness_input(golden), capture_output=True,
                         text=True, timeout=120)
    failed = mismatched_cases(golden, ran.stdout)
    assert "hairline" in failed and len(failed) >= 3, failed  # the thin strokes the stroke fix thickens


@pytest.mark.slow
def test_c_preprocessing_is_within_one_grey_level_of_the_reader_on_the_mnist_test_digits(mnist, tmp_path):
    """Beyond the 36 golden cases: all 10,000 test digits as stored (light, 28x28) and printed dark on noisy paper
    (56x56), through the C port and through the reader's OpenCV normalization (docs/microcontrollers.md)."""
    require_tools("cc", "make")
    from edge_digits.measure.golden import to_bytes
    from edge_digits.measure.port_tolerance import rendered
    from edge_digits.runtime import normalize

    make("host", tmp_path)
    for rendering in ("mnist-28", "paper-56"):
        rng = np.random.default_rng(0)
        crops = [rendered(digit, rendering, rng) for digit in mnist.x_test]
        lines = "".join(f"{crop.shape[1]} {crop.shape[0]} {'dark' if dark else 'light'} {crop.tobytes().hex()}\n"
                        for crop, dark in crops)
        ran = subprocess.run([str(tmp_path / "golden_harness")], input=lines, capture_output=True, text=True, timeout=300)
        ported = np.stack([np.frombuffer(bytes.fromhex(pixels), np.uint8) for pixels in ran.stdout.split()[1::2]])
        reader = np.stack([to_bytes(normalize.normalize_crop(crop, ink="dark" if dark else "light")).ravel()
                           for crop, dark in crops])
        difference = np.abs(ported.astype(np.int16) - reader)
        print(f"{rendering}: {int(np.sum(difference.max(axis=1) > 0))} of {len(crops)} digits differ, "
              f"{int(np.sum(difference > 0))} bytes, by at most {int(difference.max())}")
        assert difference.max() <= 1 and np.mean(difference > 0) < 1e-4


API_CHECK = r"""
#include <stdio.h>
#include <string.h>
#include "digit_preprocessing.h"
static DigitWorkspace workspace;
static uint8_t frame[40 * 30], digit[DIGIT_SIZE * DIGIT_SIZE];
int main(void) {
    memset(digit, 7, sizeof(digit));
    printf("%d", digit_normalize_crop(NULL, 4, 4, 4, 1, &workspace, digit));
    printf(" %d", digit_normalize_crop(frame, 4, 4, 3, 1, &workspace, digit));
    printf(" %d", digit_normalize_crop(frame, DIGIT_MAX_SIDE + 1, 4, DIGIT_MAX_SIDE + 1, 1, &workspace, digit));
    printf(" %d", digit[0]);  /* refused calls leave out untouched */
    memset(frame, 200, sizeof(frame));
    printf(" %d", digit_normalize_crop(frame, 40, 30, 40, 1, &workspace, digit));
    printf(" %d", digit[0] + digit[400]);  /* a blank crop gives zeros */
    for (int y = 5; y < 25; y++) frame[y * 40 + 8 + y / 2] = frame[y * 40 + 9 + y / 2] = 20;  /* a slanted 1 ... */
    printf(" %d", digit_normalize_crop(frame + 2, 30, 30, 40, 1, &workspace, digit));  /* ... inside a wider frame */
    int ink = 0;
    for (int i = 0; i < DIGIT_SIZE * DIGIT_SIZE; i++) ink += digit[i] > 128;
    printf(" %d\n", ink > 20);
    return 0;
}
"""


def test_c_preprocessing_api_refuses_bad_arguments_and_reads_crops_inside_a_frame(tmp_path):
    require_tools("cc")
    (tmp_path / "api_check.c").write_text(API_CHECK)
    built = subprocess.run(["cc", "-std=c99", "-Wall", "-Werror", f"-I{MICRO_SOURCES}", str(tmp_path / "api_check.c"),
                            str(MICRO_SOURCES / "digit_preprocessing.c"), "-lm", "-o", str(tmp_path / "api_check")],
                           capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    ran = subprocess.run([str(tmp_path / "api_check")], capture_output=True, text=True, timeout=60)
    assert ran.stdout.split() == ["-1", "-1", "-2", "7", "1", "0", "0", "1"]


@pytest.mark.slow
def test_c_preprocessing_matches_every_golden_case_on_an_emulated_cortex_m4f(golden, tmp_path):
    require_tools("arm-none-eabi-gcc", "qemu-system-arm", "make")
    make("qemu", tmp_path)
    ran = subprocess.run([*QEMU, str(tmp_path / "golden_harness.elf")], input=harness_input(golden),
                         capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert mismatched_cases(golden, ran.stdout) == {}


def test_cortex_m4f_footprint_of_preprocessing_and_model(tmp_path):
    """Links startup alone, + preprocessing, + model array; the model adds its bytes to flash and nothing to RAM."""
    require_tools("arm-none-eabi-gcc", "arm-none-eabi-size", "make")
    sizes = {}
    for line in make("footprint", tmp_path).splitlines()[1:]:
        text, data, bss, _, _, name = line.split()
        sizes[re.search(r"footprint-(\w+)\.elf", name).group(1)] = (int(text), int(data), int(bss))
    model_bytes = (MICRO_SET / micro_export.MODEL_FILE).stat().st_size
    flash = {name: text + data for name, (text, data, bss) in sizes.items()}
    ram = {name: data + bss for name, (text, data, bss) in sizes.items()}
    assert model_bytes <= flash["model"] - flash["preprocessing"] < model_bytes + 256
    assert ram["model"] == ram["preprocessing"]
    assert 2_000 < flash["preprocessing"] - flash["baseline"] < 20_000
    print(f"Cortex-M4F -Os: preprocessing +{flash['preprocessing'] - flash['baseline']} B flash, "
          f"+{ram['preprocessing'] - ram['baseline']} B RAM; model +{flash['model'] - flash['preprocessing']} B flash")
