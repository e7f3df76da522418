"""Ctrl-C or SIGTERM during `edge-digits train` keeps the previous model, history and curves byte for byte,
exits 130 / 143 with one stderr line, and leaves no temp files."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO

from edge_digits.build.staging import Terminated, sigterm_as_interrupt
from edge_digits.runtime.manifest import sha256_file

pytestmark = pytest.mark.slow
NAMES = ("X.keras", "X.history.json", "X.curves.png")


@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory, mnist_path) -> Path:
    """The three files of a real (tiny, 1-epoch) earlier training run."""
    from edge_digits.build.train import train_model

    directory = tmp_path_factory.mktemp("earlier")
    train_model("seed", epochs=1, limit=300, data_path=mnist_path, out=directory / "X.keras", verbose=0)
    assert sorted(os.listdir(directory)) == sorted(NAMES)
    return directory


def wait_for(process: subprocess.Popen, marker: bytes, timeout: float) -> bytes:
    """Read the child's stdout until `marker` appears (keras prints 'Epoch 1/50' as training starts)."""
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    seen, deadline = b"", time.monotonic() + timeout
    while marker not in seen:
        assert time.monotonic() < deadline, f"training never started: {seen[-2000:]!r}"
        if selector.select(timeout=1.0):
            chunk = os.read(process.stdout.fileno(), 4096)
            assert chunk, f"train exited early ({process.wait()}): {process.stderr.read().decode()[-2000:]}"
            seen += chunk
    return seen


@pytest.mark.parametrize("signum, code, message", [
    (signal.SIGINT, 130, "edge-digits: interrupted"),
    (signal.SIGTERM, 143, "edge-digits: terminated (SIGTERM)"),
])
def test_interrupted_train_keeps_previous_outputs(signum, code, message, earlier_run, tmp_path, mnist_path):
    for name in NAMES:
        (tmp_path / name).write_bytes((earlier_run / name).read_bytes())
    before = {name: sha256_file(tmp_path / name) for name in NAMES}
    command = [sys.executable, "-m", "edge_digits.apps.cli", "train", "--limit", "2000", "--epochs", "50",
               "--data", str(mnist_path), "--out", str(tmp_path / "X.keras")]
    # a terminal's Ctrl-C: SIGINT must not be inherited as ignored (pytest may run as a background job)
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_for(process, b"Epoch 1/50", timeout=240)
        time.sleep(1.0)  # inside model.fit
        assert process.poll() is None, "train finished before it could be interrupted"
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = stderr.decode()
    assert "Traceback" not in stderr, stderr
    assert process.returncode == code, stderr
    assert [line for line in stderr.splitlines() if line.strip()] == [message]
    assert {name: sha256_file(tmp_path / name) for name in NAMES} == before
    assert sorted(os.listdir(tmp_path)) == sorted(NAMES)  # no .edge-digits-tmp-* files, nothing new


def _signal_disguised_as(signum: int, error: Exception) -> None:
    """What TensorFlow's C++ sometimes does: the interrupt raised inside it comes out as another exception."""
    with sigterm_as_interrupt():
        try:
            os.kill(os.getpid(), signum)
            time.sleep(5)  # the handler raises here
        except KeyboardInterrupt:
            raise error from None


@pytest.mark.parametrize("signum, raised", [(signal.SIGTERM, Terminated), (signal.SIGINT, KeyboardInterrupt)])
def test_a_swallowed_interrupt_is_raised_by_check_and_at_the_blocks_end(signum, raised):
    """A library that catches the interrupt and carries on must not turn Ctrl-C or SIGTERM into a success."""
    if signum == signal.SIGINT and signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT is ignored in this process (a background job)")
    for use_check in (True, False):
        went_on = []
        with pytest.raises(raised):
            with sigterm_as_interrupt() as check:
                try:
                    os.kill(os.getpid(), signum)
                    time.sleep(5)
                except KeyboardInterrupt:
                    pass  # what a careless library does
                if use_check:
                    check()
                    went_on.append("past check()")
        assert went_on == []
    with sigterm_as_interrupt() as check:
        check()  # nothing received: nothing raised


def test_interrupt_disguised_as_another_exception_is_still_an_interrupt():
    with pytest.raises(Terminated):
        _signal_disguised_as(signal.SIGTERM, SystemError("bad argument to internal function"))
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        with pytest.raises(KeyboardInterrupt) as raised:
            _signal_disguised_as(signal.SIGINT, SystemError("bad argument to internal function"))
        assert not isinstance(raised.value, Terminated)
    with pytest.raises(ValueError):  # without a signal, errors pass through unchanged
        with sigterm_as_interrupt():
            raise ValueError("an ordinary bug")
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored
