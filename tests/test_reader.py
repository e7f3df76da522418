"""DigitReader: photo-set accuracy, MNIST normalization invariants, sloped reading order,
crop classification, input validation and the no-TensorFlow guarantee of the runtime tier."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_digits.measure.photos import evaluate_photos
from edge_digits.measure.textdistance import char_accuracy, levenshtein
from edge_digits.runtime import normalize

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = Path(os.environ.get("EDGE_DIGITS_PHOTOS", ROOT.parent / "shared" / "data" / "photos-dev"))
PHOTO_ACCURACY = 0.98  # the acceptance bar for the shipped model on photos-dev
SCENE_ACCURACY = 0.97  # the acceptance bar on the fixed-seed 200-scene synthetic suite
WORST_IMAGE = 0.5  # no image may be catastrophically wrong


def _model_choice() -> tuple[str, bool]:
    """(model, verify): $EDGE_DIGITS_READER_MODEL, else the shipped export/ (checked against its manifest)."""
    explicit = os.environ.get("EDGE_DIGITS_READER_MODEL")
    if explicit:
        return explicit, Path(explicit).is_dir()
    return str(ROOT / "export"), True


@pytest.fixture(scope="module")
def reader():
    from edge_digits import DigitReader

    model, verify = _model_choice()
    return DigitReader(model, verify=verify)


@pytest.fixture(scope="module")
def mnist():
    from edge_digits.build.mnist import load_mnist

    try:
        return load_mnist()
    except Exception as error:  # no local copy: these tests need the real digits
        pytest.skip(f"MNIST not available ({error}); set EDGE_DIGITS_MNIST")


def _clean_digits(mnist, reader, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Test-split digits the classifier reads confidently, so layout tests don't test the model."""
    images, labels = mnist.x_test[:400], mnist.y_test[:400]
    probabilities = reader.classifier.predict(images[..., None].astype(np.float32) / 255.0)
    good = np.flatnonzero((probabilities.argmax(1) == labels) & (probabilities.max(1) > 0.99))
    return images[good[:count]], labels[good[:count]]


# ---------------------------------------------------------------- photo set


@pytest.mark.slow
@pytest.mark.skipif(not (PHOTOS / "labels.json").is_file(), reason="photos-dev not available")
def test_photo_set_accuracy(reader):
    results, overall = evaluate_photos(PHOTOS, reader)
    table = "\n".join(f"{r.file}: {r.accuracy:.2f} read {r.text!r} want {r.label!r}" for r in results)
    assert overall >= PHOTO_ACCURACY, table
    assert min(r.accuracy for r in results) >= WORST_IMAGE, table


@pytest.mark.slow
@pytest.mark.skipif(not (PHOTOS / "labels.json").is_file(), reason="photos-dev not available")
@pytest.mark.parametrize("view, bar", [("desk", PHOTO_ACCURACY), ("wood", PHOTO_ACCURACY), ("far", 0.92), ("tilted", 0.955)])
def test_photos_far_away_or_lying_on_a_desk(view, bar, reader):
    """views.py: on a desk the page's outline joins up into a ring larger than any digit, which must
    neither set the digits' size nor be read as a 0 (92% and 91% read before segment.py saw to it);
    far away (a quarter of the size) digits are 8-20 px and are segmented upscaled (73% before);
    turned 12 degrees, digits are turned back by their rows' slope (94.7% before, 96.2% after)."""
    results, overall = evaluate_photos(PHOTOS, reader, view=view)
    assert overall >= bar, "\n".join(f"{r.file}: read {r.text!r} want {r.label!r}" for r in results)


@pytest.mark.skipif(not (PHOTOS / "labels.json").is_file(), reason="photos-dev not available")
def test_score_views_from_the_command_line():
    from conftest import run_cli

    result = run_cli("score", str(PHOTOS), "--view", "wood", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)["photos"]
    assert report["view"] == "wood" and len(report["images"]) == len(json.loads((PHOTOS / "labels.json").read_text()))
    bad = run_cli("score", str(PHOTOS), "--view", "underwater")
    assert bad.returncode != 0 and "underwater" in bad.stderr and "Traceback" not in bad.stderr


