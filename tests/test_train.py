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


def _ink_overlap(first: np.ndarray, second: np.ndarray) -> float:
    """Intersection over union of two 28x28 digits' ink (> 0.5)."""
    first, second = first > 0.5, second > 0.5
    return float((first & second).sum() / max(1, (first | second).sum()))


def test_scans_show_low_resolution_crops_as_the_reader_hands_them_to_the_model(mnist):
    """A Semeion-style 16x16 stretched bitmap and an optdigits-style 8x8 block count, read by the shipped
    reader: the 28x28 image its model gets must match as_scanned's drawing of the same digit far
    better (Semeion) or at least as well (optdigits) as the plain as_read view the edge recipe trains on."""
    from edge_digits.measure.crops import STYLES
    from edge_digits.runtime.reader import DigitReader

    reader = DigitReader(second_model=None)
    seen: list[np.ndarray] = []
    predict = reader.classifier.predict
    reader.classifier.predict = lambda images: (seen.append(images), predict(images))[1]
    for style, scan, margin in (("semeion-16", (16, True, "bits"), 0.15), ("optdigits-8", (8, False, "counts"), 0.0)):
        scanned, plain = [], []
        for digit in mnist.x_train[:40]:
            seen.clear()
            reader.read(STYLES[style](digit))
            assert len(seen) == 1 and len(seen[0]) == 1, style
            view, plane = seen[0][0].reshape(28, 28), digit.astype(np.float32) / 255.0
            scanned.append(_ink_overlap(view, augment.as_scanned(plane, *scan, 0.25, 1.0)))
            plain.append(_ink_overlap(view, augment.as_read(plane, 0.25, 4, 1.0)))
        assert np.mean(scanned) >= 0.75, (style, np.mean(scanned))
        assert np.mean(scanned) >= np.mean(plain) + margin, (style, np.mean(scanned), np.mean(plain))


def test_scan_probability_zero_leaves_the_edge_recipes_batches_unchanged(mnist):
    """The teacher's scans must not shift the random stream of the recipes that do not use them."""
    images = mnist.x_train[:128]
    plain = augment.augment_batch(images, np.random.default_rng(3))
    np.testing.assert_array_equal(plain, augment.augment_batch(images, np.random.default_rng(3),
                                                               augment.AugmentConfig(scan_probability=0.0)))
    scanned = augment.augment_batch(images, np.random.default_rng(3), augment.AugmentConfig(scan_probability=1.0))
    assert all(not np.array_equal(a, b) for a, b in zip(scanned, plain))


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
    assert history["hand_styles"] == "classic"
    assert sorted(p.name for p in out.parent.iterdir()) == ["quick.curves.png", "quick.history.json", "quick.keras"]


def test_train_help_states_each_recipes_epochs():
    from conftest import cli_options

    help_text = cli_options("train")["epochs"].help
    for arch, recipe in train.RECIPES.items():
        assert f"{arch} {recipe.epochs}" in help_text


def test_train_help_names_each_architecture():
    from conftest import cli_options

    help_text = cli_options("train")["arch"].help
    for arch in models.ARCHITECTURES:
        assert f"{arch} (" in help_text


def test_train_help_offers_each_hand_style_set():
    from conftest import cli_options

    assert tuple(cli_options("train")["hand_styles"].choices) == augment.HAND_STYLE_SETS


@pytest.mark.parametrize("arch, styles, message", [("edge", "cursive", "unknown hand styles 'cursive'"),
                                                   ("seed", "all", "'seed' recipe does not use")])
def test_hand_styles_that_cannot_apply_are_refused(mnist_path, tmp_path, arch, styles, message):
    with pytest.raises(EdgeDigitsError, match=message):
        train.train_model(arch, epochs=1, limit=500, data_path=mnist_path, out=tmp_path / "m.keras", hand_styles=styles)
    assert not list(tmp_path.iterdir())
