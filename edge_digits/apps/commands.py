"""What each `edge-digits` subcommand does: one function per command, each importing the module it
runs only when called, so `edge-digits read` never loads TensorFlow. The parser lives in cli.py."""


from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from edge_digits.errors import EdgeDigitsError, describe
from edge_digits.options import (
    PROGRAM,
    reader_from_args,
)

# Subcommands that need TensorFlow (the Keras model is their input or oracle; bench times a Keras row),
# and the modules only the build tier ("train" extra) installs.


def _quiet_tensorflow() -> None:
    """Import TensorFlow with its start-up log lines captured, so errors stay one line."""
    from edge_digits.build.keras_io import import_tensorflow

    import_tensorflow()


def command_train(args: argparse.Namespace) -> int:
    field_only = [flag for flag, value in (("--choose-on", args.choose_on), ("--initial", args.initial)) if value]
    digit_only = [flag for flag, value in (("--limit", args.limit), ("--teacher", args.teacher), ("--scans", args.scans),
                                           ("--hand-styles", args.hand_styles)) if value]
    if args.arch == "field" and digit_only:
        raise EdgeDigitsError(f"{', '.join(digit_only)} train the digit models; --arch field draws its own strings (--strings N)")
    if args.arch != "field" and field_only:
        raise EdgeDigitsError(f"{', '.join(field_only)} belong to --arch field")
    _quiet_tensorflow()
    if args.arch == "field":
        return train_field(args)
    from edge_digits.build.train import train_model

    result = train_model(arch=args.arch, epochs=args.epochs, batch_size=args.batch_size, data_path=args.data,
                         limit=args.limit, seed=args.seed, out=args.out, hand_styles=args.hand_styles,
                         teacher=args.teacher, scans=args.scans)
    print(f"kept epoch {result.best_epoch} of {result.epochs_run} (the best of the last third on validation, "
          f"{result.best_val_accuracy:.4%}) in {result.seconds:.0f} s")
    for path in (result.model_path, result.history_path, result.plot_path):
        print(f"wrote {path}")
    return 0


def train_field(args: argparse.Namespace) -> int:
    """`train --arch field`: the string model on synthetic strings (docs/fields.md)."""
    from edge_digits.build.field_train import train_field_model
    from edge_digits.measure.fields import prepared_strips, string_scores

    choose_on = prepared_strips(args.choose_on, "development") if args.choose_on else None
    result = train_field_model(args.out, data_path=args.data, strings=args.strings, epochs=args.epochs or 3,
                               batch_size=args.batch_size or 64, seed=args.seed, choose_on=choose_on, scorer=string_scores,
                               initial=args.initial, learning_rate=args.learning_rate)
    chosen_on = "development fields' character accuracy" if choose_on is not None else "synthetic validation"
    print(f"kept epoch {result.best_epoch} (best {chosen_on}, {result.best_score:.2%}) in {result.seconds:.0f} s")
    for path in (result.model_path, result.history_path):
        print(f"wrote {path}")
    return 0


def command_average(args: argparse.Namespace) -> int:
    from edge_digits.build.keras_io import check_keras_file

    for path in args.models:  # missing or non-Keras files are refused before the slow TensorFlow import
        check_keras_file(path)
    _quiet_tensorflow()
    from edge_digits.build.ensemble import write_average

    print(f"wrote {write_average(args.models, args.out)}: the mean of {len(args.models)} models' probabilities")
    return 0


def command_evaluate(args: argparse.Namespace) -> int:
    from edge_digits.build.keras_io import check_keras_file

    check_keras_file(args.model)  # a missing or non-Keras file is refused before the slow TensorFlow import
    _quiet_tensorflow()
    from edge_digits.build.evaluate import evaluate_model, format_evaluation

    result = evaluate_model(args.model, data_path=args.data, out_dir=args.out, plots=not args.no_plots)
    print(json.dumps(result, indent=2) if args.json else format_evaluation(result))
    return 0


def command_export(args: argparse.Namespace) -> int:
    if args.micro and not args.int8:  # only derive OUT/micro/ from the existing OUT/digits_int8.tflite
        if args.fp16 or args.model or args.keep_failing:
            raise EdgeDigitsError("--micro alone derives OUT/micro/ from an existing export; add --int8 to export first")
        return command_export_micro(args)
    from edge_digits.build.exporter import (  # TensorFlow-free module: export() checks its inputs, then imports TF quietly
        export,
        summary,
    )

    started = time.monotonic()
    manifest = export(model=args.model, out=args.out, int8=args.int8, fp16=args.fp16, data_path=args.data,
                      calibration=args.calibration, seed=args.seed, keep_failing=args.keep_failing,
                      train=args.train)
    print(summary(manifest))
    print(f"wrote {Path(args.out) / 'manifest.json'} in {time.monotonic() - started:.0f} s")
    if not manifest["parity"]["passed"]:
        print(f"{PROGRAM}: error: parity failed; the failing set was kept because of --keep-failing", file=sys.stderr)
        return 1
    return command_export_micro(args) if args.micro else 0


