"""`edge-digits bench`: size, accuracy, parity, latency, throughput, load time and memory of every
artifact in formats.FORMATS, plus the camera pipeline, in one machine-readable report.

Each format is loaded the way users load it (runtime.load_classifier; Keras through quiet.load_keras_model)
and judged with parity.THRESHOLDS against the Keras model. Build tier: the Keras row needs TensorFlow.
"""

from __future__ import annotations

import datetime
import gc
import importlib
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edge_digits.build.mnist import load_mnist, preprocess
from edge_digits.build.parity import THRESHOLDS, compare, predict_in_batches
from edge_digits.errors import EdgeDigitsError, error_line
from edge_digits.formats import FORMATS, Format, format_for_file
from edge_digits.measure.bench_report import format_markdown, format_table, write_plots  # noqa: F401 (public API)
from edge_digits.options import progress
from edge_digits.runtime.cpu import measured_on
from edge_digits.runtime.manifest import (
    package_versions,
    verify_artifact,
)
from edge_digits.runtime.trust import checked_manifest

Predict = Callable[[np.ndarray], np.ndarray]
WARMUP = 50  # untimed runs before timing (allocations, lazy init, CPU caches)
THROUGHPUT_BATCH = 256
LOAD_REPEATS = 3  # model load time is the median of this many loads
KERAS_PREDICT_RUNS = 50  # the tutorial's model.predict costs ~100 ms a call: a few suffice
DEFAULT_PIPELINE_FRAMES = 60
VERSIONS = ("numpy", "onnxruntime", "ai-edge-litert", "tensorflow", "keras", "opencv-python")
# What a fresh process imports before timing a load, so the load time excludes the import.
BACKEND_MODULES = {"keras": "tensorflow", "onnx": "onnxruntime", "tflite": "ai_edge_litert.interpreter"}
# Peak-memory probes: load one artifact and run one inference in a fresh interpreter; the runtime
# snippet goes through edge_digits.runtime.classifier only, so it proves TensorFlow stays out of the process.
# Linux keeps ru_maxrss across exec (a child forked from this TensorFlow-sized process would report
# our peak), so the probe reads VmHWM of its own address space and falls back to ru_maxrss elsewhere.
_PROBE_END = ("import resource\nkb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              "try:\n    kb = int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM:')).split()[1])\n"
              "except (OSError, StopIteration):\n    pass\n"
              "print(kb, 'tensorflow' in sys.modules)\n")
_RUNTIME_PROBE = ("import sys, numpy as np\nfrom edge_digits.runtime.classifier import load_classifier\n"
                  "c = load_classifier(sys.argv[1], backend=sys.argv[2], threads=int(sys.argv[3]))\n"
                  "c.predict(np.zeros((1, 28, 28, 1), np.float32))\n" + _PROBE_END)
_KERAS_PROBE = ("import sys, numpy as np\nfrom edge_digits.build.keras_io import load_keras_model\n"
                "m = load_keras_model(sys.argv[1])\nm(np.zeros((1, 28, 28, 1), np.float32), training=False)\n" + _PROBE_END)
MEMORY_PROBES = {"keras": _KERAS_PROBE, "onnx": _RUNTIME_PROBE, "tflite": _RUNTIME_PROBE}
ROW_FIELDS = ("name", "file", "backend", "precision", "status", "bytes", "accuracy", "accuracy_delta_pp", "agreement",
              "max_abs_dp", "latency_p50_ms", "latency_p99_ms", "latency_mean_ms", "throughput_ips", "load_ms",
              "peak_memory_mb", "memory_imports_tensorflow", "int8_slower_than_fp32")


def _load_keras(path: Path, threads: int, manifest: dict | None) -> tuple[Predict, Any]:
    from edge_digits.build.keras_io import load_keras_model

    verify_artifact(path, manifest)
    model = load_keras_model(path)
    return (lambda batch: np.asarray(model(batch, training=False))), model


def _load_runtime(path: Path, threads: int, manifest: dict | None) -> tuple[Predict, Any]:
    from edge_digits.runtime.classifier import load_classifier

    classifier = load_classifier(path, backend=format_for_file(path.name).backend, verify=True, threads=threads)
    return classifier.predict, classifier


LOADERS: dict[str, Callable[[Path, int, dict | None], tuple[Predict, Any]]] = {
    "keras": _load_keras, "onnx": _load_runtime, "tflite": _load_runtime}


def _import_backend(backend: str, threads: int) -> None:
    """Import the backend's module first (so load time is the load alone); cap TensorFlow's threads."""
    if backend == "keras":
        from edge_digits.build.keras_io import import_tensorflow

        tf, _ = import_tensorflow()
        try:  # only possible before TensorFlow's runtime starts; recorded in settings either way
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass
    else:
        importlib.import_module(BACKEND_MODULES[backend])


