"""`python -m edge_digits.measure.soak`: memory soak of the camera demo on a looping synthetic video.

Writes a short video of synthetic pages (scenes.make_suite + write_video) to a temp directory, runs
`camera_demo.py --headless --loop --max-frames N` on it in a subprocess, reads its JSON lines and
reports resident memory at frames 500, 1000, 2000, 3000, ... N, the growth from frame 500 to N,
and frames/s. Exit 0 PASS, 1 FAIL (growth above the limit), 2 when the soak itself could not run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edge_digits.options import (
    Parser,
    add_data_option,
    add_model_options,
    positive_int,
    progress,
)

PROG = "edge_digits.measure.soak"
BASELINE_FRAME = 500  # start-up allocations (model, buffers, caches) settle before this frame
GROWTH_LIMIT_MB = 10.0


def baseline_frame(frames: int) -> int:
    """Frame 500, or half-way through a run too short for it."""
    return min(BASELINE_FRAME, max(1, frames // 2))


def checkpoints(frames: int) -> list[int]:
    """The baseline (500), 1000, 2000, 3000, ... and the last frame (frame counts, 1-based)."""
    return sorted({baseline_frame(frames), *range(1000, frames + 1, 1000), frames})


def write_clip(directory: Path, scenes: int, data_path: str | None) -> Path:
    """`scenes` synthetic 640x480 pages, each held for 2 frames, as an MJPG .avi (decodes everywhere)."""
    from edge_digits.measure.scenes import make_suite, write_video

    path = directory / "soak.avi"
    write_video([scene.image for scene in make_suite(scenes, seed=7, data_path=data_path) for _ in range(2)], path, fps=10)
    return path


def run_demo(video: Path, frames: int, model: str | None, backend: str, verify: bool = True,
             trust: list[str] | None = None, version_record: str | None = None) -> tuple[list[dict], list[float], str]:
    """The camera demo's JSON records, the arrival time of each, and its stderr; RuntimeError if it failed."""
    command = [sys.executable, "-m", "edge_digits.apps.camera", "--headless", "--loop", "--source", str(video),
               "--max-frames", str(frames), "--backend", backend, *(["--model", model] if model else []),
               *([] if verify else ["--no-verify"]), *(f"--trust={key}" for key in trust or ()),
               *([f"--version-record={version_record}"] if version_record else [])]
    records, arrivals = [], []
    with tempfile.TemporaryFile(mode="w+") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, bufsize=1)
        try:
            for line in progress(process.stdout, "soak", total=frames, unit="frame"):
                arrivals.append(time.perf_counter())
                records.append(json.loads(line))
        finally:
            process.stdout.close()
            code = process.wait()
        stderr.seek(0)
        errors = stderr.read()
    if code != 0 or len(records) != frames:
        last = errors.strip().splitlines()[-1] if errors.strip() else f"exit code {code}"
        raise RuntimeError(f"the camera demo failed after {len(records)} of {frames} frames: {last}")
    return records, arrivals, errors


def report(records: list[dict], arrivals: list[float], limit_mb: float) -> tuple[list[str], bool]:
    """Text lines of the report and whether growth stayed within `limit_mb`."""
    frames = len(records)
    rss = [float(record["rss_mb"]) for record in records]
    baseline = baseline_frame(frames)
    lines = [f"{'frame':>6} {'rss_mb':>9}"] + [f"{mark:>6} {rss[mark - 1]:>9.1f}" for mark in checkpoints(frames)]
    growth = rss[-1] - rss[baseline - 1]
    seconds = arrivals[-1] - arrivals[0]
    fps = (frames - 1) / seconds if seconds > 0 else float("nan")
    passed = growth <= limit_mb
    lines += [
        f"rss growth frame {baseline} -> {frames}: {growth:+.1f} MB (limit {limit_mb:g} MB); peak {max(rss):.1f} MB",
        f"throughput: {fps:.1f} frames/s over {seconds:.0f} s (demo's smoothed fps at the end: {records[-1].get('fps', 0):.1f})",
        "PASS" if passed else "FAIL",
    ]
    return lines, passed


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog=f"python -m {PROG}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=positive_int, default=5000, help="frames to run (default 5000)")
    add_model_options(parser, confidence=False, second_model=False)
    parser.add_argument("--scenes", type=positive_int, default=30, help="distinct synthetic pages in the looping video (default 30)")
    parser.add_argument("--limit-mb", type=float, default=GROWTH_LIMIT_MB, help=f"allowed RSS growth (default {GROWTH_LIMIT_MB:g})")
    add_data_option(parser)
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="edge-digits-soak-") as directory:
            video = write_clip(Path(directory), args.scenes, args.data)
            print(f"soak: {args.frames} frames of a looping {2 * args.scenes}-frame synthetic video, "
                  f"model {args.model or 'default export/'} ({args.backend})", flush=True)
            records, arrivals, _ = run_demo(video, args.frames, args.model, args.backend, verify=not args.no_verify,
                                            trust=args.trust, version_record=args.version_record)
    except Exception as error:  # one line: this is a command-line tool
        print(f"{PROG}: error: {' '.join(str(error).split()) or error.__class__.__name__}", file=sys.stderr)
        return 2
    lines, passed = report(records, arrivals, args.limit_mb)
    print("\n".join(lines))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
