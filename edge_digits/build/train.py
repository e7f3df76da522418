"""Train an architecture on MNIST's training split and write model, history and curves atomically.

Validation comes from the training split (data.split_validation); the test split is never used
here, so test accuracy measured elsewhere stays an honest estimate. The weights saved are those of
the best-validation epoch among the last third of the schedule (see selection_start).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import keras
import numpy as np

from edge_digits.build import mnist as data
from edge_digits.build import distill, models, plots
from edge_digits.build.augment import DEFAULT_CONFIG, HAND_STYLE_SETS, AugmentConfig, add_hand_styles, augment_batch
from edge_digits.build.staging import sigterm_as_interrupt
from edge_digits.errors import EdgeDigitsError
from edge_digits.files import TEMP_PREFIX, atomic_outputs

MIN_LIMIT = 100


@dataclass(frozen=True)
class Recipe:
    """An architecture's default training recipe; schedule is "constant" or "cosine" (with warmup)."""

    epochs: int
    batch_size: int
    learning_rate: float
    schedule: str
    warmup_epochs: int
    augment: bool
    hand_styles: str = "classic"  # augment.HAND_STYLE_SETS: which writing styles training draws


# seed: the tutorial's model, optimizer, batch and epochs, with Adam's rate decayed on a cosine (validation
# 98.46% -> 98.78% at seed 0; a constant rate leaves the last epochs bouncing). edge: augmentation +
# warmup/cosine, sized to finish in <= 15 min on 2 cores.
RECIPES: dict[str, Recipe] = {
    "seed": Recipe(epochs=10, batch_size=32, learning_rate=1e-3, schedule="cosine", warmup_epochs=0, augment=False),
    "edge": Recipe(epochs=22, batch_size=128, learning_rate=4e-3, schedule="cosine", warmup_epochs=1, augment=True),
    "teacher": Recipe(epochs=30, batch_size=128, learning_rate=4e-3, schedule="cosine", warmup_epochs=1, augment=True,
                      hand_styles="all"),
}


@dataclass
class TrainResult:
    """Where the outputs went and how training went."""

    model_path: Path
    history_path: Path
    plot_path: Path
    best_val_accuracy: float
    best_epoch: int
    epochs_run: int
    seconds: float
    params: int
    macs: int


