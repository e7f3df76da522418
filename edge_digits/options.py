"""Command-line argument types and the options every front end shares (`edge-digits`, the camera
demo and the `python -m` tools), declared once so their names, defaults and help never drift; and
the progress bar long commands (export, bench, score, soak) draw on a terminal's stderr, silent
when stderr is not a terminal and inside `progress_silenced()` (entered for --json)."""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

Item = TypeVar("Item")

PROGRAM = "edge-digits"
BACKENDS = ("onnx", "tflite")
SECOND_AUTO, SECOND_NONE = "auto", "none"  # --second-model's default (the reader's own choice) and its off switch
DATA_HELP = "MNIST npz (default: $EDGE_DIGITS_MNIST, the Keras cache, then download)"


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake as one line instead of usage + error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def at_least(minimum: int) -> Callable[[str], int]:
    """argparse type factory: a whole number >= minimum."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


positive_int = at_least(1)


def probability(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def add_trust_options(parser: argparse.ArgumentParser) -> None:
    """--trust (repeatable) and --version-record: which signed model sets to accept (runtime/trust.py)."""
    parser.add_argument("--trust", action="append", metavar="KEY", help="accept only model sets whose manifest.json is "
                        "signed by KEY: a minisign .pub file, its base64 key line, or 'project' (the key that signs the "
                        "shipped models); repeatable, added to $EDGE_DIGITS_TRUSTED_KEYS. Without any key, models are "
                        "only checked against manifest.json's sha256, which catches damage but not a replaced set "
                        "(docs/security.md)")
    parser.add_argument("--version-record", metavar="FILE", help="remember the newest signed version of each model set "
                        "accepted in FILE and refuse older ones (rollback); needs trusted keys "
                        "(default: $EDGE_DIGITS_VERSION_RECORD, else rollback is not checked)")


def add_model_options(parser: argparse.ArgumentParser, confidence: bool = True, second_model: bool = True) -> None:
    """--model, --backend, --no-verify, the trust options; --second-model/--second-below for front ends that build a
    DigitReader from them; --min-confidence for those that read."""
    parser.add_argument("--model", help="an .onnx/.tflite file or export directory "
                                        "(default: $EDGE_DIGITS_EXPORT, ./export, then the installed package's models)")
    parser.add_argument("--backend", choices=BACKENDS, default="onnx", help="inference runtime (default onnx)")
    parser.add_argument("--no-verify", action="store_true", help="load a model even if its sha256 disagrees with "
                        "manifest.json or manifest.json does not list it (refused when trusted keys are configured)")
    add_trust_options(parser)
    if second_model:
        from edge_digits.runtime.second_opinion import SECOND_BELOW

        parser.add_argument("--second-model", default=SECOND_AUTO, metavar="PATH|none",
                            help="a larger model (file or export directory) that re-reads the digits the first read "
                                 "below --second-below confidence; 'none' reads with the first model alone (default: "
                                 "the model of the same name in the second/ set beside the first, as export/ ships)")
        parser.add_argument("--second-below", type=probability, default=None,
                            help=f"confidence under which --second-model re-reads a digit, 0-1 (default {SECOND_BELOW})")
    if confidence:
        parser.add_argument("--min-confidence", type=probability, default=None,
                            help="drop digits read below this confidence, 0-1 (default: the reader's, 0.5)")


def reader_from_args(args: argparse.Namespace, **overrides: Any) -> Any:
    """The DigitReader that add_model_options' options ask for; an unset --min-confidence, --second-below or
    --second-model keeps the reader's default. `overrides` (e.g. verify=, threads=) replace or add DigitReader arguments."""
    from edge_digits.runtime.reader import DigitReader

    options = {name: getattr(args, name) for name in ("min_confidence", "second_below") if getattr(args, name, None) is not None}
    second = getattr(args, "second_model", SECOND_AUTO)
    if second != SECOND_AUTO:  # left at "auto", the reader's own default finds the shipped second model
        options["second_model"] = None if second == SECOND_NONE else second
    options = {"model": args.model, "backend": args.backend, "verify": not args.no_verify,
               "trusted_keys": getattr(args, "trust", None), "version_record": getattr(args, "version_record", None),
               **options, **overrides}
    return DigitReader(**options)


def add_data_option(parser: argparse.ArgumentParser, help: str = DATA_HELP) -> None:
    """--data: where MNIST comes from."""
    parser.add_argument("--data", help=help)


PROGRESS_SILENCED = contextvars.ContextVar("edge_digits_progress_silenced", default=False)


@contextlib.contextmanager
def progress_silenced(silenced: bool = True) -> Iterator[None]:
    """Within the block, `progress` draws nothing (when `silenced`)."""
    token = PROGRESS_SILENCED.set(silenced or PROGRESS_SILENCED.get())
    try:
        yield
    finally:
        PROGRESS_SILENCED.reset(token)


def progress_shown() -> bool:
    """True when a bar would be drawn: stderr is a terminal and progress is not silenced."""
    return not PROGRESS_SILENCED.get() and sys.stderr.isatty()


def progress(items: Iterable[Item], description: str, total: int | None = None, unit: str = "it") -> Iterable[Item]:
    """`items`, with a tqdm bar on stderr while they are consumed when `progress_shown()`; else `items` as is."""
    if not progress_shown():
        return items
    from tqdm import tqdm

    return tqdm(items, desc=description, total=total, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)