def test_views_keep_the_page_whole():
    from edge_digits.measure import views

    page = np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    for name in ("desk", "wood", "table"):
        desk = views.view(page, name)
        assert desk.shape == (90, 120, 3)
        np.testing.assert_array_equal(desk[10:70, 20:100], page)  # the page lies intact inside the desk
    assert views.view(page, "far").shape == (15, 20, 3) and views.view(page, "as-is") is page
    with pytest.raises(ValueError, match="view must be one of"):
        views.view(page, "sideways")
    with pytest.raises(ValueError, match="surface must be one of"):
        views.on_desk(page, surface="glass")
    from conftest import cli_options

    from edge_digits.measure.paper import PAPER_STYLES

    options = cli_options("score")
    assert options["view"].choices == tuple(views.VIEWS) and options["paper"].choices == PAPER_STYLES  # --help stays true


@pytest.mark.slow
def test_synthetic_suite_accuracy(reader, mnist_path):
    from edge_digits.measure.scenes import make_suite, scene_accuracy

    suite = scene_accuracy(make_suite(200, seed=0, data_path=mnist_path), reader)
    assert suite["digits"] >= 1000
    assert suite["accuracy"] >= SCENE_ACCURACY, suite


def test_levenshtein_and_char_accuracy():
    assert levenshtein("", "") == 0
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("123", "") == 3
    assert char_accuracy("12\n34", "1234") == 1.0
    assert char_accuracy("1299", "12") == 0.0  # floored at 0
    assert char_accuracy("124", "1234") == pytest.approx(0.75)


# ---------------------------------------------------------------- normalization


@pytest.mark.parametrize("scale", [1, 3, 7])
def test_normalize_invariants(mnist, scale):
    for image in mnist.x_test[:20]:
        big = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        out = normalize.normalize_mask((big > 100).astype(np.uint8) * 255)
        assert out.shape == (28, 28) and out.dtype == np.float32
        assert 0.0 <= out.min() and out.max() <= 1.0 and out.max() > 0.5
        total = out.sum()
        cy = (out.sum(axis=1) @ np.arange(28)) / total
        cx = (out.sum(axis=0) @ np.arange(28)) / total
        assert abs(cy - 14) < 0.75 and abs(cx - 14) < 0.75
        rows, cols = np.flatnonzero(out.max(1) > 0.25), np.flatnonzero(out.max(0) > 0.25)
        assert rows[-1] - rows[0] + 1 <= 21 and cols[-1] - cols[0] + 1 <= 21


def test_normalize_keeps_thin_digits_thin():
    one = np.zeros((200, 30), np.uint8)
    cv2.line(one, (15, 5), (15, 195), 255, 3)
    out = normalize.normalize_mask(one)
    cols = np.flatnonzero(out.max(axis=0) > 0.25)
    assert 2 <= len(cols) <= 6  # a 1 stays a thin stroke, not a blob stretched to 20 px
    rows = np.flatnonzero(out.max(axis=1) > 0.25)
    assert len(rows) >= 19


def test_normalize_crop_blank_and_errors():
    blank = normalize.normalize_crop(np.full((30, 30), 200, np.uint8))
    assert blank.shape == (28, 28, 1) and blank.max() == 0
    with pytest.raises(ValueError, match="ink"):
        normalize.normalize_crop(np.zeros((30, 30), np.uint8), ink="blue")
    with pytest.raises(ValueError, match="numpy"):
        normalize.normalize_crop([[0, 1]])


# ---------------------------------------------------------------- reading


def _paste(canvas: np.ndarray, digit: np.ndarray, x: int, y: int, size: int) -> None:
    """Dark ink: darken the white canvas with an upscaled MNIST digit."""
    big = cv2.resize(digit, (size, size), interpolation=cv2.INTER_LINEAR)
    region = canvas[y:y + size, x:x + size]
    np.minimum(region, 255 - big[..., None], out=region)


