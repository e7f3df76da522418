"""Shared fixtures: where MNIST is, and a quiet TensorFlow."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

REPO = Path(__file__).resolve().parent.parent
EXPORT_DIR = REPO / "export"


@pytest.fixture(scope="session")
def mnist_path() -> Path:
    """The local MNIST file the tests use ($EDGE_DIGITS_MNIST or the Keras cache)."""
    from edge_digits.build.mnist import resolve_mnist_path

    path = resolve_mnist_path(None)
    if path is None:
        pytest.skip("no local MNIST: set EDGE_DIGITS_MNIST to a Keras-layout mnist.npz")
    return path


@pytest.fixture(scope="session")
def mnist(mnist_path):
    from edge_digits.build.mnist import load_mnist

    return load_mnist(mnist_path)


def run_cli(*args: str, env: dict | None = None, timeout: float = 600):
    """Run `python -m edge_digits.apps.cli ARGS` in a subprocess, as a user would."""
    import subprocess

    return subprocess.run([sys.executable, "-m", "edge_digits.apps.cli", *args], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, **(env or {})}, timeout=timeout)


def cli_options(command: str) -> dict:
    """{dest: argparse action} of one `edge-digits COMMAND`'s options, to hold --help to the code."""
    from edge_digits.apps.cli import build_parser

    subcommands = next(action for action in build_parser()._actions if action.choices and command in action.choices)
    return {action.dest: action for action in subcommands.choices[command]._actions}


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory) -> Path:
    """The project's wheel, built once per session by scripts/cpu-matrix (the one wheel builder)."""
    import subprocess

    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "cpu-matrix"), "--build-wheel", str(out)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip())
