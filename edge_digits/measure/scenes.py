"""Synthetic "photos" of handwritten digits with ground truth, for tests and reader measurement.

MNIST test digits are drawn as ink on paper-like backgrounds with uneven light, shadows, blur,
noise, JPEG artifacts and a mild perspective warp (numpy + OpenCV only). The test split is used
here only to measure the reader, never to train it.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np

from edge_digits.build.mnist import load_mnist
from edge_digits.errors import EdgeDigitsError
from edge_digits.measure.textdistance import levenshtein
from edge_digits.options import Parser, add_data_option, positive_int, progress
from edge_digits.runtime.imageio import open_video_writer

# Paper base colours (BGR) and ink colours (BGR, opacity) a phone photo of a page shows.
PAPERS = ((246, 246, 244), (232, 234, 236), (205, 208, 210), (200, 232, 240), (215, 230, 236))
INKS = (((28, 28, 32), 0.95), ((150, 52, 20), 0.92), ((40, 35, 175), 0.92), ((85, 85, 90), 0.8))
MAX_ATTEMPTS = 30


@dataclass
class Scene:
    """One rendered image and its truth: `text` rows joined by "\\n"; boxes/labels/lines in reading order."""

    image: np.ndarray
    text: str
    boxes: list[tuple[int, int, int, int]]
    labels: list[int]
    lines: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Ground truth as JSON-ready data (without the image)."""
        return {"text": self.text, "labels": self.labels, "boxes": [list(b) for b in self.boxes], "lines": self.lines}


def make_scene(
    rng: np.random.Generator,
    digits: tuple[np.ndarray, np.ndarray],
    size: tuple[int, int] = (640, 480),
    count: int | None = None,
    rows: list[int] | None = None,
) -> Scene:
    """Render 1-3 rows of MNIST digits as a photographed page; `size` is (width, height); `rows`, when
    given, is the number of digits on each row (instead of random rows of `count` digits)."""
    images, labels = digits
    width, height = int(size[0]), int(size[1])
    if width < 160 or height < 120:
        raise ValueError(f"size must be at least 160x120 (width, height), got {width}x{height}")
    if count is not None and not 1 <= count <= 24:
        raise ValueError(f"count must be between 1 and 24 digits, got {count}")
    if len(images) == 0 or len(images) != len(labels):
        raise ValueError(f"digits must be (images, labels) of equal non-zero length, got {len(images)} and {len(labels)}")
    if rows is not None and not (1 <= len(rows) <= 3 and all(1 <= int(n) <= 8 for n in rows)):
        raise ValueError(f"rows must be 1-3 rows of 1-8 digits, got {rows}")
    rows = _row_counts(rng, count) if rows is None else [int(n) for n in rows]
    scale = 1.0
    for _ in range(MAX_ATTEMPTS):
        layout = _try_layout(rng, images, labels, rows, width, height, scale)
        if layout is not None:
            break
        scale *= 0.9
    else:  # pragma: no cover - the shrinking scale always converges well before this
        raise ValueError(f"could not lay out {sum(rows)} digits on a {width}x{height} image")
    alpha, boxes, row_of, label_of = layout
    image = photograph(rng, alpha, width, height)
    text = "\n".join("".join(str(label_of[i]) for i in range(len(boxes)) if row_of[i] == r) for r in range(len(rows)))
    return Scene(image, text, boxes, label_of, row_of)


def make_suite(
    count: int = 200, seed: int = 0, data_path: str | os.PathLike | None = None, size: tuple[int, int] = (640, 480)
) -> list[Scene]:
    """`count` scenes from MNIST test digits; scene i depends only on (seed, i), so suites nest."""
    mnist = load_mnist(data_path)
    digits = (mnist.x_test, mnist.y_test)
    return [make_scene(np.random.default_rng([seed, index]), digits, size) for index in range(count)]


