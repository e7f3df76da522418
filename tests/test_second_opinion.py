"""A second opinion on unsure digits: which digits reach the second model, what the reader keeps, the options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_digits.apps.cli import main
from edge_digits.errors import EdgeDigitsError
from edge_digits.formats import FORMATS
from edge_digits.runtime.classifier import Classifier
from edge_digits.runtime.reader import DigitReader
from edge_digits.runtime.second_opinion import SECOND_BELOW, SECOND_SET, SecondOpinion

EXPORT = Path(__file__).resolve().parents[1] / "export"


class Scripted(Classifier):
    """Answers `digit` with the confidence written in each image's top-left pixel; keeps what it was shown."""

    def __init__(self, digit: int):
        self.digit, self.shown = digit, []
        self.format, self.path = FORMATS[0], Path("scripted")

    def _run(self, images: np.ndarray) -> np.ndarray:
        self.shown.append(images.copy())
        confidence = images[:, 0, 0, 0]
        probabilities = np.tile(((1 - confidence) / 9)[:, None], (1, 10)).astype(np.float32)
        probabilities[:, self.digit] = confidence
        return probabilities


def test_only_the_unsure_digits_reach_the_second_model_and_take_its_reading():
    second = Scripted(7)
    images = np.zeros((5, 28, 28, 1), np.float32)
    images[:, 0, 0, 0] = [0.99, 0.5, 0.97, 0.96, 1.0]
    readings = [(1, 0.99), (1, 0.5), (1, 0.97), (1, 0.96), (1, 1.0)]
    opinion = SecondOpinion(second, below=0.97)
    revised = opinion.revise(images, readings)
    assert len(second.shown) == 1 and np.array_equal(second.shown[0][:, 0, 0, 0], np.float32([0.5, 0.96]))
    assert revised == [(1, 0.99), (7, pytest.approx(0.5)), (1, 0.97), (7, pytest.approx(0.96)), (1, 1.0)]
    assert (opinion.digits, opinion.second_reads) == (5, 2)
    assert opinion.revise(images[:1], readings[:1]) == readings[:1]  # all sure: the second model is not called
    assert len(second.shown) == 1 and (opinion.digits, opinion.second_reads) == (6, 2)


def test_bad_threshold_or_mismatched_readings_are_refused():
    with pytest.raises(ValueError, match="below must be a probability"):
        SecondOpinion(Scripted(7), below=1.5)
    with pytest.raises(ValueError, match="got 2 images for 1 readings"):
        SecondOpinion(Scripted(7)).revise(np.zeros((2, 28, 28, 1), np.float32), [(1, 0.5)])


def test_the_reader_asks_the_second_model_about_unsure_digits(mnist):
    """A second model that answers 7 at full confidence: digits the first model reads below the
    threshold become 7s, the others stay as they were read."""
    page = np.full((120, 680), 255, np.uint8)
    for index, digit in enumerate(mnist.x_test[:8]):
        page[40:68, 40 + 80 * index : 68 + 80 * index] = 255 - digit
    before = DigitReader(EXPORT, second_model=None).read(page)
    levels = sorted({digit.confidence for digit in before.digits})  # rounded to 4 places: split between two of them
    assert len(before.digits) == 8 and len(levels) >= 2, before
    threshold = (levels[0] + levels[1]) / 2
    always_seven = Scripted(7)
    always_seven._run = lambda images: np.eye(10, dtype=np.float32)[np.full(len(images), 7)]
    after = DigitReader(EXPORT, second_model=always_seven, second_below=threshold).read(page)
    assert [new.digit for new in after.digits] == [7 if old.confidence < threshold else old.digit for old in before.digits]
    assert any(old.confidence > threshold and old.digit != 7 for old in before.digits)


def test_splits_and_drops_stay_the_first_models_decisions(mnist_path):
    """A second model that reads everything as a sure 7, asked about every digit: touching pairs must be split
    (and blobs dropped) exactly as without it; only the digits change."""
    from edge_digits.measure.layouts import make_layouts

    always_seven = Scripted(7)
    always_seven._run = lambda images: np.eye(10, dtype=np.float32)[np.full(len(images), 7)]
    plain, asked = DigitReader(EXPORT, second_model=None), DigitReader(EXPORT, second_model=always_seven, second_below=1.0)
    changed = 0
    for scene in make_layouts(6, 0, mnist_path)["touching"]:
        before, after = plain.read(scene.image), asked.read(scene.image)
        assert [digit.box for digit in after.digits] == [digit.box for digit in before.digits]
        assert all(new.digit in (7, old.digit) for old, new in zip(before.digits, after.digits))
        changed += sum(new.digit != old.digit for old, new in zip(before.digits, after.digits))
    assert changed > 10


def test_command_line_reads_with_a_second_model(tmp_path, mnist, capsys):
    import cv2

    image = tmp_path / "digit.png"
    page = np.full((100, 100), 255, np.uint8)
    page[36:64, 36:64] = 255 - mnist.x_test[0]
    cv2.imwrite(str(image), page)
    assert main(["read", str(image), "--second-model", str(EXPORT), "--second-below", "0.99"]) == 0
    assert capsys.readouterr().out.strip().endswith(str(int(mnist.y_test[0])))
    assert main(["read", str(image), "--second-model", str(tmp_path / "missing")]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(errors) == 1 and "model not found" in errors[0], errors


def test_help_states_the_default_threshold():
    from conftest import cli_options

    for command in ("read", "score"):
        assert f"(default {SECOND_BELOW})" in cli_options(command)["second_below"].help


def test_the_shipped_set_carries_a_second_model_that_the_reader_takes_by_default(tmp_path):
    """The same file name in export/second (int8 TFLite for int8 TFLite), verified against that set's manifest;
    none for the second set itself, for a set without one, or when turned off."""
    import shutil

    second = EXPORT / SECOND_SET
    assert DigitReader().second_opinion.model.path.resolve() == (second / "digits_fp32.onnx").resolve()
    int8 = DigitReader(EXPORT / "digits_int8.tflite", backend="tflite")
    assert int8.second_opinion.model.path == second / "digits_int8.tflite"
    assert DigitReader(second).second_opinion is None
    assert DigitReader(EXPORT, second_model=None).second_opinion is None
    alone = tmp_path / "alone"
    alone.mkdir()
    for name in ("manifest.json", "digits_fp32.onnx"):
        shutil.copy2(EXPORT / name, alone / name)
    assert DigitReader(alone).second_opinion is None
    (alone / SECOND_SET).mkdir()
    shutil.copy2(second / "digits_fp32.onnx", alone / SECOND_SET / "digits_fp32.onnx")
    assert DigitReader(alone).second_opinion is None  # a second model without its manifest is not taken
    shutil.copy2(EXPORT / "manifest.json", alone / SECOND_SET / "manifest.json")  # the wrong set's manifest
    with pytest.raises(EdgeDigitsError, match="does not match manifest.json"):
        DigitReader(alone)


def test_second_model_none_on_the_command_line_reads_with_the_first_alone():
    from edge_digits.options import Parser, add_model_options, reader_from_args

    parser = Parser()
    add_model_options(parser)
    assert reader_from_args(parser.parse_args([])).second_opinion.model.path.name == "digits_fp32.onnx"
    assert reader_from_args(parser.parse_args(["--second-model", "none"])).second_opinion is None
    chosen = reader_from_args(parser.parse_args(["--second-model", str(EXPORT / SECOND_SET / "digits_int8.onnx")]))
    assert chosen.second_opinion.model.path == EXPORT / SECOND_SET / "digits_int8.onnx"
