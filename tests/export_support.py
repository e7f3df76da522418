"""One source model and one int8+fp16 export of it, shared by test_export.py, test_parity.py and others.

The source is a copy of the shipped export/digits.keras, not a model trained here: training answers differ
between CPUs (a 2-epoch model trained to 95% on AVX-512 and 91% on AVX2, where its int8 copy then failed parity),
so a fixture trained in the test would make the suite's verdicts depend on the machine."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from edge_digits.build.staging import PREFIX
from edge_digits.runtime.manifest import sha256_file

_CACHE: dict[str, Path] = {}


REPO = Path(__file__).resolve().parent.parent


def source_model(root: Path) -> Path:
    """A copy of the shipped 40 KB model's Keras source (99.61%: the int8 copies sit far inside parity's limits)."""
    if "model" not in _CACHE:
        path = root / "source.keras"
        shutil.copyfile(REPO / "export" / "digits.keras", path)
        _CACHE["model"] = path
    return _CACHE["model"]


def exported(root: Path, mnist_path: Path) -> Path:
    """export(int8=True, fp16=True) of the source model, done once per test session."""
    if "export" not in _CACHE:
        from edge_digits.build.exporter import export

        out = root / "export"
        export(source_model(root), out=out, int8=True, fp16=True, data_path=mnist_path, command="pytest")
        _CACHE["export"] = out
    return _CACHE["export"]


def copy_of(directory: Path, target: Path) -> Path:
    """A private copy of an export directory that a test may overwrite or damage."""
    shutil.copytree(directory, target)
    return target


def fingerprint(directory: Path) -> dict[str, str]:
    """sha256 of every file under `directory` (relative path -> digest)."""
    return {str(path.relative_to(directory)): sha256_file(path)
            for path in sorted(directory.rglob("*")) if path.is_file()}


def leftovers(directory: Path) -> list[str]:
    """Staging/old directories or temp files an export left in `directory`."""
    return [name for name in os.listdir(directory) if name.startswith(PREFIX) or name.endswith(".tmp")]
