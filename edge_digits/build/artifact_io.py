"""Inspect and finish written artifacts: ONNX names/dims/metadata, TFLite I/O contracts for the manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edge_digits.errors import EdgeDigitsError
from edge_digits.formats import INPUT_NAME, LABELS, OUTPUT_NAME, PREPROCESSING, Format

BATCH_DIM = "batch"
SIGNATURE = "serving_default"


def finish_onnx(proto: Any) -> Any:
    """Name I/O image/probabilities, call the dynamic first dim 'batch', add labels + preprocessing metadata."""
    import onnx

    graph = proto.graph
    initializers = {tensor.name for tensor in graph.initializer}
    inputs = [value for value in graph.input if value.name not in initializers]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise EdgeDigitsError(f"converted ONNX graph has {len(inputs)} inputs and {len(graph.output)} outputs; expected 1 and 1")
    _rename(graph, inputs[0].name, INPUT_NAME)
    _rename(graph, graph.output[0].name, OUTPUT_NAME)
    for value in (inputs[0], graph.output[0]):
        first = value.type.tensor_type.shape.dim[0]
        first.Clear()
        first.dim_param = BATCH_DIM
    metadata = {"labels": json.dumps(list(LABELS)), "preprocessing": json.dumps(PREPROCESSING),
                "input": INPUT_NAME, "output": OUTPUT_NAME}
    _replace(proto.metadata_props, [entry for entry in proto.metadata_props if entry.key not in metadata])
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    used = {node.domain for node in graph.node} | {""}
    _replace(proto.opset_import, [opset for opset in proto.opset_import if opset.domain in used])  # quant pre-process adds unused ones
    constant_reshape_shapes(proto)
    canonical_names(proto)
    onnx.checker.check_model(proto)
    return proto


def constant_reshape_shapes(proto: Any) -> None:
    """Give every Reshape whose output is [batch, fixed dims...] the constant shape [-1, dims...], and
    drop the shape arithmetic that computed it.

    tf2onnx folds a Flatten's Shape -> Gather -> ... -> Reshape chain into such a constant in most
    conversions but not all (the tutorial CNN's second export in one process once kept the chain), so
    the same model came out as two graphs. Folding here makes it one; ONNX shape inference (with data
    propagation) supplies the dims, so nothing is assumed about how tf2onnx spelled the chain."""
    import onnx
    from onnx import numpy_helper

    graph = proto.graph
    constants = {tensor.name for tensor in graph.initializer}
    inferred = onnx.shape_inference.infer_shapes(proto, data_prop=True).graph
    shapes = {value.name: value.type.tensor_type.shape for value in list(inferred.value_info) + list(inferred.output)}
    for node in graph.node:
        if node.op_type != "Reshape" or node.input[1] in constants or node.output[0] not in shapes:
            continue
        dims = [dim.dim_value if dim.HasField("dim_value") else None for dim in shapes[node.output[0]].dim]
        if len(dims) < 2 or dims[0] is not None or None in dims[1:]:
            continue
        shape_name = f"{node.output[0]}__constant_shape"
        graph.initializer.append(numpy_helper.from_array(np.array([-1, *dims[1:]], np.int64), shape_name))
        node.input[1] = shape_name
    outputs = {value.name for value in graph.output}
    dropped: set[str] = set()
    while True:  # drop nodes nothing reads any more (the folded shape arithmetic), last consumers first
        read = outputs | {name for node in graph.node for name in node.input}
        alive = [any(output in read for output in node.output) for node in graph.node]
        if all(alive):
            break
        dropped |= {output for node, keep in zip(graph.node, alive) if not keep for output in node.output}
        _replace(graph.node, [node for node, keep in zip(graph.node, alive) if keep])
    _replace(graph.value_info, [value for value in graph.value_info if value.name not in dropped])


def canonical_names(proto: Any) -> None:
    """Name every node <op>_<position> and every inner tensor after its producer or first consumer.

    tf2onnx and the quantizer number names from process-wide counters ("const_fold_opt__79"), and the
    quantizer orders nodes by those names, so the same model got different bytes on every run. The
    graph's I/O names stay; only names change, so the computed outputs do not.
    """
    graph = proto.graph
    for node in graph.node:
        if any(attribute.g.node or attribute.graphs for attribute in node.attribute):
            raise ValueError(f"cannot rename the ONNX graph: node {node.name!r} ({node.op_type}) holds a subgraph")
    _replace(graph.node, structural_order(graph))
    kept = {value.name for value in graph.input} | {value.name for value in graph.output}
    initializers = {tensor.name for tensor in graph.initializer}
    mapping: dict[str, str] = {}
    producer_position: dict[str, int] = {}
    for position, node in enumerate(graph.node):
        node.name = f"{node.op_type}_{position}"
        for slot, output in enumerate(node.output):
            producer_position[output] = position
            if output and output not in kept:
                mapping[output] = node.name if len(node.output) == 1 else f"{node.name}:{slot}"
    for node in graph.node:
        for slot, name in enumerate(node.input):
            if name in initializers and name not in mapping and name not in kept:
                mapping[name] = f"{node.name}_input{slot}"
    if len(set(mapping.values())) != len(mapping) or set(mapping.values()) & kept:
        raise ValueError("canonical ONNX names collide; the graph has an unexpected shape")
    for node in graph.node:
        node.input[:] = [mapping.get(name, name) for name in node.input]
        node.output[:] = [mapping.get(name, name) for name in node.output]
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        value.name = mapping.get(value.name, value.name)
    order = {name: index for index, name in enumerate(mapping.values())}
    used = [tensor for tensor in graph.initializer if tensor.name in mapping]  # an unused initializer computes nothing
    for tensor in used:
        tensor.name = mapping[tensor.name]
    _replace(graph.initializer, sorted(used, key=lambda tensor: order[tensor.name]))
    renamed = {new: producer_position.get(old, -1) for old, new in mapping.items()}
    _replace(graph.value_info, sorted(graph.value_info, key=lambda value: (renamed.get(value.name, -1), value.name)))
    graph.doc_string = ""  # "converted from b'__inference_serve_2015'": a TensorFlow function counter


def structural_order(graph: Any) -> list:
    """The graph's nodes in a topological order that depends only on what they compute.

    tf2onnx sorts nodes by name while converting, and its names carry process-wide counters, so the
    same model came out in another node order (and so other bytes) once a counter gained a digit.
    Here every node gets a digest of its op, attributes and the digests of where its inputs come
    from (a producer, an initializer's contents, a graph input), and ready nodes go in digest order."""
    import hashlib
    import heapq

    contents = {}
    for tensor in graph.initializer:
        nameless = type(tensor)()
        nameless.CopyFrom(tensor)
        nameless.name = ""
        contents[tensor.name] = hashlib.sha256(nameless.SerializeToString(deterministic=True)).digest()
    producers: dict[str, tuple[int, int]] = {}
    for index, node in enumerate(graph.node):
        for slot, output in enumerate(node.output):
            producers[output] = (index, slot)
    digests: list[bytes] = []
    for index, node in enumerate(graph.node):
        digest = hashlib.sha256(f"{node.domain}:{node.op_type}".encode())
        for attribute in node.attribute:
            nameless = type(attribute)()
            nameless.CopyFrom(attribute)
            if nameless.HasField("t"):
                nameless.t.name = ""
            digest.update(nameless.SerializeToString(deterministic=True))
        for name in node.input:
            if name in producers:
                source, slot = producers[name]
                if source >= index:
                    raise ValueError(f"ONNX node {node.name!r} reads {name!r} before it is computed")
                digest.update(digests[source] + slot.to_bytes(2, "little"))
            else:
                digest.update(contents.get(name, f"input:{name}".encode()))
            digest.update(b"|")
        digests.append(digest.digest())
    waiting = [0] * len(graph.node)
    consumers: list[list[int]] = [[] for _ in graph.node]
    for index, node in enumerate(graph.node):
        for source in {producers[name][0] for name in node.input if name in producers}:
            waiting[index] += 1
            consumers[source].append(index)
    ready = [(digests[index], index) for index in range(len(graph.node)) if waiting[index] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, index = heapq.heappop(ready)
        order.append(graph.node[index])
        for consumer in consumers[index]:
            waiting[consumer] -= 1
            if waiting[consumer] == 0:
                heapq.heappush(ready, (digests[consumer], consumer))
    return order


def _replace(field: Any, items: list) -> None:
    """Replace a repeated protobuf field's contents with `items` (copies, as protobuf requires)."""
    copies = [type(item)() for item in items]
    for copy, item in zip(copies, items):
        copy.CopyFrom(item)
    del field[:]
    field.extend(copies)


def _rename(graph: Any, old: str, new: str) -> None:
    """Rename a tensor everywhere it appears (graph I/O, node inputs/outputs, value_info)."""
    if old == new:
        return
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        if value.name == old:
            value.name = new
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]


def save_onnx(proto: Any, path: Path) -> None:
    import onnx

    onnx.save(proto, str(path))


def _quantization(scale: float, zero_point: int) -> dict[str, float] | None:
    return None if scale == 0.0 else {"scale": float(scale), "zero_point": int(zero_point)}


def describe_io(entry: Format, path: Path) -> dict[str, Any]:
    """{'inputs': [...], 'outputs': [...]}: name, dtype, shape ('batch' for the dynamic dim), quantization."""
    if entry.backend == "onnx":
        return _describe_onnx(path)
    if entry.backend == "tflite":
        return _describe_tflite(path)
    return {"inputs": [{"name": INPUT_NAME, "dtype": "float32", "shape": [BATCH_DIM, 28, 28, 1], "quantization": None}],
            "outputs": [{"name": OUTPUT_NAME, "dtype": "float32", "shape": [BATCH_DIM, 10], "quantization": None}]}


def _describe_onnx(path: Path) -> dict[str, Any]:
    import onnx

    graph = onnx.load(str(path)).graph
    initializers = {tensor.name for tensor in graph.initializer}

    def describe(value) -> dict[str, Any]:
        tensor = value.type.tensor_type
        shape = [dim.dim_param or dim.dim_value for dim in tensor.shape.dim]
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)).name
        return {"name": value.name, "dtype": dtype, "shape": shape, "quantization": None}

    return {"inputs": [describe(value) for value in graph.input if value.name not in initializers],
            "outputs": [describe(value) for value in graph.output]}


