"""`edge-digits`: a thin command line over the library. Each subcommand imports its module lazily,
so `edge-digits read` never pays for (or needs) TensorFlow."""

from __future__ import annotations

import argparse
import sys

from edge_digits.apps import commands
from edge_digits.errors import describe
from edge_digits.options import (
    PROGRAM,
    Parser,
    add_data_option,
    add_model_options,
    add_trust_options,
    at_least,
    positive_int,
    probability,
    progress_silenced,
)

# Subcommands that need TensorFlow (the Keras model is their input or oracle; bench times a Keras row),
# and the modules only the build tier ("train" extra) installs.
BUILD_TIER_COMMANDS = ("train", "average", "evaluate", "export", "export-field", "parity", "bench")
BUILD_TIER_MODULES = ("tensorflow", "keras", "tf2onnx", "onnx", "matplotlib", "sympy")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; `edge-digits COMMAND --help` prints each part of it."""
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a --debug given before the subcommand is not reset by the subcommand's own default.
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show the full traceback on errors")
    parser = Parser(prog=PROGRAM, parents=[common],
                    description="Train, quantize, export and run a handwritten-digit CNN on the edge.")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    subcommands.required = True

    train = subcommands.add_parser("train", parents=[common], help="train a model on MNIST")
    train.add_argument("--arch", default="edge", help="architecture: edge (default, small and augmented), seed (the tutorial "
                       "CNN), teacher (edge at twice the width, trained on every writing style, to teach edge) or field "
                       "(the string model that reads a whole field, trained on synthetic strings; docs/fields.md)")
    train.add_argument("--epochs", type=positive_int, help="epochs (default: the architecture's recipe: seed 10, edge 22, teacher 30, field 3; see docs/model.md)")
    train.add_argument("--batch-size", type=positive_int, help="batch size (default: the architecture's recipe; field 64)")
    add_data_option(train)
    train.add_argument("--limit", type=positive_int, help="train on only N training images (quick runs)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--hand-styles", choices=("classic", "all"), help="writing styles drawn on training digits: classic "
                       "(flagged 1s, crossed 7s; the recipes' default) or all (also continental 1s, short-bar 7s, looped 2s, "
                       "open 4s, marker and pencil strokes; see docs/model.md)")
    train.add_argument("--teacher", help="a trained .keras model whose softened predictions the model also learns "
                       "(knowledge distillation; see docs/model.md)")
    train.add_argument("--scans", type=probability, default=0.0, help="share of training digits drawn as low-resolution "
                       "scans (8-16 px, grey, bits or block counts, as Semeion and optdigits store digits; default 0)")
    train.add_argument("--strings", type=positive_int, default=200_000, help="with --arch field: synthetic training "
                       "strings (default 200000)")
    train.add_argument("--choose-on", metavar="DIR", help="with --arch field: keep the epoch reading the development part of "
                       "this labelled field folder best (its held-back quarter is never read; never trained on)")
    train.add_argument("--learning-rate", type=float, default=3e-3, help="with --arch field: peak learning rate of the "
                       "warmup-cosine schedule (default 0.003; about 0.001 when fine-tuning from --initial)")
    train.add_argument("--initial", metavar="MODEL", help="with --arch field: start from this trained field model's "
                       "weights (fine-tuning on new strings; give a new --seed)")
    train.add_argument("--out", default="runs/digits.keras", help="model path; history JSON and curves PNG go beside it")
    train.set_defaults(handler=commands.command_train)

    average = subcommands.add_parser("average", parents=[common], help="one model that outputs the mean of several "
                                     "models' probabilities (how export/second is built; see docs/model.md)")
    average.add_argument("models", nargs="+", help="two or more trained .keras models")
    average.add_argument("--out", required=True, help="the averaged model's path, ending in .keras")
    average.set_defaults(handler=commands.command_average)

    evaluate = subcommands.add_parser("evaluate", parents=[common], help="test accuracy, per-class accuracy and confusion matrix")
    evaluate.add_argument("model", help="a .keras model")
    add_data_option(evaluate)
    evaluate.add_argument("--out", help="directory for the PNGs (default: beside the model)")
    evaluate.add_argument("--no-plots", action="store_true", help="skip the PNGs")
    evaluate.add_argument("--json", action="store_true", help="print the result as JSON")
    evaluate.set_defaults(handler=commands.command_evaluate)

    export = subcommands.add_parser("export", parents=[common], help="export ONNX and TFLite artifacts with a manifest")
    export.add_argument("--int8", action="store_true", help="also write the int8 ONNX and int8 TFLite models")
    export.add_argument("--fp16", action="store_true", help="also write a float16 TFLite model")
    export.add_argument("--model", help="source .keras (default: OUT/digits.keras; without one, export stops and asks "
                        "for --model or --train)")
    export.add_argument("--train", action="store_true", help="when there is no --model and no OUT/digits.keras, train "
                        "the default 'edge' model first (about 10 minutes on 2 cores) and export it")
    export.add_argument("--out", default="export", help="output directory (default: export)")
    add_data_option(export, "MNIST npz for calibration and validation (default: $EDGE_DIGITS_MNIST, the Keras cache, then download)")
    export.add_argument("--calibration", type=positive_int, default=1000, help="int8 calibration images from the training split (default 1000)")
    export.add_argument("--seed", type=int, default=0, help="seed for the calibration sample (default 0)")
    export.add_argument("--keep-failing", action="store_true", help="write the new set even when it fails parity "
                        "(the manifest records the failure; the exit code is still 1)")
    export.add_argument("--micro", action="store_true", help="write OUT/micro/, the TensorFlow Lite for Microcontrollers "
                        "set, from OUT/digits_int8.tflite (after the export with --int8; alone, only that step; "
                        "needs the micro extra; docs/microcontrollers.md)")
    export.set_defaults(handler=commands.command_export)

    export_field = subcommands.add_parser("export-field", parents=[common], help="export the field model as OUT/field/ "
                                          "(ONNX and TFLite, fp32 and int8) with its parity table (docs/fields.md)")
    export_field.add_argument("--model", required=True, help="the field model (.keras, from `train --arch field`)")
    export_field.add_argument("--out", default="export", help="export directory; the set goes to OUT/field/ (default: export)")
    add_data_option(export_field, "MNIST npz: training digits calibrate, test digits check parity (default: $EDGE_DIGITS_MNIST, "
                    "the Keras cache, then download)")
    export_field.add_argument("--strings", type=positive_int, default=1000, help="synthetic test strings for parity (default 1000)")
    export_field.add_argument("--seed", type=int, default=0, help="seed of the calibration and parity strings (default 0)")
    export_field.add_argument("--keep-failing", action="store_true", help="write the set even when it fails parity")
    export_field.set_defaults(handler=commands.command_export_field)

    parity = subcommands.add_parser("parity", parents=[common], help="check every artifact against the Keras model")
    parity.add_argument("directory", nargs="?", default="export", help="export directory (default: export)")
    add_data_option(parity)
    parity.add_argument("--limit", type=positive_int, help="use only the first N test images")
    parity.set_defaults(handler=commands.command_parity)

    bench = subcommands.add_parser("bench", parents=[common], help="measure size, accuracy, latency and memory of every artifact",
                                description="Benchmark every artifact of an export directory (accuracy and agreement "
                                            "with Keras on the full MNIST test set, batch-1 latency, batch-256 throughput, "
                                            "load time, peak memory of a fresh process) and the camera pipeline on "
                                            "synthetic 640x480 frames. Exits 0 whenever it completes; `parity` is the gate. With --against OTHER it only compares "
                                            "batch-1 latency with another export, interleaved.")
    bench.add_argument("directory", nargs="?", default="export", help="export directory (default: export)")
    bench.add_argument("--json", metavar="OUT", help="also write all results, with machine info, as JSON to OUT")
    bench.add_argument("--markdown", action="store_true", help="print markdown tables (for the README) instead of plain text")
    bench.add_argument("--threads", type=positive_int, default=1, metavar="N", help="inference threads per runtime (default 1)")
    bench.add_argument("--runs", type=positive_int, metavar="N", help="timed batch-1 runs per artifact after 50 warm-up runs (default 1000; with --against, per round, default 200)")
    bench.add_argument("--frames", type=positive_int, default=60, metavar="N", help="synthetic camera frames for the pipeline benchmark (default 60)")
    bench.add_argument("--plots", metavar="DIR", default="bench-plots", help="directory for the PNG plots (default: bench-plots)")
    bench.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    add_data_option(bench)
    bench.add_argument("--against", metavar="OTHER", help="instead: time DIRECTORY's and OTHER's runtime artifacts at batch 1, "
                                                          "interleaved in one process, and print their latency ratio")
    bench.add_argument("--rounds", type=at_least(3), default=40, metavar="N", help="interleaved rounds for --against (default 40)")
    bench.set_defaults(handler=commands.command_bench)

    golden = subcommands.add_parser("golden", parents=[common], help="write golden vectors that test ports of the preprocessing",
                                 description="Write DIRECTORY/golden_vectors.json: crops of MNIST training digits, the "
                                 "28x28 bytes the reader's normalization makes of them and the int8 model's output "
                                 "(docs/mobile.md). With --tolerance, measure what a port's deviations cost instead.")
    golden.add_argument("directory", nargs="?", default="export", help="export directory with digits_int8.tflite (default: export)")
    golden.add_argument("--out", help="output file (default: DIRECTORY/golden_vectors.json)")
    add_data_option(golden, "MNIST npz for the digits (default: $EDGE_DIGITS_MNIST, the Keras cache, then download)")
    golden.add_argument("--tolerance", action="store_true", help="instead: byte differences and agreement of port variants on MNIST test digits")
    golden.add_argument("--limit", type=positive_int, help="with --tolerance: use only the first N test digits")
    golden.add_argument("--json", action="store_true", help="with --tolerance: print the rows as JSON")
    golden.set_defaults(handler=commands.command_golden)

    keygen = subcommands.add_parser("keygen", parents=[common], help="make a minisign key pair that signs model sets",
                                    description="Write OUT/edge-digits.key (the secret key: unencrypted, mode 0600; keep it "
                                    "off the devices) and OUT/edge-digits.pub (the public key devices trust with --trust). "
                                    "Existing keys are never overwritten. docs/security.md.")
    keygen.add_argument("--out", required=True, metavar="DIR", help="directory for the two key files")
    keygen.set_defaults(handler=commands.command_keygen)

    sign = subcommands.add_parser("sign", parents=[common], help="sign an export set's manifest.json (minisign-compatible)",
                                  description="Check every file DIRECTORY/manifest.json lists, then write "
                                  "DIRECTORY/manifest.json.minisig, a minisign signature whose trusted comment names the "
                                  "set and its version (`minisign -V -p KEY.pub -m DIRECTORY/manifest.json` checks it); "
                                  "a second/ set inside is signed too, as NAME/second. Signing again with the same key "
                                  "and version gives the same bytes.")
    sign.add_argument("directory", help="export directory holding manifest.json")
    sign.add_argument("--key", required=True, help="secret key file from `edge-digits keygen` (or `minisign -G -W`)")
    sign.add_argument("--set-version", type=positive_int, required=True, metavar="N",
                      help="this set's version; devices with a version record refuse a set older than one they accepted")
    sign.add_argument("--name", default="digits", help="the set's name in the signature (default digits)")
    sign.set_defaults(handler=commands.command_sign)

    read = subcommands.add_parser("read", parents=[common], help="read handwritten digits in images")
    read.add_argument("images", nargs="+", metavar="IMAGE", help="image files, or folders whose images are all read")
    read.add_argument("--json", action="store_true", help="print a JSON array of readings")
    read.add_argument("--annotate", metavar="DIR", help="write each image with boxes and digits drawn into DIR")
    read.add_argument("--field", action="store_true", help="each image is one field (a cheque amount, form boxes, a meter): "
                      "read it whole with the field model (--field-model; docs/fields.md)")
    add_field_model_option(read)
    add_model_options(read)
    read.set_defaults(handler=commands.command_read)

    score = subcommands.add_parser("score", parents=[common], help="reading accuracy on labelled photos and synthetic scenes")
    score.add_argument("photos", nargs="?", help="a folder of photos with labels.json (file, digits per image)")
    score.add_argument("--view", choices=("as-is", "far", "tilted", "desk", "wood", "table"), default="as-is",
                       help="read the photos as-is (default), at a quarter of their size (far), turned 12 degrees (tilted), "
                       "or lying on a dark or wooden desk or a grey table near the paper's shade")
    score.add_argument("--scenes", type=positive_int, help="also read N synthetic scenes of MNIST test digits")
    score.add_argument("--paper", choices=("plain", "lined", "squared"), default="plain",
                       help="print the synthetic scenes on this paper (default plain)")
    score.add_argument("--crops", type=positive_int, metavar="N", help="also read N MNIST test digits rendered as other "
                                                                        "datasets store them (USPS, Semeion, optdigits, ...)")
    score.add_argument("--styles", type=positive_int, metavar="N", help="also read N MNIST test digits in each writing "
                       "style MNIST lacks (continental 1s, short-bar and crossed 7s, looped 2s, open 4s, marker, pencil, "
                       "stretched), as stored and as close-ups")
    score.add_argument("--layouts", type=positive_int, metavar="N", help="also read N synthetic scenes of each page layout: "
                       "a lone digit on a large page, touching digits, a stray mark beside a row, scattered groups, "
                       "a close-up of one thick digit, a cluster of three or four touching digits")
    score.add_argument("--rows", type=positive_int, metavar="N", help="also read N frames of two rows of digits of "
                       "varied size whose tops wobble by up to 0, 15 and 30 px: digits in order and lines exact per level")
    score.add_argument("--fields", metavar="DIR", help="instead: the field suite on a labelled folder of field images (one "
                       "field per image): the page reader and the field model, fp32 and int8 (docs/fields.md)")
    score.add_argument("--part", choices=("all", "development", "held-back", "first200"), default="all",
                       help="with --fields: which fields (sorted by name; held-back is every 4th; default all)")
    score.add_argument("--synthetic-fields", type=positive_int, metavar="N", help="with --fields or alone: also read N "
                       "synthetic fields of MNIST test digits")
    score.add_argument("--readings", action="append", default=[], metavar="NAME=JSON", help="with --fields: also score "
                       "another reader's readings of the same files ({file: {text, seconds}}, e.g. scripts/rapidocr-fields)")
    add_field_model_option(score)
    score.add_argument("--seed", type=int, default=0, help="seed of the synthetic scenes and crops (default 0)")
    add_data_option(score, "MNIST npz for the synthetic scenes and crops (default: $EDGE_DIGITS_MNIST, the Keras cache, then download)")
    add_model_options(score)
    score.add_argument("--json", action="store_true", help="print the results as JSON")
    score.set_defaults(handler=commands.command_score)

    from edge_digits.apps.camera import DESCRIPTION, add_camera_arguments

    camera = subcommands.add_parser("camera", parents=[common], help="read digits live from a camera, video or image folder",
                                 description=DESCRIPTION + " A window shows the readings; with --headless (or no display) "
                                 "each frame is one JSON line on stdout.")
    add_camera_arguments(camera)
    camera.set_defaults(handler=commands.command_camera)

    web = subcommands.add_parser("web", parents=[common], help="serve the browser page that reads digits with onnxruntime-web",
                              description="Serve web/ (draw and camera modes; the browser runs the model) and the "
                              "exported models on 127.0.0.1, with the COOP/COEP headers WebAssembly threads need.")
    web.add_argument("--port", type=at_least(0), default=8000, help="port on 127.0.0.1 (default 8000; 0 picks a free one)")
    web.add_argument("--model", help="export directory holding digits_int8.onnx (default: $EDGE_DIGITS_EXPORT, ./export, "
                                     "then the installed package's models)")
    web.add_argument("--build", metavar="DIR", help="instead of serving, write the page as one static folder (the page, "
                                                    "onnxruntime-web, the model, checksums.json) for any static host")
    add_trust_options(web)
    web.set_defaults(handler=commands.command_web)
    return parser


def add_field_model_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--field-model", metavar="PATH", help="the field model: a file, a field set or an export directory "
                        "holding field/ (default: the default export directory's field/)")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; every failure is one line on stderr and a non-zero exit (traceback with --debug)."""
    args = build_parser().parse_args(argv)
    args.debug = getattr(args, "debug", False)
    if needs_missing_build_tier(args):
        print(f"{PROGRAM}: error: {build_tier_hint(args.command)}", file=sys.stderr)
        return 1
    try:
        if getattr(args, "data", None) is not None:
            from edge_digits.build.mnist import (
                check_mnist_file,  # numpy only: a bad --data fails before TensorFlow loads
            )

            check_mnist_file(args.data)
        with progress_silenced(bool(getattr(args, "json", False))):  # --json output never mixes with a bar
            return args.handler(args)
    except ModuleNotFoundError as error:
        if args.debug:
            raise
        missing_build_tier = (error.name or "").split(".")[0] in BUILD_TIER_MODULES
        print(f"{PROGRAM}: error: {build_tier_hint(args.command) if missing_build_tier else describe(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as interrupt:
        if args.debug:
            raise
        from edge_digits.build.staging import Terminated

        terminated = isinstance(interrupt, Terminated)  # SIGTERM, turned into an interrupt by train/export
        print(f"{PROGRAM}: {'terminated (SIGTERM)' if terminated else 'interrupted'}", file=sys.stderr)
        # TensorFlow objects cut off mid-construction fail in __del__ at exit ("Exception ignored in
        # UniquePtr.__del__ ... Traceback"); the outputs are already cleaned up, so that noise is dropped.
        sys.unraisablehook = lambda unraisable: None
        return 143 if terminated else 130
    except Exception as error:
        if args.debug:
            raise
        print(f"{PROGRAM}: error: {describe(error)}", file=sys.stderr)
        return 1


def needs_missing_build_tier(args: argparse.Namespace) -> bool:
    """True for a build-tier command on a runtime-only install, checked before any work starts."""
    import importlib.util

    if args.command not in BUILD_TIER_COMMANDS or (args.command == "bench" and args.against):
        return False  # bench --against times runtime artifacts only
    try:
        return importlib.util.find_spec("tensorflow") is None
    except (ImportError, ValueError):  # a broken or half-removed TensorFlow
        return True


def build_tier_hint(command: str) -> str:
    """The one line a runtime-only install prints for a command that needs TensorFlow."""
    return f"'{command}' needs the build tier (TensorFlow), which this install lacks: pip install \"edge-digits[train]\""


if __name__ == "__main__":
    sys.exit(main())
