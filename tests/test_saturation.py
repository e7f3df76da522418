"""The int16 saturation proof: exact at its boundary, in QDQ and QOperator form, and a model quantized the old
way (full 8-bit weights) refused by parity and the CLI on any host, whatever its own CPU computes."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import run_cli
from export_support import copy_of, exported

from edge_digits.build.saturation import largest_pair, prove
from edge_digits.runtime.manifest import MANIFEST_NAME, sha256_file


def conv_model(weights: np.ndarray, qdq: bool = True, weight_type=np.int8):
    """x [1, C, 3, 3] -> one integer Conv whose weights are `weights` (QDQ: DequantizeLinear -> Conv)."""
    from onnx import TensorProto, helper, numpy_helper

    channels = weights.shape[0]
    scale = numpy_helper.from_array(np.full(channels, 0.01, np.float32), "w_scale")
    zero = numpy_helper.from_array(np.zeros(channels, weight_type), "w_zero")
    weight = numpy_helper.from_array(weights.astype(weight_type), "w")
    x_scale = numpy_helper.from_array(np.array(1 / 255, np.float32), "x_scale")
    x_zero = numpy_helper.from_array(np.array(0, np.uint8), "x_zero")
    if qdq:
        nodes = [helper.make_node("DequantizeLinear", ["w", "w_scale", "w_zero"], ["w_float"], axis=0),
                 helper.make_node("Conv", ["x", "w_float"], ["y"], name="the_conv")]
        output_type = TensorProto.FLOAT
        input_type = TensorProto.FLOAT
    else:
        y_scale = numpy_helper.from_array(np.array(0.1, np.float32), "y_scale")
        y_zero = numpy_helper.from_array(np.array(0, np.uint8), "y_zero")
        nodes = [helper.make_node("QLinearConv", ["x", "x_scale", "x_zero", "w", "w_scale", "w_zero", "y_scale", "y_zero"],
                                  ["y"], name="the_conv")]
        output_type = input_type = TensorProto.UINT8
    graph = helper.make_graph(nodes, "conv", [helper.make_tensor_value_info("x", input_type, [1, weights.shape[1], 3, 3])],
                              [helper.make_tensor_value_info("y", output_type, None)],
                              [weight, scale, zero, x_scale, x_zero] + ([] if qdq else [y_scale, y_zero]))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def saved(model, path):
    import onnx

    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("qdq", [True, False])
def test_the_limit_is_a_pair_of_128_and_one_more_fails(tmp_path, qdq):
    """255 * (64 + 64) = 32640 fits int16; 255 * (65 + 64) = 32895 does not. Pairs are per output channel."""
    weights = np.zeros((2, 4, 3, 3), dtype=np.int64)
    weights[0, 0, 0, 0], weights[0, 3, 2, 2] = 64, -64  # magnitudes add: -64 * 255 twice saturates downward too
    weights[1, :, :, :] = 1
    safe = prove(saved(conv_model(weights, qdq), tmp_path / "safe.onnx"))
    assert safe.safe and [layer.largest_pair for layer in safe.layers] == [128]
    weights[0, 3, 2, 2] = -65
    unsafe = prove(saved(conv_model(weights, qdq), tmp_path / "unsafe.onnx"))
    assert not unsafe.safe and unsafe.layers[0].largest_pair == 129 and unsafe.layers[0].node == "the_conv"
    assert "CAN saturate" in unsafe.summary()
    weights[0, 3, 2, 2], weights[1, 0, 0, 0] = 0, 127  # one large weight alone in its channel pairs with a 1
    assert prove(saved(conv_model(weights, qdq), tmp_path / "one.onnx")).layers[0].largest_pair == 128


def test_uint8_weights_take_kernels_without_int16_pairs(tmp_path):
    weights = np.full((1, 2, 3, 3), 250)
    proof = prove(saved(conv_model(weights, weight_type=np.uint8), tmp_path / "u8u8.onnx"))
    assert proof.safe and proof.layers[0].weight_type == "uint8" and proof.layers[0].limit is None


def test_matmul_pairs_along_the_reduction_axis():
    weights = np.zeros((5, 3), dtype=np.int64)  # [K, N]: column n is one output
    weights[0, 1], weights[4, 1], weights[2, 2] = 100, 90, 127
    assert largest_pair(weights, np.zeros(3, np.int64), "matmul") == 190
    with pytest.raises(ValueError, match="unknown weight layout"):
        largest_pair(weights, np.zeros(3, np.int64), "depthwise")


@pytest.mark.slow
def test_a_set_quantized_the_old_way_is_refused_on_any_host(tmp_path, mnist_path):
    """The shipped fp32 ONNX quantized with full 8-bit weights, as every export did before: parity on this
    machine's CPU may well agree with Keras (it did on AVX-512 VNNI), yet the set must fail, naming the proof."""
    from edge_digits.build.mnist import balanced_sample, load_mnist, preprocess
    from edge_digits.build.writers import quantize_onnx

    mnist = load_mnist(mnist_path)
    calibration = preprocess(mnist.x_train[balanced_sample(mnist.y_train, 200, 0)])
    old = copy_of(exported(tmp_path.parent, mnist_path), tmp_path / "old")
    quantize_onnx(old / "digits_fp32.onnx", tmp_path / "old_int8.onnx", calibration, reduce_range=False)
    shutil.copyfile(tmp_path / "old_int8.onnx", old / "digits_int8.onnx")
    manifest = json.loads((old / MANIFEST_NAME).read_text(encoding="utf-8"))
    for record in manifest["artifacts"]:  # a consistent old set: its manifest vouches for the old file
        if record["file"] == "digits_int8.onnx":
            record["sha256"] = sha256_file(old / "digits_int8.onnx")
    (old / MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")

    assert not prove(old / "digits_int8.onnx").safe
    result = run_cli("parity", str(old), "--data", str(mnist_path), "--limit", "500")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL int16 saturation proof (any CPU): digits_int8.onnx" in result.stdout
    assert "overall: FAIL" in result.stdout
