"""Architectures, augmentation and the training loop: shapes, MACs, learning, files, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from edge_digits.build import augment, models, train
from edge_digits.errors import EdgeDigitsError

# The tutorial CNN: (layer type, filters/units, kernel, activation, output shape, params).
TUTORIAL_LAYERS = [
    ("InputLayer", None, None, None, (28, 28, 1), 0),
    ("Conv2D", 25, (3, 3), "relu", (26, 26, 25), 250),
    ("MaxPooling2D", None, None, None, (13, 13, 25), 0),
    ("Conv2D", 64, (3, 3), "relu", (11, 11, 64), 14464),
    ("MaxPooling2D", None, None, None, (5, 5, 64), 0),
    ("Conv2D", 64, (3, 3), "relu", (3, 3, 64), 36928),
    ("MaxPooling2D", None, None, None, (1, 1, 64), 0),
    ("Flatten", None, None, None, (64,), 0),
    ("Dense", 64, None, "relu", (64,), 4160),
    ("Dense", 10, None, "softmax", (10,), 650),
]


def test_seed_matches_the_tutorial_layer_by_layer():
    model = models.build_model("seed")
    assert len(model.layers) == len(TUTORIAL_LAYERS)
    for layer, (kind, width, kernel, activation, shape, params) in zip(model.layers, TUTORIAL_LAYERS):
        assert layer.__class__.__name__ == kind
        assert tuple(layer.output.shape[1:]) == shape, layer.name
        assert layer.count_params() == params, layer.name
        if kind == "Conv2D":
            assert (layer.filters, tuple(layer.kernel_size), layer.padding) == (width, kernel, "valid")
        if kind == "Dense":
            assert layer.units == width
        if activation:
            assert layer.activation.__name__ == activation
        if kind == "MaxPooling2D":
            assert tuple(layer.pool_size) == (2, 2)
    assert model.count_params() == 56452
    assert models.count_macs(model) == 2231012


def test_edge_is_smaller_and_cheaper_than_seed():
    edge, seed = models.build_model("edge"), models.build_model("seed")
    assert models.count_macs(edge) < models.count_macs(seed)
    assert edge.count_params() <= 30000
    assert edge.inputs[0].name == models.INPUT_NAME or edge.layers[0].name == models.INPUT_NAME
    assert edge.layers[-1].name == models.OUTPUT_NAME
    assert edge.layers[-1].activation.__name__ == "softmax"
    assert tuple(edge.outputs[0].shape[1:]) == (10,)


def test_augment_keeps_shape_dtype_range_and_changes_images(mnist):
    images = mnist.x_train[:64]
    out = augment.augment_batch(images, np.random.default_rng(0))
    assert out.shape == images.shape and out.dtype == np.uint8
    assert np.mean(np.abs(out.astype(int) - images.astype(int))) > 5  # really perturbed
    assert out.reshape(64, -1).max(axis=1).min() > 100  # digits survive (none warped away)
    again = augment.augment_batch(images, np.random.default_rng(0))
    np.testing.assert_array_equal(out, again)  # seeded

    floats = (images.astype(np.float32) / 255.0)[..., None]
    out = augment.augment_batch(floats, np.random.default_rng(1))
    assert out.shape == floats.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not np.allclose(out, floats)


def test_fill_stretches_the_ink_box_to_the_fill_square(mnist):
    """Semeion-style digits: the ink's box becomes a centred FILL_SIDE square whatever its aspect."""
    images = mnist.x_train[:32]
    still = augment.AugmentConfig(rotation_degrees=0.0, scale_range=(1.0, 1.0), shear=0.0, shift_pixels=0.0,
                                  aspect_probability=0.0, dilate_probability=0.0, erode_probability=0.0,
                                  blur_probability=0.0, noise_probability=0.0, fill_probability=1.0,
                                  binarize_probability=0.0)
    out = augment.augment_batch(images, np.random.default_rng(0), still)
    for image in out:
        rows, cols = np.nonzero(image > 64)
        for low, high in ((rows.min(), rows.max()), (cols.min(), cols.max())):
            assert abs((high - low + 1) - augment.FILL_SIDE) <= 2 and abs((low + high) / 2 - 13.5) <= 1.5
    unchanged = augment.augment_batch(images, np.random.default_rng(0), augment.AugmentConfig(**{
        **still.__dict__, "fill_probability": 0.0}))
    np.testing.assert_array_equal(unchanged, images)  # the identity warp leaves digits alone


