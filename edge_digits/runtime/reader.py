"""Read handwritten digits from a photo or camera frame: segment, normalize, classify in one batch,
choose touching-digit splits by confidence, and order digits into (possibly sloped) lines."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from edge_digits.runtime import canvas as canvases
from edge_digits.runtime import normalize, segment
from edge_digits.runtime.classifier import Classifier, load_classifier
from edge_digits.runtime.imageio import as_uint8
from edge_digits.runtime.lines import ReadDigit, order_lines, page_tilt
from edge_digits.runtime.second_opinion import AUTO, SECOND_BELOW, SecondOpinion, second_beside
from edge_digits.runtime.trust import trust_from

SPLIT_MARGIN = 0.2  # a split's weakest piece must beat the whole reading's confidence by this much ...
SPLIT_WIDE = 1.3  # ... after dividing that by (width / this) for blobs wider than this many typical digits
STROKE_FREE = 1.5  # cuts crossing more than this many stroke widths of ink (one wide digit's two strokes) ...
STROKE_COST = 0.1  # ... lose this much split score per extra stroke width
FRAGMENTS = 4  # a first reading of at most this many blobs (read whole) may be pieces of one digit cut by the frame
CLOSEUP_HEIGHT = 0.5  # or of a close-up, when a digit read fills this share of the image's height (or it is inked all over)


@dataclass
class Reading:
    """All digits of an image in reading order; `text` has one row of digits per line."""

    digits: list[ReadDigit] = field(default_factory=list)

    @property
    def text(self) -> str:
        lines: dict[int, str] = {}
        for digit in self.digits:
            lines[digit.line] = lines.get(digit.line, "") + str(digit.digit)
        return "\n".join(lines[key] for key in sorted(lines))

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "digits": [asdict(digit) | {"box": list(digit.box)} for digit in self.digits]}


class DigitReader:
    """Finds and reads handwritten digits; the classifier is any runtime artifact (no TensorFlow).

    From an export directory it takes the fp32 model by default: the reader decides splits and drops
    blobs by confidence, and an int8 softmax (1/256 steps) blurs exactly those margins, for ~0.01 ms
    saved per crop. Pass precision="int8" (or an int8 file) to use the quantized model.

    Models are looked up in this order: `model=` (a file or export directory), $EDGE_DIGITS_EXPORT,
    ./export when it holds a manifest.json, then the copy the installed package carries
    (edge_digits/export, mapped from the repository's export/ at build time). Each is verified
    against its directory's manifest.json unless verify=False.

    `trusted_keys` (minisign .pub paths, inline keys or "project" for the key that signs the shipped set; added
    to $EDGE_DIGITS_TRUSTED_KEYS) makes the reader accept only sets whose manifest.json a trusted key signed,
    the second model's set too; `version_record` (or $EDGE_DIGITS_VERSION_RECORD) is a file that remembers the
    newest signed version of each set accepted, to refuse older ones. Without keys: sha256 integrity only.
    A Classifier passed in is used as it is. docs/security.md.

    `second_model` (a file, export directory or Classifier, loaded the same way) re-reads the digits the
    first model read below `second_below` confidence (second_opinion.SecondOpinion): a larger model
    where the small one is unsure. Segmentation, splits and drops stay the first model's decisions.
    By default ("auto") it is the file of the first model's name in the `second/` set of the first
    model's export directory, as the shipped set carries; None reads with the first model alone."""

    def __init__(
        self,
        model: str | os.PathLike | Classifier | None = None,
        backend: str = "onnx",
        min_confidence: float = 0.5,
        verify: bool = True,
        threads: int = 1,
        precision: str = "fp32",
        second_model: str | os.PathLike | Classifier | None = AUTO,
        second_below: float = SECOND_BELOW,
        trusted_keys: Iterable[str | os.PathLike] | None = None,
        version_record: str | os.PathLike | None = None,
    ):
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
        trust = trust_from(trusted_keys, version_record)

        def load(item: str | os.PathLike | Classifier | None) -> Classifier:
            return item if isinstance(item, Classifier) else load_classifier(
                item, backend=backend, precision=precision, verify=verify, threads=threads, trust=trust)

        self.classifier = load(model)
        if isinstance(second_model, str) and second_model == AUTO:
            second_model = second_beside(self.classifier, require_manifest=not trust.keys)
        self.second_opinion = None if second_model is None else SecondOpinion(load(second_model), second_below)
        self.min_confidence = min_confidence
        self.clock = time.perf_counter  # what `timings` measure; time.thread_time gives CPU seconds

    def read(self, image: np.ndarray, timings: dict[str, float] | None = None) -> Reading:
        """Digits in reading order: lines top to bottom, left to right along each (sloped) line.

        `timings`, when given, receives seconds per stage (segmentation, normalization, classification, ordering)
        as measured by self.clock (wall time unless changed)."""
        lap = _Lap(timings, self.clock)
        image = as_uint8(image)
        canvas = canvases.prepare(image)
        reading, blobs = self._read(canvas, lap)
        readable = canvases.MIN_SIDE <= min(image.shape[:2])
        crop = readable and max(image.shape[:2]) <= canvases.CROP_SIDE
        few = readable and blobs <= FRAGMENTS and canvas.offset == (0, 0)
        cut = few and (crop or canvases.ink_on_frame(canvas.image))
        close = few and not cut and (_tallest(reading) >= CLOSEUP_HEIGHT * image.shape[0]
                                     or canvases.ink_share(canvas.image) >= canvases.CLOSEUP_INK)
        if cut or close:
            # a crop or close-up whose digit may fill the image (the segmenter drops it as a page edge, or
            # keeps pieces of it; a faint pencil digit or a 1's foot reaches the frame too lightly for
            # ink_on_frame, so every crop is tried), or a close-up inked all over or read as one big piece
            # (a thick digit's loop): read it again framed in paper, and keep that reading if it is one digit
            # that contains every piece found and covers more than twice their area (a close-up's digit
            # also fills CLOSEUP_HEIGHT of the image)
            framed = self._read(canvases.reframe(canvas), lap)[0]
            if len(framed.digits) == 1 and _area(framed) > 2 * _area(reading) and _contains(framed.digits[0].box, reading) \
                    and (cut or _tallest(framed) >= CLOSEUP_HEIGHT * image.shape[0]):
                return framed
        return reading

    def _read(self, canvas: canvases.Canvas, lap: "_Lap") -> tuple[Reading, int]:
        """The reading of a canvas, and how many of its blobs read as a digit without splitting."""
        candidates = segment.find_candidates(canvas.image)
        lap("segmentation")
        if not candidates:
            return Reading(), 0
        masks, owners = [], []  # one batch: every candidate plus every piece of every split proposal
        for index, candidate in enumerate(candidates):
            masks.append(candidate.mask)
            owners.append((index, -1, -1))
            for s, split in enumerate(candidate.splits):
                for p, piece in enumerate(split):
                    masks.append(piece.mask)
                    owners.append((index, s, p))
        tilt = page_tilt([candidate.box for candidate in candidates])
        if tilt:
            masks = [normalize.rotate(mask, tilt) for mask in masks]
        images = normalize.batch(masks)
        lap("normalization")
        probabilities = self.classifier.predict(images)
        labels, scores = probabilities.argmax(axis=1).tolist(), probabilities.max(axis=1).tolist()
        found: list[tuple[tuple[int, int, int], int, float, tuple[int, int, int, int]]] = []
        results: dict[tuple[int, int, int], tuple[int, float]] = dict(zip(owners, zip(labels, scores)))
        for index, candidate in enumerate(candidates):
            found.extend(self._choose(index, candidate, results))
        if self.second_opinion is not None and found:
            rows = {owner: row for row, owner in enumerate(owners)}
            revised = self.second_opinion.revise(images[[rows[owner] for owner, *_ in found]],
                                                 [(digit, confidence) for _, digit, confidence, _ in found])
            found = [(owner, *reading, box) for (owner, _, _, box), reading in zip(found, revised)]
        lap("classification")  # with the split choices and the second opinion
        kept = [(digit, confidence, canvas.to_input(box)) for _, digit, confidence, box in found
                if confidence >= self.min_confidence]
        # blobs read as a digit on their own (pieces of a close-up may split into confident fragments)
        blobs = sum(results[(index, -1, -1)][1] >= self.min_confidence for index in range(len(candidates)))
        reading = Reading(order_lines(kept))
        lap("ordering")
        return reading, blobs

    @staticmethod
    def _choose(index: int, candidate: segment.Candidate, results) -> list[tuple[tuple[int, int, int], int, float, tuple]]:
        """Whole candidate or its best split, as (batch key, digit, confidence, box): the pieces' weakest
        confidence, less a margin and the ink the cut crosses, against the whole's confidence divided by
        how much wider than usual it is."""
        digit, confidence = results[(index, -1, -1)]
        best = [((index, -1, -1), digit, confidence, candidate.box)]
        # the wider a blob is than a typical digit, the less a single-digit reading is believed
        best_score = confidence / max(1.0, candidate.wide / SPLIT_WIDE)
        for s, split in enumerate(candidate.splits):
            pieces = [results[(index, s, p)] for p in range(len(split))]
            crossed = candidate.split_costs[s] if s < len(candidate.split_costs) else 0.0
            score = min(conf for _, conf in pieces) - SPLIT_MARGIN - STROKE_COST * max(0.0, crossed - STROKE_FREE)
            if score > best_score:
                best_score = score
                best = [((index, s, p), d, c, piece.box) for p, ((d, c), piece) in enumerate(zip(pieces, split))]
        return best

    def classify_crops(self, crops: list[np.ndarray], ink: str = "dark") -> list[tuple[int, float]]:
        """Classify single-digit crops (any size) in one batch -> [(digit, confidence), ...]."""
        if not isinstance(crops, (list, tuple)):
            raise ValueError(f"expected a list of numpy image crops, got {type(crops).__name__}")
        if not crops:
            return []
        images = np.stack([normalize.normalize_crop(crop, ink=ink) for crop in crops])
        readings = [(int(p.argmax()), float(p.max())) for p in self.classifier.predict(images)]
        return readings if self.second_opinion is None else self.second_opinion.revise(images, readings)


def _contains(box: tuple[int, int, int, int], reading: Reading) -> bool:
    """Whether `box` contains the centre of every digit of `reading`."""
    x, y, w, h = box
    return all(x <= d.box[0] + d.box[2] / 2 <= x + w and y <= d.box[1] + d.box[3] / 2 <= y + h for d in reading.digits)


def _tallest(reading: Reading) -> int:
    """Height of the tallest digit of a reading (input pixels), 0 when it is empty."""
    return max((digit.box[3] for digit in reading.digits), default=0)


def _area(reading: Reading) -> int:
    """Total box area of a reading's digits (input pixels)."""
    return sum(digit.box[2] * digit.box[3] for digit in reading.digits)


class _Lap:
    """Stage timer: each call records the time since the previous one as timings[stage] (when timing)."""

    def __init__(self, timings: dict[str, float] | None, clock: Callable[[], float]):
        self.timings, self.clock = timings, clock
        self.mark = clock() if timings is not None else 0.0

    def __call__(self, stage: str) -> None:
        if self.timings is not None:
            now = self.clock()
            self.timings[stage] = now - self.mark
            self.mark = now
