"""Temporal smoothing: steady scenes give steady text; a changed scene shows at once; memory is bounded."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from edge_digits.runtime.smoothing import ReadingSmoother, iou, same_layout

BOXES = [(10, 10, 20, 30), (40, 10, 20, 30), (70, 12, 20, 30)]
ELSEWHERE = [(300, 200, 20, 30), (330, 200, 20, 30)]


def reading(text: str, boxes=BOXES, shift: int = 0):
    digits = [SimpleNamespace(digit=int(c), confidence=0.9, box=(x + shift, y, w, h), line=0) for c, (x, y, w, h) in zip(text, boxes)]
    return SimpleNamespace(text=text, digits=digits)


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (10, 0, 10, 10)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)


def test_same_layout():
    assert same_layout(BOXES, [(x + 3, y, w, h) for x, y, w, h in BOXES])
    assert not same_layout(BOXES, ELSEWHERE)
    assert same_layout([], []) and not same_layout(BOXES, [])


def test_flicker_is_voted_away():
    smoother = ReadingSmoother(window=5)
    sequence = ["123", "123", "128", "123", "723", "123", "128", "123"]
    shown = [smoother.update(reading(text, shift=i % 3)).text for i, text in enumerate(sequence)]
    assert shown == ["123"] * len(sequence)


def test_shown_reading_has_the_voted_text_and_its_boxes():
    smoother = ReadingSmoother(window=3)
    first = reading("123")
    smoother.update(first)
    result = smoother.update(reading("128", shift=2))
    assert result is first


def test_ties_keep_the_text_already_shown():
    smoother = ReadingSmoother(window=4)
    shown = [smoother.update(reading(text)).text for text in ["111", "222", "111", "222", "222", "222"]]
    assert shown[:4] == ["111"] * 4
    assert shown[-1] == "222"  # a real change wins once it is the majority


def test_new_scene_shows_immediately():
    smoother = ReadingSmoother(window=5)
    for _ in range(5):
        smoother.update(reading("123"))
    assert smoother.update(reading("45", ELSEWHERE)).text == "45"


def test_window_one_is_raw_and_history_is_bounded():
    raw = ReadingSmoother(window=1)
    assert [raw.update(reading(t)).text for t in ["111", "222", "111"]] == ["111", "222", "111"]
    smoother = ReadingSmoother(window=7)
    for index in range(1000):
        smoother.update(reading(str(index % 10) * 3))
    assert len(smoother.history) == 7
    smoother.reset()
    assert len(smoother.history) == 0 and smoother.update(reading("999")).text == "999"


def test_window_must_be_positive():
    with pytest.raises(ValueError, match="window"):
        ReadingSmoother(window=0)