def test_binarize_shows_digits_as_the_reader_hands_them_to_the_model(mnist):
    """Thresholded and refitted by normalize_mask: the ink fills the 20x20 box along its longer side,
    centred by mass; the same call as the reader's pipeline makes for a mask."""
    from edge_digits.runtime.normalize import normalize_mask

    floats = mnist.x_train[:32].astype(np.float32) / 255.0
    for upscale in (1, 4):
        for plane in floats:
            shown = augment.as_read(plane, 0.5, upscale, 1.0)
            rows, cols = np.nonzero(shown > 0.3)
            assert abs(max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 - 20) <= 2
            mass = shown.sum()
            assert abs((shown.sum(axis=1) @ np.arange(28)) / mass - 14) <= 1 and abs((shown.sum(axis=0) @ np.arange(28)) / mass - 14) <= 1
        if upscale == 1:
            np.testing.assert_array_equal(shown, normalize_mask((plane > 0.5).astype(np.uint8)))
    blank = np.zeros((28, 28), np.float32)
    np.testing.assert_array_equal(augment.as_read(blank, 0.5, 4, 1.0), blank)
    still = augment.AugmentConfig(rotation_degrees=0.0, scale_range=(1.0, 1.0), shear=0.0, shift_pixels=0.0,
                                  aspect_probability=0.0, dilate_probability=0.0, erode_probability=0.0,
                                  blur_probability=0.0, noise_probability=0.0, fill_probability=0.0,
                                  binarize_probability=1.0)
    out = augment.augment_batch(floats, np.random.default_rng(0), still)
    assert all(not np.array_equal(a, b) for a, b in zip(out, floats))


@pytest.mark.parametrize("bad", [np.zeros((4, 28, 27), np.uint8), np.zeros((4, 28, 28, 3), np.uint8), np.zeros((4, 28, 28), np.int32)])
def test_augment_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        augment.augment_batch(bad, np.random.default_rng(0))


@pytest.mark.slow
def test_short_training_learns_and_writes_three_files(mnist_path, tmp_path):
    out = tmp_path / "runs" / "quick.keras"
    result = train.train_model("seed", epochs=2, limit=3000, data_path=mnist_path, out=out, verbose=0)
    assert result.best_val_accuracy > 0.7
    assert result.epochs_run == 2
    for path in (result.model_path, result.history_path, result.plot_path):
        assert path.is_file() and path.stat().st_size > 0
    assert result.history_path.name == "quick.history.json" and result.plot_path.name == "quick.curves.png"
    history = json.loads(result.history_path.read_text())
    assert history["arch"] == "seed" and history["batch_size"] == 32 and history["macs"] == 2231012
    assert history["validation_size"] == 600 and history["train_size"] == 2400
    assert set(history["history"]) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    first = history["selected_from_epoch"]
    assert first == 2 and history["best_epoch"] >= first  # epoch 1 of 2 is not in the last third
    assert history["best_val_accuracy"] == max(history["history"]["val_accuracy"][first - 1 :])
    assert history["kept"] in ("average of epochs 2-2", f"epoch {history['best_epoch']}")
    assert result.kept_val_accuracy == max(history["best_val_accuracy"], history["averaged_val_accuracy"])
    assert sorted(p.name for p in out.parent.iterdir()) == ["quick.curves.png", "quick.history.json", "quick.keras"]


