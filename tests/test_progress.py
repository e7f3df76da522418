"""Progress bars: drawn on a terminal's stderr, never with --json or when stderr is not a terminal."""

from __future__ import annotations

import io
import sys

import pytest

from edge_digits.apps.cli import main
from edge_digits.options import progress, progress_silenced


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_bar_only_on_a_terminal_and_not_when_silenced(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert list(progress(range(3), "counting", unit="thing")) == [0, 1, 2]
    assert "counting" in terminal.getvalue() and "/3 [" in terminal.getvalue()

    silenced = Terminal()
    monkeypatch.setattr(sys, "stderr", silenced)
    with progress_silenced():
        assert list(progress(range(3), "counting")) == [0, 1, 2]
    assert silenced.getvalue() == ""

    pipe = io.StringIO()  # not a terminal
    monkeypatch.setattr(sys, "stderr", pipe)
    assert list(progress(range(3), "counting")) == [0, 1, 2]
    assert pipe.getvalue() == ""


@pytest.mark.parametrize("json_output", [False, True])
def test_score_draws_a_bar_unless_json(json_output, mnist_path, monkeypatch, capsys):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    argv = ["score", "--crops", "2", "--data", str(mnist_path), *(["--json"] if json_output else [])]
    assert main(argv) == 0
    capsys.readouterr()
    drawn = "/2 [" in terminal.getvalue() and "digit/s" in terminal.getvalue()
    assert drawn is not json_output, terminal.getvalue()[-500:]
