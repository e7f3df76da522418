"""Bring any input to what the segmenter expects: dark ink on lighter paper, digits inside the frame.

Photos already are. Digit datasets and crops often are not: MNIST, USPS and EMNIST store light ink
on black, and a 16x16 or 28x28 crop is smaller than the segmenter's morphology and has its digit
touching the frame, which the segmenter rejects as a page edge. `prepare` inverts light-on-dark
images, upscales small ones by a whole factor and frames them with paper; `Canvas.to_input` maps
boxes found on the canvas back to the caller's pixels. Runtime tier (numpy + OpenCV).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

SMALL_SIDE = 64  # inputs thinner than this (USPS 16, MNIST 28, a strip of them) are always upscaled by a
TARGET_SIDE = 160  # whole factor towards this and framed with paper, SMALL_MARGIN times their width on every side
SMALL_MARGIN = 1.5  # (their strokes are thick for their size: the segmenter's paper estimate must not take
MARGIN = 0.5  # a stroke's middle for paper); larger ones are framed MARGIN wide when asked, or when ...
CROP_SIDE = 256  # ... at most this big (crops) and ink reaches their frame; also the polarity test's crop size
TINY_SIDE = 16  # under this (optdigits' 8x8 counts) a digit covers most of the frame: its corners are the paper
MIN_SIDE = 4  # nothing thinner than this many input pixels can hold a digit
DARK_FRAME = 160  # light ink is looked for only when the frame's median is darker than this (a grey board)
CROP_INK_SHARE = 0.6  # light ink on a dark frame covers less than this share of a crop
POLARITY_SIDE = 160  # larger images are judged on a copy this long ...
STROKE_DIVISOR = 40  # ... by features thinner than 1/40 of it (strokes; not pages, shadows or gradients) ...
LIGHT_RATIO = 2.0  # ... bright ones outnumbering dark ones this many times
FRAME_INK_SHARE = 0.02  # a larger input with this share of its outer frame inked may hold a digit cut by it
CLOSEUP_INK = 0.08  # an input with this share of its pixels inked may be a close-up of one thick digit;
CLOSEUP_MARGIN = 1.0  # close-ups are read again framed in paper this many times their width on every side, so
# thick strokes are thin for the canvas and the segmenter's paper estimate does not take their middle for paper


@dataclass(frozen=True)
class Canvas:
    """The image the segmenter sees, and how its pixels map to the input's."""

    image: np.ndarray
    factor: int  # canvas pixels per input pixel
    offset: tuple[int, int]  # (x, y) of the input's top-left corner on the canvas
    input_shape: tuple[int, int]  # (height, width) of the input

    def to_input(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """A canvas box (x, y, w, h) in input pixels, clipped to the input (margins hold only paper)."""
        height, width = self.input_shape
        x0 = min(max((box[0] - self.offset[0]) / self.factor, 0.0), width - 1)
        y0 = min(max((box[1] - self.offset[1]) / self.factor, 0.0), height - 1)
        x1 = min(max((box[0] + box[2] - self.offset[0]) / self.factor, x0 + 1), width)
        y1 = min(max((box[1] + box[3] - self.offset[1]) / self.factor, y0 + 1), height)
        left, top = int(math.floor(x0)), int(math.floor(y0))
        return left, top, max(1, int(math.ceil(x1)) - left), max(1, int(math.ceil(y1)) - top)


def light_ink(image: np.ndarray) -> bool:
    """True when the ink is lighter than its background (white-on-black datasets, chalk on a board).

    Only asked when the outer frame, or in a larger image most of it, is darkish (a light page in
    a light frame, the usual photo, costs under 0.1 ms). In a crop the frame's median is the
    background: ink is the bright class of an Otsu split and must not cover most of it (its digit
    may fill half). In a larger image the strokes decide (see _light_strokes), since a page on a dark
    desk, a board on a light wall or a board's shading defeat one global split."""
    frame = _frame(image)  # (N,) gray or (N, 3) BGR: converted alone, it costs nothing on a light frame
    large = max(image.shape[:2]) > CROP_SIDE
    colour = image.ndim == 3
    if _gray_median(frame, colour) >= DARK_FRAME and not (large and _gray_median(image[::8, ::8], colour) < DARK_FRAME):
        return False
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if large:
        return _light_strokes(gray)
    _, bright = cv2.threshold(gray, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return 0.0 < cv2.countNonZero(bright) / bright.size < CROP_INK_SHARE


def _gray_median(pixels: np.ndarray, colour: bool) -> float:
    """Median brightness of gray pixels, or of BGR pixels (last axis 3) when `colour`, any shape."""
    if colour:
        pixels = cv2.cvtColor(np.ascontiguousarray(pixels.reshape(1, -1, 3)), cv2.COLOR_BGR2GRAY)
    pixels = pixels.ravel()
    lower, upper = (pixels.size - 1) // 2, pixels.size // 2  # np.median's value at half its cost: the two middle
    middle = np.partition(pixels, [lower, upper])  # values (one for an odd count) averaged
    return (float(middle[lower]) + float(middle[upper])) / 2.0


def _light_strokes(gray: np.ndarray) -> bool:
    """On a POLARITY_SIDE copy, strong top-hat pixels (bright features thinner than 1/STROKE_DIVISOR of
    the image) outnumber strong black-hat ones (dark features as thin) LIGHT_RATIO times."""
    scale = POLARITY_SIDE / max(gray.shape)
    small = cv2.resize(gray, (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale))),
                       interpolation=cv2.INTER_AREA)
    side = max(3, POLARITY_SIDE // STROKE_DIVISOR | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    bright = cv2.morphologyEx(small, cv2.MORPH_TOPHAT, kernel)
    dark = cv2.morphologyEx(small, cv2.MORPH_BLACKHAT, kernel)
    strong = 0.5 * max(int(bright.max()), int(dark.max()), 1)
    return int((bright > strong).sum()) > LIGHT_RATIO * int((dark > strong).sum())


def prepare(image: np.ndarray) -> Canvas:
    """Dark-ink image for the segmenter: inverted if light_ink; an image thinner than SMALL_SIDE is
    upscaled and framed in paper, and a crop whose ink reaches its edge is framed, so a digit filling
    it stays readable."""
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE:
        return Canvas(image, 1, (0, 0), (height, width))
    if light_ink(image):
        image = cv2.bitwise_not(image)
    if min(height, width) < SMALL_SIDE:
        return _framed(image, max(1, math.ceil(TARGET_SIDE / max(height, width))), SMALL_MARGIN)
    if max(height, width) <= CROP_SIDE and ink_on_frame(image):  # read unframed, a 200 px one breaks apart
        return _framed(image, 1, MARGIN)
    return Canvas(image, 1, (0, 0), (height, width))


def reframe(canvas: Canvas) -> Canvas:
    """An unframed canvas (dark ink already) framed in paper CLOSEUP_MARGIN wide: for a close-up."""
    return _framed(canvas.image, 1, CLOSEUP_MARGIN)


def _framed(image: np.ndarray, factor: int, margin: float) -> Canvas:
    """`image` upscaled by `factor` and surrounded by its paper colour, `margin` times its width on every side.

    Images thinner than TINY_SIDE are block averages (optdigits' 8x8 counts): cubic upscaling rebuilds
    their strokes, where linear leaves diamonds; larger ones (Semeion's hard 16x16 bits) keep linear,
    as cubic rings around hard edges."""
    height, width = image.shape[:2]
    if factor > 1:
        smooth = cv2.INTER_CUBIC if min(height, width) < TINY_SIDE else cv2.INTER_LINEAR
        image = cv2.resize(image, (width * factor, height * factor), interpolation=smooth)
    pad = int(math.ceil(margin * min(height, width) * factor))
    framed = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=_paper(image))
    return Canvas(framed, factor, (pad, pad), (height, width))


