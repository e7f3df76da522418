"""The field model: a pure CNN that reads a whole height-normalized strip into per-column digit
probabilities for a CTC decoder (no recurrent layers, so tf2onnx and the TFLite int8 converter take it).

Input (1, 32, 128, 1) float ink in [0, 1] (runtime/field_strip.py); output (1, 32, 11) softmax per
column of 4 strip pixels, class 10 = blank. Height is pooled away after four conv stages; two wide
1-D convs give each column the context of about three digits either side.
"""

from __future__ import annotations

import keras
from keras import layers

from edge_digits.formats import INPUT_NAME, OUTPUT_NAME
from edge_digits.runtime.field_strip import BLANK, FIELD_HEIGHT, FIELD_WIDTH, STRIDE

COLUMNS = FIELD_WIDTH // STRIDE
FIELD_SHAPES = ((FIELD_HEIGHT, FIELD_WIDTH, 1), (COLUMNS, BLANK + 1))  # input and output, without the batch


def conv_bn_relu(x, filters: int, kernel: tuple[int, int] = (3, 3)):
    """Bias-free conv + BatchNorm + ReLU, which converters fold into one fused (int8) conv."""
    x = layers.Conv2D(filters, kernel, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)
    return layers.ReLU()(x)


def build_field_model(width: int = 1) -> keras.Model:
    """The field CNN; `width` multiplies every layer's channels (1 is the shipped size)."""
    inputs = keras.Input(shape=(FIELD_HEIGHT, FIELD_WIDTH, 1), name=INPUT_NAME)
    x = conv_bn_relu(inputs, 16 * width)
    x = layers.MaxPooling2D((2, 2))(x)  # 16 x 64
    x = conv_bn_relu(x, 32 * width)
    x = layers.MaxPooling2D((2, 2))(x)  # 8 x 32
    x = conv_bn_relu(x, 48 * width)
    x = conv_bn_relu(x, 64 * width)
    x = layers.MaxPooling2D((2, 1))(x)  # 4 x 32
    x = conv_bn_relu(x, 96 * width)
    x = layers.MaxPooling2D((4, 1))(x)  # 1 x 32: one feature vector per column
    x = conv_bn_relu(x, 128 * width, (1, 5))
    x = conv_bn_relu(x, 128 * width, (1, 5))
    x = layers.Conv2D(BLANK + 1, (1, 1))(x)
    x = layers.Reshape((COLUMNS, BLANK + 1))(x)
    outputs = layers.Softmax(name=OUTPUT_NAME)(x)
    return keras.Model(inputs, outputs, name="field")


def ctc_loss(targets, probabilities):
    """CTC loss of padded targets (-1 after each string's end) against per-column probabilities."""
    targets = keras.ops.cast(targets, "int32")
    lengths = keras.ops.sum(keras.ops.cast(targets >= 0, "int32"), axis=1)
    dense = keras.ops.where(targets >= 0, targets, keras.ops.zeros_like(targets))
    columns = keras.ops.full((keras.ops.shape(probabilities)[0],), COLUMNS, dtype="int32")
    log_probabilities = keras.ops.log(probabilities + 1e-7)  # log-softmax works as logits for CTC
    return keras.ops.ctc_loss(dense, log_probabilities, lengths, columns, mask_index=BLANK)
