"""Progress bars for long commands (export, bench, score, soak): tqdm on stderr when it is a terminal.

Silent when stderr is not a terminal (pipes, CI, tests) and inside `progress_silenced()`, which the
command line enters for --json so machine-readable output never mixes with a bar.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")

SILENCED = contextvars.ContextVar("edge_digits_progress_silenced", default=False)


@contextlib.contextmanager
def progress_silenced(silenced: bool = True) -> Iterator[None]:
    """Within the block, `progress` draws nothing (when `silenced`)."""
    token = SILENCED.set(silenced or SILENCED.get())
    try:
        yield
    finally:
        SILENCED.reset(token)


def progress_shown() -> bool:
    """True when a bar would be drawn: stderr is a terminal and progress is not silenced."""
    return not SILENCED.get() and sys.stderr.isatty()


def progress(items: Iterable[Item], description: str, total: int | None = None, unit: str = "it") -> Iterable[Item]:
    """`items`, with a tqdm bar on stderr while they are consumed when `progress_shown()`; else `items` as is."""
    if not progress_shown():
        return items
    from tqdm import tqdm

    return tqdm(items, desc=description, total=total, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)
