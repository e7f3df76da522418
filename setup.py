"""Build hook: ship the top-level export/ (the one copy in git) inside the wheel as edge_digits/export.

pyproject.toml holds the metadata; setup.py only adds the mapped data package, which
pyproject's `packages.find` cannot express next to a found package list.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["edge_digits", "edge_digits.*"]), "edge_digits.export"],
    package_dir={"edge_digits.export": "export"},
    # Runtime artifacts by glob, so models other exports add (e.g. digits_int8_tasks.tflite, golden vectors) ship too,
    # with the reader's second model (export/second, its own set); the .keras sources and the training by-products
    # (curves PNG, history JSON) belong to the build tier.
    # Each set's manifest signature (*.minisig) ships too, and the public key that checks them (edge_digits/keys).
    package_data={"edge_digits.export": [f"{folder}{pattern}" for folder in ("", "second/", "field/")
                                         for pattern in ("*.onnx", "*.tflite", "*.json", "*.txt", "*.minisig")],
                  "edge_digits": ["keys/*.pub"]},
    # parity.json is the exporting machine's measurements (git-ignored), not part of the set
    exclude_package_data={"edge_digits.export": [f"{folder}{name}" for folder in ("", "second/", "field/")
                                                 for name in ("*.history.json", "parity.json")]},
)
