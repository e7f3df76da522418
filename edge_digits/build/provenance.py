"""What a manifest says about where an export came from, in words that hold on any machine:
the `edge-digits export` command that shapes the set and paths relative to the export directory."""

from __future__ import annotations

from pathlib import Path

from edge_digits.formats import format_by_name

CALIBRATION_IMAGES = 1000  # export's default --calibration


def portable_path(path: Path, out: Path, stage: Path) -> str:
    """`path` as the manifest records it: relative to the output directory when inside it, else its name.

    A model trained into the stage becomes the set's own digits.keras. No absolute path of the building
    machine goes into the manifest, so the same export on another clone writes the same bytes.
    """
    resolved = path.resolve()
    if resolved.is_relative_to(stage.resolve()):
        return format_by_name("keras").file
    if resolved.is_relative_to(out.resolve()):
        return resolved.relative_to(out.resolve()).as_posix()
    return path.name


def export_command(int8: bool, fp16: bool, calibration: int, seed: int, model: str | None = None,
                   data: str | None = None) -> str:
    """The `edge-digits export` command line that shapes this set, with paths as the manifest records them."""
    words = ["edge-digits", "export", *(["--int8"] if int8 else []), *(["--fp16"] if fp16 else [])]
    words += [*(["--model", model] if model else []), *(["--data", data] if data else [])]
    if calibration != CALIBRATION_IMAGES:
        words += ["--calibration", str(calibration)]
    if seed:
        words += ["--seed", str(seed)]
    return " ".join(words)
