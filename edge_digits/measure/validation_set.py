"""Score suites built from validation digits, so reader settings are chosen without the test split.

`python -m edge_digits.measure.validation_set --seed 1 --out runs/validation.npz` writes a Keras-layout
MNIST file whose test arrays are the 5,000 training digits `edge-digits train --seed 1` holds out for
validation (both shipped models were trained at seed 1, so neither saw them). `edge-digits score --data
runs/validation.npz ...` then builds every suite (scenes, crops, layouts, styles) from those digits.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from edge_digits.build.mnist import load_mnist, split_validation
from edge_digits.errors import EdgeDigitsError
from edge_digits.files import atomic_outputs
from edge_digits.options import Parser, add_data_option, positive_int

VALIDATION_SIZE = 5000  # what `edge-digits train` holds out by default


def write_validation_set(out: str | os.PathLike, seed: int, data_path: str | os.PathLike | None = None,
                         size: int = VALIDATION_SIZE) -> Path:
    """Write MNIST with the training split as is and, as its test split, the validation digits training at `seed`
    holds out; the file appears whole or not at all."""
    mnist = load_mnist(data_path)
    if not 0 < size < len(mnist.x_train):
        raise ValueError(f"size must be between 1 and {len(mnist.x_train) - 1}, got {size}")
    _, _, images, labels = split_validation(mnist.x_train, mnist.y_train, size, seed)
    out = Path(out)
    with atomic_outputs([out]) as (temporary,):
        with open(temporary, "wb") as handle:
            np.savez(handle, x_train=mnist.x_train, y_train=mnist.y_train, x_test=images, y_test=labels)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m edge_digits.measure.validation_set", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1, help="the training seed whose validation split to take (default 1)")
    parser.add_argument("--size", type=positive_int, default=VALIDATION_SIZE,
                        help=f"validation digits, as train's (default {VALIDATION_SIZE})")
    parser.add_argument("--out", required=True, help="the .npz to write, for `edge-digits score --data`")
    add_data_option(parser)
    args = parser.parse_args(argv)
    try:
        path = write_validation_set(args.out, args.seed, args.data, args.size)
    except (EdgeDigitsError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {path}: {args.size} validation digits of training seed {args.seed} as its test split")
    return 0


if __name__ == "__main__":
    sys.exit(main())