def _tflite_signature(path: Path) -> tuple[Any, dict[str, Any]]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    return interpreter, interpreter.get_signature_list()


def _describe_tflite(path: Path) -> dict[str, Any]:
    interpreter, signatures = _tflite_signature(path)
    names = signatures.get(SIGNATURE, {"inputs": [INPUT_NAME], "outputs": [OUTPUT_NAME]})

    def describe(detail: dict, name: str) -> dict[str, Any]:
        shape = [BATCH_DIM if size == -1 else int(size) for size in detail.get("shape_signature", detail["shape"])]
        return {"name": name, "tensor": detail["name"], "dtype": np.dtype(detail["dtype"]).name, "shape": shape,
                "quantization": _quantization(*detail["quantization"])}

    return {"signature": SIGNATURE if SIGNATURE in signatures else None,
            "inputs": [describe(d, n) for d, n in zip(interpreter.get_input_details(), names["inputs"])],
            "outputs": [describe(d, n) for d, n in zip(interpreter.get_output_details(), names["outputs"])]}


def check_tflite_uint8_input(path: Path) -> None:
    """The int8 TFLite contract apps rely on: uint8 raw pixels (scale 1/255, zero 0), serving_default I/O names."""
    interpreter, signatures = _tflite_signature(path)
    detail = interpreter.get_input_details()[0]
    scale, zero_point = detail["quantization"]
    if detail["dtype"] != np.uint8 or abs(scale * 255.0 - 1.0) > 1e-6 or zero_point != 0:
        raise EdgeDigitsError(f"int8 TFLite input is {np.dtype(detail['dtype']).name} scale {scale} zero point {zero_point}; "
                              "expected uint8 raw pixels with scale 1/255 and zero point 0")
    expected = {"inputs": [INPUT_NAME], "outputs": [OUTPUT_NAME]}
    if signatures.get(SIGNATURE) != expected:
        raise EdgeDigitsError(f"int8 TFLite signatures are {signatures}; expected {SIGNATURE}: {expected}")
