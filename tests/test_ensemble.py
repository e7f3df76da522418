"""`edge-digits average`: one model whose output is the mean of several models' probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import run_cli
from edge_digits.build import ensemble, models
from edge_digits.build.keras_io import load_keras_model, predict_probabilities
from edge_digits.errors import EdgeDigitsError


def _two_edges(tmp_path):
    """Two untrained `edge` models with different, large output weights, saved: their predictions differ."""
    paths = []
    for seed in (0, 1):
        model = models.build_model("edge")
        kernel = model.layers[-1].kernel
        kernel.assign(np.random.default_rng(seed).normal(0.0, 20.0, tuple(kernel.shape)).astype(np.float32))
        path = tmp_path / f"edge{seed}.keras"
        model.save(path)
        paths.append(path)
    return paths


def test_the_average_outputs_the_mean_of_its_members_and_survives_saving(tmp_path):
    paths = _two_edges(tmp_path)
    out = ensemble.write_average(paths, tmp_path / "average.keras")
    images = np.random.default_rng(0).random((16, 28, 28, 1)).astype(np.float32)
    first, second = (predict_probabilities(load_keras_model(path), images) for path in paths)
    assert np.abs(first - second).max() > 0.005  # the members disagree, so the mean is not either of them
    average = load_keras_model(out)
    np.testing.assert_allclose(predict_probabilities(average, images), (first + second) / 2, atol=1e-6)
    assert average.count_params() == 2 * load_keras_model(paths[0]).count_params()
    assert [layer.name for layer in average.layers] == ["image", "member_0", "member_1", "probabilities"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["average.keras", "edge0.keras", "edge1.keras"]


def test_an_average_of_one_model_is_refused(tmp_path):
    paths = _two_edges(tmp_path)
    with pytest.raises(EdgeDigitsError, match="at least two"):
        ensemble.write_average(paths[:1], tmp_path / "average.keras")
    with pytest.raises(EdgeDigitsError, match="one of the models averaged"):
        ensemble.write_average(paths, paths[1])
    with pytest.raises(ValueError, match="at least two"):
        ensemble.average_models([load_keras_model(paths[0])])


def test_average_cli_refuses_bad_input_in_one_line(tmp_path):
    paths = [str(path) for path in _two_edges(tmp_path)]
    for args, fragment in (([paths[0], "--out", str(tmp_path / "a.keras")], "at least two"),
                           ([paths[0], str(tmp_path / "gone.keras"), "--out", str(tmp_path / "a.keras")], "not found"),
                           ([*paths, "--out", str(tmp_path / "a.onnx")], "must end in .keras"),
                           ([*paths, "--out", str(tmp_path / "no" / "a.keras")], "does not exist")):
        result = run_cli("average", *args)
        assert result.returncode == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "a.keras").exists()


def test_the_shipped_second_model_is_an_average_of_two_teachers():
    """export/second is built as docs/model.md says: `edge-digits average` of two `teacher` models."""
    from edge_digits.runtime.classifier import default_export_dir

    model = load_keras_model(default_export_dir() / "second" / "digits.keras")
    members = [layer for layer in model.layers if layer.name.startswith(ensemble.MEMBER_PREFIX)]
    assert len(members) == 2
    assert all(member.count_params() == models.build_model("teacher").count_params() for member in members)