def test_keep_best_averages_the_last_third_and_keeps_the_best_epoch():
    model = models.build_model("seed")
    models.compile_model(model)
    keep = train.KeepBest(first_epoch=2)
    keep.set_model(model)
    start = model.get_weights()
    for epoch, (shift, accuracy) in enumerate([(100.0, 0.9), (1.0, 0.5), (2.0, 0.7), (6.0, 0.6)]):
        model.set_weights([w + shift for w in start])
        keep.on_epoch_end(epoch, {"val_accuracy": accuracy})
    assert keep.best_epoch == 3 and keep.best_accuracy == 0.7, "epoch 1 is before the last third"
    np.testing.assert_allclose(keep.best_weights[0], start[0] + 2.0)
    for averaged, original in zip(keep.average(), start):
        np.testing.assert_allclose(averaged, original + 3.0, rtol=1e-5, atol=1e-5)  # (1 + 2 + 6) / 3
        assert averaged.dtype == original.dtype


def test_selection_keeps_only_the_last_third_of_the_schedule():
    assert [train.selection_start(epochs) for epochs in (1, 2, 3, 10, 22, 36)] == [1, 2, 3, 7, 15, 25]
    for epochs in range(1, 60):  # never empty, never more than a third (rounded up), always ends at the end
        assert 1 <= train.selection_start(epochs) <= epochs
        assert epochs - train.selection_start(epochs) + 1 == math.ceil(epochs / 3)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"epochs": 0},
        {"batch_size": 0},
        {"limit": 5},
        {"seed": -1},
        {"arch": "nope"},
        {"validation_size": 0},
        {"out": "model.h5"},
        {"limit": 10**6},
    ],
)
def test_bad_arguments_raise_one_line_errors(kwargs, mnist_path, tmp_path):
    kwargs.setdefault("out", tmp_path / "m.keras")
    if not str(kwargs["out"]).startswith(str(tmp_path)):
        kwargs["out"] = tmp_path / kwargs["out"]
    with pytest.raises(EdgeDigitsError) as error:
        train.train_model(data_path=mnist_path, verbose=0, **kwargs)
    assert "\n" not in str(error.value)


def test_unwritable_output_fails_before_training(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setattr(train.data, "load_mnist", lambda *a, **k: pytest.fail("loaded data before checking --out"))
    with pytest.raises(EdgeDigitsError, match="cannot write"):
        train.train_model(out=blocker / "m.keras", verbose=0)


def test_interrupted_write_keeps_old_files_and_leaves_no_temp_files(tmp_path, monkeypatch):
    paths = train.output_paths(tmp_path / "digits.keras")
    for path in paths:
        path.write_text(f"old {path.name}")

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train.plots, "plot_training_curves", interrupt)
    summary = {"arch": "seed", "seed": 0, "best_val_accuracy": 0.5, "best_epoch": 1, "history": {"loss": [1.0]}}
    with pytest.raises(KeyboardInterrupt):
        train.write_outputs(models.build_model("seed"), summary, paths)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
    for path in paths:
        assert path.read_text() == f"old {path.name}"


@pytest.mark.parametrize("warmup_epochs", [0, 1])
def test_cosine_schedule_peaks_at_the_recipe_rate(warmup_epochs):
    from dataclasses import replace

    from edge_digits.build.train import RECIPES, learning_rate_schedule

    recipe = replace(RECIPES["edge"], warmup_epochs=warmup_epochs, learning_rate=2e-3)
    schedule = learning_rate_schedule(recipe, epochs=10, steps_per_epoch=100)
    rates = [float(schedule(step)) for step in (0, 100, 500, 999)]
    peak = rates[1] if warmup_epochs else rates[0]
    assert peak == pytest.approx(2e-3, rel=0.02)
    assert rates[0] <= peak and rates[-1] < 0.05 * peak


def test_train_help_states_each_recipes_epochs():
    from edge_digits.apps.cli import build_parser

    train_parser = build_parser()._subparsers._group_actions[0].choices["train"]
    help_text = next(action.help for action in train_parser._actions if "--epochs" in action.option_strings)
    for arch, recipe in train.RECIPES.items():
        assert f"{arch} {recipe.epochs}" in help_text
