"""Atomic file writes: a reader sees the old file or the new one, never half of one.

The one helper every tier uses to write results (JSON, models, plots). Whole export directories
are swapped by edge_digits.build.staging, which builds on the same signal handling.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator, Sequence

TEMP_PREFIX = ".edge-digits-tmp-"
INTERRUPT_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back (they stay pending) so a commit or cleanup is never cut in half."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPT_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, INTERRUPT_SIGNALS)


def current_umask() -> int:
    """The process umask (reading it means setting it, so it is put straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_outputs(targets: Sequence[str | os.PathLike]) -> Iterator[list[Path]]:
    """Yield one temporary path beside each target; when the block succeeds, rename them all onto
    their targets together (signals held back), otherwise delete them and leave the targets as they were."""
    targets = [Path(target) for target in targets]
    temporaries: list[Path] = []
    mode = 0o666 & ~current_umask()  # mkstemp makes 0600 files; give the outputs normal permissions
    try:
        for target in targets:
            handle, name = tempfile.mkstemp(dir=target.parent, prefix=TEMP_PREFIX, suffix=f"-{target.name}")
            temporaries.append(Path(name))
            os.fchmod(handle, mode)
            os.close(handle)
        yield list(temporaries)
        with signals_deferred():
            for temporary, target in zip(temporaries, targets):
                os.replace(temporary, target)
    finally:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)


def write_json_atomic(path: str | os.PathLike, content: Any) -> None:
    """Write `content` as indented JSON to `path` through a temporary file and a rename."""
    with atomic_outputs([path]) as (temporary,):
        temporary.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