def latency_ms(predict: Predict, image: np.ndarray, runs: int, warmup: int = WARMUP) -> dict[str, float]:
    """p50 / p99 / mean milliseconds of `runs` timed single calls after `warmup` untimed ones (GC paused)."""
    for _ in range(warmup):
        predict(image)
    samples = np.empty(runs, dtype=np.float64)
    enabled = gc.isenabled()
    gc.disable()
    try:
        for index in range(runs):
            started = time.perf_counter_ns()
            predict(image)
            samples[index] = time.perf_counter_ns() - started
    finally:
        if enabled:
            gc.enable()
    samples /= 1e6
    return {"p50": float(np.percentile(samples, 50)), "p99": float(np.percentile(samples, 99)),
            "mean": float(samples.mean())}


def throughput_ips(predict: Predict, batch: np.ndarray, batches: int) -> float:
    """Images per second over `batches` calls on `batch`, after two warm-up calls."""
    for _ in range(2):
        predict(batch)
    started = time.perf_counter()
    for _ in range(batches):
        predict(batch)
    return batches * len(batch) / (time.perf_counter() - started)


def peak_memory_mb(entry: Format, path: Path, threads: int) -> tuple[float, bool]:
    """(ru_maxrss in MiB, whether TensorFlow got imported) of a fresh Python that loads `path` and infers once."""
    code = MEMORY_PROBES[entry.backend]
    return _probe([sys.executable, "-c", code, str(path), entry.backend, str(threads)])


def _probe(command: list[str]) -> tuple[float, bool]:
    package_root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise EdgeDigitsError(f"memory probe failed: {lines[-1] if lines else done.returncode}")
    kilobytes, imported = done.stdout.split()[-2:]
    return int(kilobytes) / 1024.0, imported == "True"


def empty_row(entry: Format, status: str) -> dict[str, Any]:
    """A row with identity and status only; every measurement None."""
    row: dict[str, Any] = dict.fromkeys(ROW_FIELDS)
    row.update(name=entry.name, file=entry.file, backend=entry.backend, precision=entry.precision, status=status)
    return row


