"""Synthetic scenes: deterministic, with ground truth that matches the pixels."""

from __future__ import annotations

import json
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from edge_digits.measure.scenes import (
    Scene,
    main,
    make_scene,
    make_suite,
    scene_accuracy,
    write_video,
)


@pytest.fixture(scope="module")
def suite(mnist_path):
    return make_suite(12, seed=7, data_path=mnist_path)


def test_fixed_seed_gives_identical_scenes(suite, mnist_path):
    again = make_suite(12, seed=7, data_path=mnist_path)
    for first, second in zip(suite, again):
        assert np.array_equal(first.image, second.image)
        assert (first.text, first.boxes, first.labels) == (second.text, second.boxes, second.labels)
    other = make_suite(3, seed=8, data_path=mnist_path)
    assert not any(np.array_equal(a.image, b.image) for a, b in zip(suite, other))


def test_suites_nest(suite, mnist_path):
    prefix = make_suite(4, seed=7, data_path=mnist_path)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(prefix, suite[:4]))


def test_ground_truth_is_consistent(suite):
    for scene in suite:
        height, width = scene.image.shape[:2]
        assert scene.image.dtype == np.uint8 and scene.image.shape == (480, 640, 3)
        digits = scene.text.replace("\n", "")
        assert len(digits) == len(scene.boxes) == len(scene.labels) == len(scene.lines) > 0
        assert [int(c) for c in digits] == scene.labels
        rows = scene.text.split("\n")
        assert 1 <= len(rows) <= 3 and all(rows)
        assert scene.lines == [row for row, text in enumerate(rows) for _ in text]
        for x, y, w, h in scene.boxes:
            assert 0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= width and y + h <= height


def test_boxes_do_not_overlap_and_hold_ink(suite):
    for scene in suite:
        gray = cv2.cvtColor(scene.image, cv2.COLOR_BGR2GRAY).astype(int)
        for i, (x, y, w, h) in enumerate(scene.boxes):
            region = gray[y : y + h, x : x + w]
            assert np.percentile(region, 90) - region.min() > 35, "box without readable ink"
            for u, v, s, t in scene.boxes[i + 1 :]:
                assert x + w <= u or u + s <= x or y + h <= v or v + t <= y, "overlapping digits"


def test_rows_read_left_to_right(suite):
    for scene in suite:
        for row in set(scene.lines):
            xs = [box[0] for box, line in zip(scene.boxes, scene.lines) if line == row]
            assert xs == sorted(xs)


def test_count_and_size(mnist):
    rng = np.random.default_rng(1)
    scene = make_scene(rng, (mnist.x_test, mnist.y_test), size=(320, 240), count=5)
    assert scene.image.shape == (240, 320, 3) and len(scene.labels) == 5
    with pytest.raises(ValueError, match="count"):
        make_scene(rng, (mnist.x_test, mnist.y_test), count=0)
    with pytest.raises(ValueError, match="size"):
        make_scene(rng, (mnist.x_test, mnist.y_test), size=(50, 50))


class TruthReader:
    """A fake reader that returns the ground truth of each scene it is given (or a fixed text)."""

    def __init__(self, scenes, fixed=None):
        self.truth = {id(scene.image): scene.text for scene in scenes}
        self.fixed = fixed

    def read(self, image):
        return SimpleNamespace(text=self.truth[id(image)] if self.fixed is None else self.fixed)


def test_scene_accuracy(suite):
    perfect = scene_accuracy(suite, TruthReader(suite))
    assert perfect["accuracy"] == 1.0 and perfect["exact_scenes"] == 1.0 and perfect["errors"] == 0
    assert perfect["digits"] == sum(len(scene.labels) for scene in suite)
    assert scene_accuracy(suite, TruthReader(suite, fixed=""))["accuracy"] == 0.0
    one = Scene(suite[0].image, "12\n34", [(0, 0, 1, 1)] * 4, [1, 2, 3, 4], [0, 0, 1, 1])
    result = scene_accuracy([one], TruthReader([one], fixed="1234"))  # line breaks are not scored
    assert result["accuracy"] == 1.0 and result["exact_lines"] == 0.0


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_write_video_round_trip(suite, tmp_path, suffix):
    path = tmp_path / f"clip{suffix}"
    assert write_video(suite[:3], path, fps=5) == 3
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    assert len(frames) == 3 and frames[0].shape == suite[0].image.shape
    assert np.abs(frames[0].astype(int) - suite[0].image).mean() < 6


def test_write_video_rejects_bad_frames(tmp_path):
    with pytest.raises(ValueError, match="at least one frame"):
        write_video([], tmp_path / "empty.mp4")
    with pytest.raises(ValueError, match="all frames"):
        write_video([np.zeros((48, 64, 3), np.uint8), np.zeros((40, 64, 3), np.uint8)], tmp_path / "mixed.avi")


def test_command_line_writes_samples(tmp_path, mnist_path):
    assert main(["--count", "2", "--out", str(tmp_path), "--data", str(mnist_path)]) == 0
    truth = json.loads((tmp_path / "ground_truth.json").read_text())
    assert [entry["file"] for entry in truth] == ["scene_0000.png", "scene_0001.png"]
    image = cv2.imread(str(tmp_path / "scene_0000.png"))
    assert image.shape == (480, 640, 3)
    assert truth[0]["text"] == make_suite(1, seed=0, data_path=mnist_path)[0].text
