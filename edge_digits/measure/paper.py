"""Lined and squared paper for synthetic scenes, to measure the reader on notebook pages.

A scene's photo is multiplied by printed rules (light blue lines, or a grey-green grid) spaced
relative to its digits and tilted a little, as in a hand-held photo of a notebook: digits cross
the rules and touch them, which is what makes ruled pages hard (see rules.py).
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from edge_digits.measure.scenes import Scene

PAPER_STYLES = ("plain", "lined", "squared")
LINED_COLOUR = (205, 165, 120)  # BGR: the light blue of notebook rules
SQUARED_COLOUR = (175, 185, 160)  # BGR: a grey-green grid
MAX_TILT_DEGREES = 3.0


def on_paper(scene: Scene, style: str, rng: np.random.Generator) -> Scene:
    """`scene` on `style` paper: rules every 0.7-1.2 digit heights (lined) or a grid of 0.4-0.7 (squared)."""
    if style not in PAPER_STYLES:
        raise ValueError(f"paper style must be one of {', '.join(PAPER_STYLES)}, got {style!r}")
    if style == "plain":
        return scene
    height, width = scene.image.shape[:2]
    digit = float(np.median([box[3] for box in scene.boxes]))
    slope = np.tan(np.deg2rad(rng.uniform(-MAX_TILT_DEGREES, MAX_TILT_DEGREES)))
    lined = style == "lined"
    spacing = max(8.0, digit * (rng.uniform(0.7, 1.2) if lined else rng.uniform(0.4, 0.7)))
    rules = np.zeros((height, width), np.uint8)
    thickness = int(rng.integers(1, 3))
    reach = abs(slope) * width
    for offset in np.arange(rng.uniform(0, spacing) - reach, height + reach, spacing):
        start, end = (0, int(round(offset))), (width - 1, int(round(offset + slope * width)))
        cv2.line(rules, start, end, 255, thickness, cv2.LINE_AA)
    if not lined:
        for offset in np.arange(rng.uniform(0, spacing) - reach, width + reach, spacing):
            start, end = (int(round(offset)), 0), (int(round(offset - slope * height)), height - 1)
            cv2.line(rules, start, end, 255, thickness, cv2.LINE_AA)
    colour = np.array(LINED_COLOUR if lined else SQUARED_COLOUR, np.float32) / 255.0
    strength = rules.astype(np.float32)[..., None] / 255.0
    image = scene.image.astype(np.float32) * (1.0 - strength * (1.0 - colour))  # printed under the light
    return replace(scene, image=np.clip(image, 0, 255).astype(np.uint8))
