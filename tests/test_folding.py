"""BatchNormalization folded into the conv before it, in NumPy (build/folding.py): same function, no BN left
where it can be folded, BN kept where it cannot, nested ensemble members folded too."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from edge_digits.build.ensemble import average_models  # noqa: E402
from edge_digits.build.folding import fold_batch_norm  # noqa: E402


def _randomize_batch_norms(model, seed: int) -> None:
    """Statistics far from the identity, so a fold that skipped a term would change the outputs."""
    generator = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.moving_mean.shape[0]
            layer.set_weights([generator.uniform(0.5, 2.0, channels), generator.normal(0, 0.5, channels),
                               generator.normal(0, 0.5, channels), generator.uniform(0.01, 3.0, channels)])


def _small_model(name: str, seed: int):
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(4, 3, use_bias=False)(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", use_bias=True)(x)
    x = keras.layers.BatchNormalization()(x)
    shared = keras.layers.Conv2D(3, 1)(x)  # read by a BN and by the Add: cannot be folded away
    x = keras.layers.Add()([keras.layers.BatchNormalization()(shared), shared])
    x = keras.layers.Flatten()(x)
    x = keras.layers.BatchNormalization()(keras.layers.Dense(5)(x))  # after a Dense: kept
    model = keras.Model(inputs, keras.layers.Softmax()(x), name=name)
    _randomize_batch_norms(model, seed)
    return model


def _batch_norms(model) -> int:
    count = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            count += _batch_norms(layer)
        count += isinstance(layer, keras.layers.BatchNormalization)
    return count


def test_fold_keeps_the_function_and_removes_foldable_batch_norms():
    model = _small_model("small", seed=1)
    folded = fold_batch_norm(model)
    images = np.random.default_rng(0).uniform(0, 1, (16, 28, 28, 1)).astype(np.float32)
    expected, got = model.predict(images, verbose=0), folded.predict(images, verbose=0)
    assert _batch_norms(model) == 4
    assert _batch_norms(folded) == 2  # the shared conv's and the Dense's stay
    assert np.abs(expected - got).max() < 1e-5
    assert not np.allclose(expected, expected.mean(axis=0))  # the inputs do move the outputs


def test_fold_reaches_into_an_averaged_ensemble():
    average = average_models([_small_model("a", seed=2), _small_model("b", seed=3)])
    folded = fold_batch_norm(average)
    images = np.random.default_rng(4).uniform(0, 1, (8, 28, 28, 1)).astype(np.float32)
    assert _batch_norms(average) == 8 and _batch_norms(folded) == 4
    assert np.abs(average.predict(images, verbose=0) - folded.predict(images, verbose=0)).max() < 1e-5

