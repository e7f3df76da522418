"""Hand styles MNIST lacks: the drawn strokes land where they should, training adds them only to 1s and
7s, and the shipped reader reads them (measured with the curved renderer training never uses)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_reader import reader  # noqa: F401 (fixture)

from edge_digits.build import augment, handstyle
from edge_digits.measure.crops import (
    HAND_LAYOUTS,
    HAND_STYLES,
    crop_accuracy,
    make_style_crops,
)

# trained without hand styles, the previous `edge` read 52.7% / 66.7% of flagged 1s and 93.7% / 97.0% of crossed
# 7s (mnist-28 / crop-200, `score --styles 300`), the seed CNN 64.7% / 78.7% and 80.0% / 84.0%
STYLE_ACCURACY = {"flagged-1": 0.85, "crossed-7": 0.96}


def _ink(image: np.ndarray) -> np.ndarray:
    return image > handstyle.INK


def _a_digit(mnist, digit: int) -> np.ndarray:
    return mnist.x_test[np.flatnonzero(mnist.y_test == digit)[0]]


@pytest.mark.parametrize("curved", [False, True])
def test_flag_goes_down_and_left_from_the_top_of_a_one(mnist, curved):
    one = _a_digit(mnist, 1)
    rows, cols = np.nonzero(_ink(one))
    for seed in range(10):
        flagged = handstyle.flag_one(one, np.random.default_rng(seed), curved=curved)
        assert flagged.shape == one.shape and flagged.dtype == np.uint8
        assert (flagged >= one).all(), "strokes only add ink"
        new_rows, new_cols = np.nonzero(_ink(flagged) & ~_ink(one))
        upper = new_rows < (rows.min() + rows.max()) / 2  # the flag; a foot, when drawn, is at the base
        assert upper.sum() >= 4, "a flag was drawn"
        assert new_cols[upper].min() < cols[rows <= rows.min() + 1].min(), "it reaches left of the top"
        assert (new_rows[~upper] >= rows.max() - 3).all(), "nothing else but a foot"


def test_crossbar_crosses_the_stem_of_a_seven(mnist):
    seven = _a_digit(mnist, 7)
    rows, cols = np.nonzero(_ink(seven))
    crossed = handstyle.cross_seven(seven, np.random.default_rng(0))
    new_rows, new_cols = np.nonzero(_ink(crossed) & ~_ink(seven))
    assert new_rows.size >= 3
    middle = rows.min() + 0.3 * (rows.max() - rows.min()) <= new_rows.mean() <= rows.min() + 0.75 * (rows.max() - rows.min())
    stem = cols[np.abs(rows - int(round(new_rows.mean()))) <= 1].mean()
    assert middle and new_cols.min() < stem < new_cols.max(), "the bar crosses the stem, a little below mid-height"


def test_blank_images_stay_blank():
    blank = np.zeros((28, 28), np.uint8)
    for draw in (handstyle.flag_one, handstyle.cross_seven):
        assert not draw(blank, np.random.default_rng(0)).any()


def test_training_styles_touch_only_ones_and_sevens(mnist):
    images, labels = mnist.x_train[:600], mnist.y_train[:600]
    out = augment.add_hand_styles(images, labels, np.random.default_rng(0), probability=1.0)
    changed = (out != images).any(axis=(1, 2))
    assert set(np.unique(labels[changed])) == {1, 7}
    assert changed[np.isin(labels, (1, 7))].mean() > 0.95
    assert not (augment.add_hand_styles(images, labels, np.random.default_rng(0), probability=0.0) != images).any()
    again = augment.add_hand_styles(images, labels, np.random.default_rng(3))
    assert (again == augment.add_hand_styles(images, labels, np.random.default_rng(3))).all(), "seeded"
    share = (again != images).any(axis=(1, 2))[np.isin(labels, (1, 7))].mean()
    assert abs(share - augment.STYLE_PROBABILITY) < 0.12


@pytest.mark.parametrize("bad, message", [(np.zeros((2, 28, 28), np.float32), "uint8"), (np.zeros((2, 16, 16), np.uint8), "28")])
def test_add_hand_styles_rejects_bad_input(bad, message):
    with pytest.raises(ValueError, match=message):
        augment.add_hand_styles(bad, np.ones(2, int), np.random.default_rng(0))
    with pytest.raises(ValueError, match="labels"):
        augment.add_hand_styles(np.zeros((2, 28, 28), np.uint8), np.ones(3, int), np.random.default_rng(0))


@pytest.mark.parametrize("style", list(HAND_STYLES))
def test_reader_reads_flagged_ones_and_crossed_sevens(style, reader, mnist_path):  # noqa: F811
    crops = make_style_crops(150, seed=1, data_path=mnist_path)
    for layout in HAND_LAYOUTS:
        images, labels = crops[f"{style} {layout}"]
        accuracy = crop_accuracy({style: images}, labels, reader)[style]
        assert accuracy >= STYLE_ACCURACY[style], f"{style} {layout}: {accuracy:.1%}"


def test_score_styles_from_the_command_line(mnist_path):
    from conftest import run_cli

    result = run_cli("score", "--styles", "20", "--json", env={"EDGE_DIGITS_MNIST": str(mnist_path)})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)["styles"]
    assert list(report["accuracy"]) == [f"{style} {layout}" for style in HAND_STYLES for layout in HAND_LAYOUTS]
    assert all(0.0 <= value <= 1.0 for value in report["accuracy"].values())
