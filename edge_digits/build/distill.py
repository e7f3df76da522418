"""Knowledge distillation: the small model learns the labels and a bigger trained model's softened
predictions on the same augmented batch (Hinton et al. 2015, as keras-io's "Knowledge Distillation").

The edge model is sized for a 40 KB int8 file. Trained on every writing style at that size, it gave up
MNIST accuracy; a teacher twice as wide holds both, and its soft targets carry what it learned.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import keras
from keras import ops

from edge_digits.build.keras_io import load_keras_model

TEMPERATURE = 2.0  # softens both distributions so the teacher's second choices carry weight
LABEL_WEIGHT = 0.5  # share of the loss from the true labels; the rest is the teacher's


class Distiller(keras.Model):
    """Trains `student` on LABEL_WEIGHT * cross-entropy(labels) + the rest * T^2 * KL(teacher || student)
    at temperature T. The teacher is frozen and runs in inference mode; `call` is the student's."""

    def __init__(self, student: keras.Model, teacher: keras.Model, temperature: float = TEMPERATURE,
                 label_weight: float = LABEL_WEIGHT):
        super().__init__(name=f"{student.name}_distilled")
        if not 0.0 <= label_weight <= 1.0 or temperature <= 0:
            raise ValueError(f"label_weight must be in [0, 1] and temperature > 0, got {label_weight} and {temperature}")
        teacher.trainable = False
        self.student, self.teacher = student, teacher
        self.temperature, self.label_weight = temperature, label_weight

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Both models output probabilities, so their logs serve as logits for the temperature."""
        label_loss = ops.mean(keras.losses.sparse_categorical_crossentropy(y, y_pred))
        soft_teacher = ops.softmax(ops.log(self.teacher(x, training=False) + 1e-7) / self.temperature, axis=-1)
        soft_student = ops.softmax(ops.log(y_pred + 1e-7) / self.temperature, axis=-1)
        distill_loss = ops.mean(keras.losses.kl_divergence(soft_teacher, soft_student)) * self.temperature ** 2
        return self.label_weight * label_loss + (1.0 - self.label_weight) * distill_loss


def load_teacher(path: str | os.PathLike) -> tuple[keras.Model, dict[str, Any]]:
    """The teacher model and what the history records of it: file name, SHA-256, temperature, label weight."""
    model = load_keras_model(path)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return model, {"file": Path(path).name, "sha256": digest, "temperature": TEMPERATURE, "label_weight": LABEL_WEIGHT}
