"""Inputs that are not photos: dataset-style crops (light ink on black, 16x16, digits touching the
frame), chalkboards, and pages on dark desks. The reader must read the first two kinds and keep
treating the last like any photo."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from test_reader import PHOTOS, reader  # noqa: F401 (fixture)

from edge_digits.measure.crops import STYLES, crop_accuracy, make_crops
from edge_digits.runtime import canvas

CROP_ACCURACY = {"mnist-28": 0.97, "usps-16": 0.95, "semeion-16": 0.85, "optdigits-32": 0.95, "optdigits-8": 0.91, "crop-200": 0.97, "closeup-600": 0.93}


def _photos() -> list[np.ndarray]:
    from edge_digits.runtime.imageio import load_image

    files = sorted(path for path in PHOTOS.glob("*") if path.suffix.lower() in (".jpg", ".png"))
    if not files:
        pytest.skip(f"no photos in {PHOTOS}; set EDGE_DIGITS_PHOTOS")
    return [load_image(path) for path in files]


def _page_on_desk(light_ink: bool) -> np.ndarray:
    """A 480x640 dark desk with a light page (or a dark board) holding strokes."""
    image = np.full((480, 640), 35, np.uint8)
    if not light_ink:
        image[60:420, 120:520] = 225
    colour = 235 if light_ink else 30
    for x in range(180, 460, 70):
        cv2.line(image, (x, 150), (x + 20, 300), colour, 6)
    return image


def test_polarity_of_photos_pages_and_boards(mnist):
    assert not any(canvas.light_ink(image) for image in _photos())
    assert not canvas.light_ink(_page_on_desk(light_ink=False))
    assert canvas.light_ink(_page_on_desk(light_ink=True))
    assert all(canvas.light_ink(digit) for digit in mnist.x_train[:50])
    assert not any(canvas.light_ink(255 - digit) for digit in mnist.x_train[:50])


def test_canvas_boxes_map_back_inside_the_input():
    image = np.full((16, 20), 255, np.uint8)
    prepared = canvas.prepare(image)
    assert prepared.factor > 1 and min(prepared.offset) > 0
    height, width = prepared.image.shape[:2]
    for box in [(0, 0, width, height), prepared.offset + (prepared.factor, prepared.factor), (width - 3, 2, 3, 3)]:
        x, y, w, h = prepared.to_input(box)
        assert 0 <= x < 20 and 0 <= y < 16 and w >= 1 and h >= 1 and x + w <= 20 and y + h <= 16
    x, y, w, h = prepared.to_input(prepared.offset + (4 * prepared.factor, 2 * prepared.factor))
    assert (x, y, w, h) == (0, 0, 4, 2)


def test_ink_on_frame_sees_a_digit_cut_by_the_frame_not_a_page():
    page = np.full((300, 300, 3), 230, np.uint8)
    cv2.circle(page, (150, 150), 100, (40, 40, 40), 12)
    assert not canvas.ink_on_frame(page)
    cv2.circle(page, (150, 150), 150, (40, 40, 40), 12)  # now touching all four sides
    assert canvas.ink_on_frame(page)
    blue = np.full((300, 300, 3), 230, np.uint8)
    blue[:, 140:160] = (200, 60, 20)  # a blue stroke from top to bottom: dark in the red channel only
    assert canvas.ink_on_frame(blue)


def test_large_photos_are_not_reframed():
    page = _page_on_desk(light_ink=False)
    prepared = canvas.prepare(page)
    assert prepared.factor == 1 and prepared.offset == (0, 0) and prepared.image is page


@pytest.mark.parametrize("style", list(STYLES))
def test_reader_reads_dataset_style_crops(style, reader, mnist_path):  # noqa: F811
    crops, labels = make_crops(150, seed=1, data_path=mnist_path)
    accuracy = crop_accuracy({style: crops[style]}, labels, reader)[style]
    assert accuracy >= CROP_ACCURACY[style], f"{style}: {accuracy:.1%}"


def test_reader_reads_a_strip_of_mnist_digits(reader, mnist):  # noqa: F811
    """Three light-on-black 28x28 digits side by side: a small multi-digit input, boxes in its pixels."""
    strip = np.hstack([mnist.x_test[index] for index in (0, 1, 2)])
    reading = reader.read(strip)
    assert reading.text == "".join(str(mnist.y_test[index]) for index in (0, 1, 2))
    for number, digit in enumerate(reading.digits):
        x, y, w, h = digit.box
        assert 28 * number <= x + w / 2 < 28 * (number + 1) and 0 <= y and y + h <= 28


def test_score_crops_from_the_command_line(mnist_path):
    import json

    from conftest import run_cli

    result = run_cli("score", "--crops", "30", "--seed", "2", "--json", env={"EDGE_DIGITS_MNIST": str(mnist_path)})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)["crops"]
    assert report["count"] == 30 and list(report["accuracy"]) == list(STYLES)
    assert all(0.8 <= value <= 1.0 for value in report["accuracy"].values()), report
    empty = run_cli("score")
    assert empty.returncode == 1 and "--crops N" in empty.stderr and len(empty.stderr.strip().splitlines()) == 1


def test_chalkboard_scenes_read_like_paper(reader, mnist_path):  # noqa: F811
    """Synthetic scenes inverted (light ink on a dark board, their shading and blur inverted too)."""
    from edge_digits.measure.scenes import Scene, make_suite, scene_accuracy

    suite = make_suite(20, seed=4, data_path=mnist_path)
    boards = [Scene(255 - scene.image, scene.text, scene.boxes, scene.labels, scene.lines) for scene in suite]
    assert not any(canvas.light_ink(scene.image) for scene in suite)
    assert all(canvas.light_ink(board.image) for board in boards)
    paper, board = scene_accuracy(suite, reader)["accuracy"], scene_accuracy(boards, reader)["accuracy"]
    assert board >= paper - 0.02 and board >= 0.93, (paper, board)


def test_small_photos_are_read_without_a_paper_frame(reader, mnist_path):  # noqa: F811
    """A 224x168 photo of two rows of digits with margins: framing it would set its shaded edges
    against flat paper, so only crops whose ink reaches the frame are framed."""
    from edge_digits.measure.scenes import Scene, make_suite, scene_accuracy

    suite = make_suite(30, seed=0, data_path=mnist_path)
    small = [Scene(cv2.resize(scene.image, (224, 168), interpolation=cv2.INTER_AREA), scene.text, scene.boxes,
                   scene.labels, scene.lines) for scene in suite]
    assert scene_accuracy(small, reader)["accuracy"] >= 0.9


def test_tiny_digits_are_segmented_on_an_upscaled_copy(reader, mnist_path):  # noqa: F811
    """Scenes shrunk to 128x96, digits ~10 px tall: at full resolution their masks are too coarse to
    read (87% before segment.py upscaled such images; 97% after)."""
    from edge_digits.measure.scenes import Scene, make_suite, scene_accuracy

    suite = make_suite(40, seed=1, data_path=mnist_path)
    tiny = [Scene(cv2.resize(scene.image, (128, 96), interpolation=cv2.INTER_AREA), scene.text, scene.boxes,
                  scene.labels, scene.lines) for scene in suite]
    assert scene_accuracy(tiny, reader)["accuracy"] >= 0.94


@pytest.mark.parametrize("surround, invert", [(30, False), (90, False), (225, True)])
def test_page_on_a_desk_and_board_on_a_wall(surround, invert, reader, mnist_path):  # noqa: F811
    """A scene framed by 100 px of desk (dark) or wall (light, around an inverted scene: a board).
    The page's outline in the ink map is larger than any digit and must not set their typical size."""
    from edge_digits.measure.scenes import Scene, make_suite, scene_accuracy

    suite = make_suite(20, seed=2, data_path=mnist_path)

    def surrounded(image: np.ndarray) -> np.ndarray:
        out = np.full((680, 840, 3), surround, np.uint8)
        out[100:580, 100:740] = 255 - image if invert else image
        return out

    framed = [Scene(surrounded(scene.image), scene.text, scene.boxes, scene.labels, scene.lines) for scene in suite]
    assert scene_accuracy(framed, reader)["accuracy"] >= 0.93


