"""Reading cost per camera frame on one core: `python -m edge_digits.measure.readspeed [--model PATH] [--frames N]`.

Frames come from bench_pipeline.make_frames (synthetic 640x480, 10 digits each). One thread for OpenCV
and the classifier; CPU time (time.thread_time) is reported beside wall time because it is far less
sensitive to other processes sharing the machine. Runtime tier only: no TensorFlow.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_digits.errors import EdgeDigitsError
from edge_digits.measure.bench_pipeline import (
    DIGITS_PER_FRAME,
    FRAME_SIZE,
    STAGES,
    make_frames,
    reading_accuracy,
)
from edge_digits.measure.scenes import Scene
from edge_digits.options import Parser, add_data_option, add_model_options, positive_int, reader_from_args
from edge_digits.runtime.reader import DigitReader


def measure(reader: DigitReader, frames: list[Scene], repeats: int = 3) -> dict[str, Any]:
    """Read every frame `repeats` times after one warm-up pass; wall and CPU ms per frame, per-stage CPU ms."""
    texts = [reader.read(frame.image).text for frame in frames]  # warm-up, and the accuracy figures
    clock, reader.clock = reader.clock, time.thread_time  # stage timings in CPU seconds
    walls, cpus, stages = [], [], {stage: [] for stage in STAGES}
    try:
        for _ in range(max(1, repeats)):
            for frame in frames:
                timings: dict[str, float] = {}
                wall, cpu = time.perf_counter(), time.thread_time()
                reader.read(frame.image, timings)
                cpus.append(time.thread_time() - cpu)
                walls.append(time.perf_counter() - wall)
                for stage in STAGES:
                    stages[stage].append(timings.get(stage, 0.0))
    finally:
        reader.clock = clock
    accuracy, exact = reading_accuracy(texts, frames)
    second = reader.second_opinion if reader.second_opinion is not None and reader.second_opinion.digits else None
    return {
        "second_model_share": None if second is None else second.second_reads / second.digits,
        "frames": len(frames), "reads": len(walls),
        "wall_ms_p50": 1000.0 * float(np.median(walls)), "wall_ms_p90": 1000.0 * float(np.percentile(walls, 90)),
        "cpu_ms_p50": 1000.0 * float(np.median(cpus)), "cpu_ms_p90": 1000.0 * float(np.percentile(cpus, 90)),
        "stage_cpu_ms_p50": {stage: 1000.0 * float(np.median(values)) for stage, values in stages.items()},
        "reading_accuracy": accuracy, "exact_frames": exact,
    }


def format_report(result: dict[str, Any]) -> str:
    """A few plain-text lines: per-frame wall and CPU ms, per-stage CPU ms, reading accuracy."""
    width, height = FRAME_SIZE
    stages = ", ".join(f"{stage} {ms:.2f}" for stage, ms in result["stage_cpu_ms_p50"].items())
    return "\n".join([
        f"{result['frames']} frames {width}x{height}, {DIGITS_PER_FRAME} digits each, {result['reads']} reads, one thread",
        f"wall ms/frame: median {result['wall_ms_p50']:.2f}, p90 {result['wall_ms_p90']:.2f}",
        f"CPU ms/frame:  median {result['cpu_ms_p50']:.2f}, p90 {result['cpu_ms_p90']:.2f}",
        f"CPU ms/stage (medians): {stages}",
        f"reading accuracy {result['reading_accuracy']:.2%}, frames read exactly {result['exact_frames']:.0%}",
    ] + ([] if result["second_model_share"] is None else [
        f"second model: re-read {result['second_model_share']:.1%} of the digits read"]))


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m edge_digits.measure.readspeed", description=__doc__.splitlines()[0])
    add_model_options(parser, confidence=False)
    parser.add_argument("--frames", type=positive_int, default=50, help="synthetic frames (default 50)")
    parser.add_argument("--repeats", type=positive_int, default=3, help="timed reads per frame (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic frames (default 0)")
    add_data_option(parser)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    try:
        verify = not args.no_verify and (bool(args.trust) or not (args.model and Path(args.model).is_file()))
        reader = reader_from_args(args, verify=verify, threads=1)
        frames = make_frames(args.frames, args.data, seed=args.seed)
        result = measure(reader, frames, args.repeats)
    except (EdgeDigitsError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
