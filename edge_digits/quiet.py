"""Keep TensorFlow's and the converters' log spam out of the CLI user's terminal."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings
from typing import Any, Iterator

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def quiet_stderr(replay: bool = True) -> Iterator[None]:
    """Send file descriptors 1 and 2 (C++ logs included) to a scratch file; replay it if the block fails."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {descriptor: os.dup(descriptor) for descriptor in (1, 2)}
    with tempfile.TemporaryFile(mode="w+b") as capture:
        for descriptor in saved:
            os.dup2(capture.fileno(), descriptor)
        failed = False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        except BaseException as error:
            failed = replay and not isinstance(error, KeyboardInterrupt)
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for descriptor, original in saved.items():
                os.dup2(original, descriptor)
                os.close(original)
            if failed:  # the captured lines may explain the failure
                capture.seek(0)
                sys.stderr.write(capture.read()[-20000:].decode("utf-8", "replace"))


def import_tensorflow() -> tuple[Any, Any]:
    """(tensorflow, keras), imported without the start-up banner, with TF/absl loggers at ERROR."""
    with quiet_stderr():
        import keras
        import tensorflow as tf
    tf.get_logger().setLevel(logging.ERROR)
    with contextlib.suppress(ImportError):
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    for name in ("tf2onnx", "onnx", "onnxruntime", "absl", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return tf, keras



def load_keras_model(path: str | os.PathLike) -> Any:
    """keras_io.load_keras_model (safe_mode, shape-checked, one-line errors) without the log noise."""
    import_tensorflow()
    from .keras_io import load_keras_model as load

    with quiet_stderr(replay=False):
        return load(path)
