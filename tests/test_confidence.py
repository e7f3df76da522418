"""min_confidence reaches the reader from the API and from --min-confidence, and its default is the
0.5 that --help states."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest

from edge_digits.apps.cli import build_parser, main
from edge_digits.options import reader_from_args
from edge_digits.runtime.imageio import load_image
from edge_digits.runtime.reader import DigitReader

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "sample.jpg"
EXPORT = ROOT / "export"


def kept(digits) -> set[tuple[int, tuple[int, ...]]]:
    return {(digit.digit, tuple(digit.box)) for digit in digits}


@pytest.fixture(scope="module")
def everything():
    """Every digit the reader finds in the sample photo when it drops nothing."""
    return DigitReader(str(EXPORT), min_confidence=0.0).read(load_image(SAMPLE)).digits


@pytest.fixture(scope="module")
def threshold(everything) -> float:
    """Half-way between the two lowest confidences: drops at least one digit, keeps the rest, and is not 0.5."""
    confidences = sorted({digit.confidence for digit in everything})
    assert len(confidences) >= 2, "the sample needs digits of different confidence"
    return (confidences[0] + confidences[1]) / 2


def test_min_confidence_decides_which_digits_are_kept(everything, threshold):
    expected = {(digit.digit, tuple(digit.box)) for digit in everything if digit.confidence >= threshold}
    assert 0 < len(expected) < len(everything)
    reading = DigitReader(str(EXPORT), min_confidence=threshold).read(load_image(SAMPLE))
    assert kept(reading.digits) == expected
    assert all(digit.confidence >= threshold for digit in reading.digits)


def test_cli_min_confidence_reaches_the_reader(everything, threshold, capsys):
    assert main(["read", str(SAMPLE), "--json", "--model", str(EXPORT), "--min-confidence", f"{threshold:.6f}"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    expected = {(digit.digit, tuple(digit.box)) for digit in everything if digit.confidence >= threshold}
    assert {(digit["digit"], tuple(digit["box"])) for digit in result["digits"]} == expected


def test_default_is_half_and_help_states_it(capsys):
    default = inspect.signature(DigitReader).parameters["min_confidence"].default
    assert default == 0.5
    assert DigitReader(str(EXPORT)).min_confidence == default
    args = build_parser().parse_args(["read", str(SAMPLE), "--model", str(EXPORT)])
    assert reader_from_args(args).min_confidence == default  # an unset option keeps the reader's default
    with pytest.raises(SystemExit):
        main(["read", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    stated = re.search(r"--min-confidence MIN_CONFIDENCE .*?\(default: the reader's, ([0-9.]+)\)", help_text)
    assert stated and float(stated.group(1)) == default, help_text
