"""Knowledge distillation: the loss the student trains on, and `train --teacher` end to end."""

from __future__ import annotations

import hashlib

import keras
import numpy as np
import pytest

from edge_digits.apps.cli import main
from edge_digits.build import distill, train
from edge_digits.errors import EdgeDigitsError


def dense_model(seed: int) -> keras.Model:
    """A 28x28 -> 10 softmax model with seeded weights (enough to give two different distributions)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(28, 28, 1))
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)


def softened(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    logits = np.log(probabilities + 1e-7) / temperature
    exponentials = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("label_weight", [0.0, 0.5, 1.0])
def test_loss_is_label_cross_entropy_plus_the_softened_teacher_divergence(label_weight):
    student, teacher = dense_model(0), dense_model(1)
    images = np.random.default_rng(2).uniform(0, 1, (16, 28, 28, 1)).astype(np.float32)
    labels = np.arange(16) % 10
    distiller = distill.Distiller(student, teacher, temperature=3.0, label_weight=label_weight)
    student_p = np.asarray(student(images, training=False))
    teacher_p = np.asarray(teacher(images, training=False))
    cross_entropy = -np.mean(np.log(student_p[np.arange(16), labels]))
    soft_teacher, soft_student = softened(teacher_p, 3.0), softened(student_p, 3.0)
    divergence = np.mean(np.sum(soft_teacher * np.log(soft_teacher / soft_student), axis=-1)) * 9.0
    expected = label_weight * cross_entropy + (1 - label_weight) * divergence
    loss = float(distiller.compute_loss(images, labels, distiller(images, training=False), training=False))
    assert loss == pytest.approx(expected, rel=1e-3)
    assert not teacher.trainable and distiller.trainable_weights == student.trainable_weights


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="label_weight must be in"):
        distill.Distiller(dense_model(0), dense_model(1), label_weight=1.5)


def test_training_with_a_teacher_records_it(mnist_path, tmp_path):
    teacher_path = tmp_path / "teacher.keras"
    dense_model(3).save(teacher_path)
    result = train.train_model("edge", epochs=1, limit=500, data_path=mnist_path, out=tmp_path / "out" / "s.keras",
                               verbose=0, hand_styles="all", teacher=teacher_path)
    history = result.history_path.read_text()
    assert hashlib.sha256(teacher_path.read_bytes()).hexdigest() in history
    assert '"temperature": 2.0' in history and result.model_path.is_file()
    assert keras.saving.load_model(result.model_path).name == "edge"  # the student is saved, not the wrapper


def test_a_teacher_that_is_not_a_model_gets_one_line_and_no_files(mnist_path, tmp_path, capsys):
    fake = tmp_path / "teacher.keras"
    fake.write_text("not a model")
    out = tmp_path / "out" / "s.keras"
    assert main(["train", "--limit", "500", "--epochs", "1", "--data", str(mnist_path), "--teacher", str(fake),
                 "--out", str(out)]) != 0
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(errors) == 1 and "teacher.keras is not a .keras model file" in errors[0], errors
    assert not out.parent.exists() or not list(out.parent.iterdir())
    with pytest.raises(EdgeDigitsError, match="Keras model not found"):
        train.train_model("edge", epochs=1, limit=500, data_path=mnist_path, out=out, teacher=tmp_path / "none.keras")
