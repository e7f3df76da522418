"""What runs on each target, with the installed wheel and the runtime tier only (no TensorFlow):

  probe.py DIGITS.npz OUT.npz FIRST SECOND IMAGE...

writes the probabilities of every shipped model of the package's export/ (on the first FIRST digits) and
export/second/ (on the first SECOND) to OUT.npz, and prints one JSON line: the CPU and instruction-set path the
target reports, each model's seconds, and which second model the default reader loads for IMAGE..., its threshold
and the first model's confidence of every digit it was offered. (One process: under emulation every Python start
costs tens of seconds.)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

import edge_digits
from edge_digits.formats import FORMATS
from edge_digits.runtime.classifier import load_classifier
from edge_digits.runtime.cpu import measured_on

BATCH = 500
SETS = ("first", "second")  # export/ and export/second/ of the installed package


def model_key(set_name: str, file_name: str) -> str:
    """How OUT.npz names a model's probabilities, e.g. 'second:digits_int8.onnx'."""
    return f"{set_name}:{file_name}"


def run_models(digits: Path, out: Path, counts: dict[str, int]) -> dict:
    """Probabilities of every non-Keras model of both shipped sets, loaded as users load them (verified)."""
    images = np.load(digits)["images"]
    export = Path(edge_digits.__file__).resolve().parent / "export"
    results, seconds = {}, {}
    for set_name, folder in zip(SETS, (export, export / "second")):
        for entry in FORMATS:
            path = folder / entry.file
            if entry.backend == "keras" or not path.is_file():
                continue
            started = time.perf_counter()
            classifier = load_classifier(path, backend=entry.backend, verify=True)
            batches = [classifier.predict(images[start:min(start + BATCH, counts[set_name])])
                       for start in range(0, counts[set_name], BATCH)]
            key = model_key(set_name, entry.file)
            results[key] = np.concatenate(batches).astype(np.float32)
            seconds[key] = round(time.perf_counter() - started, 1)
    np.savez(out, **results)
    return {"measured_on": measured_on(), "seconds": seconds}


def run_second(images: list[str]) -> dict:
    """The default reader's second model, its threshold, and each offered digit's first confidence."""
    from edge_digits import DigitReader
    from edge_digits.runtime.imageio import load_image

    reader = DigitReader()
    opinion, first = reader.second_opinion, []
    if opinion is not None:
        revise = opinion.revise

        def recorded(crops, readings):
            first.extend(confidence for _, confidence in readings)
            return revise(crops, readings)

        opinion.revise = recorded
    for name in images:
        reader.read(load_image(name))
    model = None if opinion is None else Path(opinion.model.path)
    return {"model": None if model is None else "/".join(model.parts[-3:]),
            "below": None if opinion is None else opinion.below, "first": first}


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    report = run_models(Path(argv[0]), Path(argv[1]), {"first": int(argv[2]), "second": int(argv[3])})
    print(json.dumps({**report, "second": run_second(argv[4:])}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
