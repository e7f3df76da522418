"""The architectures, by name. `seed` is the classic tutorial CNN; `edge` is the shipped default."""

from __future__ import annotations

from typing import Callable

import keras
from keras import layers

from .errors import EdgeDigitsError

INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"


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
    """Small, int8-friendly CNN: two full 3x3 convs, then depthwise-separable blocks at 14x14 and 7x7.

    Every conv is bias-free and followed by BatchNorm (folds into the conv) and ReLU; downsampling
    is by stride so MACs stay below the seed CNN; global average pooling keeps the head tiny.
    """
    inputs = keras.Input(shape=(28, 28, 1), name=INPUT_NAME)
    x = _conv_bn_relu(inputs, 16, strides=1)  # 28x28
    x = _conv_bn_relu(x, 24, strides=2)  # 14x14
    for filters, strides in ((48, 1), (96, 2), (96, 1)):  # 14x14, 7x7, 7x7
        x = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = _conv_bn_relu(x, filters, strides=1, kernel_size=1)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(10, activation="softmax", name=OUTPUT_NAME)(x)
    return keras.Model(inputs, outputs, name="edge")


def _conv_bn_relu(x, filters: int, strides: int, kernel_size: int = 3):
    """Bias-free conv + BatchNorm + ReLU: the block int8 converters fold into one fused conv."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


ARCHITECTURES: dict[str, Callable[[], keras.Model]] = {"seed": build_seed, "edge": build_edge}
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