def command_export_micro(args: argparse.Namespace) -> int:
    from edge_digits.build.micro_export import export_micro, summary

    started = time.monotonic()
    result = export_micro(args.out, data_path=args.data)
    print(summary(result, Path(args.out)))
    print(f"micro set written in {time.monotonic() - started:.0f} s")
    return 0


def command_parity(args: argparse.Namespace) -> int:
    from edge_digits.build.parity import (  # checks the directory first; TF is imported quietly when needed
        format_table,
        run_parity,
    )

    report = run_parity(args.directory, data_path=args.data, limit=args.limit)
    print(format_table(report))
    return 0 if report.passed else 1


def command_bench(args: argparse.Namespace) -> int:
    from edge_digits.files import write_json_atomic

    if args.against:
        from edge_digits.measure.bench_compare import (
            DEFAULT_RUNS,
            compare_latency,
            format_comparison,
        )

        results = compare_latency(args.directory, args.against, rounds=args.rounds,
                                  runs=args.runs or DEFAULT_RUNS, threads=args.threads)
        if args.json:
            write_json_atomic(args.json, results)
            print(f"wrote {args.json}", file=sys.stderr)
        print(format_comparison(results, markdown=args.markdown), end="")
        return 0
    from edge_digits.measure.bench import format_markdown, format_table, run_bench

    results = run_bench(args.directory, data_path=args.data, threads=args.threads, runs=args.runs or 1000,
                        pipeline_frames=args.frames, plots_dir=None if args.no_plots else args.plots)
    if args.json:
        write_json_atomic(args.json, results)
    print(format_markdown(results) if args.markdown else format_table(results), end="")
    for path in [*results["plots"], *([args.json] if args.json else [])]:
        print(f"wrote {path}", file=sys.stderr)  # stderr keeps --markdown output pasteable
    return 0


def command_keygen(args: argparse.Namespace) -> int:
    from edge_digits.build.signer import write_key_pair

    secret_path, public_path, public = write_key_pair(args.out)
    print(f"wrote {secret_path} (secret: keep it off devices and out of version control)")
    print(f"wrote {public_path}; devices trust it with --trust {public_path} or --trust {public.base64()}")
    return 0


def command_sign(args: argparse.Namespace) -> int:
    from edge_digits.build.signer import read_secret_key, sign_set

    key = read_secret_key(args.key)
    for path in sign_set(args.directory, key, args.set_version, args.name):
        print(f"wrote {path} (key {key.public.id_text}, set version {args.set_version})")
    return 0


def command_read(args: argparse.Namespace) -> int:
    from edge_digits.runtime.imageio import images_in, load_image

    images = [path for given in args.images for path in (images_in(given) if Path(given).is_dir() else [given])]
    if args.field:
        if args.annotate:
            raise EdgeDigitsError("--annotate draws page readings; with --field, --json gives each digit's x-span")
        from edge_digits.runtime.field_reader import FieldReader

        reader = FieldReader(args.field_model, backend=args.backend, verify=not args.no_verify)
    else:
        reader = reader_from_args(args)
    if args.annotate:
        Path(args.annotate).mkdir(parents=True, exist_ok=True)
    results, failures, problem = [], 0, ""
    for image_path in images:
        try:
            image = load_image(image_path)
            reading = reader.read(image)
            if args.annotate:
                annotated = Path(args.annotate) / (Path(image_path).stem + ".annotated.png")
                _write_annotation(image, reading, annotated)
                print(f"wrote {annotated}", file=sys.stderr)
        except EdgeDigitsError as error:
            # one image: its problem is the one error line; several: one line per bad image + a summary
            failures, problem = failures + 1, describe(error)
            if len(images) > 1:
                print(f"{PROGRAM}: skipped {image_path}: {problem}", file=sys.stderr)
            continue
        if args.json:
            results.append({"image": str(image_path), **reading.to_dict()})
        elif len(images) > 1:
            print(f"{image_path}:\n{reading.text}")
        else:
            print(reading.text)
    if args.json:
        print(json.dumps(results, indent=2))
    if failures:
        summary = problem if len(images) == 1 else f"{failures} of {len(images)} images could not be read"
        print(f"{PROGRAM}: error: {summary}", file=sys.stderr)
    return 1 if failures else 0


def command_export_field(args: argparse.Namespace) -> int:
    from edge_digits.build.keras_io import check_keras_file

    check_keras_file(args.model)
    _quiet_tensorflow()
    from edge_digits.build.field_export import PARITY_HEADER, export_field
    from edge_digits.measure.fields import string_scores

    manifest, rows = export_field(args.model, args.out, data_path=args.data, parity_strings=args.strings, seed=args.seed,
                                  scorer=string_scores, keep_failing=args.keep_failing)
    print(f"field parity against Keras on {args.strings} synthetic strings of MNIST test digits:")
    print(PARITY_HEADER)
    for row in rows:
        print(row.line())
    for record in manifest["artifacts"]:
        print(f"wrote {Path(args.out) / 'field' / record['file']} ({record['bytes']:,} bytes)")
    return 0 if manifest["parity"]["passed"] else 1