def ink_on_frame(image: np.ndarray) -> bool:
    """True when at least FRAME_INK_SHARE of the outer frame is ink (well darker than the frame's median,
    its paper): a digit may fill the image, which the segmenter would drop as a page edge. Dark ink."""
    if min(image.shape[:2]) < MIN_SIDE:
        return False
    frame = _frame(image).astype(np.float32)
    if frame.ndim == 2:
        frame = frame.min(axis=1)  # the darkest channel: blue or red ink on white
    return float(np.mean(frame < 0.6 * np.median(frame))) >= FRAME_INK_SHARE


def ink_share(image: np.ndarray) -> float:
    """Share of the pixels (every 4th row and column) that are ink as ink_on_frame tells it (well darker
    than the outer frame's median): a page of digits inks a few percent, a close-up of one far more."""
    if min(image.shape[:2]) < MIN_SIDE:
        return 0.0
    sample = image[::4, ::4].astype(np.float32)
    frame = _frame(image).astype(np.float32)
    if image.ndim == 3:
        sample, frame = sample.min(axis=2), frame.min(axis=1)
    return float(np.mean(sample < 0.6 * np.median(frame)))


def _frame(image: np.ndarray) -> np.ndarray:
    """The outermost rows and columns' pixels, (N,) or (N, channels); only the four corners of a tiny image."""
    if min(image.shape[:2]) < TINY_SIDE:
        return image[[0, 0, -1, -1], [0, -1, 0, -1]]
    return np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])


def _paper(image: np.ndarray) -> tuple[int, ...]:
    """The background colour: per-channel median of the outer frame (a crop's digit fills its middle)."""
    return tuple(int(value) for value in np.atleast_1d(np.median(_frame(image), axis=0)))

