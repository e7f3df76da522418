"""`cpu-matrix --exports`: re-export the shipped sets on each x86 path and compare every byte with the repository's.

`edge-digits export --int8` promises that a re-export leaves `git status` clean on any CPU. This runs that export
(build tier: TensorFlow, tf2onnx, onnxruntime's quantizer) natively and under qemu-x86_64 as Haswell (AVX2),
each into a scratch folder, and lists every file that differs from the shipped set; parity.json (this machine's
measurements) is left out, as git leaves it out. Not covered: Nehalem (TensorFlow's x86 wheels need AVX; it dies
on an illegal instruction there) and ARM (TensorFlow is not installed in the emulated Raspberry Pi roots).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from cpu_matrix.steps import CheckFailed, run

BUILD_TARGETS = ("native", "haswell")  # the x86 paths TensorFlow runs on
MEASUREMENTS = "parity.json"  # runtime/manifest.py's MEASUREMENTS_NAME: per machine, git-ignored


def compare_set(written: Path, shipped: Path) -> list[str]:
    """The files of the freshly written set that the shipped folder lacks or holds with other bytes. manifest.json
    is among them and lists every file of the set with its sha256, so nothing the set should hold goes unchecked."""
    names = sorted(path.name for path in written.iterdir() if path.is_file() and path.name != MEASUREMENTS)
    return [f"{name}: {'not in the shipped set' if not (shipped / name).is_file() else 'bytes differ'}" for name in names
            if not (shipped / name).is_file() or (written / name).read_bytes() != (shipped / name).read_bytes()]


def check_exports(targets: list, qemu: dict[str, Path], sets: list[Path], scratch: Path, environment: dict) -> None:
    """Export each set in `sets` on each x86 target; CheckFailed naming every file that differs from the shipped one."""
    rows, failures = [], []
    for target in targets:
        prefix = [] if target.cpu is None else [qemu["x86_64"], "-cpu", target.cpu]
        for shipped in sets:
            out = scratch / target.name / shipped.name
            began = time.perf_counter()
            run([*prefix, sys.executable, "-m", "edge_digits.apps.cli", "export", "--int8",
                 "--model", shipped / "digits.keras", "--out", out], timeout=7200, env=environment)
            differences = compare_set(out, shipped)
            seconds = time.perf_counter() - began
            rows.append((target.name, os.path.relpath(shipped), "same bytes" if not differences else f"{len(differences)} differ", seconds))
            failures += [f"{target.name} {shipped}: {difference}" for difference in differences]
    width = max(len(row[1]) for row in rows) if rows else 3
    print(f"{'target':<10} {'set':<{width}}  {'files (manifest.json included)':<32} seconds")
    for name, shipped, verdict, seconds in rows:
        print(f"{name:<10} {shipped:<{width}}  {verdict:<32} {seconds:.0f}")
    if failures:
        raise CheckFailed("; ".join(failures))


def export_environment(repo: Path, home: Path, mnist: str | None) -> dict:
    """This checkout's code and the running Python's packages, none of the host's CPU tuning (OPENBLAS_CORETYPE
    would force the host's kernels on an emulated CPU that lacks them), and the MNIST file."""
    if not mnist or not Path(mnist).is_file():
        raise CheckFailed("--exports needs MNIST: set $EDGE_DIGITS_MNIST to a Keras-layout mnist.npz")
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
            "PYTHONPATH": str(repo), "EDGE_DIGITS_MNIST": str(Path(mnist).resolve())}
