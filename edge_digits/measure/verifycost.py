"""What checking a signed model set costs at load: `python -m edge_digits.measure.verifycost [--model DIR]`.

Times, in one process after a warm-up, the signature check of each set's manifest.json alone
(trust.signed_manifest: read, BLAKE2b-512, two Ed25519 verifications, JSON parse), and DigitReader
built with and without trusted keys, interleaved (its model and second model: sha256, session creation).
Wall-clock medians; the host may be shared, so compare the two reader rows with each other. Runtime tier only.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

from edge_digits.errors import EdgeDigitsError
from edge_digits.options import Parser, positive_int
from edge_digits.runtime.classifier import default_export_dir
from edge_digits.runtime.reader import DigitReader
from edge_digits.runtime.second_opinion import SECOND_SET
from edge_digits.runtime.trust import PROJECT_KEY, TRUSTED_KEYS_VARIABLE, signed_manifest, trust_from


def median_ms(action: Callable[[], object], repeats: int) -> float:
    """Median wall time of `action` in milliseconds, after one untimed call."""
    action()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(directory: Path, keys: list[str], repeats: int) -> dict[str, float]:
    """{label: median ms}: the signature check of each set, and the reader without and with keys."""
    trust = trust_from(keys, environ={})
    results = {}
    for folder in (directory, directory / SECOND_SET):
        if (folder / "manifest.json").is_file():
            results[f"signature check of {folder}/manifest.json"] = median_ms(lambda: signed_manifest(folder, trust), repeats)
    plain, signed = [], []
    for _ in range(repeats):  # interleaved, so a busy moment of the host hits both rows alike
        plain.append(median_ms(lambda: DigitReader(directory, trusted_keys=[]), 1))
        signed.append(median_ms(lambda: DigitReader(directory, trusted_keys=keys), 1))
    results["DigitReader load without keys (sha256 only)"] = statistics.median(plain)
    results["DigitReader load with trusted keys"] = statistics.median(signed)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m edge_digits.measure.verifycost", description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a signed export directory (default: the shipped export/)")
    parser.add_argument("--trust", action="append", metavar="KEY", help="trusted key (default: project)")
    parser.add_argument("--repeats", type=positive_int, default=30, help="timed runs per row (default 30)")
    args = parser.parse_args(argv)
    try:
        if os.environ.get(TRUSTED_KEYS_VARIABLE):
            raise EdgeDigitsError(f"unset ${TRUSTED_KEYS_VARIABLE} first: the row without keys would use its keys")
        directory = Path(args.model) if args.model else default_export_dir()
        results = measure(directory, args.trust or [PROJECT_KEY], args.repeats)
    except (EdgeDigitsError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for label, value in results.items():
        print(f"{label}: {value:.2f} ms (median of {args.repeats})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
