"""Keep native libraries' log lines (LiteRT, TensorFlow, converters) out of the user's terminal."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from typing import Iterator

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
