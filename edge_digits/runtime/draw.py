"""Annotate a frame with a reading: a box, digit and confidence per digit, coloured by line, plus FPS."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from edge_digits.runtime.imageio import as_bgr

# One BGR colour per text line, cycled; chosen to stay visible on white paper and dark ink.
LINE_COLOURS = ((0, 170, 0), (220, 110, 0), (0, 90, 230), (170, 0, 170), (0, 160, 200), (120, 120, 0))
FONT = cv2.FONT_HERSHEY_SIMPLEX


def draw_reading(image: np.ndarray, reading: Any, fps: float | None = None) -> np.ndarray:
    """Return an annotated BGR copy of `image`; `reading` needs `.digits` (digit, confidence, box, line)."""
    canvas = as_bgr(image).copy()
    height, width = canvas.shape[:2]
    scale = max(0.35, min(width, height) / 600)  # font and line sizes follow the frame size
    thickness = max(1, round(2 * scale))
    for item in reading.digits:
        x, y, w, h = (int(v) for v in item.box)
        colour = LINE_COLOURS[int(item.line) % len(LINE_COLOURS)]
        cv2.rectangle(canvas, (x, y), (x + w - 1, y + h - 1), colour, thickness)
        label = f"{item.digit} {item.confidence:.0%}"
        (_, text_h), base = cv2.getTextSize(label, FONT, 0.55 * scale, thickness)
        top = y - text_h - base - 2 if y - text_h - base - 2 >= 0 else min(y + h + 2, height - text_h - base)
        _label(canvas, label, (x, top), colour, 0.55 * scale, thickness)
    if fps is not None:
        _label(canvas, f"{fps:.1f} FPS", (4, 4), (40, 40, 40), 0.6 * scale, thickness)
    text = " / ".join(getattr(reading, "text", "").splitlines())
    if text:
        (_, text_h), base = cv2.getTextSize(text, FONT, 0.7 * scale, thickness)
        _label(canvas, text, (4, height - text_h - base - 6), (40, 40, 40), 0.7 * scale, thickness)
    return canvas


def _label(canvas: np.ndarray, text: str, corner: tuple[int, int], colour, font_scale: float, thickness: int) -> None:
    """White text on a filled box whose top-left corner is `corner`."""
    (text_w, text_h), base = cv2.getTextSize(text, FONT, font_scale, thickness)
    x, y = max(0, corner[0]), max(0, corner[1])
    cv2.rectangle(canvas, (x, y), (x + text_w + 4, y + text_h + base + 4), colour, cv2.FILLED)
    cv2.putText(canvas, text, (x + 2, y + text_h + 2), FONT, font_scale, (255, 255, 255), thickness, cv2.LINE_AA)
