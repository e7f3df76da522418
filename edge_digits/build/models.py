"""The architectures, by name. `seed` is the classic tutorial CNN; `edge` is the shipped default."""

from __future__ import annotations

from typing import Callable

import keras
from keras import layers

from edge_digits.errors import EdgeDigitsError
from edge_digits.formats import INPUT_NAME, OUTPUT_NAME


def build_seed() -> keras.Model:
    """The tutorial's CNN, layer for layer: three 3x3 convs with 2x2 pooling, Dense(64), softmax."""
    inputs = keras.Input(shape=(28, 28, 1), name=INPUT_NAME)
    x = layers.Conv2D(25, (3, 3), activation="relu")(inputs)
    x = layers.MaxPooling2D((2, 2))(x)
    x = layers.Conv2D(64, (3, 3), activation="relu")(x)
    x = layers.MaxPooling2D((2, 2))(x)
    x = layers.Conv2D(64, (3, 3), activation="relu")(x)
    x = layers.MaxPooling2D((2, 2))(x)
    x = layers.Flatten()(x)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10, activation="softmax", name=OUTPUT_NAME)(x)
    return keras.Model(inputs, outputs, name="seed")


def build_edge() -> keras.Model:
    """Small, int8-friendly CNN: a 1-pixel crop, a 4x4 stride-2 stem, two 3x3 convs, two depthwise-
    separable blocks, GAP; every conv bias-free + BatchNorm + ReLU, which converters fold into one int8 op.

    MNIST's outer pixel ring is blank in 98.7% of training digits, so the model drops it (26x26). The
    stem's 4x4 stride-2 conv sees what a 3x3 conv + 2x2 pool saw, at a quarter of the output pixels
    (LiteRT int8 time follows output pixels more than MACs). The separable blocks give the last 6x6
    map 64 channels and one more 3x3 reach for fewer parameters than a full conv. GAP replaces
    Flatten+Dense(64). Measured against the previous design in README.md ("Training").
    """
    return _edge_family(width=1, name="edge")


def build_teacher() -> keras.Model:
    """`edge` at twice the width (~4x the MACs): too big for the 40 KB budget, trained only to teach
    `edge` through `edge-digits train --teacher` (knowledge distillation)."""
    return _edge_family(width=2, name="teacher")


def _edge_family(width: int, name: str) -> keras.Model:
    """The `edge` layer stack with every channel count multiplied by `width`."""
    inputs = keras.Input(shape=(28, 28, 1), name=INPUT_NAME)
    x = layers.Cropping2D(1)(inputs)  # 26x26
    x = _conv_bn_relu(x, 16 * width, padding="valid", kernel=4, strides=2)  # 12x12
    x = _conv_bn_relu(x, 32 * width, padding="valid")  # 10x10
    x = _conv_bn_relu(x, 40 * width, padding="valid")  # 8x8
    x = _separable_bn_relu(x, 64 * width, padding="valid")  # 6x6
    x = _separable_bn_relu(x, 64 * width, padding="same")  # 6x6, each unit sees 22x22 px; GAP pools them over the digit
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.1)(x)
    outputs = layers.Dense(10, activation="softmax", name=OUTPUT_NAME)(x)
    return keras.Model(inputs, outputs, name=name)


def _conv_bn_relu(x, filters: int, padding: str = "same", kernel: int = 3, strides: int = 1):
    """Bias-free conv + BatchNorm + ReLU: the block converters fold into one fused int8 conv."""
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)  # 0.9 so short (--limit) runs get usable statistics
    return layers.ReLU()(x)


def _separable_bn_relu(x, filters: int, padding: str):
    """Depthwise 3x3 + BN + ReLU, then pointwise 1x1 to `filters` + BN + ReLU (MobileNet's block)."""
    x = layers.DepthwiseConv2D(3, padding=padding, use_bias=False)(x)
    x = layers.ReLU()(layers.BatchNormalization(momentum=0.9)(x))
    x = layers.Conv2D(filters, 1, use_bias=False)(x)
    return layers.ReLU()(layers.BatchNormalization(momentum=0.9)(x))


ARCHITECTURES: dict[str, Callable[[], keras.Model]] = {"seed": build_seed, "edge": build_edge, "teacher": build_teacher}
DEFAULT_ARCH = "edge"


def build_model(arch: str) -> keras.Model:
    """Build (uncompiled) the architecture named `arch`."""
    if arch not in ARCHITECTURES:
        raise EdgeDigitsError(f"unknown --arch {arch!r}; choose one of: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[arch]()


def compile_model(model: keras.Model, learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = 1e-3) -> keras.Model:
    """Adam + sparse categorical cross-entropy + accuracy, as the tutorial compiles it."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates for one image through conv, depthwise and dense layers."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.DepthwiseConv2D):
            height, width, channels = layer.output.shape[1:]
            total += height * width * channels * layer.kernel_size[0] * layer.kernel_size[1]
        elif isinstance(layer, layers.Conv2D):
            height, width, filters = layer.output.shape[1:]
            input_channels = layer.input.shape[-1]
            total += height * width * filters * input_channels * layer.kernel_size[0] * layer.kernel_size[1]
        elif isinstance(layer, layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return int(total)
