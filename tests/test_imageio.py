"""load_image never crashes or hangs: bad files are one-line EdgeDigitsErrors; good ones become BGR uint8."""

from __future__ import annotations

import os
import struct
import sys
import time
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_digits.errors import EdgeDigitsError
from edge_digits.runtime.imageio import (
    MAX_PIXELS,
    as_bgr,
    image_header,
    load_image,
    open_video_writer,
)


def encoded(image: np.ndarray, suffix: str = ".png") -> bytes:
    ok, data = cv2.imencode(suffix, image)
    assert ok
    return data.tobytes()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def huge_png(width: int, height: int) -> bytes:
    """A well-formed PNG header declaring a gigantic image (a decompression bomb's first bytes)."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + png_chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + png_chunk(b"IEND", b"")


def huge_jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


SAMPLE = np.random.default_rng(0).integers(0, 256, size=(40, 60, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("empty.png", b"", "empty"),
        ("notes.png", b"these are not pixels\n" * 20, "not an image"),
        ("garbage.jpg", os.urandom(2000), "not an image"),
        ("truncated.png", encoded(SAMPLE)[:200], "PNG"),
        ("truncated.jpg", encoded(SAMPLE, ".jpg")[:300], "truncated JPEG"),
        ("header-only.png", encoded(SAMPLE)[:20], "truncated or corrupt PNG"),
        ("corrupt.png", encoded(SAMPLE)[:40] + os.urandom(400), "PNG"),
        ("zero-size.png", huge_png(0, 10), "0x10"),
        ("bomb.png", huge_png(100_000, 100_000), "megapixels"),
        ("bomb.jpg", huge_jpeg(60_000, 60_000), "megapixels"),
    ],
)
def test_bad_files_raise_one_line_errors(tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(EdgeDigitsError) as caught:
        load_image(path)
    message = str(caught.value)
    assert fragment in message and "\n" not in message and str(path) in message


def test_missing_directory_and_device(tmp_path):
    with pytest.raises(EdgeDigitsError, match="not found"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(EdgeDigitsError, match="directory"):
        load_image(tmp_path)
    if sys.platform.startswith("linux"):
        with pytest.raises(EdgeDigitsError, match="regular file"):
            load_image("/dev/zero")  # would never end if read


def test_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(huge_png(100_000, 100_000))
    start = time.perf_counter()
    with pytest.raises(EdgeDigitsError, match="100000x100000"):
        load_image(path)
    assert time.perf_counter() - start < 0.5
    assert MAX_PIXELS == 100_000_000


def test_sixteen_bit_png_is_scaled(tmp_path):
    image = np.array([[0, 257 * 128, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    path.write_bytes(encoded(image))
    loaded = load_image(path)
    assert loaded.dtype == np.uint8 and loaded.shape == (1, 3, 3)
    assert loaded[0, :, 0].tolist() == [0, 128, 255]


def test_alpha_is_composited_on_white(tmp_path):
    image = np.zeros((2, 2, 4), np.uint8)
    image[0, 0] = (255, 0, 0, 255)  # opaque blue
    image[0, 1] = (0, 0, 0, 0)  # transparent -> paper white
    image[1, :] = (0, 0, 0, 128)  # half-transparent black -> mid grey
    path = tmp_path / "alpha.png"
    path.write_bytes(encoded(image))
    loaded = load_image(path)
    assert loaded.shape == (2, 2, 3)
    assert loaded[0, 0].tolist() == [255, 0, 0] and loaded[0, 1].tolist() == [255, 255, 255]
    assert abs(int(loaded[1, 0, 0]) - 127) <= 1


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tiff", ".webp", ".jpg"])
def test_gray_and_one_pixel_images(tmp_path, suffix):
    gray = np.full((1, 1), 200, np.uint8)
    path = tmp_path / f"dot{suffix}"
    path.write_bytes(encoded(gray, suffix))
    loaded = load_image(path)
    assert loaded.shape == (1, 1, 3) and loaded.dtype == np.uint8
    assert np.abs(loaded.astype(int) - 200).max() <= 3


@pytest.mark.parametrize("suffix, kind", [(".png", "png"), (".jpg", "jpeg"), (".bmp", "bmp"), (".tiff", "tiff"), (".webp", "webp")])
def test_header_sizes(suffix, kind):
    assert image_header(encoded(SAMPLE, suffix)) == (kind, 60, 40)


def test_header_of_gif_and_unknown():
    gif = b"GIF89a" + struct.pack("<HH", 640, 480) + b"\x00" * 10
    assert image_header(gif) == ("gif", 640, 480)
    assert image_header(b"hello world") == (None, None, None)


def test_colour_image_round_trips(tmp_path):
    path = tmp_path / "colour.png"
    path.write_bytes(encoded(SAMPLE))
    assert np.array_equal(load_image(path), SAMPLE)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=1, max_value=2000), flips=st.lists(st.integers(0, 10**6), max_size=8), suffix=st.sampled_from([".png", ".jpg", ".bmp"]))
def test_damaged_files_never_crash(tmp_path, cut, flips, suffix):
    data = bytearray(encoded(SAMPLE, suffix))
    for flip in flips:
        data[flip % len(data)] ^= 0xA5
    path = tmp_path / f"damaged{suffix}"
    path.write_bytes(bytes(data[: max(1, len(data) - cut)]))
    try:
        image = load_image(path)
    except EdgeDigitsError as error:
        assert "\n" not in str(error)
    else:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


def test_as_bgr_conversions_and_errors():
    assert as_bgr(np.zeros((4, 5), np.uint8)).shape == (4, 5, 3)
    assert as_bgr(np.zeros((4, 5, 1), np.uint8)).shape == (4, 5, 3)
    assert as_bgr(np.ones((2, 2, 3), np.float32))[0, 0].tolist() == [255, 255, 255]
    assert as_bgr(np.full((2, 2), 65535, np.uint16))[0, 0].tolist() == [255, 255, 255]
    for bad, fragment in [
        ([[1, 2]], "numpy array"),
        (np.zeros(5, np.uint8), "shape"),
        (np.zeros((4, 4, 2), np.uint8), "shape"),
        (np.zeros((0, 4, 3), np.uint8), "non-empty"),
        (np.zeros((4, 4), np.int32), "int32"),
    ]:
        with pytest.raises(ValueError, match=fragment):
            as_bgr(bad)


def test_video_writer_needs_a_known_container(tmp_path):
    with pytest.raises(EdgeDigitsError, match=".mp4"):
        open_video_writer(tmp_path / "clip.gif", 10, (64, 48))
    with pytest.raises(EdgeDigitsError, match="cannot write video"):
        open_video_writer(tmp_path / "missing-dir" / "clip.avi", 10, (64, 48))


def test_jpeg_with_trailing_data_loads(tmp_path):
    """Phones append data after the end-of-image marker (motion photos); that is not truncation."""
    path = tmp_path / "motion.jpg"
    path.write_bytes(encoded(SAMPLE, ".jpg") + os.urandom(20_000))
    assert load_image(path).shape == SAMPLE.shape
