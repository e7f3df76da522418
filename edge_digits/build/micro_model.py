"""The int8 model as TensorFlow Lite for Microcontrollers runs it: derived bytes, its ops, its smallest arena.

`micro_model_bytes` turns digits_int8.tflite (uint8 pixels in, float32 probabilities out) into the MCU model:
the same graph without its last op, the float Dequantize, so the output is the int8 softmax (scale 1/256,
zero point -128) and no float kernel is needed; the TFLite Model Metadata, which describes a float output,
is dropped, and the weights are laid out 16-byte aligned. The TFLM interpreter comes from the `tflite-micro`
package (the "micro" extra).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edge_digits.errors import EdgeDigitsError
from edge_digits.runtime.quiet import quiet_stderr

REEXPORT = "re-export it with `edge-digits export --int8`"
MICRO_EXTRA_HINT = "the TFLM interpreter is missing: pip install 'edge-digits[micro]' (the tflite-micro package)"
DROPPED_METADATA = (b"TFLITE_METADATA",)  # describes the float output the MCU model no longer has
ARENA_SEARCH_LIMIT = 1 << 20  # a model needing more than 1 MiB of arena is not for a microcontroller
ARENA_ROUNDING = 1024
ARENA_ALIGNMENT = 16  # TFLM aligns the arena's start itself: an unaligned array can lose up to 15 bytes
# MicroMutableOpResolver's method for each builtin op a digit model uses (tensorflow/lite/micro/micro_mutable_op_resolver.h).
RESOLVER_METHODS = {
    "ADD": "AddAdd", "AVERAGE_POOL_2D": "AddAveragePool2D", "CONCATENATION": "AddConcatenation",
    "CONV_2D": "AddConv2D", "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D", "DEQUANTIZE": "AddDequantize",
    "FULLY_CONNECTED": "AddFullyConnected", "LOGISTIC": "AddLogistic", "MAX_POOL_2D": "AddMaxPool2D",
    "MEAN": "AddMean", "MUL": "AddMul", "PAD": "AddPad", "QUANTIZE": "AddQuantize", "RELU": "AddRelu",
    "RELU6": "AddRelu6", "RESHAPE": "AddReshape", "SOFTMAX": "AddSoftmax", "STRIDED_SLICE": "AddStridedSlice",
}


def _schema() -> tuple[Any, Any]:
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    return schema, flatbuffer_utils


def _operator_name(schema: Any, code: Any) -> str:
    number = max(code.builtinCode, code.deprecatedBuiltinCode)
    return next(name for name, value in vars(schema.BuiltinOperator).items() if value == number and not name.startswith("_"))


def micro_model_bytes(int8_model: bytes) -> bytes:
    """digits_int8.tflite's bytes -> the MCU model's: the final Dequantize removed, its metadata dropped."""
    schema, flatbuffer_utils = _schema()
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(int8_model))
    if len(model.subgraphs) != 1:
        raise EdgeDigitsError(f"expected a model with one subgraph, found {len(model.subgraphs)}")
    graph = model.subgraphs[0]
    last = graph.operators[-1]
    ends_in_dequantize = _operator_name(schema, model.operatorCodes[last.opcodeIndex]) == "DEQUANTIZE"
    if not ends_in_dequantize or list(graph.outputs) != [last.outputs[0]]:
        raise EdgeDigitsError(f"expected digits_int8.tflite to end in one Dequantize op giving the float output; {REEXPORT}")
    quantized, dropped = int(last.inputs[0]), int(last.outputs[0])
    if graph.tensors[quantized].type != schema.TensorType.INT8:
        raise EdgeDigitsError(f"the tensor before the final Dequantize is not int8; {REEXPORT}")
    graph.operators.pop()
    graph.outputs = np.array([quantized], dtype=np.int32)
    if dropped != len(graph.tensors) - 1:
        raise EdgeDigitsError(f"expected the float output to be the model's last tensor; {REEXPORT}")
    graph.tensors.pop()
    still_used = any(operator.opcodeIndex == last.opcodeIndex for operator in graph.operators)
    if not still_used and last.opcodeIndex == len(model.operatorCodes) - 1:  # an unused code elsewhere is harmless
        model.operatorCodes.pop()
    for signature in model.signatureDefs or []:
        for output in signature.outputs:
            if output.tensorIndex == dropped:
                output.tensorIndex = quantized
    model.metadata = [entry for entry in model.metadata or [] if entry.name not in DROPPED_METADATA]
    _drop_unused_buffers(model, graph)
    return aligned(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))


def aligned(model_bytes: bytes) -> bytes:
    """The model re-laid out by TFLM's own tflite_flatbuffer_align so every weight buffer starts at a multiple
    of 16 bytes (the C array is alignas(16), so the weights are 16-byte aligned in flash too)."""
    import_tflite_micro()
    from tflite_micro.tensorflow.lite.micro.tools import tflite_flatbuffer_align_wrapper

    with tempfile.TemporaryDirectory(prefix="edge-digits-align-") as scratch:
        source, target = Path(scratch) / "in.tflite", Path(scratch) / "out.tflite"
        source.write_bytes(model_bytes)
        tflite_flatbuffer_align_wrapper.align_tflite_model(str(source), str(target))
        return target.read_bytes()


def _drop_unused_buffers(model: Any, graph: Any) -> None:
    """Remove the buffers no tensor or metadata entry refers to any more (buffer 0, the empty sentinel, stays)."""
    used = {0} | {tensor.buffer for tensor in graph.tensors} | {entry.buffer for entry in model.metadata}
    renumber = {old: new for new, old in enumerate(sorted(used))}
    model.buffers = [model.buffers[index] for index in sorted(used)]
    for tensor in graph.tensors:
        tensor.buffer = renumber[tensor.buffer]
    for entry in model.metadata:
        entry.buffer = renumber[entry.buffer]
    model.metadataBuffer = None  # the deprecated list of metadata buffers; `metadata` names them


def operator_names(model_bytes: bytes) -> list[str]:
    """The builtin ops the model uses, in the order the graph first runs them."""
    schema, flatbuffer_utils = _schema()
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_bytes))
    names: list[str] = []
    for operator in model.subgraphs[0].operators:
        name = _operator_name(schema, model.operatorCodes[operator.opcodeIndex])
        if name not in names:
            names.append(name)
    return names


def resolver_lines(names: list[str]) -> list[str]:
    """The C++ a sketch needs to register exactly these ops (MicroMutableOpResolver<N>)."""
    unknown = [name for name in names if name not in RESOLVER_METHODS]
    if unknown:
        raise EdgeDigitsError(f"no MicroMutableOpResolver method known for {', '.join(unknown)}; add it to RESOLVER_METHODS")
    return [f"static tflite::MicroMutableOpResolver<{len(names)}> resolver;",
            *(f"resolver.{RESOLVER_METHODS[name]}();" for name in names)]


def cmsis_nn_scratch_bytes(model_bytes: bytes) -> int:
    """The largest scratch buffer CMSIS-NN's optimized kernels (Arduino's and most Cortex-M TFLM builds) ask for,
    from the conv shapes: im2col of arm_convolve_s8 (2 columns of kh*kw*cin int16) and arm_depthwise_conv_s8_opt
    (kh*kw*cin int16); 1x1 convolutions and 3x3 depthwise with one channel multiplier need none there, counted anyway."""
    schema, flatbuffer_utils = _schema()
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_bytes))
    graph, largest = model.subgraphs[0], 0
    for operator in graph.operators:
        name = _operator_name(schema, model.operatorCodes[operator.opcodeIndex])
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        filter_shape = [int(n) for n in graph.tensors[operator.inputs[1]].shape]
        if name == "CONV_2D" and filter_shape[1] * filter_shape[2] > 1:
            largest = max(largest, 2 * filter_shape[1] * filter_shape[2] * filter_shape[3] * 2)
        elif name == "DEPTHWISE_CONV_2D":
            largest = max(largest, filter_shape[1] * filter_shape[2] * filter_shape[3] * 2)
    return largest


def shipped_arena(minimum: int, scratch: int) -> int:
    """The arena to ship: the measured minimum plus CMSIS-NN's largest scratch and the alignment loss, in whole KiB."""
    needed = minimum + scratch + ARENA_ALIGNMENT
    return -(-needed // ARENA_ROUNDING) * ARENA_ROUNDING


def import_tflite_micro() -> Any:
    """The tflite_micro runtime module, or a one-line error naming the extra to install."""
    try:
        from tflite_micro import runtime
    except ImportError:
        raise EdgeDigitsError(MICRO_EXTRA_HINT) from None
    return runtime


def micro_interpreter(model_bytes: bytes, arena_bytes: int) -> Any:
    """A TFLM interpreter with its tensors allocated in an arena of `arena_bytes` (RuntimeError when too small)."""
    runtime = import_tflite_micro()
    with quiet_stderr(replay=False):  # TFLM logs every failed allocation on stderr
        interpreter = runtime.Interpreter.from_bytes(model_bytes, arena_size=arena_bytes)
        interpreter.set_input(np.zeros((1, 28, 28, 1), np.uint8), 0)
        interpreter.invoke()  # allocation completes on the first invoke
    return interpreter


def arena_fits(model_bytes: bytes, arena_bytes: int) -> bool:
    """True when the TFLM interpreter can allocate and run the model in `arena_bytes`."""
    try:
        micro_interpreter(model_bytes, arena_bytes)
    except (RuntimeError, ValueError):
        return False
    return True


def minimum_arena(model_bytes: bytes) -> int:
    """The smallest arena (bytes) the TFLM interpreter runs the model in, by bisection between 0 and 1 MiB."""
    import_tflite_micro()
    if not arena_fits(model_bytes, ARENA_SEARCH_LIMIT):
        raise EdgeDigitsError(f"the TFLM interpreter cannot run this model even with a {ARENA_SEARCH_LIMIT}-byte arena")
    failing, working = 0, ARENA_SEARCH_LIMIT
    while working - failing > 1:
        middle = (failing + working) // 2
        if arena_fits(model_bytes, middle):
            working = middle
        else:
            failing = middle
    return working


def micro_predict(model_bytes: bytes, arena_bytes: int, pixels: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 digits -> (N, 10) probabilities, one TFLM invoke per digit, int8 output dequantized."""
    interpreter = micro_interpreter(model_bytes, arena_bytes)
    details = interpreter.get_output_details(0)
    scale = float(details["quantization_parameters"]["scales"][0])
    zero_point = int(details["quantization_parameters"]["zero_points"][0])
    quantized = np.empty((len(pixels), 10), np.int8)
    for index, digit in enumerate(np.asarray(pixels, np.uint8)):
        interpreter.set_input(digit.reshape(1, 28, 28, 1), 0)
        interpreter.invoke()
        quantized[index] = interpreter.get_output(0)[0]
    return ((quantized.astype(np.float32) - zero_point) * np.float32(scale)).astype(np.float32)


def litert_reference_predict(model_bytes: bytes, pixels: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 -> (N, 10) float32 from LiteRT's reference kernels (BUILTIN_REF): integer math
    that is the same on every CPU, unlike the XNNPACK kernels LiteRT picks by default."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=model_bytes, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    out = np.empty((len(pixels), 10), np.float32)
    for index, digit in enumerate(np.asarray(pixels, np.uint8)):
        interpreter.set_tensor(source, digit.reshape(1, 28, 28, 1))
        interpreter.invoke()
        out[index] = interpreter.get_tensor(target)[0]
    return out
