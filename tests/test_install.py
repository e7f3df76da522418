"""Installed use: the wheel carries its models, a runtime-only venv reads digits from any directory,
and commands that need TensorFlow say which extra to install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import EXPORT_DIR, REPO

SAMPLE = REPO / "examples" / "sample.jpg"
HINT = 'pip install "edge-digits[train]"'
# Run the CLI as on a runtime-only install: TensorFlow (or KERAS) made unimportable.
BLOCKED = "import sys; sys.modules[{name!r}] = None; from edge_digits.apps.cli import main; sys.exit(main(sys.argv[1:]))"


def run_without(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKED.format(name=module), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def assert_hint(result: subprocess.CompletedProcess, command: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0
    assert len(lines) == 1, result.stderr
    assert f"'{command}' needs the build tier" in lines[0] and HINT in lines[0]


@pytest.mark.parametrize("argv", [["train"], ["average", "export/digits.keras", "export/second/digits.keras", "--out",
                                             "runs/average.keras"], ["evaluate", "export/digits.keras"],
                                  ["export", "--int8"], ["parity"], ["bench"]])
def test_build_tier_commands_without_tensorflow_print_one_hint(argv):
    assert_hint(run_without("tensorflow", *argv), argv[0])


def test_a_build_tier_module_missing_later_gives_the_same_hint():
    # TensorFlow is there, so the early check passes; evaluate's `import keras` then fails
    assert_hint(run_without("keras", "evaluate", str(EXPORT_DIR / "digits.keras")), "evaluate")


def test_runtime_commands_do_not_ask_for_the_build_tier():
    result = run_without("tensorflow", "read", str(SAMPLE))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_model_lookup_order_is_variable_then_local_export_then_the_package(tmp_path, monkeypatch):
    from edge_digits.errors import EdgeDigitsError
    from edge_digits.runtime.classifier import EXPORT_DIR_VARIABLE, default_export_dir, packaged_export_dir

    chosen, local = tmp_path / "chosen", tmp_path / "work" / "export"
    for directory in (chosen, local):
        directory.mkdir(parents=True)
        shutil.copy2(EXPORT_DIR / "manifest.json", directory / "manifest.json")
    monkeypatch.chdir(local.parent)
    monkeypatch.setenv(EXPORT_DIR_VARIABLE, str(chosen))
    assert default_export_dir() == chosen
    monkeypatch.delenv(EXPORT_DIR_VARIABLE)
    assert default_export_dir().resolve() == local
    (local / "manifest.json").unlink()  # an export/ without a manifest is someone else's folder
    assert default_export_dir() == packaged_export_dir() == EXPORT_DIR  # a checkout's own copy is its export/
    monkeypatch.setenv(EXPORT_DIR_VARIABLE, str(tmp_path / "missing"))
    with pytest.raises(EdgeDigitsError, match=r"EDGE_DIGITS_EXPORT.*holds no manifest.json"):
        default_export_dir()


def test_the_wheel_carries_the_runtime_artifacts_and_not_the_build_tier_files(built_wheel):
    names = set(zipfile.ZipFile(built_wheel).namelist())
    runtime = [path.relative_to(EXPORT_DIR).as_posix() for pattern in ("*.onnx", "*.tflite", "second/*.onnx", "second/*.tflite",
                                                                       "field/*.onnx", "field/*.tflite")
               for path in EXPORT_DIR.glob(pattern)]
    assert any(name.startswith("field/") for name in runtime), "export/ holds no field model"
    assert runtime, "export/ holds no runtime model"
    assert any(name.startswith("second/") for name in runtime), "export/ holds no second model for the reader"
    for name in [*runtime, "manifest.json", "labels.txt", "second/manifest.json", "second/labels.txt",
                 "manifest.json.minisig", "second/manifest.json.minisig", "field/manifest.json"]:  # each set with its signature
        assert f"edge_digits/export/{name}" in names
    assert "edge_digits/keys/edge-digits.pub" in names  # the public key `--trust project` names
    shipped = [name for name in names if name.startswith("edge_digits/export/")]
    assert not [name for name in shipped if name.endswith((".keras", ".png", ".history.json"))], shipped


def clean_environment() -> dict[str, str]:
    """This environment without $PYTHONPATH (which would show pip and Python the checkout) or $EDGE_DIGITS_EXPORT."""
    return {key: value for key, value in os.environ.items() if key not in ("EDGE_DIGITS_EXPORT", "PYTHONPATH")}


def in_venv(venv: Path, *command: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run a program from `cwd` (outside the repository) in clean_environment()."""
    return subprocess.run(list(command), cwd=cwd, env=clean_environment(), capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def runtime_venv(built_wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed WITHOUT extras (pip may reuse its cache)."""
    venv = tmp_path_factory.mktemp("runtime-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    result = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                             str(built_wheel)], cwd=venv.parent, env=clean_environment(), capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr
    return venv


def reference_text() -> str:
    """The sample's reading by this checkout's code and export/."""
    from edge_digits.runtime.imageio import load_image
    from edge_digits.runtime.reader import DigitReader

    return DigitReader(model=EXPORT_DIR).read(load_image(SAMPLE)).text


def test_installed_runtime_tier_works_outside_the_repository(runtime_venv, tmp_path):
    python = str(runtime_venv / "bin" / "python")
    assert in_venv(runtime_venv, python, "-c", "import tensorflow", cwd=tmp_path).returncode != 0, \
        "TensorFlow is installed in the runtime-only venv"
    expected = reference_text()

    read = in_venv(runtime_venv, str(runtime_venv / "bin" / "edge-digits"), "read", str(SAMPLE), cwd=tmp_path)
    assert read.returncode == 0, read.stderr
    assert read.stdout.strip() == expected
    signed = in_venv(runtime_venv, str(runtime_venv / "bin" / "edge-digits"), "read", str(SAMPLE), "--trust", "project",
                     cwd=tmp_path)  # the packaged sets, checked against the packaged project key
    assert signed.returncode == 0 and signed.stdout.strip() == expected, signed.stderr

    script = "from edge_digits import DigitReader; r = DigitReader(); print(r.classifier.path); print(r.second_opinion.model.path)"
    loaded = in_venv(runtime_venv, python, "-c", script, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    model, second = map(Path, loaded.stdout.split())
    assert runtime_venv in model.parents and model.parent.name == "export", model  # the package's own copy
    assert second == model.parent / "second" / model.name, second  # and its second model, verified by its own manifest

    frames = tmp_path / "frames"
    frames.mkdir()
    for name in ("a", "b", "c", "d"):
        shutil.copy2(SAMPLE, frames / f"{name}.jpg")
    camera = in_venv(runtime_venv, str(runtime_venv / "bin" / "edge-digits"), "camera", "--headless", "--source", str(frames), "--max-frames", "3", cwd=tmp_path)
    assert camera.returncode == 0, camera.stderr
    import json

    records = [json.loads(line) for line in camera.stdout.splitlines()]
    assert [record["raw_text"] for record in records] == [expected] * 3

    export = in_venv(runtime_venv, str(runtime_venv / "bin" / "edge-digits"), "export", cwd=tmp_path)
    assert_hint(export, "export")


def test_installed_copy_is_verified_against_its_manifest(runtime_venv, tmp_path):
    located = in_venv(runtime_venv, str(runtime_venv / "bin" / "python"), "-c",
                      "from edge_digits.runtime.classifier import packaged_export_dir; print(packaged_export_dir())", cwd=tmp_path)
    packaged = Path(located.stdout.strip())
    model = packaged / "digits_fp32.onnx"
    original = model.read_bytes()
    try:
        model.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # one flipped bit
        result = in_venv(runtime_venv, str(runtime_venv / "bin" / "edge-digits"), "read", str(SAMPLE), cwd=tmp_path)
    finally:
        model.write_bytes(original)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    assert "does not match manifest.json" in lines[0]
