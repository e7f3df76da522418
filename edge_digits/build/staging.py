"""Atomic replacement of an export directory: build beside it, then swap the whole set in.

Layout while an export runs (all in the parent of `out`, so renames stay on one filesystem):
  .edge-digits-tmp-<name>.stage.<hex8>  the new set being written (flock'd by its live owner)
  .edge-digits-tmp-<name>.old.<hex8>    the previous `out`, only between the two commit renames
A crash leaves at most these; `recover()` (run at every start) deletes dead stages and either
restores an `.old` directory (when `out` is missing: the swap never finished) or deletes it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterable, Iterator

from edge_digits.errors import EdgeDigitsError
from edge_digits.files import (
    INTERRUPT_SIGNALS,
    TEMP_PREFIX,
    current_umask,
    signals_deferred,
)

PREFIX = TEMP_PREFIX


class Terminated(KeyboardInterrupt):
    """SIGTERM turned into a KeyboardInterrupt, so the same cleanup runs for both."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(f"received signal {signum}")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[Callable[[], None]]:
    """While active, SIGTERM raises `Terminated` (a KeyboardInterrupt) in the main thread. It yields `check`,
    which raises an interrupt that arrived but was swallowed; leaving the block runs it too.

    An interrupt that lands inside TensorFlow's C++/pybind code (graph tracing, say) can come out as
    another exception, e.g. SystemError "bad argument to internal function"; any exception leaving the
    block after SIGINT/SIGTERM arrived is therefore re-raised as the interrupt it really was.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    received: list[int] = []

    def check() -> None:
        """Raise the interrupt received, if any: a library may have caught it (in CI a SIGTERM during
        training once vanished: training ran on and exited 0, with nothing on stderr)."""
        if received:
            raise Terminated(f"received signal {received[0]}") if received[0] == signal.SIGTERM else KeyboardInterrupt()

    def on_sigterm(signum: int, frame: object) -> None:
        received.append(signum)
        _raise_terminated(signum, frame)

    def on_sigint(signum: int, frame: object) -> None:
        received.append(signum)
        signal.default_int_handler(signum, frame)

    previous_term = signal.signal(signal.SIGTERM, on_sigterm)
    previous_int = signal.getsignal(signal.SIGINT)
    if previous_int is signal.default_int_handler:  # leave an ignored SIGINT (background job) ignored
        signal.signal(signal.SIGINT, on_sigint)
    try:
        yield check
        check()
    except KeyboardInterrupt:
        raise
    except Exception as error:
        if not received:
            raise
        if received[0] == signal.SIGTERM:
            raise Terminated(f"received signal {received[0]}") from error
        raise KeyboardInterrupt from error
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        if previous_int is signal.default_int_handler:
            signal.signal(signal.SIGINT, previous_int)


def _interrupt_pending() -> bool:
    return threading.current_thread() is threading.main_thread() and bool(signal.sigpending() & INTERRUPT_SIGNALS)


@contextlib.contextmanager
def _locked(path: Path, blocking: bool = True) -> Iterator[bool]:
    """flock a directory; yields False (non-blocking mode) when another process holds it."""
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(descriptor)


def _stage_prefix(out: Path) -> str:
    return f"{PREFIX}{out.name}.stage."


def _old_prefix(out: Path) -> str:
    return f"{PREFIX}{out.name}.old."


def _leftovers(out: Path, prefix: str) -> list[Path]:
    """Sibling directories `prefix` + 8 hex digits (exact, so other outputs' names never match)."""
    found = []
    for entry in out.parent.iterdir():
        token = entry.name[len(prefix):]
        if entry.name.startswith(prefix) and len(token) == 8 and all(c in "0123456789abcdef" for c in token):
            found.append(entry)
    return sorted(found)


def recover(out: Path) -> None:
    """Finish or undo what a killed export left beside `out` (dead stages, an `.old` set)."""
    if not out.parent.is_dir():
        return
    with _locked(out.parent):
        for stage in _leftovers(out, _stage_prefix(out)):
            with _locked(stage, blocking=False) as dead:
                if dead:
                    shutil.rmtree(stage, ignore_errors=True)
        olds = _leftovers(out, _old_prefix(out))
        if olds and not out.exists():
            os.rename(olds.pop(), out)  # the swap never finished: put the previous set back
        for old in olds:
            shutil.rmtree(old, ignore_errors=True)


def check_writable(out: Path) -> None:
    """Fail fast (before any slow work) when `out` cannot be created or replaced."""
    if out.exists() and not out.is_dir():
        raise EdgeDigitsError(f"output path {out} exists and is not a directory; pass --out DIRECTORY")
    for path in (out, out.parent):
        if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
            raise EdgeDigitsError(f"output directory {path} is not writable; pass --out to a writable directory")
    ancestor = out.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise EdgeDigitsError(f"cannot create output directory {out}: {ancestor} is not a directory")


class StagedDirectory:
    """Context manager: a private staging directory beside `out`, swapped in by `commit()`.

    Leaving the block without a commit (error, KeyboardInterrupt, SIGTERM) deletes the stage and
    any parent directories this object created, leaving `out` exactly as it was.
    """

    def __init__(self, out: str | os.PathLike, keep_names: Iterable[str]):
        out = Path(out).expanduser()
        self.out = out.resolve() if out.is_symlink() else Path(os.path.abspath(out))
        self.replaced_names = frozenset(keep_names)  # names the new set owns; other entries in out survive
        self.path: Path | None = None
        self.work: Path | None = None
        self._created_parents: list[Path] = []
        self._lock_descriptor: int | None = None
        self._old_tempdir: str | None = None

    def __enter__(self) -> "StagedDirectory":
        check_writable(self.out)
        with signals_deferred():
            try:
                self._make_parents()
                recover(self.out)
                name = f"{_stage_prefix(self.out)}{secrets.token_hex(4)}"
                self.path = self.out.parent / name
                self.path.mkdir(mode=0o700)
                self._lock_descriptor = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
                fcntl.flock(self._lock_descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.work = self.path / ".work"
                self.work.mkdir()
            except OSError as error:
                self._cleanup()
                raise EdgeDigitsError(f"cannot write to output directory {self.out}: {error.strerror or error}") from None
        self._old_tempdir, tempfile.tempdir = tempfile.tempdir, str(self.work)  # converters' temp files die with the stage
        return self

    def __exit__(self, *exc_info: object) -> None:
        tempfile.tempdir = self._old_tempdir
        with signals_deferred():
            self._cleanup()

    def _make_parents(self) -> None:
        missing, ancestor = [], self.out.parent
        while not ancestor.exists():
            missing.append(ancestor)
            ancestor = ancestor.parent
        for directory in reversed(missing):
            directory.mkdir()
            self._created_parents.append(directory)

    def _cleanup(self) -> None:
        if self._lock_descriptor is not None:
            os.close(self._lock_descriptor)
            self._lock_descriptor = None
        if self.path is not None and self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)
        for directory in reversed(self._created_parents):
            if not self.out.exists():
                with contextlib.suppress(OSError):
                    directory.rmdir()
        self._created_parents = []

    def commit(self) -> None:
        """Swap the staged set in: keep `out`'s other files, rename old aside, stage in, delete old."""
        if self.path is None or self.work is None:
            raise RuntimeError("commit() called outside the `with` block")
        shutil.rmtree(self.work)
        tempfile.tempdir = self._old_tempdir
        with _locked(self.out.parent), signals_deferred():
            if _interrupt_pending():
                raise KeyboardInterrupt("interrupted before the new export was swapped in")
            if self.out.is_dir():
                self._carry_over_other_files()
                shutil.copymode(self.out, self.path)
            else:
                os.chmod(self.path, 0o777 & ~current_umask())
            _fsync_tree(self.path)
            old = self.out.parent / f"{_old_prefix(self.out)}{secrets.token_hex(4)}"
            had_previous = self.out.exists()
            if had_previous:
                os.rename(self.out, old)  # moved aside, never deleted, until the new set is in place
            try:
                os.rename(self.path, self.out)
            except OSError as error:
                if had_previous:
                    os.rename(old, self.out)  # roll back: the previous set returns untouched
                raise EdgeDigitsError(f"cannot swap the new set into {self.out}: {error.strerror or error}; "
                                      "the previous set is unchanged") from None
            self.path = None
            _fsync_directory(self.out.parent)
            self._created_parents = []
            if had_previous:
                shutil.rmtree(old, ignore_errors=True)

    def _carry_over_other_files(self) -> None:
        """Hard-link (or copy) everything in `out` that is not part of the new set into the stage."""
        for entry in self.out.iterdir():
            if entry.name in self.replaced_names or entry.name.startswith(PREFIX):
                continue
            target = self.path / entry.name
            if entry.is_dir() and not entry.is_symlink():
                shutil.copytree(entry, target, symlinks=True, copy_function=_link_or_copy)
            else:
                _link_or_copy(entry, target)


def _link_or_copy(source: str | os.PathLike, target: str | os.PathLike) -> None:
    if os.path.islink(source):
        os.symlink(os.readlink(source), target)
        return
    try:
        os.link(source, target)
    except OSError as error:
        if error.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
            raise
        shutil.copy2(source, target)


def _fsync_tree(root: Path) -> None:
    """Flush the staged files to disk before the rename makes them the official set."""
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                descriptor = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(descriptor)
                finally:
                    os.close(descriptor)
        _fsync_directory(Path(directory))


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