def _row_counts(rng: np.random.Generator, count: int | None) -> list[int]:
    """Split the digits into 1-3 rows of 1-8 digits each."""
    if count is None:
        rows = int(rng.integers(1, 4))
        return [int(n) for n in rng.integers(2, 8 if rows > 1 else 9, size=rows)]
    rows = int(rng.integers(1, min(3, count) + 1))
    rows = max(rows, -(-count // 8))
    cuts = np.sort(rng.choice(np.arange(1, count), size=rows - 1, replace=False)) if rows > 1 else np.array([], int)
    return [int(n) for n in np.diff(np.concatenate([[0], cuts, [count]]))]


def digit_alpha(rng: np.random.Generator, image: np.ndarray, height: float) -> np.ndarray:
    """One MNIST digit as a float ink mask about `height` pixels tall, with varied stroke and slant."""
    ys, xs = np.nonzero(image > 40)
    crop = image[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32) / 255.0
    crop = np.pad(crop, 2)
    scale = height * rng.uniform(0.88, 1.12) / max(crop.shape[0] - 4, 8)
    aspect = rng.uniform(0.85, 1.15)
    target = (max(3, round(crop.shape[1] * scale * aspect)), max(3, round(crop.shape[0] * scale)))
    big = cv2.resize(crop, target, interpolation=cv2.INTER_CUBIC)
    big = cv2.GaussianBlur(big, (0, 0), max(0.6, scale * 0.35))
    threshold = rng.uniform(0.2, 0.5)  # higher threshold = thinner pen
    alpha = np.clip((big - threshold) / 0.2, 0.0, 1.0)
    pen = rng.uniform(-0.06, 0.05) * height  # pixels to thin (<0) or thicken (>0)
    radius = int(abs(pen) // 2)
    if radius >= 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        thinner = cv2.erode(alpha, kernel) if pen < 0 else cv2.dilate(alpha, kernel)
        if (thinner > 0.5).sum() > 0.45 * (alpha > 0.5).sum():
            alpha = thinner
    angle = rng.uniform(-12, 12)
    h, w = alpha.shape
    side = int(np.ceil(np.hypot(h, w))) + 2
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    matrix[:, 2] += ((side - w) / 2, (side - h) / 2)
    alpha = cv2.warpAffine(alpha, matrix, (side, side), flags=cv2.INTER_LINEAR, borderValue=0)
    ys, xs = np.nonzero(alpha > 0.02)
    return alpha[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


Layout = tuple[np.ndarray, list[tuple[int, int, int, int]], list[int], list[int]]


def _try_layout(
    rng: np.random.Generator, images: np.ndarray, labels: np.ndarray, rows: list[int], width: int, height: int, scale: float
) -> Layout | None:
    """Place the digits row by row and warp them; None when anything overlaps or leaves the frame."""
    widest = max(rows)
    digit_height = min(0.8 * height / (len(rows) * 1.5), 0.82 * width / (widest * 1.05), 0.3 * height) * scale
    digit_height *= rng.uniform(0.65, 1.0)
    digit_height = max(digit_height, 20.0)
    block = len(rows) * digit_height * rng.uniform(1.4, 1.9)
    top = rng.uniform(0.06 * height, max(0.06 * height, height - block - 0.06 * height))
    alpha = np.zeros((height, width), np.float32)
    pieces: list[tuple[np.ndarray, int, int, int, int]] = []  # mask, x, y, row, label
    for row, n in enumerate(rows):
        slope = rng.uniform(-0.06, 0.06)
        centre_y = top + (row + 0.5) * block / len(rows)
        indices = rng.integers(0, len(images), size=n)
        masks = [digit_alpha(rng, images[i], digit_height) for i in indices]
        gaps = rng.uniform(0.2, 0.7, size=n) * digit_height
        span = sum(m.shape[1] for m in masks) + gaps[:-1].sum()
        x = rng.uniform(0.04 * width, max(0.04 * width, 0.96 * width - span))
        for mask, gap, index in zip(masks, gaps, indices):
            mh, mw = mask.shape
            y = centre_y + slope * (x - width / 2) - mh / 2 + rng.uniform(-0.08, 0.08) * digit_height
            xi, yi = int(round(x)), int(round(y))
            if xi < 2 or yi < 2 or xi + mw > width - 2 or yi + mh > height - 2:
                return None
            pieces.append((mask, xi, yi, row, int(labels[index])))
            x += mw + gap
    boxes_before = [(x, y, m.shape[1], m.shape[0]) for m, x, y, _, _ in pieces]
    if any_overlap(boxes_before, pad=3):
        return None
    for mask, x, y, _, _ in pieces:
        region = alpha[y : y + mask.shape[0], x : x + mask.shape[1]]
        np.maximum(region, mask, out=region)
    warp = _perspective(rng, width, height)
    alpha = cv2.warpPerspective(alpha, warp, (width, height), flags=cv2.INTER_LINEAR, borderValue=0)
    boxes = []
    for mask, x, y, _, _ in pieces:
        ys, xs = np.nonzero(mask > 0.3)
        points = np.stack([xs + x, ys + y], axis=1).astype(np.float32).reshape(-1, 1, 2)
        moved = cv2.perspectiveTransform(points, warp).reshape(-1, 2)
        x0, y0 = np.floor(moved.min(axis=0)).astype(int)
        x1, y1 = np.ceil(moved.max(axis=0)).astype(int) + 1
        if x0 < 1 or y0 < 1 or x1 > width - 1 or y1 > height - 1:
            return None
        boxes.append((int(x0), int(y0), int(x1 - x0), int(y1 - y0)))
    if any_overlap(boxes, pad=1):
        return None
    return alpha, boxes, [p[3] for p in pieces], [p[4] for p in pieces]


def any_overlap(boxes: list[tuple[int, int, int, int]], pad: int) -> bool:
    """True when any two boxes, grown by `pad` pixels, intersect."""
    for i, (x, y, w, h) in enumerate(boxes):
        for u, v, s, t in boxes[i + 1 :]:
            if x < u + s + pad and u < x + w + pad and y < v + t + pad and v < y + h + pad:
                return True
    return False


def _perspective(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A mild camera tilt: each corner moves up to ~5% of the frame."""
    source = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    inward = np.float32([[1, 1], [-1, 1], [-1, -1], [1, -1]])
    jitter = rng.uniform(-0.015, 0.05, size=(4, 2)) * np.float32([width, height])
    return cv2.getPerspectiveTransform(source, (source + inward * jitter).astype(np.float32))


def _smooth_noise(rng: np.random.Generator, width: int, height: int, cells: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1] (paper mottling, uneven light)."""
    coarse = rng.uniform(-1, 1, size=(cells, max(2, cells * width // height))).astype(np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def photograph(rng: np.random.Generator, alpha: np.ndarray, width: int, height: int) -> np.ndarray:
    """Composite the ink mask on paper, then light, shadow, blur, noise and compress it like a camera."""
    paper = np.array(PAPERS[rng.integers(len(PAPERS))], np.float32) + rng.uniform(-8, 8, size=3)
    image = np.empty((height, width, 3), np.float32)
    image[:] = paper
    image += (_smooth_noise(rng, width, height, 6) * rng.uniform(2, 8))[..., None]
    image += rng.standard_normal((height, width, 1), dtype=np.float32) * rng.uniform(1, 4)  # paper grain
    ink, opacity = INKS[rng.integers(len(INKS))]
    ink_alpha = alpha * opacity
    if opacity < 0.9:  # pencil: grainy, uneven graphite
        ink_alpha *= 1 - 0.25 * rng.random((height, width), dtype=np.float32)
    ink_alpha = ink_alpha[..., None]
    image = image * (1 - ink_alpha) + np.array(ink, np.float32) * ink_alpha
    image *= _lighting(rng, width, height)[..., None]
    sigma = rng.uniform(0.3, 1.3)
    image = cv2.GaussianBlur(image, (0, 0), sigma)
    image += rng.standard_normal(image.shape, dtype=np.float32) * rng.uniform(1.5, 6)  # sensor noise
    result = np.clip(image, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        ok, encoded = cv2.imencode(".jpg", result, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 90))])
        result = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    return result


def _lighting(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Gain map: a linear gradient, vignetting, mottled light and sometimes a soft shadow."""
    u = (np.arange(width, dtype=np.float32) / width - 0.5)[None, :]
    v = (np.arange(height, dtype=np.float32) / height - 0.5)[:, None]
    angle = rng.uniform(0, 2 * np.pi)
    gain = 1 + rng.uniform(0, 0.35) * (np.cos(angle) * u + np.sin(angle) * v)
    gain *= 1 - rng.uniform(0, 0.35) * (u * u + v * v) * 2
    gain *= 1 + 0.04 * _smooth_noise(rng, width, height, 3)
    if rng.random() < 0.45:
        normal = rng.uniform(0, 2 * np.pi)
        offset = rng.uniform(-0.45, 0.1)
        small_u, small_v = u[:, ::8], v[::8, :]  # blur a 1/8-size mask: the shadow edge is soft anyway
        mask = ((np.cos(normal) * small_u + np.sin(normal) * small_v) < offset).astype(np.float32)
        mask = cv2.GaussianBlur(mask, (0, 0), rng.uniform(0.03, 0.12) * width / 8)
        mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)
        gain *= 1 - rng.uniform(0.15, 0.4) * mask
    return np.maximum(gain * rng.uniform(0.85, 1.05), 0.55)  # dim, never too dark to read


def write_video(frames: Iterable[Scene | np.ndarray], path: str | os.PathLike, fps: float = 10.0) -> int:
    """Write scenes or BGR frames to a video (.mp4: mp4v, .avi/.mkv: MJPG); returns the frame count."""
    writer, size, written = None, None, 0
    try:
        for frame in frames:
            image = frame.image if isinstance(frame, Scene) else np.asarray(frame)
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(f"frames must be BGR uint8 (H, W, 3), got {image.dtype} {image.shape}")
            if writer is None:
                size = (image.shape[1], image.shape[0])
                writer = open_video_writer(path, fps, size)
            elif (image.shape[1], image.shape[0]) != size:
                raise ValueError(f"all frames must be {size[0]}x{size[1]}, frame {written} is {image.shape[1]}x{image.shape[0]}")
            writer.write(image)
            written += 1
    finally:
        if writer is not None:
            writer.release()
    if written == 0:
        raise ValueError("write_video needs at least one frame")
    return written


def scene_accuracy(scenes: Iterable[Scene], reader: Any) -> dict[str, float | int]:
    """Digit-level accuracy of `reader.read` over scenes: 1 - total edit distance / total digits."""
    scenes_seen = digits = errors = exact = lines_exact = 0
    for scene in progress(scenes, "scenes", unit="scene"):
        text = reader.read(scene.image).text
        truth = scene.text.replace("\n", "")
        errors += levenshtein(text.replace("\n", ""), truth)
        digits += len(truth)
        exact += text.replace("\n", "") == truth
        lines_exact += text == scene.text
        scenes_seen += 1
    if digits == 0:
        raise ValueError("scene_accuracy needs at least one scene with digits")
    return {
        "scenes": scenes_seen,
        "digits": digits,
        "errors": errors,
        "accuracy": 1 - errors / digits,
        "exact_scenes": exact / scenes_seen,
        "exact_lines": lines_exact / scenes_seen,
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m edge_digits.measure.scenes --count 8 --out DIR`: sample PNGs plus ground_truth.json."""
    parser = Parser(prog="python -m edge_digits.measure.scenes", description=main.__doc__)
    parser.add_argument("--count", type=positive_int, default=8, help="number of scenes (default 8)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=0, help="seed of the scenes (default 0)")
    add_data_option(parser)
    parser.add_argument("--size", default="640x480", help="WIDTHxHEIGHT (default 640x480)")
    parser.add_argument("--video", default=None, help="also write the scenes as a video (.mp4 or .avi)")
    parser.add_argument("--fps", type=float, default=10.0)
    args = parser.parse_args(argv)
    try:
        width, height = (int(part) for part in args.size.lower().split("x"))
        scenes = make_suite(args.count, args.seed, args.data, (width, height))
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        truth = []
        for index, scene in enumerate(scenes):
            name = f"scene_{index:04d}.png"
            cv2.imwrite(str(out / name), scene.image)
            truth.append({"file": name, **scene.to_dict()})
        (out / "ground_truth.json").write_text("[\n" + ",\n".join(json.dumps(entry) for entry in truth) + "\n]\n")
        if args.video:
            write_video(scenes, args.video, args.fps)
    except (EdgeDigitsError, ValueError, OSError) as error:
        print(f"edge_digits.measure.scenes: error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {len(scenes)} scenes to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