class EpochData(keras.utils.PyDataset):
    """Shuffled batches, freshly augmented each epoch (hand styles, then augment_batch: the reader's
    view, warps, noise); seeded per (epoch, batch) so runs repeat."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int, augment: bool,
                 hand_styles: str = "classic", config: AugmentConfig = DEFAULT_CONFIG):
        super().__init__()
        self.images, self.labels = images, labels
        self.batch_size, self.seed, self.augment, self.hand_styles = batch_size, seed, augment, hand_styles
        self.config = config
        self.epoch = 0
        self.order = np.random.default_rng([seed, 0]).permutation(len(images))

    def __len__(self) -> int:
        return math.ceil(len(self.images) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        picked = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        batch = self.images[picked]
        if self.augment:
            batch = add_hand_styles(batch, self.labels[picked], np.random.default_rng([self.seed, self.epoch, index, 1]),
                                    styles=self.hand_styles)
            batch = augment_batch(batch, np.random.default_rng([self.seed, self.epoch, index]), self.config)
        return data.preprocess(batch), self.labels[picked]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.images))


class KeepBest(keras.callbacks.Callback):
    """Record per-epoch logs plus the learning rate; keep (in memory) the best-validation weights of
    the epochs numbered `first_epoch` (1-based) or later: those of `keep`, or of the model trained
    (a Distiller's frozen teacher need not be copied each time)."""

    def __init__(self, first_epoch: int = 1, keep: keras.Model | None = None):
        super().__init__()
        self.first_epoch, self.keep = first_epoch, keep
        self.records: list[dict[str, float]] = []
        self.best_accuracy, self.best_epoch, self.best_weights = -1.0, 0, None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        record = {key: float(value) for key, value in (logs or {}).items()}
        record["lr"] = float(keras.ops.convert_to_tensor(self.model.optimizer.learning_rate))
        self.records.append(record)
        if epoch + 1 >= self.first_epoch and record.get("val_accuracy", -1.0) > self.best_accuracy:
            self.best_accuracy, self.best_epoch = record["val_accuracy"], epoch + 1
            self.best_weights = (self.model if self.keep is None else self.keep).get_weights()


def train_model(
    arch: str = models.DEFAULT_ARCH,
    epochs: int | None = None,
    batch_size: int | None = None,
    data_path: str | os.PathLike | None = None,
    limit: int | None = None,
    seed: int = 0,
    out: str | os.PathLike = "runs/digits.keras",
    augment: bool | None = None,
    validation_size: int = 5000,
    verbose: int = 1,
    hand_styles: str | None = None,
    teacher: str | os.PathLike | None = None,
    scans: float = 0.0,
) -> TrainResult:
    """Train `arch` with its recipe (overridable), keep the best-validation epoch of the last third, write three files.
    With `teacher` (a trained .keras model) the loss also pulls toward its predictions (distill.Distiller).
    `scans` is the share of training digits drawn as low-resolution scans (augment.as_scanned).

    Ctrl-C or SIGTERM (raised as staging.Terminated, a KeyboardInterrupt) leaves earlier outputs untouched."""
    with sigterm_as_interrupt() as check_interrupt:
        return _train_model(arch, epochs, batch_size, data_path, limit, seed, out, augment, validation_size, verbose, hand_styles,
                            teacher, scans, check_interrupt)


def _train_model(arch, epochs, batch_size, data_path, limit, seed, out, augment, validation_size, verbose,
                 hand_styles, teacher, scans, check_interrupt) -> TrainResult:
    if arch not in RECIPES:
        raise EdgeDigitsError(f"unknown --arch {arch!r}; choose one of: {', '.join(RECIPES)}")
    recipe = RECIPES[arch]
    epochs = recipe.epochs if epochs is None else epochs
    batch_size = recipe.batch_size if batch_size is None else batch_size
    augment = recipe.augment if augment is None else augment
    if not 0.0 <= scans <= 1.0:
        raise EdgeDigitsError(f"scans must be a share in [0, 1], got {scans}")
    if scans and not augment:
        raise EdgeDigitsError(f"scans are part of augmentation, which the {arch!r} recipe does not use; drop --scans")
    if hand_styles is not None and not augment:
        raise EdgeDigitsError(f"hand styles are part of augmentation, which the {arch!r} recipe does not use; drop --hand-styles")
    hand_styles = recipe.hand_styles if hand_styles is None else hand_styles
    if hand_styles not in HAND_STYLE_SETS:
        raise EdgeDigitsError(f"unknown hand styles {hand_styles!r}; choose one of: {', '.join(HAND_STYLE_SETS)}")
    _check_int("epochs", epochs, 1)
    _check_int("batch size", batch_size, 1)
    _check_int("seed", seed, 0)
    _check_int("validation size", validation_size, 1)
    if limit is not None:
        _check_int("limit", limit, MIN_LIMIT)
    paths = output_paths(out)
    check_writable(paths[0].parent)
    teacher_model, teacher_record = distill.load_teacher(teacher) if teacher is not None else (None, None)

    mnist = data.load_mnist(data_path)
    images, labels = mnist.x_train, mnist.y_train
    if limit is not None:
        if limit > len(images):
            raise EdgeDigitsError(f"--limit {limit} exceeds the {len(images)} training images; use a smaller limit or none")
        picked = np.sort(np.random.default_rng(seed).permutation(len(images))[:limit])
        images, labels = images[picked], labels[picked]
    validation_size = min(validation_size, len(images) // 5)
    x_train, y_train, x_val, y_val = data.split_validation(images, labels, validation_size, seed)

    keras.utils.set_random_seed(seed)
    model = models.build_model(arch)
    steps_per_epoch = math.ceil(len(x_train) / batch_size)
    trainer = model if teacher_model is None else distill.Distiller(model, teacher_model)
    models.compile_model(trainer, learning_rate_schedule(recipe, epochs, steps_per_epoch))
    keep_best = KeepBest(first_epoch=selection_start(epochs), keep=model)
    started = time.perf_counter()
    trainer.fit(
        EpochData(x_train, y_train, batch_size, seed, augment, hand_styles,
                  replace(DEFAULT_CONFIG, scan_probability=scans)),
        epochs=epochs,
        validation_data=(data.preprocess(x_val), y_val),
        validation_batch_size=max(batch_size, 256),
        shuffle=False,  # EpochData shuffles, seeded
        callbacks=[keep_best, keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: check_interrupt())],
        verbose=verbose,
    )
    seconds = time.perf_counter() - started
    if keep_best.best_weights is not None:
        model.set_weights(keep_best.best_weights)

    params, macs = int(model.count_params()), models.count_macs(model)
    summary = {
        "arch": arch, "seed": seed, "epochs": epochs, "epochs_run": len(keep_best.records),
        "batch_size": batch_size, "augment": augment, "hand_styles": hand_styles, "scans": scans,
        "teacher": teacher_record,
        "recipe": asdict(recipe),
        "train_size": len(x_train), "validation_size": len(x_val), "limit": limit,
        "seconds": round(seconds, 2), "params": params, "macs": macs,
        "selected_from_epoch": keep_best.first_epoch,
        "best_epoch": keep_best.best_epoch, "best_val_accuracy": keep_best.best_accuracy,
        "keras_version": keras.__version__,
        "history": {key: [record.get(key) for record in keep_best.records] for key in keep_best.records[0]},
    }
    check_interrupt()  # an interrupt swallowed during the last epoch must still keep the earlier files
    write_outputs(model, summary, paths)
    return TrainResult(*paths, keep_best.best_accuracy, keep_best.best_epoch, len(keep_best.records), seconds, params, macs)


def selection_start(epochs: int) -> int:
    """First epoch (1-based) whose weights may be kept: the last third, where a cosine rate is under a
    quarter of its peak. An early high-rate epoch's lead on 5,000 validation images is noise (seed 3
    once kept epoch 6 of 22 that way and scored 0.2 point below its siblings)."""
    return epochs - math.ceil(epochs / 3) + 1


def learning_rate_schedule(recipe: Recipe, epochs: int, steps_per_epoch: int) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """Constant LR, or linear warmup to the peak then cosine decay to 1% of it over the remaining steps."""
    if recipe.schedule == "constant":
        return recipe.learning_rate
    if recipe.schedule != "cosine":
        raise ValueError(f"unknown schedule {recipe.schedule!r}; expected 'constant' or 'cosine'")
    total = epochs * steps_per_epoch
    warmup = min(recipe.warmup_epochs * steps_per_epoch, total // 2)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=recipe.learning_rate * 0.1 if warmup else recipe.learning_rate,  # warm up from 10%
        decay_steps=max(total - warmup, 1),
        alpha=0.01,
        warmup_target=recipe.learning_rate if warmup else None,
        warmup_steps=warmup,
    )


def output_paths(out: str | os.PathLike) -> tuple[Path, Path, Path]:
    """The model path and its siblings `<stem>.history.json` and `<stem>.curves.png`."""
    model_path = Path(out).expanduser()
    if model_path.suffix != ".keras":
        raise EdgeDigitsError(f"output {model_path} must end in .keras (Keras 3 native format)")
    if model_path.is_dir():
        raise EdgeDigitsError(f"output {model_path} is a directory; give a file name ending in .keras")
    stem = model_path.name[: -len(".keras")]
    return model_path, model_path.with_name(f"{stem}.history.json"), model_path.with_name(f"{stem}.curves.png")


def check_writable(directory: Path) -> None:
    """Create `directory` if needed and prove a file can be written there, before any training."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory, prefix=TEMP_PREFIX):
            pass
    except OSError as error:
        blocker = next((path for path in (directory, *directory.parents) if path.exists() and not path.is_dir()), None)
        reason = f"{blocker} is a file, not a directory" if blocker is not None else (error.strerror or error)
        raise EdgeDigitsError(f"cannot write to output directory {directory}: {reason}; choose another --out") from None


def write_outputs(model: keras.Model, summary: dict, paths: tuple[Path, Path, Path]) -> None:
    """Write model, history and curves beside their targets, then rename the three together.

    Interrupted or failed writes leave earlier files at the target paths untouched and no temp files.
    """
    with atomic_outputs(paths[1:] + paths[:1]) as (history, curves, model_file):
        model.save(model_file)
        history.write_text(json.dumps(summary, indent=2) + "\n")
        title = f"{summary['arch']} (seed {summary['seed']}): best validation accuracy {summary['best_val_accuracy']:.4f} at epoch {summary['best_epoch']}"
        plots.plot_training_curves(summary["history"], curves, title=title)


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise EdgeDigitsError(f"{name} must be an integer >= {minimum}, got {value!r}")
