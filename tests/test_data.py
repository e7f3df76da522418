"""MNIST loading: resolution order, validation, preprocessing, the validation split."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_digits.build import mnist as data
from edge_digits.errors import EdgeDigitsError

REPO = Path(__file__).resolve().parent.parent


def write_npz(path, **overrides):
    arrays = {
        "x_train": np.zeros((20, 28, 28), np.uint8), "y_train": np.arange(20, dtype=np.uint8) % 10,
        "x_test": np.zeros((10, 28, 28), np.uint8), "y_test": np.arange(10, dtype=np.uint8),
    }
    arrays.update(overrides)
    np.savez(path, **arrays)
    return path


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No environment variable and an empty Keras home, so only what a test sets is found."""
    monkeypatch.delenv(data.ENVIRONMENT_VARIABLE, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    return tmp_path


def test_explicit_path_wins_over_environment_and_cache(isolated, monkeypatch):
    explicit = write_npz(isolated / "explicit.npz")
    environment = write_npz(isolated / "environment.npz")
    monkeypatch.setenv(data.ENVIRONMENT_VARIABLE, str(environment))
    assert data.resolve_mnist_path(explicit) == explicit
    assert data.resolve_mnist_path(None) == environment


def test_keras_cache_is_used_when_nothing_else_is_given(isolated):
    cache = data.keras_cache_path()
    cache.parent.mkdir(parents=True)
    write_npz(cache)
    assert data.resolve_mnist_path(None) == cache
    assert data.load_mnist().source == str(cache)


def test_nothing_local_means_download(isolated):
    assert data.resolve_mnist_path(None) is None


def test_missing_explicit_file_is_an_error_not_a_download(isolated, monkeypatch):
    with pytest.raises(EdgeDigitsError, match="not found.*--data"):
        data.resolve_mnist_path(isolated / "nope.npz")
    monkeypatch.setenv(data.ENVIRONMENT_VARIABLE, str(isolated / "also-nope.npz"))
    with pytest.raises(EdgeDigitsError, match=data.ENVIRONMENT_VARIABLE):
        data.resolve_mnist_path(None)


@pytest.mark.parametrize("overrides, message", [
    ({"x_train": np.zeros((20, 28, 27), np.uint8)}, "x_train should be uint8"),
    ({"x_test": np.zeros((10, 28, 28), np.float32)}, "x_test should be uint8"),
    ({"y_train": np.arange(19) % 10}, "y_train should be 20 integer labels"),
    ({"y_test": np.arange(10) + 5}, "labels must be digits"),
])
def test_malformed_arrays_are_rejected(isolated, overrides, message):
    with pytest.raises(EdgeDigitsError, match=message):
        data.load_mnist(write_npz(isolated / "bad.npz", **overrides))


def test_missing_keys_and_garbage_files_are_rejected(isolated):
    partial = isolated / "partial.npz"
    np.savez(partial, x_train=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(EdgeDigitsError, match="missing y_train"):
        data.load_mnist(partial)
    garbage = isolated / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(EdgeDigitsError, match="not an .npz archive"):
        data.load_mnist(garbage)


def write_bad_data(directory: Path) -> dict[str, Path]:
    """--data mistakes: a path that is not there, a text file, and an npz whose arrays are pickled objects."""
    text = directory / "README.md"
    text.write_text("# not MNIST\n")
    pickled = write_npz(directory / "pickled.npz", x_train=np.array([{"a": 1}] * 20, dtype=object))
    return {"missing": directory / "nope.npz", "text": text, "pickled": pickled}


@pytest.mark.parametrize("case, fragment", [("missing", "not found"), ("text", "not an .npz archive"),
                                            ("pickled", "x_train holds pickled Python objects")])
def test_check_mnist_file_refuses_bad_data_in_one_line(isolated, case, fragment):
    with pytest.raises(EdgeDigitsError) as raised:
        data.check_mnist_file(write_bad_data(isolated)[case])
    message = str(raised.value)
    assert fragment in message and "\n" not in message and "allow_pickle" not in message


def test_bad_data_is_refused_before_tensorflow_is_imported(isolated):
    """Every subcommand with --data checks it first: a typo costs no TensorFlow start-up."""
    script = (
        "import contextlib, io, json, sys\n"
        "from edge_digits.apps.cli import main\n"
        "results = []\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    error = io.StringIO()\n"
        "    with contextlib.redirect_stderr(error):\n"
        "        code = main(argv)\n"
        "    results.append([code, error.getvalue()])\n"
        "print(json.dumps({'results': results, 'tensorflow': 'tensorflow' in sys.modules}))\n"
    )
    bad = write_bad_data(isolated)
    commands = [["export", "--int8", "--out", str(isolated / "out"), "--data", str(path)] for path in bad.values()]
    commands += [["train", "--out", str(isolated / "m.keras"), "--data", str(bad["text"])],
                 ["parity", str(isolated), "--data", str(bad["pickled"])]]
    process = subprocess.run([sys.executable, "-c", script, json.dumps(commands)], capture_output=True, text=True,
                             cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120, check=False)
    assert process.returncode == 0, process.stderr[-2000:]
    report = json.loads(process.stdout.strip().splitlines()[-1])
    assert report["tensorflow"] is False
    for (code, stderr), argv in zip(report["results"], commands):
        assert code == 1 and stderr.startswith("edge-digits: error: ") and stderr.count("\n") == 1, (argv, stderr)
        assert "allow_pickle" not in stderr and Path(argv[-1]).name in stderr
    assert not (isolated / "out").exists() and not (isolated / "m.keras").exists()


def test_shared_mnist_loads_with_the_documented_counts(mnist):
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_test.shape == (10000, 28, 28)
    assert np.bincount(mnist.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_preprocess_scales_and_adds_channel():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8).repeat(14, 1).repeat(14, 2)
    prepared = data.preprocess(images)
    assert prepared.shape == (1, 28, 28, 1) and prepared.dtype == np.float32
    assert prepared.min() == 0.0 and prepared.max() == 1.0
    assert np.isclose(prepared[0, 14, 0, 0], 0.2)


def test_validation_split_is_seeded_disjoint_and_from_training_data():
    images, labels = np.arange(100).reshape(100, 1), np.arange(100) % 10
    first = data.split_validation(images, labels, 20, seed=3)
    again = data.split_validation(images, labels, 20, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    train_images, _, validation_images, _ = first
    assert len(validation_images) == 20 and len(train_images) == 80
    assert not set(train_images.ravel()) & set(validation_images.ravel())
    with pytest.raises(ValueError):
        data.split_validation(images, labels, 100, seed=0)


def test_balanced_sample_covers_every_class_equally():
    labels = np.repeat(np.arange(10), [50, 60, 70, 80, 90, 100, 110, 120, 130, 140])
    picked = data.balanced_sample(labels, 200, seed=1)
    assert len(picked) == len(set(picked.tolist())) == 200
    assert np.bincount(labels[picked]).tolist() == [20] * 10
    assert np.array_equal(picked, data.balanced_sample(labels, 200, seed=1))
