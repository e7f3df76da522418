"""Train the field model on synthetic strings of MNIST training digits (build/field_strings.py).

Validation: synthetic strings from a held-apart slice of the training split's digits. Selection: the
epoch with the best character accuracy on an optional `choose_on` set of real fields (prepared strips
and labels; `edge-digits train --arch field --choose-on DIR` passes cheques-dev's development part);
without it, the best synthetic validation. Real fields are never trained on.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from edge_digits.build import mnist as data
from edge_digits.build.augment import add_hand_styles
from edge_digits.build.field_model import FIELD_SHAPES, build_field_model, ctc_loss
from edge_digits.build.field_strings import field_batch, labels_of
from edge_digits.build.keras_io import import_tensorflow, load_keras_model
from edge_digits.build.staging import sigterm_as_interrupt
from edge_digits.errors import EdgeDigitsError
from edge_digits.files import atomic_outputs
from edge_digits.runtime.field_strip import decode_strings

VALIDATION_DIGITS = 6000  # the training split's last digits: validation strings only
STYLE_PROBABILITY = 0.5  # augment.add_hand_styles' scale: half the 1s flagged, 7s crossed, ...


@dataclass
class FieldTrainResult:
    """Where the model went and how it was chosen."""

    model_path: Path
    history_path: Path
    best_epoch: int
    best_score: float
    seconds: float


def read_strings(model: keras.Model, strips: np.ndarray) -> list[str]:
    """Greedy CTC readings of (N, H, W, 1) uint8 strips."""
    return decode_strings(model.predict(strips.astype(np.float32) / 255.0, batch_size=256, verbose=0))


def train_field_model(out: str | Path, data_path: str | None = None, strings: int = 200_000, epochs: int = 3,
                      batch_size: int = 64, learning_rate: float = 3e-3, seed: int = 0, width: int = 1,
                      choose_on: tuple[np.ndarray, list[str]] | None = None,
                      scorer: Callable[[list[str], list[str]], tuple[float, float]] | None = None,
                      initial: str | Path | None = None) -> FieldTrainResult:
    """Train, keep the chosen epoch's weights, write OUT (.keras) and OUT's history JSON atomically.
    `scorer(readings, labels)` -> (character accuracy, exact rate) (measure/fields.string_scores); `initial`: a
    trained field model whose weights training starts from (fine-tuning on new strings)."""
    if scorer is None:
        raise ValueError("train_field_model needs a scorer(readings, labels) -> (character accuracy, exact rate)")
    out = Path(out)
    if out.suffix != ".keras":
        raise EdgeDigitsError(f"--out must end in .keras, got {out}")
    start = time.perf_counter()
    keras.utils.set_random_seed(seed)
    mnist = data.load_mnist(data_path)
    train_images, train_labels = mnist.x_train, mnist.y_train
    digits, digit_labels = train_images[:-VALIDATION_DIGITS], train_labels[:-VALIDATION_DIGITS]
    # flagged and continental 1s, crossed and short 7s, looped 2s, open 4s, marker and pencil strokes:
    # the cheques' writers use them far more than MNIST's (a flagged 1 read as 7 was the commonest error)
    digits = add_hand_styles(digits, digit_labels, np.random.default_rng(seed), probability=STYLE_PROBABILITY, styles="all")
    strips, targets, lengths = field_batch(digits, digit_labels, strings, seed)
    val_strips, val_targets, val_lengths = field_batch(train_images[-VALIDATION_DIGITS:], train_labels[-VALIDATION_DIGITS:],
                                                       3000, seed + 1)
    val_labels = labels_of(val_targets, val_lengths)
    tf, _ = import_tensorflow()
    batches = (tf.data.Dataset.from_tensor_slices((strips, targets)).shuffle(len(strips), seed=seed)
               .batch(batch_size, drop_remainder=True).map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y)))
    model = build_field_model(width)
    if initial is not None:
        model.set_weights(load_keras_model(initial, FIELD_SHAPES).get_weights())
    steps = epochs * (strings // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate * 0.1, steps, warmup_target=learning_rate,
                                                      warmup_steps=min(1000, steps // 10))
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=ctc_loss)
    history, best = [], (-1.0, 0, None)
    with sigterm_as_interrupt():
        for epoch in range(1, epochs + 1):
            fit = model.fit(batches, epochs=1, verbose=2, shuffle=False)  # the dataset shuffles
            val_accuracy, val_exact = scorer(read_strings(model, val_strips), val_labels)
            row = {"epoch": epoch, "loss": float(fit.history["loss"][-1]), "val_char": val_accuracy, "val_exact": val_exact}
            if choose_on is not None:
                row["choose_char"], row["choose_exact"] = scorer(read_strings(model, choose_on[0]), choose_on[1])
            score = row.get("choose_char", val_accuracy)
            print(json.dumps(row), flush=True)
            history.append(row)
            if score > best[0]:
                best = (score, epoch, [weight.copy() for weight in model.get_weights()])
    model = build_field_model(width)  # uncompiled: the saved file holds no optimizer state
    model.set_weights(best[2])
    history_path = out.with_suffix(".history.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_outputs([out, history_path]) as (model_tmp, history_tmp):
        model.save(model_tmp)
        history_tmp.write_text(json.dumps({"strings": strings, "epochs": epochs, "batch_size": batch_size,
                                           "learning_rate": learning_rate, "seed": seed, "width": width,
                                           "chosen_epoch": best[1], "history": history}, indent=2))
    return FieldTrainResult(out, history_path, best[1], best[0], time.perf_counter() - start)
