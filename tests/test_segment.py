"""segment.py's size reasoning: what may set the typical digit height and what is not a digit."""

from __future__ import annotations

import cv2
import numpy as np

from edge_digits.runtime import segment


def _components(mask: np.ndarray) -> np.ndarray:
    """stats (x, y, w, h, area) of the 8-connected components of a 0/255 mask, background dropped."""
    return cv2.connectedComponentsWithStats(mask, connectivity=8)[2][1:]


def _digits_row(mask: np.ndarray, top: int, left: int, count: int, height: int = 30) -> None:
    for index in range(count):  # "1"s and "0"s of digit size
        x = left + index * height
        if index % 2:
            cv2.line(mask, (x, top), (x, top + height), 255, 3)
        else:
            cv2.ellipse(mask, (x + height // 4, top + height // 2), (height // 4, height // 2), 0, 0, 360, 255, 3)


def test_a_ring_around_digits_is_an_enclosure_and_the_digits_are_not():
    mask = np.zeros((300, 400), np.uint8)
    cv2.rectangle(mask, (20, 20), (380, 280), 255, 4)  # a page's outline in the ink map
    _digits_row(mask, 120, 60, 5)
    stats = _components(mask)
    found = segment._enclosures(stats)
    assert found.sum() == 1 and stats[found][0, 2] > 300


def test_one_digit_in_a_drawn_circle_is_held_but_dust_in_a_zero_is_not():
    circled = np.zeros((200, 200), np.uint8)
    cv2.circle(circled, (100, 100), 80, 255, 3)
    cv2.line(circled, (100, 60), (100, 140), 255, 4)  # a 1 half the circle's height
    assert segment._enclosures(_components(circled)).tolist() == [True, False]

    zero = np.zeros((200, 200), np.uint8)
    cv2.ellipse(zero, (100, 100), (40, 80), 0, 0, 360, 255, 6)
    cv2.circle(zero, (100, 100), 3, 255, -1)  # a speck inside the loop
    cv2.line(zero, (85, 60), (115, 60), 255, 3)  # and a short bar, like a crossed 7's
    assert not segment._enclosures(_components(zero)).any()


def test_dust_on_a_blank_page_is_not_upscaled_into_digits():
    """Upscaling is for digits under SMALL_DIGIT px; specks under MIN_SIDE px must not trigger it
    (a dusty camera frame then cost 100 ms and read a column of 0s and 1s)."""
    rng = np.random.default_rng(0)
    page = (np.full((480, 640, 3), 200.0) + rng.normal(0, 6, (480, 640, 1))).clip(0, 255).astype(np.uint8)
    for _ in range(40):
        centre = (int(rng.integers(10, 630)), int(rng.integers(10, 470)))
        cv2.circle(page, centre, int(rng.integers(1, 3)), (60, 60, 60), -1)
    blobs = segment.find_blobs(page)
    assert blobs is not None and blobs.typical < segment.MIN_SIDE and blobs.scale == 1.0
    assert segment.find_candidates(page) == []


def test_the_largest_specks_of_a_noisy_frame_are_not_digits():
    """A frame of fine grain (a textured surface, sensor noise in the dark): its specks are the typical
    blob, and the few just over MIN_SIDE px are their tail, not digits (they read as 1s before);
    where specks are typical, a blob must be twice MIN_SIDE to stand out. Digits among them still do."""
    rng = np.random.default_rng(1)
    grain = cv2.GaussianBlur(rng.normal(0, 30, (480, 640)).astype(np.float32), (0, 0), 1.5)
    frame = (np.full((480, 640, 3), 190.0, np.float32) + grain[..., None]).clip(0, 255).astype(np.uint8)
    blobs = segment.find_blobs(frame)
    assert blobs is not None and blobs.typical < segment.MIN_SIDE
    assert segment.find_candidates(frame) == []
    cv2.putText(frame, "47", (300, 260), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (20, 20, 20), 4)
    assert len(segment.find_candidates(frame)) == 2


def test_finer_scales_are_whole_factors_within_the_side_limit():
    assert segment._finer_scale(3.4, 640) == 3.0  # 1920 px <= 2048
    assert segment._finer_scale(6.0, 640) == 3.0  # capped by the side limit
    assert segment._finer_scale(1.6, 1500) == 1.0  # no whole upscaling fits: full resolution
    assert segment._finer_scale(0.45, 3000) == 0.5  # a large photo: the nearest 1/k above
    assert segment._finer_scale(0.9, 4096) == 0.5  # 2048 / 4096


def test_a_small_zero_beside_a_one_is_a_digit_but_a_short_stroke_there_is_a_fragment():
    """The `beside` rule glues a short stroke to the digit next to it (a 1's serif, a 4's detached
    side); a small closed loop there is a digit of its own (the 0s of a close-written "10" were read
    as one 6)."""
    def groups(second_piece) -> int:
        mask = np.zeros((160, 200), np.uint8)
        cv2.line(mask, (100, 60), (96, 100), 255, 4)  # a 1, the typical height
        second_piece(mask)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        found, _, _ = segment._group_fragments(np.arange(1, count), stats, 40.0, labels)
        return len(found)

    assert groups(lambda mask: cv2.ellipse(mask, (111, 90), (5, 7), 0, 0, 360, 255, 2)) == 2
    assert groups(lambda mask: cv2.line(mask, (106, 82), (110, 96), 255, 3)) == 1
