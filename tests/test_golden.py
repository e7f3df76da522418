"""Golden vectors: the shipped file agrees with the code, and the documented ports agree with the file."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from conftest import EXPORT_DIR, REPO, run_cli

from edge_digits.measure import reference_port
from edge_digits.measure.golden import GOLDEN_NAME, MODEL_FILE, decode, read_golden, to_bytes
from edge_digits.runtime import normalize
from edge_digits.runtime.classifier import load_classifier
from edge_digits.runtime.manifest import sha256_file

GOLDEN = EXPORT_DIR / GOLDEN_NAME
MOBILE_DOC = REPO / "docs" / "mobile.md"
KOTLIN_HARNESS = """
import digits.DigitPreprocessing
import java.util.Base64

fun main() {
    val decoder = Base64.getDecoder()
    val encoder = Base64.getEncoder()
    while (true) {
        val line = readLine() ?: break
        if (line.isBlank()) continue
        val (width, height, ink, pixels) = line.trim().split(" ")
        val out = DigitPreprocessing.normalizeCrop(decoder.decode(pixels), width.toInt(), height.toInt(), ink == "dark")
        println(encoder.encodeToString(out))
    }
}
"""


@pytest.fixture(scope="module")
def golden() -> dict:
    return read_golden(GOLDEN)


def mismatches(golden: dict, normalize_case) -> dict[str, int]:
    """Cases whose bytes differ from the file's: name -> largest difference in grey levels."""
    found = {}
    for case in golden["cases"]:
        made = normalize_case(decode(case["crop"], case["width"], case["height"]), case["ink"]).astype(int)
        difference = int(np.abs(made - decode(case["normalized"], 28, 28)).max())
        if difference:
            found[case["name"]] = difference
    return found


def reader_normalization(crop: np.ndarray, ink: str) -> np.ndarray:
    return to_bytes(normalize.normalize_crop(crop, ink=ink))


def test_golden_file_is_small_and_covers_the_hard_cases(golden):
    assert GOLDEN.stat().st_size < 200_000
    names = [case["name"] for case in golden["cases"]]
    assert len(names) == len(set(names)) >= 30
    for needed in ("off-centre", "tall-1", "wide-0", "tiny", "touching-frame-usps", "noisy", "marker", "hairline",
                   "narrow-7", "empty"):
        assert needed in names
    assert {case["ink"] for case in golden["cases"]} == {"dark", "light"}


def test_reader_normalization_reproduces_every_golden_case(golden):
    assert mismatches(golden, reader_normalization) == {}


def test_int8_model_output_matches_the_golden_file(golden):
    model = EXPORT_DIR / MODEL_FILE
    assert golden["model"]["sha256"] == sha256_file(model), "export changed: run `edge-digits golden` to rewrite the file"
    images = np.stack([decode(case["normalized"], 28, 28) for case in golden["cases"]])[..., None] / np.float32(255)
    probabilities = load_classifier(model, backend="tflite").predict(images.astype(np.float32))
    assert np.array_equal(probabilities, np.array([case["probabilities"] for case in golden["cases"]], np.float32))
    assert [case["digit"] for case in golden["cases"]] == probabilities.argmax(axis=1).tolist()


def test_a_changed_normalization_fails_the_golden_check(golden, monkeypatch):
    monkeypatch.setattr(normalize, "BOX", 19)  # fit the ink into 19x19 instead of MNIST's 20x20
    failed = mismatches(golden, reader_normalization)
    assert len(failed) >= len(golden["cases"]) - 1  # all but the empty crop
    assert "empty" not in failed


def test_golden_command_regenerates_the_shipped_file(tmp_path, mnist_path):
    out = tmp_path / GOLDEN_NAME
    result = run_cli("golden", str(EXPORT_DIR), "--out", str(out), "--data", str(mnist_path))
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text()) == json.loads(GOLDEN.read_text())


def test_golden_command_refuses_a_missing_export(tmp_path):
    result = run_cli("golden", str(tmp_path / "nowhere"))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "not found" in result.stderr


def test_empty_input_reads_as_a_confident_one(golden):
    """Why docs/mobile.md tells apps never to classify an empty region: both int8 models say '1'."""
    empty = next(case for case in golden["cases"] if case["name"] == "empty")
    assert not decode(empty["normalized"], 28, 28).any()
    for model in (MODEL_FILE, "digits_int8_tasks.tflite"):
        probabilities = load_classifier(EXPORT_DIR / model, backend="tflite").predict(np.zeros((1, 28, 28, 1), np.float32))
        assert probabilities.argmax() == 1 and probabilities.max() > 0.8


def test_documented_algorithm_reproduces_every_golden_case(golden):
    """reference_port.py is the Kotlin/Swift of docs/mobile.md in numpy; it must match byte for byte."""
    assert mismatches(golden, lambda crop, ink: reference_port.normalize_crop(crop, ink == "dark")) == {}


def documented_block(language: str, first_line: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", MOBILE_DOC.read_text(), flags=re.S)
    matching = [block for block in blocks if block.startswith(first_line)]
    assert len(matching) == 1, f"docs/mobile.md should hold one {language} block starting {first_line!r}"
    return matching[0]


def test_swift_and_kotlin_preprocessing_are_in_the_docs():
    kotlin = documented_block("kotlin", "// DigitPreprocessing.kt")
    swift = documented_block("swift", "// DigitPreprocessing.swift")
    for name in ("percentile", "otsu", "trim", "strokeWidth", "widen", "fixStroke", "morphology", "linearTaps",
                 "areaTaps", "resizeBilinear", "resizeArea", "shift", "normalizeMask", "normalizeCrop"):
        assert f"fun {name}(" in kotlin and f"func {name}(" in swift, name


@pytest.mark.slow
def test_kotlin_preprocessing_in_the_docs_compiles_and_matches_the_golden_vectors(golden, tmp_path):
    if shutil.which("kotlinc") is None or shutil.which("java") is None:
        if os.environ.get("CI"):
            pytest.fail("kotlinc/java missing: .ci/run installs the Debian package kotlin")
        pytest.skip("kotlinc not installed (apt-get install kotlin)")
    (tmp_path / "DigitPreprocessing.kt").write_text(documented_block("kotlin", "// DigitPreprocessing.kt"))
    (tmp_path / "Harness.kt").write_text(KOTLIN_HARNESS)
    jar = tmp_path / "harness.jar"
    compiled = subprocess.run(["kotlinc", "DigitPreprocessing.kt", "Harness.kt", "-include-runtime", "-d", str(jar)],
                              cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert compiled.returncode == 0, compiled.stderr
    lines = "".join(f"{case['width']} {case['height']} {case['ink']} {case['crop']}\n" for case in golden["cases"])
    ran = subprocess.run(["java", "-jar", str(jar)], input=lines, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    outputs = ran.stdout.split()
    assert len(outputs) == len(golden["cases"])
    different = [case["name"] for case, output in zip(golden["cases"], outputs)
                 if base64.b64decode(output) != base64.b64decode(case["normalized"])]
    assert different == []
