"""One tiny trained model and one int8+fp16 export, shared by test_export.py and test_parity.py."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from edge_digits.build.staging import PREFIX
from edge_digits.runtime.manifest import sha256_file

_CACHE: dict[str, Path] = {}


def tiny_model(root: Path, mnist_path: Path) -> Path:
    """The tutorial CNN fitted for 2 epochs on 6000 training images (~95%: enough margin for int8)."""
    if "model" not in _CACHE:
        import keras

        from edge_digits.build import models
        from edge_digits.build.mnist import load_mnist, preprocess

        keras.utils.set_random_seed(0)
        mnist = load_mnist(mnist_path)
        model = models.compile_model(models.build_seed())
        model.fit(preprocess(mnist.x_train[:6000]), mnist.y_train[:6000], epochs=2, batch_size=64, verbose=0)
        path = root / "tiny.keras"
        model.save(path)
        _CACHE["model"] = path
    return _CACHE["model"]


def exported(root: Path, mnist_path: Path) -> Path:
    """export(int8=True, fp16=True) of the tiny model, done once per test session."""
    if "export" not in _CACHE:
        from edge_digits.build.exporter import export

        out = root / "export"
        export(tiny_model(root, mnist_path), out=out, int8=True, fp16=True, data_path=mnist_path, command="pytest")
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
