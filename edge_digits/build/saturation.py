"""A proof, read off the ONNX file alone, that no integer Conv/MatMul can saturate onnxruntime's x86 U8S8 kernels.

On AVX2 without VNNI, onnxruntime multiplies uint8 activations (int8 ones are shifted by 128 first) by int8
weights with VPMADDUBSW, which adds each pair of products into a saturating int16. Activations reach 255, so a
pair saturates once 255 * (|w1| + |w2|) exceeds 32767: answers then depend on the CPU. Weights of at most 7 bits
(|w| <= 64) keep every pair in range; uint8 weights take the U8U8 kernels, which do not pair into int16.
Each output channel is checked with its two largest weight magnitudes, a bound that holds for any pairing.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

INT16_MAX = 32767
ACTIVATION_MAX = 255  # the largest uint8 activation the kernel multiplies
# op type -> (index of the weight input, index of its zero point or None, weight layout)
INTEGER_OPS = {
    "QLinearConv": (3, 5, "conv"),
    "ConvInteger": (1, 3, "conv"),
    "QLinearMatMul": (3, 5, "matmul"),
    "MatMulInteger": (1, 3, "matmul"),
}
QDQ_CONSUMERS = {"Conv": "conv", "MatMul": "matmul", "Gemm": "gemm"}


@dataclass(frozen=True)
class LayerBound:
    """One integer layer: its weights' type and the largest pair of products one output channel can form."""

    node: str
    op_type: str
    weight_type: str  # "int8" or "uint8"
    largest_pair: int  # max over output channels of the two largest |w - zero_point|, added
    limit: int | None  # the largest pair that cannot saturate (INT16_MAX // ACTIVATION_MAX); None for uint8 weights
    safe: bool


@dataclass(frozen=True)
class SaturationProof:
    """Every integer layer of one model and whether all of them are safe on every x86 kernel path."""

    file: str
    layers: tuple[LayerBound, ...]

    @property
    def safe(self) -> bool:
        return all(layer.safe for layer in self.layers)

    def summary(self) -> str:
        """One line: the verdict, the tightest layer and the limit."""
        if not self.layers:
            return f"{self.file}: no integer Conv/MatMul"
        signed = [layer for layer in self.layers if layer.limit is not None]
        if not signed:
            return f"{self.file}: {len(self.layers)} integer layers, all with uint8 weights (U8U8 kernels: no int16 pairs)"
        worst = max(signed, key=lambda layer: layer.largest_pair - layer.limit)
        verdict = "cannot saturate int16 on any x86 kernel" if self.safe else "CAN saturate int16 on AVX2 (U8S8)"
        return (f"{self.file}: {len(self.layers)} integer layers {verdict}; largest weight pair "
                f"{worst.largest_pair} in {worst.node} (limit {worst.limit})")

    def to_dict(self) -> dict:
        return {"file": self.file, "safe": self.safe, "layers": [asdict(layer) for layer in self.layers]}

    def record(self) -> dict:
        """What a manifest records: the verdict and the tightest int8 pair against its limit (same on every CPU)."""
        pairs = [layer.largest_pair for layer in self.layers if layer.limit is not None]
        return {"safe": self.safe, "largest_weight_pair": max(pairs, default=None),
                "limit": INT16_MAX // ACTIVATION_MAX if pairs else None}


def largest_pair(weights: np.ndarray, zero_point: np.ndarray, layout: str) -> int:
    """The two largest |w - zero_point| of one output channel, added, maximised over channels."""
    weights = weights.astype(np.int64)
    if layout == "conv":  # [M, C/group, kH, kW]: output channel first
        magnitudes = np.abs(weights - zero_point.reshape(-1, *[1] * (weights.ndim - 1))).reshape(weights.shape[0], -1)
    elif layout == "matmul":  # [K, N]: output column last, the zero point per column
        magnitudes = np.abs(weights - zero_point.reshape(*[1] * (weights.ndim - 1), -1)).reshape(-1, weights.shape[-1]).T
    else:
        raise ValueError(f"unknown weight layout {layout!r}; expected 'conv' or 'matmul'")
    if magnitudes.shape[1] < 2:
        return int(magnitudes.max(initial=0))
    top_two = np.sort(magnitudes, axis=1)[:, -2:]
    return int(top_two.sum(axis=1).max(initial=0))


def prove(path: str | os.PathLike) -> SaturationProof:
    """Check every integer Conv/MatMul/Gemm of an ONNX model, in QDQ or QOperator form."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    producers = {output: node for node in graph.node for output in node.output}
    layers = []

    def weight_and_zero(weight_name: str, zero_name: str | None) -> tuple[np.ndarray, np.ndarray] | None:
        if weight_name not in initializers:
            return None
        weights = numpy_helper.to_array(initializers[weight_name])
        if weights.dtype not in (np.int8, np.uint8):
            return None
        zero = (numpy_helper.to_array(initializers[zero_name]) if zero_name in initializers
                else np.zeros(1, dtype=weights.dtype))
        return weights, zero.astype(np.int64).reshape(-1)

    for node in graph.node:
        found = None
        if node.op_type in INTEGER_OPS:
            weight_index, zero_index, layout = INTEGER_OPS[node.op_type]
            zero_name = node.input[zero_index] if zero_index is not None and len(node.input) > zero_index else None
            found = weight_and_zero(node.input[weight_index], zero_name), layout
        elif node.op_type in QDQ_CONSUMERS and len(node.input) > 1:
            dequantize = producers.get(node.input[1])
            if dequantize is not None and dequantize.op_type == "DequantizeLinear":
                zero_name = dequantize.input[2] if len(dequantize.input) > 2 else None
                layout = QDQ_CONSUMERS[node.op_type]
                if layout == "gemm":
                    transposed = any(attribute.name == "transB" and attribute.i for attribute in node.attribute)
                    layout = "conv" if transposed else "matmul"  # transB: [N, K], output first like a conv
                found = weight_and_zero(dequantize.input[0], zero_name), layout
        if found is None or found[0] is None:
            continue
        (weights, zero), layout = found
        pair = largest_pair(weights, zero, layout)
        if weights.dtype == np.uint8:
            layers.append(LayerBound(node.name or node.output[0], node.op_type, "uint8", pair, None, True))
        else:
            limit = INT16_MAX // ACTIVATION_MAX
            layers.append(LayerBound(node.name or node.output[0], node.op_type, "int8", pair, limit, pair <= limit))
    return SaturationProof(Path(path).name, tuple(layers))
