"""Bad files and models, fed to the command lines the way a user would: `python -m edge_digits.apps.cli ...`
and `python camera_demo.py ...` in subprocesses. Each must exit with its specific code, print exactly
one non-empty stderr line naming the problem, and never a traceback. (Usage mistakes such as bad
numbers are test_cli.py's; this file is about files, directories and models.)"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import REPO, run_cli
from export_support import copy_of, exported

from edge_digits.build.staging import PREFIX

pytestmark = pytest.mark.slow


# ------------------------------------------------------------------ helpers


def run_demo(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python camera_demo.py ARGS`, as a user would type it."""
    return subprocess.run([sys.executable, "camera_demo.py", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def stderr_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, prefix: str, *fragments: str) -> str:
    """Exit `code`, one stderr line starting with `prefix` and containing every fragment, no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = stderr_lines(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(prefix), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def cli_error(result, *fragments: str) -> str:
    return assert_one_line_error(result, 1, "edge-digits: error: ", *fragments)


def demo_error(result, *fragments: str) -> str:
    return assert_one_line_error(result, 1, "camera_demo: error: ", *fragments)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def flip_initializer_byte(path: Path) -> None:
    """Change one byte inside the largest weight tensor of an ONNX file: still loadable, different sha256."""
    import onnx

    weights = max(onnx.load(str(path)).graph.initializer, key=lambda tensor: len(tensor.raw_data)).raw_data
    data = bytearray(path.read_bytes())
    offset = data.find(weights)
    assert len(weights) > 100 and offset > 0
    data[offset + len(weights) // 2] ^= 0x01
    path.write_bytes(bytes(data))


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory, mnist_path) -> Path:
    """The shared tiny int8+fp16 export (trained and exported once per test session)."""
    return exported(tmp_path_factory.getbasetemp(), mnist_path)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    """A drawn digit in several encodings, plus damaged and fake image files."""
    root = tmp_path_factory.mktemp("images")
    page = np.full((90, 120), 250, np.uint8)
    cv2.putText(page, "4", (40, 72), cv2.FONT_HERSHEY_SIMPLEX, 2.2, 20, 7)
    files = {name: root / name for name in ("good.png", "good.jpg", "deep.png", "rgba.png", "tiny.png")}
    assert cv2.imwrite(str(files["good.png"]), page)
    assert cv2.imwrite(str(files["good.jpg"]), page)
    assert cv2.imwrite(str(files["deep.png"]), page.astype(np.uint16) * 257)  # 16-bit gray
    rgba = cv2.cvtColor(page, cv2.COLOR_GRAY2BGRA)
    rgba[20:70, 8:30] = (0, 0, 0, 0)  # a fully transparent black block left of the digit: paper once composited
    assert cv2.imwrite(str(files["rgba.png"]), rgba)
    assert cv2.imwrite(str(files["tiny.png"]), np.zeros((1, 1), np.uint8))
    png, jpg = files["good.png"].read_bytes(), files["good.jpg"].read_bytes()
    files["empty.png"] = root / "empty.png"
    files["empty.png"].write_bytes(b"")
    files["cut.png"] = root / "cut.png"
    files["cut.png"].write_bytes(png[: len(png) // 2])
    files["cut.jpg"] = root / "cut.jpg"
    files["cut.jpg"].write_bytes(jpg[: len(jpg) // 2])
    files["text.png"] = root / "text.png"
    files["text.png"].write_text("these are notes, not pixels\n")
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)  # 10 gigapixels declared, 1 KB on disk
    files["bomb.png"] = root / "bomb.png"
    files["bomb.png"].write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
                                  + png_chunk(b"IDAT", zlib.compress(b"\x00" * 100_001 * 4)) + png_chunk(b"IEND", b""))
    files["folder"] = root / "folder.png"
    files["folder"].mkdir()
    return files


def read(images, export_dir, *names: str, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return run_cli("read", *(str(images[name]) if name in images else name for name in names), "--model", str(export_dir), *extra)


# ------------------------------------------------------------------ read: image files


@pytest.mark.parametrize("name, fragments", [
    ("missing.png", ["image not found", "missing.png"]),
    ("empty.png", ["empty.png", "empty (0 bytes)"]),
    ("cut.png", ["cut.png", "truncated PNG"]),  # also: OpenCV's own WARN line must not leak onto stderr
    ("cut.jpg", ["cut.jpg", "truncated JPEG"]),
    ("text.png", ["text.png", "not an image"]),
    ("folder", ["no images", "folder.png"]),  # a folder is read image by image; an empty one is an error
])
def test_read_refuses_a_bad_image(images, export_dir, name, fragments):
    result = read(images, export_dir, name)
    cli_error(result, *fragments)
    assert result.stdout.strip() == ""


def test_read_refuses_a_decompression_bomb_fast(images, export_dir):
    started = time.monotonic()
    result = read(images, export_dir, "bomb.png")
    cli_error(result, "bomb.png", "100000x100000", "megapixels")
    assert time.monotonic() - started < 30  # decoding 10 gigapixels would take minutes or exhaust memory


def test_read_accepts_16_bit_alpha_and_one_pixel_images(images, export_dir):
    result = read(images, export_dir, "good.png", "deep.png", "rgba.png", "tiny.png", extra=("--json",))
    assert result.returncode == 0 and result.stderr == "", result.stderr
    readings = {Path(item["image"]).name: item for item in json.loads(result.stdout)}
    assert list(readings) == ["good.png", "deep.png", "rgba.png", "tiny.png"]
    assert readings["good.png"]["text"] != ""  # the drawn digit is found at all ...
    assert readings["deep.png"] == {**readings["good.png"], "image": readings["deep.png"]["image"]}  # ... identically in 16 bits
    assert readings["rgba.png"]["text"] == readings["good.png"]["text"]  # transparency becomes paper
    assert readings["tiny.png"]["text"] == "" and readings["tiny.png"]["digits"] == []


def test_read_keeps_going_past_bad_images(images, export_dir):
    result = read(images, export_dir, "good.png", "cut.png", "good.jpg", "missing.png")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stdout.count(":\n") == 2  # both good images were read and printed under their names
    assert f"{images['good.png']}:" in result.stdout and f"{images['good.jpg']}:" in result.stdout
    lines = stderr_lines(result)
    assert len(lines) == 3, result.stderr  # one line per bad image, then the summary
    assert "cut.png" in lines[0] and "truncated PNG" in lines[0]
    assert "missing.png" in lines[1] and "not found" in lines[1]
    assert lines[2] == "edge-digits: error: 2 of 4 images could not be read"


def test_read_with_tflite_prints_no_runtime_banner(images, export_dir):
    result = read(images, export_dir, "good.png", extra=("--backend", "tflite"))
    assert result.returncode == 0 and result.stderr == ""  # LiteRT's "Created XNNPACK delegate" line is held back
    assert result.stdout.strip() != ""


# ------------------------------------------------------------------ read: models


def test_tampered_model_is_refused_unless_no_verify(images, export_dir, tmp_path):
    model = copy_of(export_dir, tmp_path / "model")
    flip_initializer_byte(model / "digits_fp32.onnx")
    cli_error(read(images, model, "good.png"), "digits_fp32.onnx", "manifest.json", "sha256", "--no-verify")
    result = read(images, model, "good.png", extra=("--no-verify",))
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout.strip().isdigit()


@pytest.mark.parametrize("file, backend, fragment", [
    ("digits_int8.onnx", "onnx", "cannot load ONNX model"),
    ("digits_int8.tflite", "tflite", "cannot load TFLite model"),
])
def test_truncated_model_is_a_clear_load_error(images, export_dir, tmp_path, file, backend, fragment):
    model = tmp_path / file
    data = (export_dir / file).read_bytes()
    model.write_bytes(data[: len(data) // 3])
    cli_error(read(images, model, "good.png", extra=("--backend", backend, "--no-verify")), fragment, file)


def test_missing_model_directory(images, tmp_path):
    cli_error(read(images, tmp_path / "no-such-export", "good.png"), "model not found", "no-such-export")


def test_model_directory_without_models(images, tmp_path):
    cli_error(read(images, tmp_path, "good.png"), "no onnx model in", str(tmp_path))


# ------------------------------------------------------------------ export / train / evaluate / parity


def assert_nothing_written(root: Path, before: set[str]) -> None:
    after = {str(path.relative_to(root)) for path in root.rglob("*")}
    assert after == before, sorted(after ^ before)
    assert not [name for name in after if PREFIX in name]


@pytest.mark.parametrize("case", ["missing", "random_bytes", "zip_without_model", "out_under_a_file"])
def test_export_refuses_bad_sources_and_outputs(case, export_dir, tmp_path, mnist_path):
    model, out = tmp_path / "digits.keras", tmp_path / "out"
    if case == "missing":
        fragments = ["Keras model not found", "digits.keras"]
    elif case == "random_bytes":
        model.write_bytes(np.random.default_rng(1).bytes(5000))
        fragments = ["digits.keras", "not a .keras model"]
    elif case == "zip_without_model":
        import zipfile

        with zipfile.ZipFile(model, "w") as archive:
            archive.writestr("notes.txt", "a zip, but no Keras model inside")
        fragments = ["cannot load Keras model", "digits.keras"]
    else:
        shutil.copyfile(export_dir / "digits.keras", model)
        (tmp_path / "plain-file").write_text("a file, not a directory")
        out = tmp_path / "plain-file" / "export"
        fragments = ["plain-file", "not a directory"]
    before = {str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*")}
    cli_error(run_cli("export", "--model", str(model), "--out", str(out), "--data", str(mnist_path)), *fragments)
    assert_nothing_written(tmp_path, before)


@pytest.mark.parametrize("case", ["limit_too_small", "out_under_a_file"])
def test_train_refuses_before_training(case, tmp_path, mnist_path):
    out, extra = tmp_path / "m.keras", ["--limit", "500", "--epochs", "1"]
    if case == "limit_too_small":
        extra, fragments = ["--limit", "50", "--epochs", "1"], ["limit", ">= 100", "50"]
    else:  # a file two levels up (test_cli.py covers the file as the direct parent); was "File exists"
        (tmp_path / "runs").write_text("a file where the runs directory should be")
        out, fragments = tmp_path / "runs" / "deep" / "m.keras", ["runs", "is a file, not a directory"]
    before = {str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*")}
    started = time.monotonic()
    cli_error(run_cli("train", "--data", str(mnist_path), "--out", str(out), *extra), *fragments)
    assert time.monotonic() - started < 60  # refused up front, not after an epoch
    assert_nothing_written(tmp_path, before)


def test_evaluate_missing_model(tmp_path, mnist_path):
    cli_error(run_cli("evaluate", str(tmp_path / "gone.keras"), "--data", str(mnist_path)), "Keras model not found", "gone.keras")


def test_evaluate_an_onnx_file_renamed_keras(export_dir, tmp_path, mnist_path):
    fake = tmp_path / "renamed.keras"
    shutil.copyfile(export_dir / "digits_fp32.onnx", fake)
    cli_error(run_cli("evaluate", str(fake), "--data", str(mnist_path)), "renamed.keras", "not a .keras model")
    assert sorted(os.listdir(tmp_path)) == ["renamed.keras"]  # no plots written for a model that never loaded


def test_parity_missing_directory(tmp_path, mnist_path):
    cli_error(run_cli("parity", str(tmp_path / "nowhere"), "--data", str(mnist_path)), "export directory not found", "nowhere")


def test_parity_directory_without_the_keras_model(export_dir, tmp_path, mnist_path):
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copyfile(export_dir / "digits_fp32.onnx", partial / "digits_fp32.onnx")
    cli_error(run_cli("parity", str(partial), "--data", str(mnist_path)), "has no digits.keras")


def test_parity_refuses_a_tampered_artifact(export_dir, tmp_path, mnist_path):
    tampered = copy_of(export_dir, tmp_path / "tampered")
    flip_initializer_byte(tampered / "digits_int8.onnx")
    started = time.monotonic()
    result = run_cli("parity", str(tampered), "--data", str(mnist_path), "--limit", "200")
    cli_error(result, "digits_int8.onnx", "does not match manifest.json")
    assert "overall: PASS" not in result.stdout
    assert time.monotonic() - started < 30  # checksums are checked before TensorFlow and MNIST are loaded


# ------------------------------------------------------------------ camera_demo.py


def test_demo_camera_index_that_cannot_open():
    demo_error(run_demo("--headless", "--source", "7"), "cannot open camera 7")


def test_demo_missing_video_file(tmp_path):
    demo_error(run_demo("--headless", "--source", str(tmp_path / "holiday.mp4")), "source not found", "holiday.mp4")


@pytest.mark.parametrize("name, content", [("noise.mp4", None), ("notes.txt", b"shopping list\n")])
def test_demo_file_that_is_not_a_video(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if content is not None else np.random.default_rng(2).bytes(20_000))
    demo_error(run_demo("--headless", "--source", str(path)), "cannot open", name)


def test_demo_empty_directory(tmp_path):
    demo_error(run_demo("--headless", "--source", str(tmp_path)), "no images", str(tmp_path))


def test_demo_truncated_image(images, export_dir):
    result = run_demo("--headless", "--source", str(images["cut.png"]), "--model", str(export_dir))
    demo_error(result, "cut.png", "truncated PNG")
    assert result.stdout == ""


def test_demo_tampered_model_and_no_verify(images, export_dir, tmp_path):
    model = copy_of(export_dir, tmp_path / "model")
    flip_initializer_byte(model / "digits_fp32.onnx")
    demo_error(run_demo("--headless", "--source", str(images["good.png"]), "--model", str(model)), "manifest.json", "--no-verify")
    result = run_demo("--headless", "--source", str(images["good.png"]), "--model", str(model), "--no-verify")  # the flag it names exists
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert json.loads(result.stdout)["frame"] == 0
