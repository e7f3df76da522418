"""The tiers hold: the runtime imports neither the build tier nor TensorFlow and its kin.

Checked twice: statically over the import graph of every runtime module (including imports
inside functions), and by running `edge-digits read` and the headless camera demo in a process
where those modules cannot be imported at all.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "edge_digits"
SHARED = ("errors", "files", "formats", "options")  # the modules every tier may use
FORBIDDEN_LIBRARIES = ("tensorflow", "keras", "tf2onnx", "onnx", "matplotlib", "tflite_micro")
# What each tier may import from edge_digits, besides the shared modules.
ALLOWED = {
    "runtime": {"runtime"},
    "build": {"build", "runtime"},
    "measure": {"measure", "build", "runtime"},
    "apps": {"apps", "measure", "build", "runtime"},
}
SAMPLE = REPO / "examples" / "sample.jpg"


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name a file imports, at any depth (lazy imports inside functions too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise ValueError(f"{path}: relative import; the tier check reads absolute edge_digits.* imports")
            names.add(node.module or "")
    return names


def tier_violations(root: Path = PACKAGE) -> list[str]:
    """Imports that point up or across the tiers, or from the runtime into TensorFlow and its kin."""
    problems = []
    for tier, allowed in ALLOWED.items():
        for path in sorted((root / tier).rglob("*.py")):
            for name in sorted(imported_modules(path)):
                parts = name.split(".")
                if parts[0] == "edge_digits" and len(parts) > 1:
                    target = parts[1]
                    if target not in SHARED and target not in allowed:
                        problems.append(f"{path.relative_to(root.parent)} imports {name}")
                elif tier == "runtime" and parts[0] in FORBIDDEN_LIBRARIES:
                    problems.append(f"{path.relative_to(root.parent)} imports {name}")
    for name in SHARED:
        allowed = {*SHARED, *(("runtime",) if name == "options" else ())}  # options builds the reader its options describe
        for module in imported_modules(root / f"{name}.py"):
            if module.startswith("edge_digits.") and module.split(".")[1] not in allowed or module.split(".")[0] in FORBIDDEN_LIBRARIES:
                problems.append(f"edge_digits/{name}.py imports {module}")
    return problems


def test_every_module_lives_in_a_tier():
    loose = sorted(path.name for path in PACKAGE.glob("*.py") if path.stem not in (*SHARED, "__init__"))
    assert loose == [], f"modules outside the tier packages: {loose}"
    assert sorted(path.name for path in PACKAGE.iterdir() if path.is_dir() and path.name != "__pycache__"
                  and (path / "__init__.py").exists()) == sorted(ALLOWED)


def test_imports_point_down_the_tiers():
    assert tier_violations() == []


def test_the_check_catches_a_runtime_module_that_imports_upward(tmp_path):
    """The static check must be able to fail: a copy of the runtime with one bad import is caught."""
    copy = tmp_path / "edge_digits"
    for tier in ALLOWED:
        (copy / tier).mkdir(parents=True)
    for name in SHARED:
        (copy / f"{name}.py").write_text((PACKAGE / f"{name}.py").read_text())
    (copy / "runtime" / "reader.py").write_text("from edge_digits.build.keras_io import load_keras_model\nimport tensorflow as tf\n")
    problems = tier_violations(copy)
    assert any("imports edge_digits.build.keras_io" in problem for problem in problems)
    assert any("imports tensorflow" in problem for problem in problems)


BLOCKER = (
    "import sys\n"
    "for name in {names!r}:\n"
    "    sys.modules[name] = None  # any import of it now raises ImportError\n"
    "sys.argv = {argv!r}\n"
    "import runpy\n"
    "runpy.run_module({module!r}, run_name='__main__')\n"
)


def run_blocked(module: str, *args: str) -> subprocess.CompletedProcess:
    """Run `python -m module args` with TensorFlow, Keras, tf2onnx, onnx, matplotlib and the build tier blocked."""
    names = [*FORBIDDEN_LIBRARIES, "edge_digits.build"]
    script = BLOCKER.format(names=names, argv=[module, *args], module=module)
    return subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_read_runs_with_the_build_tier_and_tensorflow_blocked():
    result = run_blocked("edge_digits.apps.cli", "read", "--json", str(SAMPLE))
    assert result.returncode == 0, result.stderr
    assert '"text"' in result.stdout


def test_headless_camera_runs_with_the_build_tier_and_tensorflow_blocked():
    result = run_blocked("edge_digits.apps.camera", "--headless", "--source", str(SAMPLE), "--max-frames", "1")
    assert result.returncode == 0, result.stderr
    assert '"text"' in result.stdout
