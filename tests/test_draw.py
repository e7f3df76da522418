"""draw_reading: an annotated copy at any frame size, the input left untouched."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from edge_digits.runtime.draw import draw_reading


def reading(*items):
    digits = [SimpleNamespace(digit=d, confidence=c, box=box, line=line) for d, c, box, line in items]
    return SimpleNamespace(digits=digits, text="\n".join("".join(str(d) for d, _, _, l in items if l == n) for n in sorted({i[3] for i in items})))


@pytest.mark.parametrize("shape", [(480, 640, 3), (480, 640), (60, 80, 3), (1080, 1920, 3)])
def test_annotates_a_copy(shape):
    image = np.full(shape, 230, np.uint8)
    h, w = shape[:2]
    found = reading((4, 0.93, (w // 10, h // 3, w // 10, h // 4), 0), (2, 0.5, (w // 2, h // 2, w // 12, h // 4), 1))
    annotated = draw_reading(image, found, fps=12.3)
    assert annotated.shape == (h, w, 3) and annotated.dtype == np.uint8
    assert (image == 230).all(), "the input frame must not be drawn on"
    assert (annotated != 230).any()


def test_empty_reading_without_fps_is_a_plain_copy():
    image = np.full((100, 120, 3), 200, np.uint8)
    annotated = draw_reading(image, SimpleNamespace(digits=[], text=""))
    assert np.array_equal(annotated, image) and annotated is not image


def test_boxes_at_the_edges_do_not_crash():
    image = np.zeros((50, 50, 3), np.uint8)
    draw_reading(image, reading((1, 1.0, (0, 0, 10, 10), 0), (7, 0.99, (45, 45, 5, 5), 7)), fps=0.0)