def test_reading_order_follows_sloped_lines(reader, mnist):
    digits, labels = _clean_digits(mnist, reader, 12)
    canvas = np.full((480, 640, 3), (235, 240, 245), np.uint8)  # off-white paper
    size, step, slope = 64, 90, 0.3
    for line, y0 in enumerate((30, 150)):  # line 2 starts ABOVE where line 1 ends: y-sorting fails
        for k in range(6):
            index = line * 6 + k
            _paste(canvas, digits[index], 40 + k * step, int(y0 + slope * k * step), size)
    reading = reader.read(canvas)
    expected = "".join(map(str, labels[:6])) + "\n" + "".join(map(str, labels[6:12]))
    assert [d.line for d in reading.digits] == [0] * 6 + [1] * 6
    # The digits were picked as ones the 40 KB model reads surely; the layout is its pass alone, the second
    # model only relabels the digits it is unsure of (the pair reads one deskewed 9 here as a 2 at 0.50)
    from edge_digits import DigitReader

    alone = DigitReader(reader.classifier, second_model=None).read(canvas)
    assert alone.text == expected
    assert [d.box for d in alone.digits] == [d.box for d in reading.digits]
    first = reading.digits[0]
    assert abs(first.box[0] - 40) < 20 and abs(first.box[1] - 30) < 25  # boxes are in image pixels
    json.dumps(reading.to_dict())  # serializable


def test_page_tilt_and_rotate():
    from edge_digits.runtime.lines import DESKEW_FROM, page_tilt

    row = [(int(40 + 90 * k), int(100 + 90 * k * 0.2), 40, 60) for k in range(5)]  # rows falling 11.3 degrees
    assert abs(page_tilt(row) - np.degrees(np.arctan(0.2))) < 0.5
    rising = [(x, 400 - y, w, h) for x, y, w, h in row]
    assert abs(page_tilt(rising) + np.degrees(np.arctan(0.2))) < 0.5
    slight = [(int(40 + 90 * k), int(100 + 90 * k * 0.05), 40, 60) for k in range(5)]  # 2.9 degrees: left alone
    assert np.degrees(np.arctan(0.05)) < DESKEW_FROM and page_tilt(slight) == 0.0
    assert page_tilt(row[:2]) == 0.0  # two digits do not show a tilt
    bar = np.zeros((10, 50), np.uint8)
    bar[3:7, :] = 255
    upright = normalize.rotate(bar, 90)  # counter-clockwise: the bar now stands, and all of it is kept
    assert upright.shape == (50, 10)
    rows, cols = np.nonzero(upright > 127)
    assert rows.max() - rows.min() >= 45 and cols.max() - cols.min() <= 5


def test_digits_on_tilted_rows_are_turned_level(reader, mnist_path, monkeypatch):
    """A camera turned 12 degrees tilts rows and digits alike; the reader turns each digit back by the
    rows' slope before classifying (98.8% of 30 scenes each way; 98.1% without, and 98.5 / 97.3% with
    the previous model)."""
    from dataclasses import replace

    from edge_digits.measure.scenes import make_suite, scene_accuracy
    from edge_digits.measure.views import tilted as turned
    from edge_digits.runtime import lines as lines_module

    suite = make_suite(30, seed=5, data_path=mnist_path)
    tilted = [replace(scene, image=turned(scene.image, degrees)) for degrees in (12, -12) for scene in suite]
    level = scene_accuracy(tilted, reader)["accuracy"]
    monkeypatch.setattr(lines_module, "DESKEW_FROM", 90.0)
    as_tilted = scene_accuracy(tilted, reader)["accuracy"]
    assert level >= 0.975 and level >= as_tilted + 0.005, (level, as_tilted)


def test_read_scaled_inputs_share_boxes(reader, mnist):
    digits, labels = _clean_digits(mnist, reader, 4)
    canvas = np.full((240, 400, 3), 250, np.uint8)
    for k in range(4):
        _paste(canvas, digits[k], 30 + k * 90, 80, 60)
    small, big = reader.read(canvas), reader.read(cv2.resize(canvas, (1600, 960)))
    assert small.text == big.text == "".join(map(str, labels[:4]))
    for a, b in zip(small.digits, big.digits):
        assert np.allclose(np.array(b.box) / 4, a.box, atol=4)


