"""runtime/normalize.py pins MNIST's geometry exactly: ink fitted into 20x20 (longer side exactly 20)
and centred by centre of mass, not by bounding box, in 28x28."""

from __future__ import annotations

import numpy as np

from edge_digits.runtime.normalize import SIZE, normalize_mask


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    total = float(image.sum())
    rows, cols = np.arange(image.shape[0]), np.arange(image.shape[1])
    return float(image.sum(axis=1) @ rows) / total, float(image.sum(axis=0) @ cols) / total


def ink_extent(profile: np.ndarray) -> float:
    """Length of a solid block's ink along one axis; edge rows blurred by a sub-pixel shift add up to one."""
    return float(profile.sum())


def test_asymmetric_glyph_is_centred_by_mass_not_by_box():
    """An L: a heavy bar on the left, a thin foot to the right. Its mass sits left of and below its box centre."""
    glyph = np.zeros((60, 48), np.uint8)
    glyph[:, :14] = 255  # the bar
    glyph[54:, 14:] = 255  # the foot
    out = normalize_mask(glyph, fix_stroke=False)
    row, col = centre_of_mass(out)
    assert abs(row - SIZE / 2) < 0.25 and abs(col - SIZE / 2) < 0.25, (row, col)
    cols = np.flatnonzero(out.max(axis=0) > 0.5)
    box_centre = (cols[0] + cols[-1]) / 2
    assert box_centre - SIZE / 2 > 2.0, box_centre  # the box's centre lies right of the mass: boxes and mass differ here


def test_longer_side_of_the_ink_is_exactly_20():
    """A solid 30x18 block: height 20 after fitting, width 12 (aspect kept)."""
    block = np.full((30, 18), 255, np.uint8)
    out = normalize_mask(block, fix_stroke=False)
    assert out.shape == (SIZE, SIZE)
    assert abs(ink_extent(out.max(axis=1)) - 20) < 0.05, ink_extent(out.max(axis=1))
    assert abs(ink_extent(out.max(axis=0)) - 12) < 0.05, ink_extent(out.max(axis=0))
    wide = normalize_mask(np.full((9, 45), 255, np.uint8), fix_stroke=False)  # and along the width for a wide one
    assert abs(ink_extent(wide.max(axis=0)) - 20) < 0.05
