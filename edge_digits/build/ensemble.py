"""One Keras model whose probabilities are the mean of several trained models' (build tier).

Two teachers trained with different augmentation misread different digits; their mean misreads fewer
than either. Built as one model, it exports, quantizes and passes parity like any other, so the
reader's second model stays one export set (`edge-digits average`, then `edge-digits export`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edge_digits.build.keras_io import import_tensorflow, load_keras_model
from edge_digits.errors import EdgeDigitsError
from edge_digits.files import atomic_outputs
from edge_digits.formats import INPUT_NAME, OUTPUT_NAME
from edge_digits.runtime.quiet import quiet_stderr

MEMBER_PREFIX = "member_"  # each model sits in the average as a sub-model named member_0, member_1, ...


def average_models(models: list[Any], name: str = "average") -> Any:
    """A Keras model image -> the mean of `models`' probabilities; the members keep their own weights."""
    if len(models) < 2:
        raise ValueError(f"an average needs at least two models, got {len(models)}")
    _, keras = import_tensorflow()
    image = keras.Input(shape=(28, 28, 1), name=INPUT_NAME)
    members = [keras.Model(model.inputs[0], model.outputs[0], name=f"{MEMBER_PREFIX}{index}")
               for index, model in enumerate(models)]
    probabilities = keras.layers.Average(name=OUTPUT_NAME)([member(image) for member in members])
    return keras.Model(image, probabilities, name=name)


def write_average(paths: list[str | os.PathLike], out: str | os.PathLike) -> Path:
    """Load the .keras models at `paths`, average them and save the result to `out` (atomically)."""
    if len(paths) < 2:
        raise EdgeDigitsError(f"give at least two .keras models to average, got {len(paths)}")
    out = Path(out)
    if out.suffix != ".keras":
        raise EdgeDigitsError(f"--out must end in .keras, got {out}")
    if not out.parent.is_dir():
        raise EdgeDigitsError(f"output directory {out.parent} does not exist")
    if any(Path(path).resolve() == out.resolve() for path in paths):
        raise EdgeDigitsError(f"--out {out} is one of the models averaged; write the average to a new file")
    average = average_models([load_keras_model(path) for path in paths])
    with atomic_outputs([out]) as (temporary,), quiet_stderr(replay=False):
        average.save(temporary)  # the temporary name ends in -<out's name>, so in .keras
    return out
