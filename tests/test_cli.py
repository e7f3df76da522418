"""The CLI's error contract: bad input is one line on stderr, a non-zero exit, never a traceback."""

from __future__ import annotations

import pytest
from conftest import run_cli


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_help_lists_every_subcommand():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("train", "average", "evaluate", "export", "export-field", "parity", "read", "bench"):
        assert command in result.stdout


@pytest.mark.parametrize("args, fragments", [
    (["train", "--epochs", "0"], ["--epochs", "at least 1"]),
    (["train", "--epochs", "-3"], ["--epochs"]),
    (["train", "--batch-size", "many"], ["--batch-size", "whole number"]),
    (["train", "--scans", "1.5"], ["--scans", "between 0 and 1"]),
    (["read", "x.png", "--min-confidence", "2"], ["--min-confidence", "between 0 and 1"]),
    (["export", "--calibration", "0"], ["--calibration", "at least 1"]),
    (["frobnicate"], ["invalid choice"]),
    (["train", "--arch", "field", "--teacher", "t.keras"], ["--teacher", "--arch field draws its own strings"]),
    (["train", "--arch", "edge", "--choose-on", "cheques"], ["--choose-on", "belong to --arch field"]),
    (["read", "--field", "--field-model", "/nonexistent/field.onnx", "x.png"], ["field model not found"]),
])
def test_usage_mistakes(args, fragments):
    assert_one_line_error(run_cli(*args), *fragments)


def test_scans_need_an_augmenting_recipe(tmp_path, mnist_path):
    result = run_cli("train", "--arch", "seed", "--scans", "0.1", "--data", str(mnist_path), "--out", str(tmp_path / "m.keras"))
    assert_one_line_error(result, "scans are part of augmentation", "'seed'")
    assert not (tmp_path / "m.keras").exists()


def test_unknown_architecture(tmp_path):
    assert_one_line_error(run_cli("train", "--arch", "resnet", "--out", str(tmp_path / "m.keras")), "unknown --arch 'resnet'", "seed")


def test_missing_data_file(tmp_path):
    result = run_cli("train", "--data", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "m.keras"))
    assert_one_line_error(result, "MNIST file not found", "EDGE_DIGITS_MNIST")


def test_malformed_data_file(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an npz at all")
    assert_one_line_error(run_cli("evaluate", str(tmp_path / "m.keras"), "--data", str(bad)), "bad.npz", "not an .npz archive")
    result = run_cli("train", "--data", str(bad), "--limit", "500", "--epochs", "1", "--out", str(tmp_path / "m.keras"))
    assert_one_line_error(result, "bad.npz", "not an .npz archive")


def test_unwritable_output(tmp_path, mnist_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_cli("train", "--data", str(mnist_path), "--limit", "500", "--epochs", "1", "--out", str(blocker / "m.keras"))
    assert_one_line_error(result, str(blocker))
    assert not list(tmp_path.glob("**/*.keras"))


def test_evaluate_rejects_a_corrupt_model(tmp_path, mnist_path):
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"\x00\x01garbage" * 100)
    assert_one_line_error(run_cli("evaluate", str(corrupt), "--data", str(mnist_path)), "corrupt.keras")


def test_debug_flag_shows_the_traceback(tmp_path):
    result = run_cli("--debug", "train", "--arch", "resnet", "--out", str(tmp_path / "m.keras"))
    assert result.returncode != 0 and "Traceback" in result.stderr
