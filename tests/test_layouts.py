"""Page layouts that lose digits: stray marks beside a row, scattered groups, touching pairs and a
lone digit on a large page; the mechanisms on drawn shapes, then the reader on generated scenes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_digits.runtime.reader import order_lines
from edge_digits.runtime.strays import outline, stray_marks

ROOT = Path(__file__).resolve().parent.parent


def _blobs(mask: np.ndarray):
    """Boxes (x, y, w, h) and ink areas of a mask's components, left to right, and each one's outline length."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    order = 1 + np.argsort(stats[1:, 0])
    return stats[order, :4], stats[order, 4], lambda index: outline(((labels == order[index]) * 255).astype(np.uint8))


def _row_of_digits(mask: np.ndarray, left: int, top: int, height: int = 60, thickness: int = 8) -> None:
    """A row of a 0, a 2-like hook and an 8-like pair of loops, each `height` tall."""
    half = height // 2
    cv2.ellipse(mask, (left + 18, top + half), (16, half), 0, 0, 360, 255, thickness)
    cv2.ellipse(mask, (left + 70, top + 16), (16, 14), 0, 180, 400, 255, thickness)
    cv2.line(mask, (left + 82, top + 24), (left + 56, top + height), 255, thickness)
    cv2.line(mask, (left + 56, top + height), (left + 88, top + height), 255, thickness)
    cv2.circle(mask, (left + 130, top + 15), 14, 255, thickness)
    cv2.circle(mask, (left + 130, top + 44), 16, 255, thickness)


def test_a_tick_or_a_hairline_beside_a_row_is_a_stray_mark():
    mask = np.zeros((200, 400), np.uint8)
    _row_of_digits(mask, 60, 60)
    cv2.line(mask, (30, 100), (34, 80), 255, 5)  # a tick a third of the digits' height
    cv2.line(mask, (240, 60), (244, 120), 255, 1)  # a hairline as tall as the digits, a quarter of their stroke
    assert stray_marks(*_blobs(mask)).tolist() == [True, False, False, False, True]


def test_small_digits_beside_tall_ones_are_not_stray_marks():
    """A 0 a third of its neighbours' height is a loop, a small 7 a bent stroke: digits, not marks."""
    mask = np.zeros((200, 400), np.uint8)
    _row_of_digits(mask, 60, 60)
    cv2.ellipse(mask, (240, 110), (7, 10), 0, 0, 360, 255, 4)  # a small 0
    cv2.polylines(mask, [np.array([[270, 92], [286, 92], [276, 118]])], False, 255, 4)  # a small 7
    assert not stray_marks(*_blobs(mask)).any()


def test_scattered_groups_are_read_group_by_group_top_to_bottom():
    """A group on the right written a little higher than one on the left, overlapping its rows, comes first."""
    left = [(1, 1.0, (40 + 50 * k, 300, 40, 60)) for k in range(3)]
    right = [(2, 1.0, (500 + 50 * k, 260, 40, 60)) for k in range(2)]
    level = [(3, 1.0, (900, 298, 40, 62))]  # far right, but level with the left group: one row
    digits = order_lines(left + right + level)
    assert "".join(str(d.digit) for d in digits) == "22" + "111" + "3"
    assert [d.line for d in digits] == [0, 0, 1, 1, 1, 1]


@pytest.fixture(scope="module")
def layouts(mnist_path):
    from edge_digits.measure.layouts import make_layouts

    return make_layouts(20, seed=0, data_path=mnist_path)


@pytest.fixture(scope="module")
def reader():
    from edge_digits import DigitReader

    return DigitReader(ROOT / "export")


# bars for these 20 seeded scenes of each layout (digits read, scenes read exactly line by line); the reader
# before touching splits, stray marks and group order scored lone 0.85 / 0.95, touching 0.63 / 0.05,
# stray 0.88 / 0.50, scattered 0.95 / 0.70 on them; before issue 26's close-ups and clusters, closeup
# -/ 0.25 and cluster 0.47 / 0.00 (a close-up's digits read is no measure: one pencil close-up
# breaks into hundreds of specks), after 0.80 and 0.68 / 0.20
@pytest.mark.parametrize("name, digits, lines", [("lone", 0.85, 0.9), ("touching", 0.75, 0.25),
                                                  ("stray", 0.97, 0.9), ("scattered", 0.95, 0.8),
                                                  ("closeup", None, 0.6), ("cluster", 0.6, 0.1)])
def test_layouts_are_read(layouts, reader, name, digits, lines):
    from edge_digits.measure.scenes import scene_accuracy

    result = scene_accuracy(layouts[name], reader)
    assert (digits is None or result["accuracy"] >= digits) and result["exact_lines"] >= lines, result


def test_a_cluster_of_touching_digits_gets_cuts_for_each_digit():
    """Three digits touching in turn, one of them a narrow 1: a three-piece proposal cuts at both joins."""
    from edge_digits.runtime.split import split_proposals

    mask = np.zeros((80, 150), np.uint8)
    cv2.ellipse(mask, (30, 40), (22, 34), 0, 0, 360, 255, 7)  # a 0
    cv2.line(mask, (66, 6), (66, 74), 255, 7)  # a 1, narrow, touching the 0 through a bar
    cv2.line(mask, (50, 40), (62, 40), 255, 3)
    cv2.ellipse(mask, (112, 40), (24, 34), 0, 0, 360, 255, 7)  # a 0 touching the 1
    cv2.line(mask, (70, 40), (88, 40), 255, 3)
    proposals, costs = split_proposals(mask, (0, 0), mask.shape[1] / (0.8 * mask.shape[0]), 1.0)
    widths = [[piece.box[2] for piece in split] for split in proposals if len(split) == 3]
    assert any(abs(w[0] - 54) < 8 and w[1] < 26 and abs(w[2] - 57) < 8 for w in widths), widths
    assert len(costs) == len(proposals)


def test_layout_truth_is_consistent(layouts):
    for name, scenes in layouts.items():
        for scene in scenes:
            assert len(scene.labels) == len(scene.boxes) == len(scene.text.replace("\n", "")), name
            assert "".join(map(str, scene.labels)) == scene.text.replace("\n", "")
            assert scene.lines == sorted(scene.lines) and len(set(scene.lines)) == scene.text.count("\n") + 1


def test_score_layouts_from_the_command_line(mnist_path):
    import json

    from conftest import run_cli

    result = run_cli("score", "--layouts", "2", "--data", str(mnist_path), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    layouts = json.loads(result.stdout)["layouts"]
    assert set(layouts["results"]) == {"lone", "touching", "stray", "scattered", "closeup", "cluster"}
    # 1 - edit distance per digit: below 0 when far more is read than written (a close-up broken into specks)
    assert all(entry["scenes"] == 2 and entry["accuracy"] <= 1.0 for entry in layouts["results"].values())
    assert run_cli("score", "--layouts", "0").returncode == 2  # not a positive count: a usage error
