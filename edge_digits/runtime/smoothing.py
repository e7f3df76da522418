"""Temporal smoothing for camera readings: a steady scene should give a steady text.

The smoother keeps the last few readings (bounded) and reports the most common text among them,
with the digits and boxes of the newest reading that has that text. When the boxes stop matching
the previous frame's (the page moved or changed), the history restarts so a new scene shows at once.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any, Sequence

Box = Sequence[float]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    inter_w = min(ax + aw, bx + bw) - max(ax, bx)
    inter_h = min(ay + ah, by + bh) - max(ay, by)
    if inter_w <= 0 or inter_h <= 0:
        return 0.0
    inter = inter_w * inter_h
    return inter / (aw * ah + bw * bh - inter)


def same_layout(previous: Sequence[Box], current: Sequence[Box], min_iou: float = 0.5, min_matched: float = 0.75) -> bool:
    """True when most boxes of both frames overlap a box of the other (the same page, roughly still)."""
    if not previous and not current:
        return True
    if not previous or not current:
        return False
    matched = sum(any(iou(box, other) >= min_iou for other in previous) for box in current)
    return matched >= min_matched * max(len(previous), len(current))


class ReadingSmoother:
    """Majority vote of the reading text over the last `window` frames of an unchanged scene."""

    def __init__(self, window: int = 5):
        if window < 1:
            raise ValueError(f"window must be at least 1 frame, got {window}")
        self.history: deque[Any] = deque(maxlen=window)
        self.shown: str | None = None

    def update(self, reading: Any) -> Any:
        """Add this frame's reading (with `.text` and `.digits`) and return the reading to show."""
        if self.history and not same_layout(_boxes(self.history[-1]), _boxes(reading)):
            self.reset()
        self.history.append(reading)
        counts = Counter(item.text for item in self.history)
        best = max(counts.values())
        # A tie keeps the text already shown (no flicker); otherwise the newest of the leaders wins.
        if counts.get(self.shown) != best:
            self.shown = next(item.text for item in reversed(self.history) if counts[item.text] == best)
        return next(item for item in reversed(self.history) if item.text == self.shown)

    def reset(self) -> None:
        """Forget the history (e.g. when the source restarts)."""
        self.history.clear()
        self.shown = None


def _boxes(reading: Any) -> list[Box]:
    return [item.box for item in reading.digits]
