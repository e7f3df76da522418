"""Cheap, seeded batch augmentation of 28x28 digits (numpy + OpenCV, no TensorFlow).

MNIST digits are clean, centred and of similar stroke width; real handwriting is not. Random
affine warps (rotation, scale, aspect, shear, shift), stroke thickening/thinning, blur and noise
teach the model the variation it will meet from a camera, at a few microseconds per image; on
request, low-resolution scans (as_scanned) teach it the bitmaps digit datasets store.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge_digits.build import handstyle
from edge_digits.runtime.canvas import TARGET_SIDE, TINY_SIDE
from edge_digits.runtime.normalize import normalize_mask


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges and probabilities of each perturbation; the defaults suit MNIST-to-real-handwriting."""

    rotation_degrees: float = 10.0
    scale_range: tuple[float, float] = (0.88, 1.12)
    shear: float = 0.12
    shift_pixels: float = 2.0
    aspect_probability: float = 0.25
    aspect_range: tuple[float, float] = (0.8, 1.2)
    dilate_probability: float = 0.1
    erode_probability: float = 0.05
    blur_probability: float = 0.05
    blur_sigma_range: tuple[float, float] = (0.4, 0.8)
    noise_probability: float = 0.1
    noise_sigma: float = 0.04
    fill_probability: float = 0.1  # stretch the ink's box to fill a FILL_SIDE square, as Semeion and
    # some scanners store digits (a 1 becomes a wide bar); the reader fits such crops whole
    binarize_probability: float = 0.25  # show the digit as the reader does: thresholded (at up to
    binarize_range: tuple[float, float] = (0.25, 0.75)  # BINARIZE_UPSCALE times the size, at a level in this
    # share of the peak) and refitted by normalize.normalize_mask, stroke-width fix included
    scan_probability: float = 0.0  # draw the digit as a low-resolution scan stores it (as_scanned), with a
    scan_sides: tuple[int, int] = (8, 16)  # side drawn from this range; `train --scans` sets it, 0 by default


DEFAULT_CONFIG = AugmentConfig()
HAND_STYLE_SETS = ("classic", "all")  # add_hand_styles(styles=...): flagged 1s and crossed 7s, or every style below
STYLE_PROBABILITY = 0.3  # classic: share of 1s flagged and of 7s crossed; all: scales every share below
STYLE_SHARES = {  # digit -> (style, weight) in the order drawn; a 7 may be both shortened and crossed
    1: [(handstyle.any_flag, 1.0)],
    2: [(handstyle.loop_two, 0.5)],
    4: [(handstyle.open_four, 0.4)],
    7: [(handstyle.shorten_seven, 0.8), (handstyle.cross_seven, 1.0)],
}
RESTROKE_SHARE = 0.25  # any digit: a marker stroke, and as often a pencil line
_KERNEL = np.ones((2, 2), np.uint8)
_CENTRE = 13.5  # pixel-centre coordinates of the middle of a 28x28 image
FILL_SIDE = 20.0  # MNIST's digit box: a filled digit is stretched to this square
MAX_STRETCH = 6.0  # a 1 three pixels wide is stretched at most this much
BINARIZE_UPSCALE = 4  # a photo's digit has finer pixels than MNIST's: threshold at up to 4x the size


