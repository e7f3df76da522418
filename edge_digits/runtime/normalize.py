"""MNIST-faithful normalization: ink fitted into 20x20 keeping aspect ratio, centred by centre of mass
in 28x28, white ink on black, float32 in [0, 1]; strokes nudged towards MNIST's 2-3 px width."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

BOX = 20  # MNIST fits the digit's ink into 20x20 ...
SIZE = 28  # ... and centres it by centre of mass in 28x28
STROKE_TARGET = 2.6  # typical MNIST stroke width (px) at the 20x20 scale
STROKE_MIN, STROKE_MAX = 1.8, 4.5  # strokes outside this range are thickened / thinned
NARROW = 0.45  # digits narrower than this (width / height) ...
STRUCTURE = 3.0  # ... whose widest row spans this many stroke widths (a bar, a loop) are widened to NARROW
_SQUARE3 = np.ones((3, 3), np.uint8)
_POSITIONS = np.arange(SIZE, dtype=np.float32)  # pixel indices, for the centre of mass of a fitted digit


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary mask: 2 * area / boundary length (exact for long thin strokes)."""
    return _binary_stroke_width((np.asarray(mask) > 0).view(np.uint8))


def _binary_stroke_width(ink: np.ndarray) -> float:
    """stroke_width of a uint8 0/1 mask, which callers that already thresholded pass without another pass."""
    area = cv2.countNonZero(ink)
    if area == 0:
        return 0.0
    eroded = cv2.erode(ink, _SQUARE3, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    boundary = area - cv2.countNonZero(eroded)
    return 2.0 * area / max(boundary, 1)


def normalize_mask(mask: np.ndarray, fix_stroke: bool = True) -> np.ndarray:
    """Binary/soft ink crop (ink > 0) -> (28, 28) float32 MNIST image; all-zero input gives zeros."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"expected a 2-D ink mask, got shape {mask.shape}")
    if mask.dtype == np.uint8:  # the segmenter's 0/255 masks: one integer max serves as any() and as the scale
        peak = int(mask.max()) if mask.size else 0
        if peak == 0:
            return np.zeros((SIZE, SIZE), np.float32)
        ink = np.multiply(mask, np.float32(1.0 / peak), dtype=np.float32)  # as astype, then *= (one pass)
    else:
        if mask.size == 0 or not mask.any():
            return np.zeros((SIZE, SIZE), np.float32)
        ink = mask.astype(np.float32)
        ink *= 1.0 / float(ink.max())
    ink = _widen(_trim(ink))
    if fix_stroke:
        ink = _fix_stroke(ink)
    height, width = ink.shape
    scale = BOX / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(ink, (new_w, new_h), interpolation=interpolation)
    total = float(small.sum())
    if total <= 0:
        return np.zeros((SIZE, SIZE), np.float32)
    cy = float(small.sum(axis=1) @ _POSITIONS[:new_h]) / total
    cx = float(small.sum(axis=0) @ _POSITIONS[:new_w]) / total
    shift = np.float32([[1, 0, SIZE / 2.0 - cx], [0, 1, SIZE / 2.0 - cy]])  # MNIST: mass at (14, 14)
    out = cv2.warpAffine(small, shift, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.minimum(np.maximum(out, 0.0, out=out), 1.0, out=out)  # np.clip's result, without its overhead


def _trim(ink: np.ndarray) -> np.ndarray:
    """The crop's bounding box of visible ink (> 0.05)."""
    x, y, w, h = cv2.boundingRect((ink > 0.05).view(np.uint8))
    return ink[y:y + h, x:x + w]


def _widen(ink: np.ndarray) -> np.ndarray:
    """Stretch a narrow digit with horizontal structure (a long-tailed 7 or 9) to NARROW width, so its bar or
    loop keeps MNIST-like proportions at 20x20; plain strokes (1s, narrow in every row) are left alone."""
    height, width = ink.shape
    if width >= NARROW * height:
        return ink
    binary = (ink > 0.5).view(np.uint8)
    rows = np.flatnonzero(binary.any(axis=1))
    if rows.size == 0:
        return ink
    first = binary[rows].argmax(axis=1)
    last = width - binary[rows, ::-1].argmax(axis=1)
    if float((last - first).max()) < STRUCTURE * _binary_stroke_width(binary):
        return ink
    return cv2.resize(ink, (max(1, round(NARROW * height)), height), interpolation=cv2.INTER_LINEAR)


def _fix_stroke(ink: np.ndarray) -> np.ndarray:
    """Dilate thin pen strokes / erode marker strokes so their width at 20x20 is MNIST-like."""
    height, width = ink.shape
    scale = BOX / max(height, width)
    current = _binary_stroke_width((ink > 0.5).view(np.uint8)) * scale
    if STROKE_MIN <= current <= STROKE_MAX or current == 0:
        return ink
    change = (STROKE_TARGET - current) / scale  # in crop pixels, total width change
    radius = int(round(abs(change) / 2.0))
    if radius < 1:
        return ink
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    if change > 0:
        padded = cv2.copyMakeBorder(ink, radius, radius, radius, radius, cv2.BORDER_CONSTANT, value=0)
        return _trim(cv2.dilate(padded, kernel))
    thinned = cv2.erode(ink, kernel)
    return _trim(thinned) if thinned.max() > 0.5 else ink


def to_gray_float(image: Any) -> np.ndarray:
    """Any 2-D / (H, W, 1|3|4) numeric image -> float32 gray in [0, 1]; ValueError otherwise."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"expected a numpy array crop, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] in (1, 3, 4):
        image = image[:, :, 0] if image.shape[2] == 1 else cv2.cvtColor(
            np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_BGR2GRAY)
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"expected a non-empty gray (H, W) or colour (H, W, 3|4) crop, got shape {image.shape}")
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    if np.issubdtype(image.dtype, np.floating) or image.dtype == np.bool_:
        gray = np.nan_to_num(image.astype(np.float32))
        return gray / 255.0 if gray.max() > 1.0 else gray
    raise ValueError(f"expected a uint8, uint16, float or bool crop, got dtype {image.dtype}")


def normalize_crop(image: Any, ink: str = "dark") -> np.ndarray:
    """One arbitrary single-digit image -> (28, 28, 1) float32 MNIST input.

    ink="dark": dark digit on light paper (a photo crop); ink="light": white digit on black (MNIST).
    Contrast is stretched between the background and ink levels; Otsu keeps only ink-ish pixels.
    """
    if ink not in ("dark", "light"):
        raise ValueError(f"ink must be 'dark' or 'light', got {ink!r}")
    gray = to_gray_float(image)
    if ink == "dark":
        gray = 1.0 - gray
    background = float(np.percentile(gray, 20))
    level = float(np.percentile(gray, 99.5))
    if level - background < 0.05:  # blank crop
        return np.zeros((SIZE, SIZE, 1), np.float32)
    soft = np.clip((gray - background) / (level - background), 0.0, 1.0)
    threshold, _ = cv2.threshold((soft * 255).astype(np.uint8), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    soft[soft * 255 < min(threshold, 128) * 0.5] = 0.0  # drop paper texture, keep anti-aliased edges
    return normalize_mask(soft)[:, :, None]


def rotate(mask: np.ndarray, degrees: float) -> np.ndarray:
    """`mask` turned `degrees` counter-clockwise (as cv2.getRotationMatrix2D), on a canvas that holds all of it."""
    height, width = mask.shape
    matrix = cv2.getRotationMatrix2D((width / 2.0, height / 2.0), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = int(np.ceil(width * cos + height * sin - 1e-6)), int(np.ceil(width * sin + height * cos - 1e-6))
    matrix[:, 2] += ((new_w - width) / 2.0, (new_h - height) / 2.0)
    return cv2.warpAffine(mask, matrix, (new_w, new_h), flags=cv2.INTER_LINEAR, borderValue=0)


def batch(masks: list[np.ndarray]) -> np.ndarray:
    """Normalize binary ink crops into one (N, 28, 28, 1) float32 batch."""
    images = np.empty((len(masks), SIZE, SIZE, 1), np.float32)
    for index, mask in enumerate(masks):
        images[index, :, :, 0] = normalize_mask(mask)
    return images
