"""Ways a newcomer's camera sees the same page: photos re-shot far away, turned, or lying on a desk or table.

`edge-digits score PHOTOS --view NAME` reads a labelled photo folder through one of these, so the
reader is measured on conditions its development photos do not show (numpy + OpenCV, runtime tier).
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

DARK_DESK = (40, 40, 40)  # BGR
WOOD = (50, 85, 130)  # BGR: a brown desk, given a blurred grain
TABLE_SHADE = 0.7  # a grey table this shade of the page's own paper (its median), with sensor grain
SURFACES = ("dark", "wood", "table")
SURROUND = 1.5  # the desk photo is this many times the page's size
TILT_DEGREES = 12.0  # a camera held this far off the rows' direction


def far(image: np.ndarray, factor: float = 0.25) -> np.ndarray:
    """The photo at `factor` of its size (area-averaged), as if shot from further away."""
    height, width = image.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def tilted(image: np.ndarray, degrees: float = TILT_DEGREES) -> np.ndarray:
    """The photo turned `degrees` counter-clockwise in the same frame, as by a camera held askew (the
    corners it uncovers repeat the photo's edge; digits turned out of the frame are cut, as they would be)."""
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def on_desk(image: np.ndarray, surface: str = "dark", seed: int = 0) -> np.ndarray:
    """The photo as a page lying off-centre on a desk SURROUND times its size: flat dark, grained wood,
    or a grey table close to the paper's own shade (whose edge only shading tells from the page)."""
    if surface not in SURFACES:
        raise ValueError(f"surface must be one of {', '.join(SURFACES)}, got {surface!r}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    height, width = image.shape[:2]
    desk = np.zeros((int(height * SURROUND), int(width * SURROUND), 3), np.float32)
    rng = np.random.default_rng(seed)
    if surface == "wood":
        desk[:] = WOOD
        desk += cv2.GaussianBlur(rng.normal(0.0, 25.0, desk.shape[:2]).astype(np.float32), (0, 0), 3)[..., None]
    elif surface == "table":
        desk[:] = TABLE_SHADE * np.median(image[..., :3].reshape(-1, 3), axis=0)
        desk += rng.normal(0.0, 3.0, desk.shape[:2]).astype(np.float32)[..., None]
    else:
        desk[:] = DARK_DESK
    desk = desk.clip(0, 255).astype(np.uint8)
    top, left = height // 6, width // 4
    desk[top:top + height, left:left + width] = image[..., :3]
    return desk


VIEWS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "as-is": lambda image: image,
    "far": far,
    "tilted": tilted,
    "desk": on_desk,
    "wood": lambda image: on_desk(image, surface="wood"),
    "table": lambda image: on_desk(image, surface="table"),
}


def view(image: np.ndarray, name: str) -> np.ndarray:
    """`image` as the view `name` (one of VIEWS) shows it."""
    if name not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}, got {name!r}")
    return VIEWS[name](image)