def augment_batch(images: np.ndarray, rng: np.random.Generator, config: AugmentConfig = DEFAULT_CONFIG) -> np.ndarray:
    """Return a randomly perturbed copy of `images`, same shape and dtype.

    Accepts uint8 in [0, 255] or float in [0, 1], shaped (N, 28, 28) or (N, 28, 28, 1).
    All randomness comes from `rng`, so a seeded Generator gives reproducible batches.
    """
    images = np.asarray(images)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if images.ndim == 4 and images.shape[-1] == 1:
        planes = images[..., 0]
    elif images.ndim == 3:
        planes = images
    else:
        raise ValueError(f"images must be shaped (N, 28, 28) or (N, 28, 28, 1), got {images.shape}")
    if planes.shape[1:] != (28, 28):
        raise ValueError(f"images must be 28x28, got {planes.shape[1:]}")
    if images.dtype == np.uint8:
        peak = 255.0
    elif np.issubdtype(images.dtype, np.floating):
        peak = 1.0
    else:
        raise ValueError(f"images must be uint8 or float, got {images.dtype}")

    count = len(planes)
    matrices = random_affine_matrices(count, rng, config)
    filled = np.flatnonzero(rng.random(count) < config.fill_probability)
    if filled.size:
        matrices[filled] = _compose(matrices[filled], fill_matrices(planes[filled], 0.25 * peak))
    dilate = rng.random(count) < config.dilate_probability
    erode = ~dilate & (rng.random(count) < config.erode_probability)
    blur_sigmas = np.where(rng.random(count) < config.blur_probability, rng.uniform(*config.blur_sigma_range, count), 0.0)

    noisy = rng.random(count) < config.noise_probability
    noise = rng.normal(0.0, config.noise_sigma * peak, (int(noisy.sum()), 28, 28)).astype(np.float32) if noisy.any() else None
    binarized = rng.random(count) < config.binarize_probability
    levels = rng.uniform(*config.binarize_range, count) * peak
    upscales = rng.integers(1, BINARIZE_UPSCALE + 1, count)
    scans = _draw_scans(count, rng, config) if config.scan_probability > 0.0 else {}  # no draws: edge batches repeat

    work = planes.astype(np.float32, copy=False)
    out = np.empty((count, 28, 28), np.float32)
    for index in range(count):
        if index in scans:
            source = as_scanned(work[index], *scans[index], float(levels[index]), peak)
        elif binarized[index]:
            source = as_read(work[index], float(levels[index]), int(upscales[index]), peak)
        else:
            source = work[index]
        image = cv2.warpAffine(source, matrices[index], (28, 28), flags=cv2.INTER_LINEAR, borderValue=0.0)
        if dilate[index]:
            image = cv2.dilate(image, _KERNEL)
        elif erode[index]:
            image = cv2.erode(image, _KERNEL)
        if blur_sigmas[index] > 0.0:
            image = cv2.GaussianBlur(image, (3, 3), float(blur_sigmas[index]))
        out[index] = image

    if noise is not None:
        out[noisy] += noise
    np.clip(out, 0.0, peak, out=out)
    if images.dtype == np.uint8:
        out = np.rint(out).astype(np.uint8)
    else:
        out = out.astype(images.dtype, copy=False)
    return out.reshape(images.shape)


def as_read(plane: np.ndarray, level: float, upscale: int, peak: float) -> np.ndarray:
    """A float 28x28 digit as the reader hands it to the model: thresholded at `level` after an
    `upscale`x cubic enlargement, then refitted by normalize_mask; `plane` itself if nothing is left."""
    if upscale > 1:
        plane = cv2.resize(plane, (28 * upscale, 28 * upscale), interpolation=cv2.INTER_CUBIC)
    mask = (plane > level).view(np.uint8)
    if not mask.any():
        return plane if upscale == 1 else cv2.resize(plane, (28, 28), interpolation=cv2.INTER_AREA)
    return normalize_mask(mask) * np.float32(peak)


SCAN_MODES = ("grey", "bits", "counts")  # area-averaged grey; 0/1 bits (Semeion); bits at 4x side summed in blocks (optdigits 8x8)


def _draw_scans(count: int, rng: np.random.Generator, config: AugmentConfig) -> dict[int, tuple[int, bool, str]]:
    """{image index: (side, stretch, mode)} for the images drawn as scans, `scan_probability` of them."""
    picked = np.flatnonzero(rng.random(count) < config.scan_probability)
    sides = rng.integers(config.scan_sides[0], config.scan_sides[1] + 1, picked.size)
    stretches = rng.random(picked.size) < 0.5
    modes = rng.integers(0, len(SCAN_MODES), picked.size)
    return {int(index): (int(side), bool(stretch), SCAN_MODES[mode])
            for index, side, stretch, mode in zip(picked, sides, stretches, modes)}


