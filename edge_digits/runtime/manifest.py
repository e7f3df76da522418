"""manifest.json: what an export directory holds, with checksums the runtime verifies."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
from pathlib import Path
from typing import Any

from edge_digits.errors import EdgeDigitsError

MANIFEST_NAME = "manifest.json"
MEASUREMENTS_NAME = "parity.json"  # what the exporting machine measured: beside the manifest, not part of its identity


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(directory: str | os.PathLike) -> dict[str, Any] | None:
    """The parsed manifest of `directory`, None when there is none, EdgeDigitsError when unreadable."""
    path = Path(directory) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        data = path.read_bytes()
    except OSError as error:
        raise EdgeDigitsError(f"cannot read {path}: {error}; re-export with `edge-digits export`") from None
    return parse_manifest(data, path)


def parse_manifest(data: bytes, path: str | os.PathLike) -> dict[str, Any]:
    """A manifest from its bytes (trust.py parses exactly the bytes whose signature it checked)."""
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EdgeDigitsError(f"cannot read {path}: {error}; re-export with `edge-digits export`") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("artifacts"), list):
        raise EdgeDigitsError(f"{path} has no 'artifacts' list; re-export with `edge-digits export`")
    return manifest


def manifest_entry(manifest: dict[str, Any] | None, file_name: str) -> dict[str, Any] | None:
    """The manifest's record of `file_name`, if it lists it."""
    if manifest is None:
        return None
    return next((entry for entry in manifest["artifacts"] if isinstance(entry, dict) and entry.get("file") == file_name), None)


def verify_artifact(path: str | os.PathLike, manifest: dict[str, Any] | None, content: bytes | None = None) -> None:
    """Refuse a file whose sha256 disagrees with the manifest (tampered or half-copied), or that sits in a set
    whose manifest does not list it (dropped in after the export). `content`: the file's bytes, already read."""
    path = Path(path)
    if manifest is None:
        return  # a model outside any export set: nothing to check it against
    entry = manifest_entry(manifest, path.name)
    if entry is None or "sha256" not in entry:
        raise EdgeDigitsError(
            f"{path} is not listed in its directory's {MANIFEST_NAME}: it was added after the export, so nothing "
            "vouches for it; move it out of the export set (read, score and camera_demo.py take --no-verify to load it anyway)"
        )
    actual = sha256_file(path) if content is None else hashlib.sha256(content).hexdigest()
    if actual != entry["sha256"]:
        raise EdgeDigitsError(
            f"{path} does not match {MANIFEST_NAME} (sha256 {actual[:12]}... != {entry['sha256'][:12]}...): "
            "the file was changed or damaged; re-export it (read, score and camera_demo.py take --no-verify to load it anyway)"
        )


def package_versions(names: tuple[str, ...]) -> dict[str, str | None]:
    """Python's and each installed distribution's version (None when absent): what a number depends on."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions
