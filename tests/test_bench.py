"""`edge-digits bench`: every artifact and pipeline row has every field, with plausible values.

Timings are never compared with absolute numbers (the machine is shared); only their consistency.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import run_cli
from export_support import exported

from edge_digits.formats import FORMATS, format_by_name
from edge_digits.measure.bench import (
    ROW_FIELDS,
    flag_slow_int8,
    format_markdown,
    format_table,
    run_bench,
)
from edge_digits.measure.bench_pipeline import STAGES, make_frames

RUNS = 20
FRAMES = 2
REMOVED = "tflite-fp16"  # deleted from the benched copy to check the "missing" row
PIPELINE_FIELDS = ("name", "kind", "model", "status", "frames", "fps_p50", "total_ms_p50",
                   *(f"{stage}_ms_p50" for stage in STAGES), "reading_accuracy", "exact_frames")
FLOAT_FIELDS = ("accuracy", "accuracy_delta_pp", "agreement", "max_abs_dp", "latency_p50_ms", "latency_p99_ms",
                "latency_mean_ms", "throughput_ips", "load_ms", "peak_memory_mb")


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory, mnist_path):
    """The session's shared tiny int8+fp16 export (tests/export_support.py); never modified here."""
    return exported(tmp_path_factory.getbasetemp(), mnist_path)


@pytest.fixture(scope="module")
def bench(export_dir, tmp_path_factory, mnist_path):
    """run_bench on a copy of the export with one artifact removed and a training history added, plots included."""
    directory = tmp_path_factory.mktemp("partial") / "export"
    shutil.copytree(export_dir, directory)
    (directory / format_by_name(REMOVED).file).unlink()
    history = {"loss": [0.9, 0.4], "accuracy": [0.7, 0.9], "val_loss": [0.5, 0.3], "val_accuracy": [0.85, 0.92]}
    (directory / "digits.history.json").write_text(json.dumps({"history": history}))  # as train.py writes it
    plots = directory.parent / "plots"
    return directory, plots, run_bench(directory, data_path=mnist_path, runs=RUNS, pipeline_frames=FRAMES, plots_dir=plots)


def test_every_format_has_a_row_with_every_field(bench):
    _, _, results = bench
    assert [row["name"] for row in results["artifacts"]] == [entry.name for entry in FORMATS]
    for row in results["artifacts"]:
        assert set(ROW_FIELDS) <= set(row), row["name"]
    json.dumps(results)  # JSON-ready, no numpy scalars


def test_measured_rows_are_plausible(bench):
    directory, _, results = bench
    measured = [row for row in results["artifacts"] if row["name"] != REMOVED]
    for row in measured:
        assert row["status"] in ("passed", "failed validation"), row
        assert row["bytes"] == (directory / row["file"]).stat().st_size > 0
        for field in FLOAT_FIELDS:
            assert isinstance(row[field], float), (row["name"], field, row[field])
        assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["agreement"] <= 1.0
        assert 0.0 < row["latency_p50_ms"] <= row["latency_p99_ms"]
        assert row["throughput_ips"] > 0 and row["load_ms"] > 0 and row["peak_memory_mb"] > 0
        assert isinstance(row["memory_imports_tensorflow"], bool)
        assert row["memory_imports_tensorflow"] == (row["backend"] == "keras"), row["name"]
        assert (row["int8_slower_than_fp32"] is None) == (row["precision"] != "int8"), row["name"]
    keras = next(row for row in measured if row["backend"] == "keras")
    assert keras["agreement"] == 1.0 and keras["accuracy_delta_pp"] == 0.0
    baseline = results["keras_predict_baseline"]
    assert baseline["runs"] == RUNS and 0 < baseline["latency_p50_ms"] <= baseline["latency_p99_ms"]


def test_missing_artifact_is_reported_not_measured(bench):
    _, _, results = bench
    row = next(row for row in results["artifacts"] if row["name"] == REMOVED)
    assert row["status"] == "missing"
    assert all(row[field] is None for field in ("bytes", *FLOAT_FIELDS))


def test_pipeline_rows(bench):
    _, _, results = bench
    rows = results["pipeline"]
    readers = [row["model"] for row in rows if row["kind"] == "reader"]
    assert readers == [entry.name for entry in FORMATS if entry.backend != "keras" and entry.name != REMOVED]
    assert [row["kind"] for row in rows].count("baseline") == 1
    for row in rows:
        assert set(PIPELINE_FIELDS) <= set(row) and row["status"] == "passed" and row["frames"] == FRAMES
        assert row["fps_p50"] > 0 and 0.0 <= row["exact_frames"] <= 1.0 and row["reading_accuracy"] <= 1.0
        stages = sum(row[f"{stage}_ms_p50"] for stage in STAGES)
        assert all(row[f"{stage}_ms_p50"] >= 0 for stage in STAGES) and stages > 0


def test_machine_settings_and_plots(bench):
    from edge_digits.runtime.cpu import instruction_path

    _, plots, results = bench
    machine, settings = results["machine"], results["settings"]
    assert machine["cpu"] and machine["cores"] >= 1 and machine["versions"]["onnxruntime"] and machine["date"]
    assert machine["path"] == instruction_path() and f"({machine['path']} path)" in format_table(results)
    assert settings["runs"] == RUNS and settings["threads"] == 1 and settings["test_images"] == 10000
    names = sorted(path.split("/")[-1] for path in results["plots"])
    assert {"latency.png", "size.png", "confusion.png", "misclassified.png", "training_curves.png"} <= set(names)
    assert all((plots / name).stat().st_size > 0 for name in names)