def as_scanned(plane: np.ndarray, side: int, stretch: bool, mode: str, level: float, peak: float) -> np.ndarray:
    """A float 28x28 digit as a low-resolution scan stores it and the reader reads it back: its ink box fitted
    into side x side (stretched to fill, or keeping aspect) in one of SCAN_MODES, enlarged as canvas enlarges
    small images (cubic under TINY_SIDE, else linear), thresholded at `level`, refitted by normalize_mask."""
    rows, cols = np.nonzero(plane > 0.25 * peak)
    if rows.size == 0:
        return plane
    box = plane[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    height, width = box.shape
    if stretch:
        size = (side, side)
    else:
        scale = side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if mode == "counts":  # ink bits at 4x the side, counted in 4x4 blocks
        fine = cv2.resize(box, (4 * size[0], 4 * size[1]), interpolation=cv2.INTER_AREA)
        small = cv2.resize(np.where(fine > 0.4 * peak, peak, 0.0).astype(np.float32), size, interpolation=cv2.INTER_AREA)
    else:
        small = cv2.resize(box, size, interpolation=cv2.INTER_AREA)
        if mode == "bits":
            small = np.where(small > 0.4 * peak, peak, 0.0).astype(np.float32)
    small = cv2.copyMakeBorder(small, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0.0)
    factor = -(-TARGET_SIDE // side)
    smooth = cv2.INTER_CUBIC if side < TINY_SIDE else cv2.INTER_LINEAR
    large = cv2.resize(small, (small.shape[1] * factor, small.shape[0] * factor), interpolation=smooth)
    mask = (large > level).view(np.uint8)
    return normalize_mask(mask) * np.float32(peak) if mask.any() else plane


def add_hand_styles(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                    probability: float = STYLE_PROBABILITY, styles: str = "classic") -> np.ndarray:
    """A copy of uint8 (N, 28, 28) `images` drawn in styles MNIST's American writers hardly use (handstyle.py).

    styles="classic": about `probability` of the 1s get a flag and of the 7s a crossbar. styles="all":
    each digit with a style in STYLE_SHARES gets it with `probability` times its weight, then any digit
    a marker stroke or a pencil line with `probability` times RESTROKE_SHARE each."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"images must be uint8 shaped (N, 28, 28), got {images.dtype} {images.shape}")
    if len(labels) != len(images):
        raise ValueError(f"got {len(labels)} labels for {len(images)} images")
    if styles not in HAND_STYLE_SETS:
        raise ValueError(f"styles must be one of {', '.join(HAND_STYLE_SETS)}, got {styles!r}")
    labels = np.asarray(labels)
    out = images.copy()
    if styles == "classic":
        picked = rng.random(len(images)) < probability
        for index in np.flatnonzero(picked & (labels == 1)):
            out[index] = handstyle.flag_one(images[index], rng)
        for index in np.flatnonzero(picked & (labels == 7)):
            out[index] = handstyle.cross_seven(images[index], rng)
        return out
    for digit, shares in STYLE_SHARES.items():
        for index in np.flatnonzero(labels == digit):
            for draw, share in shares:
                if rng.random() < probability * share:
                    out[index] = draw(out[index], rng)
    restroke = rng.random(len(images))
    for index in np.flatnonzero(restroke < 2 * probability * RESTROKE_SHARE):
        out[index] = handstyle.restroke(out[index], rng, heavy=bool(restroke[index] < probability * RESTROKE_SHARE))
    return out


def random_affine_matrices(count: int, rng: np.random.Generator, config: AugmentConfig = DEFAULT_CONFIG) -> np.ndarray:
    """(count, 2, 3) float32 matrices: rotate, scale, stretch and shear about the centre, then shift."""
    angles = np.deg2rad(rng.uniform(-config.rotation_degrees, config.rotation_degrees, count))
    scales = rng.uniform(*config.scale_range, count)
    aspects = np.where(rng.random(count) < config.aspect_probability, rng.uniform(*config.aspect_range, count), 1.0)
    shears = rng.uniform(-config.shear, config.shear, count)
    shifts = rng.uniform(-config.shift_pixels, config.shift_pixels, (count, 2))

    cos, sin = np.cos(angles), np.sin(angles)
    scale_x, scale_y = scales * np.sqrt(aspects), scales / np.sqrt(aspects)
    # linear part = rotation @ shear @ diag(scale_x, scale_y)
    linear = np.empty((count, 2, 2))
    linear[:, 0, 0] = cos * scale_x
    linear[:, 0, 1] = (cos * shears - sin) * scale_y
    linear[:, 1, 0] = sin * scale_x
    linear[:, 1, 1] = (sin * shears + cos) * scale_y
    centre = np.full((count, 2), _CENTRE)
    translation = centre - np.einsum("nij,nj->ni", linear, centre) + shifts
    return np.concatenate([linear, translation[:, :, None]], axis=2).astype(np.float32)


def fill_matrices(planes: np.ndarray, ink: float) -> np.ndarray:
    """(N, 2, 3) matrices that stretch each digit's ink box (pixels > `ink`) to a centred FILL_SIDE square."""
    matrices = np.zeros((len(planes), 2, 3), np.float32)
    for index, plane in enumerate(planes):
        rows, cols = np.nonzero(plane > ink)
        if rows.size == 0:
            matrices[index, 0, 0] = matrices[index, 1, 1] = 1.0
            continue
        height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        scale_x, scale_y = min(FILL_SIDE / width, MAX_STRETCH), min(FILL_SIDE / height, MAX_STRETCH)
        centre_x, centre_y = (cols.min() + cols.max()) / 2.0, (rows.min() + rows.max()) / 2.0
        matrices[index] = [[scale_x, 0.0, _CENTRE - scale_x * centre_x], [0.0, scale_y, _CENTRE - scale_y * centre_y]]
    return matrices


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """outer after inner, for stacks of (2, 3) affine matrices."""
    linear = np.einsum("nij,njk->nik", outer[:, :, :2], inner[:, :, :2])
    translation = np.einsum("nij,nj->ni", outer[:, :, :2], inner[:, :, 2]) + outer[:, :, 2]
    return np.concatenate([linear, translation[:, :, None]], axis=2).astype(np.float32)
