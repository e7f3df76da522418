"""edge-digits: train, quantize and export the MNIST CNN; read handwritten digits without TensorFlow.

Public names are imported lazily (module __getattr__), so `from edge_digits import DigitReader`
loads only the runtime tier (numpy, opencv, onnxruntime) and never TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "DigitReader": "runtime.reader",
    "Reading": "runtime.reader",
    "ReadDigit": "runtime.lines",
    "load_classifier": "runtime.classifier",
    "Classifier": "runtime.classifier",
    "EdgeDigitsError": "errors",
    "normalize_crop": "runtime.normalize",
    "find_candidates": "runtime.segment",
    "evaluate_photos": "measure.photos",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'edge_digits' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
