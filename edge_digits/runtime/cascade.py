"""A second opinion for unsure crops: the small model reads every crop, a larger one only those it is unsure of.

The 40 KB model misreads writing styles MNIST under-represents (continental 1s, looped 2s) mostly at
low confidence. A model four times its cost reads them far better but would take the camera frame over
its budget if it read every crop; asked only about the unsure ones (about one crop in nine at 0.97 in
synthetic frames), it costs a fraction of a millisecond. Measured in docs/reader.md.
"""

from __future__ import annotations

import numpy as np

from edge_digits.runtime.classifier import Classifier

SECOND_BELOW = 0.97  # crops the first model reads below this top probability go to the second


class Cascade(Classifier):
    """Classify with `first`; rows whose top probability is under `below` take `second`'s probabilities.

    `crops` and `second_reads` count what went through, so a measurement can report the second model's share."""

    def __init__(self, first: Classifier, second: Classifier, below: float = SECOND_BELOW):
        if not 0.0 <= below <= 1.0:
            raise ValueError(f"below must be a probability in [0, 1], got {below}")
        self.first, self.second, self.below = first, second, below
        self.format, self.path = first.format, first.path
        self.crops = self.second_reads = 0

    def _run(self, images: np.ndarray) -> np.ndarray:
        probabilities = self.first.predict(images)
        unsure = np.flatnonzero(probabilities.max(axis=1) < self.below)
        self.crops += len(images)
        self.second_reads += len(unsure)
        if len(unsure) == 0:
            return probabilities
        probabilities = probabilities.copy()
        probabilities[unsure] = self.second.predict(images[unsure])
        return probabilities
