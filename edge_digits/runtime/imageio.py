"""Safe image loading and video writing: bad files become one-line EdgeDigitsErrors, never crashes.

The declared width and height are read from the header and checked against MAX_PIXELS before
anything is decoded, so a decompression bomb cannot exhaust the memory of a small board.
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path
from typing import Any

import numpy as np

from edge_digits.errors import EdgeDigitsError, error_line

MAX_PIXELS = 100_000_000  # the one place the size limit lives (100 megapixels)
MAX_FILE_BYTES = MAX_PIXELS * 4 + (16 << 20)  # an uncompressed RGBA image at the limit, plus slack
# OpenCV's own guard for formats parsed below only by cv2; it is read when cv2 is first imported.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))

import cv2  # noqa: E402  (after the environment variable on purpose)

VIDEO_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm", ".pnm")


def images_in(directory: str | os.PathLike) -> list[Path]:
    """The image files of a folder, by name; a folder with none is an error that lists the suffixes read."""
    directory = Path(directory)
    files = sorted(path for path in directory.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file())
    if not files:
        raise EdgeDigitsError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in directory {directory}")
    return files


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as BGR uint8; any problem raises EdgeDigitsError naming the file."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise EdgeDigitsError(f"image not found: {path}") from None
    except OSError as error:
        raise EdgeDigitsError(f"cannot open image {path}: {error.strerror or error}") from None
    if stat.S_ISDIR(info.st_mode):
        raise EdgeDigitsError(f"{path} is a directory, not an image file")
    if not stat.S_ISREG(info.st_mode):
        raise EdgeDigitsError(f"{path} is not a regular file (device, pipe or socket); pass an image file")
    if info.st_size == 0:
        raise EdgeDigitsError(f"{path} is empty (0 bytes), not an image")
    if info.st_size > MAX_FILE_BYTES:
        raise EdgeDigitsError(f"{path} is {info.st_size / 2**20:.0f} MB, too large for an image of at most {MAX_PIXELS // 10**6} megapixels")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        raise EdgeDigitsError(f"cannot read image {path}: {error.strerror or error}") from None
    kind, width, height = image_header(data[: 1 << 20].tobytes())
    check_dimensions(path, kind, width, height)
    if kind == "jpeg" and _jpeg_truncated(data.tobytes()):
        raise EdgeDigitsError(f"{path} is a truncated JPEG (no end-of-image marker after its scan); the file is incomplete")
    # JPEG never has alpha or 16 bits; IMREAD_COLOR also applies its EXIF orientation (phone photos).
    flags = cv2.IMREAD_COLOR if kind == "jpeg" else cv2.IMREAD_UNCHANGED
    try:
        image = _decode_quietly(data, flags)
    except cv2.error as error:
        raise EdgeDigitsError(f"cannot decode {path}: {error_line(error, last=True)}") from None
    if image is None or image.size == 0:
        what = f"a corrupt or truncated {kind.upper()} file" if kind else "not an image OpenCV can read"
        raise EdgeDigitsError(f"cannot decode {path}: {what}")
    try:
        return as_bgr(image)
    except ValueError as error:
        raise EdgeDigitsError(f"cannot use {path}: {error}") from None


def _decode_quietly(data: np.ndarray, flags: int) -> np.ndarray | None:
    """cv2.imdecode with OpenCV's own log silenced: a truncated PNG otherwise prints a C++ WARN line
    on stderr next to our one-line error (OPENCV_LOG_LEVEL only works if set before cv2 is imported)."""
    logging = cv2.utils.logging
    previous = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        return cv2.imdecode(data, flags)
    finally:
        logging.setLogLevel(previous)


def check_dimensions(path: str | os.PathLike, kind: str | None, width: int | None, height: int | None) -> None:
    """Refuse zero-sized or over-limit images before decoding them."""
    if width is None or height is None:
        if kind is not None:
            raise EdgeDigitsError(f"{path} is a truncated or corrupt {kind.upper()} file (no readable size in its header)")
        return  # unknown format: OpenCV's OPENCV_IO_MAX_IMAGE_PIXELS guard applies
    if width <= 0 or height <= 0:
        raise EdgeDigitsError(f"{path} is a corrupt {kind.upper()} file: its header says {width}x{height} pixels")
    if width * height > MAX_PIXELS:
        raise EdgeDigitsError(
            f"{path} is {width}x{height} ({width * height / 1e6:.0f} megapixels); the limit is "
            f"{MAX_PIXELS // 10**6} megapixels, resize the image first"
        )


def image_header(head: bytes) -> tuple[str | None, int | None, int | None]:
    """(format, width, height) declared by the first bytes of a file; sizes are None if unreadable."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        if len(head) >= 24 and head[12:16] == b"IHDR":
            return ("png", *struct.unpack(">II", head[16:24]))
        return "png", None, None
    if head.startswith(b"\xff\xd8\xff"):
        return ("jpeg", *_jpeg_size(head))
    if head.startswith(b"BM"):
        if len(head) >= 26:
            if struct.unpack("<I", head[14:18])[0] == 12:  # OS/2 BITMAPCOREHEADER
                return ("bmp", *struct.unpack("<HH", head[18:22]))
            width, height = struct.unpack("<ii", head[18:26])
            return "bmp", width, abs(height)  # negative height = top-down rows
        return "bmp", None, None
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return ("gif", *struct.unpack("<HH", head[6:10])) if len(head) >= 10 else ("gif", None, None)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ("webp", *_webp_size(head))
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return ("tiff", *_tiff_size(head))
    return None, None, None


