"""Fold each BatchNormalization into the convolution before it, in NumPy, before any converter sees the model.

Left to the converters, the fold runs inside TensorFlow, whose Rsqrt uses the CPU's approximate reciprocal
square root (RSQRTPS): AMD, Intel and qemu answer in different last bits, so the exported weights, and every
file after them, differed from CPU to CPU. Here scale = gamma / sqrt(variance + epsilon) is computed in float64
and rounded once to float32, so an export writes the same bytes on every machine (docs/cpus.md).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from edge_digits.build.keras_io import import_tensorflow

FOLDABLE = ("Conv2D", "DepthwiseConv2D")  # the layers a following BatchNormalization is folded into


def fold_batch_norm(model: Any) -> Any:
    """A copy of the Keras functional `model` without BatchNormalization layers that follow a bias-free or biased
    Conv2D / DepthwiseConv2D read by nothing else; sub-models (an averaged ensemble's members) are folded too.

    The copy computes the same function up to float32 rounding; other BatchNormalization layers stay."""
    _, keras = import_tensorflow()
    config, folds = fold_config(model.get_config())
    folded = keras.Model.from_config(config)
    copy_weights(model, folded, folds)
    return folded


def fold_config(config: dict) -> tuple[dict, dict[str, str]]:
    """The functional config without the foldable BatchNormalization layers, and {batch norm name: conv name}
    for every fold, nested sub-models included (their layer names are unique within the whole model)."""
    config = copy.deepcopy(config)
    folds: dict[str, str] = {}
    layers = {layer["name"]: layer for layer in config["layers"]}
    readers: dict[str, int] = {}
    for layer in config["layers"]:
        for source in _histories(layer["inbound_nodes"]):
            readers[source[0]] = readers.get(source[0], 0) + 1
    for name, layer in layers.items():
        if layer["class_name"] == "Functional":
            layer["config"], nested = fold_config(layer["config"])
            folds.update(nested)
        if layer["class_name"] != "BatchNormalization" or layer["config"]["axis"] not in (-1, 3, [-1], [3]):
            continue
        sources = list(_histories(layer["inbound_nodes"]))
        if len(sources) != 1 or len(layer["inbound_nodes"]) != 1:
            continue
        conv = layers[sources[0][0]]
        if conv["class_name"] in FOLDABLE and readers.get(conv["name"], 0) == 1 and len(conv["inbound_nodes"]) == 1:
            folds[name] = conv["name"]
    renamed = {batch_norm: conv for batch_norm, conv in folds.items() if batch_norm in layers}
    for batch_norm, conv in renamed.items():
        layers[conv]["config"]["use_bias"] = True
    config["layers"] = [layer for layer in config["layers"] if layer["name"] not in renamed]
    for layer in config["layers"]:
        for history in _histories(layer["inbound_nodes"]):
            history[0] = renamed.get(history[0], history[0])
    for key in ("input_layers", "output_layers"):
        config[key] = _rename_endpoints(config[key], renamed)
    return config, folds


def copy_weights(source: Any, target: Any, folds: dict[str, str]) -> None:
    """Give `target` (fold_config's model) `source`'s weights, with each folded batch norm multiplied into its conv."""
    batch_norm_of = {conv: batch_norm for batch_norm, conv in folds.items()}
    for layer in source.layers:
        if layer.name in folds:
            continue
        twin = target.get_layer(layer.name)
        if layer.__class__.__name__ == "Functional":
            copy_weights(layer, twin, folds)
        elif layer.name in batch_norm_of:
            twin.set_weights(folded_weights(layer, source.get_layer(batch_norm_of[layer.name])))
        else:
            twin.set_weights(layer.get_weights())


def folded_weights(conv: Any, batch_norm: Any) -> list[np.ndarray]:
    """[kernel * scale, (bias - mean) * scale + beta] in float64, rounded once to float32."""
    weights = [np.asarray(weight, dtype=np.float64) for weight in conv.get_weights()]
    kernel, bias = weights[0], (weights[1] if len(weights) > 1 else np.zeros(kernel_outputs(conv, weights[0])))
    named = {weight.path.rsplit("/", 1)[-1]: np.asarray(weight.numpy(), dtype=np.float64) for weight in batch_norm.weights}
    channels = len(named["moving_mean"])
    gamma, beta = named.get("gamma", np.ones(channels)), named.get("beta", np.zeros(channels))
    scale = gamma / np.sqrt(named["moving_variance"] + float(batch_norm.epsilon))
    if conv.__class__.__name__ == "DepthwiseConv2D":  # kernel (h, w, in, multiplier): output channel in * m + j
        kernel = kernel * scale.reshape(kernel.shape[2], kernel.shape[3])
    else:
        kernel = kernel * scale
    offset = (bias - named["moving_mean"]) * scale + beta
    return [kernel.astype(np.float32), offset.astype(np.float32)]


def kernel_outputs(conv: Any, kernel: np.ndarray) -> int:
    """How many output channels a conv kernel makes (a depthwise kernel: inputs x multiplier)."""
    return int(kernel.shape[2] * kernel.shape[3]) if conv.__class__.__name__ == "DepthwiseConv2D" else int(kernel.shape[-1])


def _histories(value: Any):
    """Every keras_history list ([layer, node, tensor]) inside a layer's inbound_nodes, to read or rewrite."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            yield value["config"]["keras_history"]
            return
        for item in value.values():
            yield from _histories(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _histories(item)


def _rename_endpoints(endpoints: list, renamed: dict[str, str]) -> list:
    """input_layers / output_layers ([name, node, tensor] or a list of them) with folded names replaced."""
    if endpoints and isinstance(endpoints[0], str):
        return [renamed.get(endpoints[0], endpoints[0]), *endpoints[1:]]
    return [_rename_endpoints(endpoint, renamed) for endpoint in endpoints]
