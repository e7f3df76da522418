"""Split proposals for touching digits: cuts at column-projection minima, each scored by how much ink
it crosses (in stroke widths), since touching digits join in one thin stroke, while a cut through one
wide digit (0, 2, 5, 7) usually crosses two or more strokes."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from edge_digits.runtime.normalize import stroke_width


PIECE_HEIGHT = 0.6  # every piece of a split spans at least this share of the blob's height
MAX_PIECES = 5  # a blob is split into at most this many digits
MINIMA_CHECKED = 12  # uneven cuts of a cluster are looked for among this many lowest profile minima ...
NARROWEST = 0.3  # ... leaving no piece narrower than this share of an even split's (a 1 is narrow)


@dataclass
class Candidate:
    """One digit region: box (x, y, w, h) in image pixels, its binary ink crop, and split proposals."""

    box: tuple[int, int, int, int]
    mask: np.ndarray  # uint8 0/255 crop at working resolution (only this candidate's ink)
    splits: list[list["Candidate"]] = field(default_factory=list)  # alternative readings as 2+ digits
    wide: float = 1.0  # width relative to the typical digit width (a split prior for the reader)
    split_costs: list[float] = field(default_factory=list)  # per split: strokes its cuts cross


def split_proposals(crop: np.ndarray, origin: tuple[int, int], pieces: float,
                    scale: float) -> tuple[list[list[Candidate]], list[float]]:
    """Alternatives for touching digits (2 pieces, and 3, 4, ... up to MAX_PIECES while `pieces` (the digits
    the blob's width may hold) exceeds 1.5, 2.5, ...: a cluster of three or more touching digits), and for
    each the strokes its cuts cross (profile at the cut / stroke width, the largest over its cuts)."""
    height, width = crop.shape
    profile = np.convolve((crop > 0).sum(axis=0).astype(np.float64), np.ones(3) / 3, mode="same")
    stroke = max(stroke_width(crop), 1.0)
    proposals, costs = [], []
    for parts in range(2, min(MAX_PIECES, math.ceil(pieces + 0.5)) + 1):
        cuts = []
        for k in range(1, parts):
            centre = width * k / parts
            lo, hi = int(centre - 0.25 * width / parts), int(centre + 0.25 * width / parts) + 1
            lo, hi = max(lo, 1), min(hi, width - 1)
            if hi <= lo:
                break
            cuts.append(lo + int(np.argmin(profile[lo:hi])))
        if len(cuts) != parts - 1:
            continue
        alternatives = [cuts]
        if parts == 2:  # a second cut at the next-best local minimum, for slanted joins
            lo, hi = max(int(0.3 * width), 1), min(int(0.7 * width) + 1, width - 1)
            order = lo + np.argsort(profile[lo:hi])
            other = next((int(c) for c in order if abs(int(c) - cuts[0]) > 0.08 * width), None)
            if other is not None:
                alternatives.append([other])
        else:  # digits of a cluster differ in width (a 1 beside a 0): the thinnest joins wherever they are
            uneven = _thinnest_cuts(profile, parts)
            if uneven is not None and uneven != cuts:
                alternatives.append(uneven)
        for cut_list in alternatives:
            pieces_out = _cut(crop, origin, cut_list, scale)
            if pieces_out is not None:
                proposals.append(pieces_out)
                costs.append(max(float(profile[c]) for c in cut_list) / stroke)
    return proposals, costs


def _thinnest_cuts(profile: np.ndarray, parts: int) -> list[int] | None:
    """The `parts` - 1 cuts, among the profile's MINIMA_CHECKED lowest local minima, whose thickest cut is
    thinnest, every piece at least NARROWEST of an even share of the width wide; None if none fit."""
    width = len(profile)
    ink = np.rint(3 * profile).astype(np.int64)  # the whole 3-column counts: ties are ties on every platform
    inner = np.arange(1, width - 1)
    minima = inner[(ink[inner] <= ink[inner - 1]) & (ink[inner] < ink[inner + 1])]
    minima = np.sort(minima[np.argsort(ink[minima], kind="stable")[:MINIMA_CHECKED]]).tolist()
    narrowest = NARROWEST * width / parts
    best, best_cost = None, np.inf
    for cuts in itertools.combinations(minima, parts - 1):
        edges = (0, *cuts, width)
        if min(b - a for a, b in zip(edges, edges[1:])) < narrowest:
            continue
        cost = max(ink[c] for c in cuts)
        if cost < best_cost:
            best, best_cost = list(cuts), cost
    return best


def _cut(crop: np.ndarray, origin: tuple[int, int], cuts: list[int], scale: float) -> list[Candidate] | None:
    """Cut a crop at columns; each piece is trimmed to its ink. None if a piece is (nearly) empty or spans
    less than PIECE_HEIGHT of the crop's height (a digit's bar or half its loop cut off, not a digit beside it)."""
    edges = [0, *cuts, crop.shape[1]]
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        piece = crop[:, a:b]
        rows = np.flatnonzero(piece.any(axis=1))
        cols = np.flatnonzero(piece.any(axis=0))
        if rows.size < 2 or rows[-1] - rows[0] + 1 < PIECE_HEIGHT * crop.shape[0] or cols.size < 2:
            return None
        piece = piece[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        box = (origin[0] + a + cols[0], origin[1] + rows[0], piece.shape[1], piece.shape[0])
        out.append(Candidate(to_image(box, scale), np.ascontiguousarray(piece)))
    return out


def to_image(box, scale: float) -> tuple[int, int, int, int]:
    """Working-resolution box -> the image pixels it covers (whole pixels when upscaled)."""
    left, top = math.floor(box[0] / scale + 1e-6), math.floor(box[1] / scale + 1e-6)
    right, bottom = math.ceil((box[0] + box[2]) / scale - 1e-6), math.ceil((box[1] + box[3]) / scale - 1e-6)
    return int(left), int(top), max(1, int(right - left)), max(1, int(bottom - top))