def _jpeg_size(head: bytes) -> tuple[int | None, int | None]:
    """Walk the JPEG marker segments to the first start-of-frame (SOFn) and read its size."""
    position = 2
    while position + 4 <= len(head):
        if head[position] != 0xFF:
            return None, None
        marker = head[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # standalone markers
            position += 2
            continue
        (length,) = struct.unpack(">H", head[position + 2 : position + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if position + 9 > len(head):
                return None, None
            height, width = struct.unpack(">HH", head[position + 5 : position + 9])
            return width, height
        if marker in (0xD9, 0xDA) or length < 2:  # end of image / scan data before any frame header
            return None, None
        position += 2 + length
    return None, None


def _jpeg_truncated(raw: bytes) -> bool:
    """No end-of-image marker after the first scan (0xFFD9 cannot occur inside scan data)."""
    return raw.find(b"\xff\xd9", max(raw.find(b"\xff\xda"), 0)) < 0


def _webp_size(head: bytes) -> tuple[int | None, int | None]:
    chunk = head[12:16]
    if chunk == b"VP8X" and len(head) >= 30:
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    if chunk == b"VP8L" and len(head) >= 25:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(head) >= 30:
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None, None


def _tiff_size(head: bytes) -> tuple[int | None, int | None]:
    """ImageWidth (256) and ImageLength (257) from the first IFD, when it is within `head`."""
    order = "<" if head[:2] == b"II" else ">"
    try:
        (offset,) = struct.unpack(order + "I", head[4:8])
        (entries,) = struct.unpack(order + "H", head[offset : offset + 2])
        found: dict[int, int] = {}
        for index in range(entries):
            entry = head[offset + 2 + 12 * index : offset + 14 + 12 * index]
            tag, kind = struct.unpack(order + "HH", entry[:4])
            if tag in (256, 257):
                found[tag] = struct.unpack(order + ("H" if kind == 3 else "I"), entry[8:10] if kind == 3 else entry[8:12])[0]
        return found.get(256), found.get(257)
    except struct.error:
        return None, None


def as_uint8(image: Any) -> np.ndarray:
    """Validate a user array and return it as contiguous uint8, gray (H, W) or BGR (H, W, 3).

    Accepts gray, (H, W, 1), BGR and BGRA (composited on white paper); uint8, uint16 (scaled, not
    truncated) or float in [0, 1] (or already on 0..255). ValueError says what was expected."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"expected an image as a numpy array (H, W) or (H, W, 1|3|4), got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(f"expected a gray (H, W), BGR (H, W, 3) or BGRA (H, W, 4) image, got shape {image.shape}")
    if image.dtype == np.uint16:
        image = ((image.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif np.issubdtype(image.dtype, np.floating):
        finite = image[np.isfinite(image)]
        scale = 255.0 if (finite.max() if finite.size else 0.0) <= 1.0 else 1.0  # [0, 1] or already 0..255
        image = np.clip(np.nan_to_num(image.astype(np.float32) * scale) + 0.5, 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(f"expected a uint8, uint16 or float image, got dtype {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 4:  # composite on white paper so transparent areas are background
        alpha = image[..., 3:].astype(np.float32) / 255.0
        image = (image[..., :3].astype(np.float32) * alpha + 255.0 * (1 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(image)


def as_bgr(image: Any) -> np.ndarray:
    """as_uint8, non-empty and always three channels (for drawing in colour)."""
    image = as_uint8(image)
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"expected a non-empty image, got shape {image.shape}")
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image


def open_video_writer(path: str | os.PathLike, fps: float, size: tuple[int, int]) -> cv2.VideoWriter:
    """A cv2.VideoWriter for .mp4 (mp4v) or .avi/.mkv (MJPG); EdgeDigitsError if it cannot open."""
    path = Path(path)
    codec = VIDEO_CODECS.get(path.suffix.lower())
    if codec is None:
        raise EdgeDigitsError(f"cannot write video {path}: use a .mp4 (mp4v) or .avi (MJPG) file name")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), float(fps), (int(size[0]), int(size[1])))
    if not writer.isOpened():
        raise EdgeDigitsError(f"cannot write video {path} with codec {codec}; check the directory exists and is writable")
    if codec == "MJPG":
        writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 95)
    return writer
