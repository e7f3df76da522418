"""Running the matrix's commands: a failure or a hang becomes CheckFailed with the command's last lines."""

from __future__ import annotations

import subprocess

PROGRAM = "cpu-matrix"


class CheckFailed(Exception):
    """A step failed or a target's answers differ from the native ones; the message says which."""


def log(message: str) -> None:
    print(f"{PROGRAM}: {message}", flush=True)


def run(command: list, timeout: float = 1800, **options) -> subprocess.CompletedProcess:
    """Run a command; a failure or a hang (past `timeout` seconds) raises CheckFailed with the last lines of its output."""
    shown = " ".join(map(str, command[:4]))
    try:
        result = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=timeout, **options)
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"`{shown} ...` did not finish in {timeout:.0f} s") from None
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise CheckFailed(f"`{shown} ...` exited {result.returncode}:\n{tail}")
    return result