def test_tables_show_every_row(bench):
    _, _, results = bench
    table, markdown = format_table(results), format_markdown(results)
    for row in results["artifacts"] + results["pipeline"]:
        assert row["name"] in table and row["name"] in markdown
    assert "missing" in table and markdown.startswith("| format |")


def test_slow_int8_flag():
    rows = [{"name": name, "backend": "onnx", "precision": precision, "latency_p50_ms": p50, "int8_slower_than_fp32": None}
            for name, precision, p50 in (("a", "fp32", 1.0), ("b", "int8", 2.0))]
    flag_slow_int8(rows)
    assert rows[1]["int8_slower_than_fp32"] is True and rows[0]["int8_slower_than_fp32"] is None
    rows[1]["latency_p50_ms"] = 0.5
    flag_slow_int8(rows)
    assert rows[1]["int8_slower_than_fp32"] is False


def test_reader_reports_stage_timings(export_dir, mnist_path):
    from edge_digits.runtime.reader import DigitReader

    frame = make_frames(1, mnist_path)[0]
    timings: dict[str, float] = {}
    reading = DigitReader(export_dir, backend="onnx").read(frame.image, timings)
    assert set(timings) == set(STAGES) and all(value >= 0 for value in timings.values())
    assert reading.text == DigitReader(export_dir, backend="onnx").read(frame.image).text
    assert len(frame.text.replace("\n", "")) == 10


def test_cli_round_trip_without_keras(export_dir, tmp_path):
    """Only the int8 models and no Keras oracle: rows say so, and TensorFlow is never imported."""
    directory = tmp_path / "export"
    directory.mkdir()
    kept = [entry.name for entry in FORMATS if entry.precision == "int8"]
    for name in ("manifest.json", *(format_by_name(name).file for name in kept)):
        shutil.copy(export_dir / name, directory / name)
    out = tmp_path / "bench.json"
    result = run_cli("bench", str(directory), "--json", str(out), "--runs", str(RUNS), "--frames", "1", "--no-plots")
    assert result.returncode == 0, result.stderr
    results = json.loads(out.read_text())
    for row in results["artifacts"]:
        assert row["status"] == ("unverified: no Keras reference" if row["name"] in kept else "missing"), row
        assert set(ROW_FIELDS) <= set(row)
    assert results["keras_predict_baseline"] is None and results["settings"]["keras_intra_op_threads"] is None
    assert results["settings"]["runs"] == RUNS and "p50 ms" in result.stdout and len(results["pipeline"]) == len(kept) + 1


def test_cli_missing_directory(tmp_path):
    result = run_cli("bench", str(tmp_path / "nowhere"), "--no-plots")
    assert result.returncode == 1 and "export directory not found" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_against_compares_only_shared_runtime_artifacts(export_dir, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    for name in ("manifest.json", "digits.keras", format_by_name("onnx-int8").file):
        shutil.copy(export_dir / name, other / name)
    out = tmp_path / "compare.json"
    result = run_cli("bench", str(export_dir), "--against", str(other), "--rounds", "3", "--runs", "5", "--json", str(out))
    assert result.returncode == 0, result.stderr
    results = json.loads(out.read_text())
    assert [row["name"] for row in results["rows"]] == ["onnx-int8"]  # keras is never timed here
    row = results["rows"][0]
    assert row["rounds"] == 3 and 0 <= row["rounds_faster"] <= 3 and row["p50_ms"] > 0 and row["median_ratio"] > 0
    assert "onnx-int8" in result.stdout and str(other) in result.stdout


def test_against_ranks_a_slower_model_last(tmp_path, monkeypatch):
    """Interleaving must attribute time to the right side: a model that sleeps 1 ms loses every round."""
    import time

    from edge_digits.measure import bench_compare

    class Fake:
        def __init__(self, path, **_):
            self.delay = 0.001 if path.parent.name == "slow" else 0.0

        def predict(self, _):
            if self.delay:
                time.sleep(self.delay)

    monkeypatch.setattr(bench_compare, "load_classifier", Fake)
    monkeypatch.setattr(bench_compare, "FORMATS", (format_by_name("onnx-int8"),))
    fast, slow = tmp_path / "fast", tmp_path / "slow"
    for directory in (fast, slow):
        directory.mkdir()
        (directory / format_by_name("onnx-int8").file).write_bytes(b"")
    row = bench_compare.compare_latency(fast, slow, rounds=4, runs=3)["rows"][0]
    assert row["rounds_faster"] == 4 and row["median_ratio"] < 0.5
    assert bench_compare.compare_latency(slow, fast, rounds=4, runs=3)["rows"][0]["rounds_faster"] == 0


def test_against_without_shared_artifacts(export_dir, tmp_path):
    result = run_cli("bench", str(export_dir), "--against", str(tmp_path))
    assert result.returncode == 1 and "no .onnx or .tflite artifact is in both" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_pipeline_reads_with_the_shipped_second_model(mnist_path):
    """The shipped export/ has second/: every reader row times the reader as users get it, and says so."""
    from edge_digits.measure.bench_pipeline import run_pipeline

    rows = run_pipeline(Path(__file__).resolve().parents[1] / "export", make_frames(1, mnist_path))
    readers = [row["name"] for row in rows if row["kind"] == "reader"]
    assert readers and all(name.endswith("+second") for name in readers), readers
    assert all(row["status"] == "passed" for row in rows), rows