def command_score(args: argparse.Namespace) -> int:
    if args.fields or (args.synthetic_fields and not args.photos):
        from edge_digits.measure.field_suite import score_field_suite

        return score_field_suite(args)
    if not any((args.photos, args.scenes, args.crops, args.styles, args.layouts, args.rows)):
        raise EdgeDigitsError("nothing to score: give a labelled photo folder and/or --scenes N / --crops N / --styles N"
                              " / --layouts N / --rows N")
    reader = reader_from_args(args)
    report: dict = {}
    if args.photos:
        from edge_digits.measure.photos import evaluate_photos, format_table

        results, overall = evaluate_photos(args.photos, reader, view=args.view)
        report["photos"] = {"directory": args.photos, "view": args.view, "accuracy": overall,
                            "images": [{"file": r.file, "label": r.label, "text": r.text, "accuracy": r.accuracy} for r in results]}
        if not args.json:
            print(format_table(results, overall) + ("" if args.view == "as-is" else f" (view: {args.view})"))
    if args.scenes:
        import numpy as np

        from edge_digits.measure.paper import on_paper
        from edge_digits.measure.scenes import make_suite, scene_accuracy

        suite = make_suite(args.scenes, seed=args.seed, data_path=args.data)
        suite = [on_paper(scene, args.paper, np.random.default_rng([args.seed, index, 1])) for index, scene in enumerate(suite)]
        report["scenes"] = {"seed": args.seed, "paper": args.paper, **scene_accuracy(suite, reader)}
        if not args.json:
            result = report["scenes"]
            paper = "" if args.paper == "plain" else f" on {args.paper} paper"
            print(f"synthetic suite{paper}: {result['accuracy']:.2%} of {result['digits']} digits in {result['scenes']} scenes "
                  f"(seed {args.seed}); {result['exact_scenes']:.0%} of scenes read exactly")
    if args.crops:
        from edge_digits.measure.crops import crop_accuracy, make_crops

        crops, labels = make_crops(args.crops, seed=args.seed, data_path=args.data)
        report["crops"] = {"seed": args.seed, "count": len(labels), "accuracy": crop_accuracy(crops, labels, reader)}
        if not args.json:
            print(f"dataset-style crops ({len(labels)} MNIST test digits each, seed {args.seed}, exact reading): "
                  + ", ".join(f"{name} {value:.1%}" for name, value in report["crops"]["accuracy"].items()))
    if args.styles:
        from edge_digits.measure.crops import (
            crop_accuracy,
            format_styles,
            make_style_crops,
        )

        styled = make_style_crops(args.styles, seed=args.seed, data_path=args.data)
        report["styles"] = {"seed": args.seed, "count": args.styles,
                            "accuracy": {name: crop_accuracy({name: images}, labels, reader)[name] for name, (images, labels) in styled.items()}}
        if not args.json:
            print(format_styles(report["styles"]["accuracy"], args.styles, args.seed))
    if args.layouts:
        from edge_digits.measure.layouts import make_layouts
        from edge_digits.measure.scenes import scene_accuracy

        report["layouts"] = {"seed": args.seed, "count": args.layouts, "results": {
            name: scene_accuracy(scenes, reader) for name, scenes in make_layouts(args.layouts, args.seed, args.data).items()}}
        if not args.json:
            print(f"page layouts ({args.layouts} scenes each, seed {args.seed}; digits read, and scenes read exactly line by line): "
                  + ", ".join(f"{name} {result['accuracy']:.1%} ({result['exact_lines']:.0%})"
                              for name, result in report["layouts"]["results"].items()))
    if args.rows:
        from edge_digits.measure.rows import format_rows, rows_accuracy

        report["rows"] = {"seed": args.seed, "count": args.rows, "results": rows_accuracy(args.rows, reader, args.seed, args.data)}
        if not args.json:
            print(format_rows(report["rows"]["results"], args.rows, args.seed))
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


def command_camera(args: argparse.Namespace) -> int:
    from edge_digits.apps.camera import run

    return run(args)


def command_golden(args: argparse.Namespace) -> int:
    if args.tolerance:
        from edge_digits.measure.port_tolerance import (
            format_tolerance,
            measure_tolerance,
        )

        rows = measure_tolerance(args.directory, data_path=args.data, limit=args.limit)
        print(json.dumps(rows, indent=2) if args.json else format_tolerance(rows))
        return 0
    from edge_digits.measure.golden import write_golden

    print(f"wrote {write_golden(args.directory, out=args.out, data_path=args.data)}")
    return 0


def command_web(args: argparse.Namespace) -> int:
    from edge_digits.apps.web import run

    return run(args)


def _write_annotation(image, reading, path: Path) -> None:
    import cv2

    from edge_digits.runtime.draw import draw_reading

    if not cv2.imwrite(str(path), draw_reading(image, reading)):
        raise EdgeDigitsError(f"cannot write annotated image {path}")
