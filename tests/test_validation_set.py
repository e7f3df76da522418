"""validation_set: the held-out training digits of a seed, as the test split score suites are built from."""

from __future__ import annotations

import inspect

import numpy as np

from edge_digits.build.mnist import load_mnist, split_validation
from edge_digits.measure.validation_set import VALIDATION_SIZE, main


def test_the_test_arrays_are_the_validation_digits_training_holds_out(tmp_path, mnist_path, mnist):
    from edge_digits.build import train

    assert inspect.signature(train.train_model).parameters["validation_size"].default == VALIDATION_SIZE
    out = tmp_path / "validation.npz"
    assert main(["--seed", "1", "--out", str(out), "--data", str(mnist_path)]) == 0
    written = load_mnist(out)
    _, _, images, labels = split_validation(mnist.x_train, mnist.y_train, VALIDATION_SIZE, 1)
    assert np.array_equal(written.x_test, images) and np.array_equal(written.y_test, labels)
    assert np.array_equal(written.x_train, mnist.x_train)
    other = tmp_path / "seed2.npz"
    assert main(["--seed", "2", "--out", str(other), "--data", str(mnist_path)]) == 0
    assert not np.array_equal(load_mnist(other).x_test, written.x_test)


def test_bad_data_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "validation.npz"
    assert main(["--out", str(out), "--data", str(tmp_path / "missing.npz")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and "MNIST file not found" in errors[0]
    assert list(tmp_path.iterdir()) == []
