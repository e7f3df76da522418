"""A second opinion on unsure digits: the small model reads and decides, a larger one relabels what it is unsure of.

The 40 KB model misreads writing styles MNIST under-represents (continental 1s, looped 2s) mostly at
low confidence. A model eight times its cost (two teachers averaged) reads them far better but would
take the camera frame over its budget if it read every crop. Here it reads only the final digits the
small model read below SECOND_BELOW; where to split touching digits and which blobs to drop stay the
small model's decisions (letting the larger model's confidences into them split fewer touching pairs
right). The shipped export set carries such a model in its SECOND_SET sub-directory, its own export
set with its own manifest. Measured in docs/reader.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_digits.runtime.classifier import Classifier
from edge_digits.runtime.manifest import MANIFEST_NAME

# digits the first model reads below this confidence are read again by the second; with the shipped pair of
# teachers, 0.995 left fewer errors than 0.99 over every score suite built from validation digits
# (measure/validation_set.py; docs/reader.md)
SECOND_BELOW = 0.995
SECOND_SET = "second"  # the sub-directory of an export set that holds its second model's export set
AUTO = "auto"  # second_model= default: the SECOND_SET artifact beside the first model, when there is one


def second_beside(first: Classifier, require_manifest: bool = True) -> Path | None:
    """The artifact of the same name as `first`'s in its export directory's SECOND_SET, when that set holds one
    (so an int8 TFLite first model gets the int8 TFLite second model); None otherwise. With `require_manifest`
    False (trusted keys: the load then refuses an unsigned set) a model without its manifest is returned too."""
    path = getattr(first, "path", None)
    if path is None:
        return None
    candidate = Path(path).parent / SECOND_SET / Path(path).name
    has_manifest = (candidate.parent / MANIFEST_NAME).is_file()
    return candidate if candidate.is_file() and (has_manifest or not require_manifest) else None


class SecondOpinion:
    """Re-reads, with `model`, the digits read below `below`; its reading replaces the first one.

    `digits` and `second_reads` count what went through, so a measurement can report the second model's share."""

    def __init__(self, model: Classifier, below: float = SECOND_BELOW):
        if not 0.0 <= below <= 1.0:
            raise ValueError(f"below must be a probability in [0, 1], got {below}")
        self.model, self.below = model, below
        self.digits = self.second_reads = 0

    def revise(self, images: np.ndarray, readings: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """`readings[i]` is (digit, confidence) of `images[i]` (N, 28, 28, 1); the unsure ones come back re-read."""
        if len(images) != len(readings):
            raise ValueError(f"got {len(images)} images for {len(readings)} readings")
        unsure = [index for index, (_, confidence) in enumerate(readings) if confidence < self.below]
        self.digits += len(readings)
        self.second_reads += len(unsure)
        if not unsure:
            return list(readings)
        revised = list(readings)
        for index, probabilities in zip(unsure, self.model.predict(images[unsure])):
            revised[index] = (int(probabilities.argmax()), float(probabilities.max()))
        return revised