def measure(entry: Format, directory: Path, images: np.ndarray, labels: np.ndarray, reference: np.ndarray | None,
            manifest: dict | None, threads: int, runs: int) -> tuple[dict[str, Any], np.ndarray | None, Any]:
    """One artifact's row, its test-set probabilities and its loaded handle (None, None when missing)."""
    path = directory / entry.file
    if not path.is_file():
        return empty_row(entry, "missing"), None, None
    row = empty_row(entry, "passed")
    row["bytes"] = path.stat().st_size
    _import_backend(entry.backend, threads)
    loads = []
    for _ in range(LOAD_REPEATS):
        started = time.perf_counter()
        predict, handle = LOADERS[entry.backend](path, threads, manifest)
        loads.append(1000.0 * (time.perf_counter() - started))
    row["load_ms"] = float(np.median(loads))
    probabilities = predict_in_batches(predict, images)
    if entry.backend == "keras":  # the oracle: compared with itself (delta 0, agreement 1)
        reference = probabilities
    metrics = compare(probabilities, probabilities if reference is None else reference, labels)
    row["accuracy"] = metrics["candidate_accuracy"]
    if reference is not None:
        gap_pp = 100.0 * (metrics["candidate_accuracy"] - metrics["reference_accuracy"])
        row.update(accuracy_delta_pp=gap_pp, agreement=metrics["agreement"], max_abs_dp=metrics["max_abs_dp"])
        threshold = THRESHOLDS.get((entry.precision, "keras")) if entry.backend != "keras" else None
        if threshold is not None and not threshold.check(metrics["agreement"], metrics["max_abs_dp"], gap_pp):
            row["status"] = "failed validation"
    elif entry.backend != "keras":
        row["status"] = "unverified: no Keras reference"
    latency = latency_ms(predict, images[:1], runs)
    row.update(latency_p50_ms=latency["p50"], latency_p99_ms=latency["p99"], latency_mean_ms=latency["mean"])
    row["throughput_ips"] = throughput_ips(predict, images[:THROUGHPUT_BATCH], max(3, runs // 100))
    row["peak_memory_mb"], row["memory_imports_tensorflow"] = peak_memory_mb(entry, path, threads)
    return row, probabilities, handle


def keras_predict_baseline(model: Any, image: np.ndarray, runs: int = KERAS_PREDICT_RUNS) -> dict[str, Any]:
    """The tutorial's `model.predict(one_image)`: what a naive loop over frames pays per digit."""
    timing = latency_ms(lambda batch: model.predict(batch, verbose=0), image, runs, warmup=3)
    return {"runs": runs, "latency_p50_ms": timing["p50"], "latency_p99_ms": timing["p99"], "latency_mean_ms": timing["mean"]}


def flag_slow_int8(rows: list[dict[str, Any]]) -> None:
    """Set int8_slower_than_fp32 on int8 rows that have a measured fp32 twin of the same backend."""
    for row in rows:
        twin = next((other for other in rows if other["backend"] == row["backend"] and other["precision"] == "fp32"), None)
        if row["precision"] == "int8" and twin and None not in (row["latency_p50_ms"], twin["latency_p50_ms"]):
            row["int8_slower_than_fp32"] = row["latency_p50_ms"] > twin["latency_p50_ms"]


def machine_info() -> dict[str, Any]:
    """CPU model and instruction-set path, core counts, OS, Python and library versions, date: what a number
    depends on (int8 kernels, and so timings, differ between AVX2, AVX-512 VNNI and ARM dot product)."""
    versions = package_versions(VERSIONS)
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {**measured_on(), "cores": os.cpu_count(), "usable_cores": usable, "platform": platform.platform(),
            "versions": versions, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def run_bench(directory: str | os.PathLike = "export", data_path: str | os.PathLike | None = None, threads: int = 1,
              runs: int = 1000, pipeline_frames: int = DEFAULT_PIPELINE_FRAMES,
              plots_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Benchmark every FORMATS row in `directory` and the camera pipeline; plots into `plots_dir` if given."""
    started = time.perf_counter()
    directory = Path(directory)
    if not directory.is_dir():
        raise EdgeDigitsError(f"export directory not found: {directory}; run `edge-digits export --int8 --out {directory}`")
    for name, value in (("threads", threads), ("runs", runs), ("pipeline frames", pipeline_frames)):
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "pipeline frames" else 1):
            raise EdgeDigitsError(f"{name} must be a whole number >= {0 if name == 'pipeline frames' else 1}, got {value!r}")
    manifest = checked_manifest(directory)  # signed, when trusted keys are configured
    mnist = load_mnist(data_path)
    images, labels = preprocess(mnist.x_test), mnist.y_test.astype(np.int64)
    rows: dict[str, dict[str, Any]] = {}
    predictions: dict[str, np.ndarray] = {}
    reference, predict_baseline = None, None
    for entry in progress(sorted(FORMATS, key=lambda row: row.backend != "keras"), "bench", unit="format"):  # the oracle first
        try:
            row, probabilities, handle = measure(entry, directory, images, labels, reference, manifest, threads, runs)
            if probabilities is not None:
                predictions[entry.name] = probabilities
            if entry.backend == "keras" and handle is not None:
                reference = probabilities
                predict_baseline = keras_predict_baseline(handle, images[:1], min(KERAS_PREDICT_RUNS, runs))
        except Exception as error:  # report a broken artifact as a row, keep measuring the others
            row = empty_row(entry, f"error: {error_line(error, limit=200)}")
        rows[entry.name] = row
    ordered = [rows[entry.name] for entry in FORMATS]
    flag_slow_int8(ordered)

    pipeline: list[dict[str, Any]] = []
    if pipeline_frames:
        from edge_digits.measure.bench_pipeline import make_frames, run_pipeline

        pipeline = run_pipeline(directory, make_frames(pipeline_frames, data_path), threads=threads)
    results: dict[str, Any] = {
        "schema": 1,
        "machine": machine_info(),
        "settings": _settings(directory, mnist.source, len(labels), threads, runs, pipeline_frames),
        "artifacts": ordered,
        "keras_predict_baseline": predict_baseline,
        "pipeline": pipeline,
        "plots": [],
    }
    if plots_dir is not None:
        results["plots"] = [str(path) for path in write_plots(results, predictions, images, labels, directory, manifest, plots_dir)]
    results["bench_seconds"] = round(time.perf_counter() - started, 1)
    return results


def _settings(directory: Path, data: str, count: int, threads: int, runs: int, frames: int) -> dict[str, Any]:
    from edge_digits.measure.bench_pipeline import DIGITS_PER_FRAME, FRAME_SIZE

    keras_threads = None
    if "tensorflow" in sys.modules:
        keras_threads = sys.modules["tensorflow"].config.threading.get_intra_op_parallelism_threads()
    return {"directory": str(directory), "data": data, "test_images": count, "threads": threads, "runs": runs,
            "warmup": WARMUP, "throughput_batch": THROUGHPUT_BATCH, "throughput_batches": max(3, runs // 100),
            "load_repeats": LOAD_REPEATS, "keras_intra_op_threads": keras_threads, "pipeline_frames": frames,
            "digits_per_frame": DIGITS_PER_FRAME, "frame_size": list(FRAME_SIZE),
            "python_numpy_baseline_mb": _probe([sys.executable, "-c", "import sys, numpy\n" + _PROBE_END])[0]}