def test_a_crop_whose_digit_touches_one_edge_only_is_still_read(reader):  # noqa: F811
    """A 1 reaching the bottom of its crop with its foot alone: too little of the frame is inked to
    frame the crop up front, and the segmenter drops what touches the frame; with nothing read, a crop
    is read again framed in paper. A frame-sized image with the same stroke stays unread (a pen line)."""
    crop = np.full((200, 200), 235, np.uint8)
    cv2.line(crop, (104, 24), (96, 199), 25, 14)
    assert not canvas.ink_on_frame(crop)
    assert reader.read(crop).text == "1"
    frame = np.full((480, 640), 235, np.uint8)
    cv2.line(frame, (324, 24), (316, 479), 25, 14)
    assert reader.read(frame).text == ""


def test_ink_share_tells_a_close_up_from_a_page():
    """A page of thin digits inks a few percent of its pixels; one thick digit filling the frame far more
    than CLOSEUP_INK, so the reader gives it the framed second look."""
    page = np.full((480, 640, 3), 235, np.uint8)
    for k in range(8):
        cv2.ellipse(page, (60 + 70 * k, 200), (18, 28), 0, 0, 360, (30, 30, 30), 4)
    close = np.full((480, 640, 3), 235, np.uint8)
    cv2.ellipse(close, (320, 300), (120, 150), 0, 0, 360, (150, 52, 20), 60)  # a 0 in marker, its top cut by the frame
    assert canvas.ink_share(page) < canvas.CLOSEUP_INK < canvas.ink_share(close)
    assert canvas.ink_share(np.zeros((2, 2), np.uint8)) == 0.0