@pytest.mark.parametrize("ink", ["dark", "light"])
def test_classify_crops(reader, mnist, ink):
    images, labels = mnist.x_test[:60], mnist.y_test[:60]
    crops = []
    for k, image in enumerate(images):
        crop = cv2.resize(image, None, fx=1 + k % 4, fy=1 + k % 4, interpolation=cv2.INTER_LINEAR)
        crop = np.pad(crop, 10 * (k % 3))
        crops.append(255 - crop if ink == "dark" else crop)
    results = reader.classify_crops(crops, ink=ink)
    assert len(results) == 60
    assert all(isinstance(d, int) and 0.0 <= c <= 1.0 for d, c in results)
    accuracy = np.mean([d == label for (d, _), label in zip(results, labels)])
    assert accuracy >= 0.9
    assert reader.classify_crops([]) == []


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize("bad", [
    [[0, 255]],
    np.zeros((20, 20, 2), np.uint8),
    np.zeros((2, 20, 20, 3), np.uint8),
    np.zeros((20, 20), np.int64),
    np.zeros(20, np.uint8),
])
def test_read_rejects_bad_input(reader, bad):
    with pytest.raises(ValueError, match="expected"):
        reader.read(bad)


@pytest.mark.parametrize("image", [
    np.zeros((1, 1), np.uint8),
    np.zeros((1, 1, 3), np.uint8),
    np.zeros((5, 3, 4), np.uint8),
    np.full((480, 640), 255, np.uint8),  # blank page
    np.zeros((100, 100, 1), np.float32),
    np.full((64, 64, 3), 40000, np.uint16),
])
def test_read_degenerate_images_are_empty(reader, image):
    reading = reader.read(image)
    assert reading.text == "" and reading.digits == []


def test_read_accepts_gray_uint16_float_and_bgra(reader, mnist):
    digits, labels = _clean_digits(mnist, reader, 3)
    gray = np.full((160, 300), 245, np.uint8)
    for k in range(3):
        _paste(gray[..., None], digits[k], 20 + k * 90, 40, 70)
    want = "".join(map(str, labels[:3]))
    variants = [gray, gray[..., None], gray.astype(np.uint16) * 257, gray.astype(np.float32) / 255.0,
                cv2.cvtColor(gray, cv2.COLOR_GRAY2BGRA)]
    for image in variants:
        assert reader.read(image).text == want


def test_bad_options(reader):
    from edge_digits import DigitReader

    with pytest.raises(ValueError, match="min_confidence"):
        DigitReader(reader.classifier, min_confidence=2.0)
    with pytest.raises(ValueError, match="ink"):
        reader.classify_crops([np.zeros((28, 28), np.uint8)], ink="red")
    with pytest.raises(ValueError, match="list"):
        reader.classify_crops(np.zeros((3, 28, 28), np.uint8))


# ---------------------------------------------------------------- runtime tier


def test_runtime_tier_needs_no_tensorflow():
    model, verify = _model_choice()
    script = f"""
import sys
sys.modules["tensorflow"] = None  # any `import tensorflow` now raises ImportError
sys.modules["keras"] = None
import numpy as np
from edge_digits import DigitReader
import edge_digits.runtime.reader, edge_digits.runtime.segment, edge_digits.runtime.normalize, edge_digits.runtime.classifier, edge_digits.measure.photos
reader = DigitReader({model!r}, verify={verify!r})
image = np.full((120, 200, 3), 250, np.uint8)
image[30:90, 60:66] = 20  # a vertical bar: a 1
print(repr(reader.read(image).text))
assert "tensorflow" not in sys.modules or sys.modules["tensorflow"] is None
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_split_cost_counts_strokes_crossed():
    """A cut through a ring crosses two strokes; a cut through two blobs joined by one bar crosses one."""
    from edge_digits.runtime.split import split_proposals

    ring = np.zeros((40, 70), np.uint8)
    cv2.ellipse(ring, (35, 20), (32, 17), 0, 0, 360, 255, 3)
    pair = np.zeros((40, 70), np.uint8)
    cv2.circle(pair, (16, 20), 13, 255, 3)
    cv2.circle(pair, (54, 20), 13, 255, 3)
    cv2.line(pair, (29, 20), (41, 20), 255, 3)
    _, ring_costs = split_proposals(ring, (0, 0), 2.0, 1.0)
    pieces, pair_costs = split_proposals(pair, (0, 0), 2.0, 1.0)
    assert min(ring_costs) > 1.7 and min(pair_costs) < 1.3
    assert len(pieces[0]) == 2 and all(piece.mask.any() for piece in pieces[0])
