"""`edge-digits bench DIR --against OTHER`: batch-1 latency of two exports, measured interleaved.

On a shared or virtual machine a single 1000-run timing of a 0.05 ms model moves by 2x from one
minute to the next, so two separate benches cannot rank two models that differ by 20%. Here both
exports' sessions live in one process and take turns: each round times `runs` calls of each model
(order alternating), and the verdict is the median over rounds of the per-round p50 ratio plus
the share of rounds each side won. Noise that hits a round hits both models. Runtime tier.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from edge_digits.errors import EdgeDigitsError
from edge_digits.formats import FORMATS
from edge_digits.measure.bench import latency_ms
from edge_digits.runtime.classifier import load_classifier

DEFAULT_ROUNDS = 40
DEFAULT_RUNS = 200
ROUND_WARMUP = 20  # untimed calls before each round's timing (the other model just ran)


def compare_latency(directory: str | os.PathLike, against: str | os.PathLike, rounds: int = DEFAULT_ROUNDS,
                    runs: int = DEFAULT_RUNS, threads: int = 1) -> dict[str, Any]:
    """Interleaved batch-1 latency of every runtime format present in both export directories."""
    directory, against = Path(directory), Path(against)
    for path in (directory, against):
        if not path.is_dir():
            raise EdgeDigitsError(f"export directory not found: {path}")
    if rounds < 3 or runs < 1:
        raise EdgeDigitsError(f"need at least 3 rounds and 1 run per round, got {rounds} and {runs}")
    image = np.zeros((1, 28, 28, 1), np.float32)
    image[0, 6:22, 12:16] = 1.0  # a plain stroke; the cost of these models does not depend on pixel values
    rows = []
    for entry in FORMATS:
        if entry.backend == "keras" or not ((directory / entry.file).is_file() and (against / entry.file).is_file()):
            continue
        ours = load_classifier(directory / entry.file, backend=entry.backend, threads=threads).predict
        theirs = load_classifier(against / entry.file, backend=entry.backend, threads=threads).predict
        ours_p50, theirs_p50 = np.empty(rounds), np.empty(rounds)
        for index in range(rounds):
            order = ((ours, ours_p50), (theirs, theirs_p50))
            for predict, samples in (order if index % 2 == 0 else order[::-1]):
                samples[index] = latency_ms(predict, image, runs, warmup=ROUND_WARMUP)["p50"]
        ratios = ours_p50 / theirs_p50
        rows.append({
            "name": entry.name, "rounds": rounds, "runs_per_round": runs,
            "p50_ms": float(np.median(ours_p50)), "against_p50_ms": float(np.median(theirs_p50)),
            "best_p50_ms": float(ours_p50.min()), "against_best_p50_ms": float(theirs_p50.min()),
            "median_ratio": float(np.median(ratios)),
            "ratio_quartiles": [float(np.percentile(ratios, 25)), float(np.percentile(ratios, 75))],
            "rounds_faster": int((ratios < 1.0).sum()),
        })
    if not rows:
        raise EdgeDigitsError(f"no .onnx or .tflite artifact is in both {directory} and {against}")
    return {"directory": str(directory), "against": str(against), "threads": threads, "rows": rows}


def format_comparison(results: dict[str, Any], markdown: bool = False) -> str:
    """The comparison as a plain-text or markdown table; ratio < 1 means the first directory is faster."""
    header = ["format", f"p50 ms {results['directory']}", f"p50 ms {results['against']}", "best p50 ms (ours / theirs)",
              "median ratio [IQR]", "rounds faster"]
    lines = [[row["name"], f"{row['p50_ms']:.4f}", f"{row['against_p50_ms']:.4f}",
              f"{row['best_p50_ms']:.4f} / {row['against_best_p50_ms']:.4f}",
              f"{row['median_ratio']:.3f} [{row['ratio_quartiles'][0]:.3f}, {row['ratio_quartiles'][1]:.3f}]",
              f"{row['rounds_faster']}/{row['rounds']}"] for row in results["rows"]]
    if markdown:
        table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        table += ["| " + " | ".join(line) + " |" for line in lines]
    else:
        widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines)]
        table = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in [header, *lines]]
    first = results["rows"][0]
    note = (f"batch-1, {results['threads']} thread(s), {first['rounds']} interleaved rounds x {first['runs_per_round']} "
            "runs; ratio = ours / theirs per round (< 1: ours faster)")
    return "\n".join(table) + "\n" + note + "\n"
