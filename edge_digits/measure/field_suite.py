"""`edge-digits score --fields DIR` / `--synthetic-fields N`: every reader on the same field images in
one run — the page reader (segment, then classify each blob), the field model in each format of its
set, and other readers' recorded readings of the same files (scripts/rapidocr-fields)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from edge_digits.errors import EdgeDigitsError
from edge_digits.formats import FIELD_FORMATS
from edge_digits.measure.fields import HEADER, FieldScore, field_examples, load_fields, score_reader, string_scores, synthetic_fields
from edge_digits.options import reader_from_args
from edge_digits.runtime.field_reader import FieldReader, resolve_field_model


def load_readings(spec: str) -> tuple[str, str, dict]:
    """A NAME=JSON option -> (name, path, another reader's recorded {file: {text, seconds}})."""
    name, _, path = spec.partition("=")
    if not name or not path:
        raise EdgeDigitsError(f"--readings takes NAME=FILE.json, got {spec!r}")
    try:
        recorded = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise EdgeDigitsError(f"cannot read --readings {path}: {error}") from None
    if not isinstance(recorded, dict):
        raise EdgeDigitsError(f"--readings {path} is not a {{file: {{text, seconds}}}} object")
    return name, path, recorded


def external_score(readings: tuple[str, str, dict], files: list[str], labels: list[str]) -> FieldScore:
    """Another reader's row from its recorded readings, on exactly `files`."""
    name, path, recorded = readings
    missing = [file for file in files if file not in recorded]
    if missing:
        raise EdgeDigitsError(f"--readings {path} lacks {len(missing)} of the {len(files)} fields (first: {missing[0]})")
    readings = [str(recorded[file]["text"]) for file in files]
    accuracy, exact = string_scores(readings, labels)
    median_ms = float(np.median([recorded[file]["seconds"] for file in files])) * 1000
    return FieldScore(name, len(files), accuracy, exact, median_ms, readings)


def field_model_readers(args: argparse.Namespace) -> list[tuple[str, FieldReader]]:
    """One FieldReader per runtime file of the field set (onnx/tflite, fp32/int8)."""
    readers = []
    for entry in FIELD_FORMATS:
        if entry.backend == "keras":
            continue
        path = resolve_field_model(args.field_model, entry.backend, entry.precision)
        if path.is_file():
            readers.append((f"field {entry.backend} {entry.precision}", FieldReader(path, verify=not args.no_verify)))
    if not readers:
        raise EdgeDigitsError(f"no field model in {resolve_field_model(args.field_model).parent}; "
                              "export one with `edge-digits export-field` or pass --field-model")
    return readers


def score_set(images: list[np.ndarray], labels: list[str], args: argparse.Namespace,
              files: list[str] | None = None, recorded: list[tuple[str, str, dict]] = ()) -> list[FieldScore]:
    """Every reader on one set of field images."""
    page = reader_from_args(args)
    scores = [score_reader("page reader", lambda image: page.read(image).text.replace("\n", ""), images, labels)]
    for reader_name, reader in field_model_readers(args):
        scores.append(score_reader(reader_name, lambda image, reader=reader: reader.read(image).text, images, labels))
    for readings in recorded if files is not None else []:
        scores.append(external_score(readings, files, labels))
    return scores


def score_field_suite(args: argparse.Namespace) -> int:
    """Print (or --json) the table for the field folder's part and/or the synthetic fields."""
    report = {}
    recorded = [load_readings(spec) for spec in args.readings]  # a bad --readings stops before any reading
    if args.fields:
        files = [file for file, _ in field_examples(args.fields, args.part)]
        images, labels = load_fields(args.fields, args.part)
        report[f"{args.fields} ({args.part})"] = score_set(images, labels, args, files, recorded)
    if args.synthetic_fields:
        images, labels = synthetic_fields(args.data, args.synthetic_fields, args.seed)
        report[f"synthetic fields of MNIST test digits (seed {args.seed})"] = score_set(images, labels, args)
    if args.json:
        print(json.dumps({name: [{key: value for key, value in score.__dict__.items() if key != "readings"} for score in scores]
                          for name, scores in report.items()}, indent=2))
    else:
        for name, scores in report.items():
            print(f"{name}:")
            print(HEADER)
            for score in scores:
                print(score.row())
    return 0
