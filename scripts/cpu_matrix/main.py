"""Run the runtime tier on every CPU path the project claims and compare every answer with the native one.

Targets: this x86_64 machine natively (the oracle); qemu-x86_64 as Haswell (onnxruntime's and XNNPACK's AVX2
kernels) and Nehalem (their SSE4 kernels); qemu-aarch64 as a Raspberry Pi 4 (cortex-a72: NEON) and Pi 5
(cortex-a76: NEON with dot product) on Raspberry Pi OS Bookworm (Python 3.11) and Trixie (Python 3.13).
Each target installs the project's wheel and runs every shipped model (fp32/int8 ONNX and TFLite, the MediaPipe
tasks model, and export/second's) on MNIST test digits, and the reader (`edge-digits read --json`, the headless
camera demo, the second model) on examples/sample.jpg, synthetic scenes and the photos of $EDGE_DIGITS_PHOTOS.
Prints one table; ends with `ok`, or exits 1 naming every difference. With --exports it checks the build tier
instead: the shipped sets re-exported on each x86 path must be the shipped bytes (exports.py).

Needs root, apt-get and the host's Debian mirror (read from its apt sources) and PyPI. Downloads (qemu, wheels,
arm64 roots) are cached in $CPU_MATRIX_CACHE (default ~/.cache/edge-digits-cpu-matrix).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cpu_matrix import debian
from cpu_matrix.compare import compare_models, compare_readings, format_matrix, second_reads
from cpu_matrix.exports import BUILD_TARGETS, check_exports, export_environment
from cpu_matrix.steps import PROGRAM, CheckFailed, log, run

REPO = debian.REPO
PROBE = Path(__file__).resolve().parent / "probe.py"


@dataclass(frozen=True)
class Target:
    """One CPU path: its machine, the CPU qemu emulates (None: this machine itself) and, on ARM, the OS release."""

    name: str
    machine: str
    cpu: str | None = None
    release: str | None = None


TARGETS = {target.name: target for target in (
    Target("native", "x86_64"),
    Target("haswell", "x86_64", "Haswell"),
    Target("nehalem", "x86_64", "Nehalem"),
    Target("pi4-bookworm", "aarch64", "cortex-a72", "bookworm"),
    Target("pi5-bookworm", "aarch64", "cortex-a76", "bookworm"),
    Target("pi4-trixie", "aarch64", "cortex-a72", "trixie"),
    Target("pi5-trixie", "aarch64", "cortex-a76", "trixie"),
)}


def clean_environment(path: list[Path], home: Path) -> dict:
    """No $EDGE_DIGITS_EXPORT, no ./export and none of the host's tuning (OPENBLAS_CORETYPE would force the host's
    kernels on an emulated CPU that lacks them): the models come from the installed package, as on a fresh machine."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", "PYTHONNOUSERSITE": "1",
            "PYTHONPATH": os.pathsep.join(map(str, path))}


def make_images(folder: Path, scenes: int, photos: Path | None) -> None:
    """examples/sample.jpg, `scenes` synthetic scenes rendered here, and every image of `photos` (real photos:
    where OpenCV's SIMD paths shift a grey level, margins are thinnest)."""
    folder.mkdir(parents=True)
    shutil.copy2(REPO / "examples" / "sample.jpg", folder / "sample.jpg")
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    run([sys.executable, "-m", "edge_digits.measure.scenes", "--count", str(scenes), "--out", str(folder)], env=environment)
    (folder / "ground_truth.json").unlink()
    if photos is not None:
        for photo in sorted(photos.iterdir()):
            if photo.suffix.lower() in (".jpg", ".jpeg", ".png"):
                shutil.copy2(photo, folder / f"photo_{photo.name}")


def make_digits(path: Path, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` MNIST test digits ($EDGE_DIGITS_MNIST), preprocessed as parity does, saved to `path`."""
    from edge_digits.build.mnist import load_mnist, preprocess

    mnist = load_mnist(None)
    images = preprocess(mnist.x_test[:count])
    np.savez(path, images=images)
    return images, mnist.y_test[:count].astype(np.int64)


def keras_accuracies(images: np.ndarray, labels: np.ndarray, counts: dict[str, int]) -> dict[str, float]:
    """The Keras oracle of each shipped set on its digits (natively, with the build tier)."""
    from edge_digits.build.keras_io import load_keras_model, predict_probabilities

    accuracy = {}
    for set_name, folder in (("first", REPO / "export"), ("second", REPO / "export" / "second")):
        probabilities = predict_probabilities(load_keras_model(folder / "digits.keras"), images[:counts[set_name]])
        accuracy[set_name] = float(np.mean(probabilities.argmax(1) == labels[:counts[set_name]]))
    return accuracy


def probe(interpreter: list, project: Path, images: Path, digits: Path, counts: dict[str, int], workdir: Path,
          environment: dict) -> dict:
    """Everything one target answers: readings, camera frames, the second model's use, and every model's outputs."""
    script = [*interpreter, project / "bin" / "edge-digits"]
    files = sorted(str(path) for path in images.iterdir())
    read = run([*script, "read", "--json", *files], cwd=workdir, env=environment)
    # read runs the packaged fp32 ONNX model (the reader's default), the camera demo the packaged int8 LiteRT model
    int8 = project / "edge_digits" / "export" / "digits_int8.tflite"
    camera = run([*script, "camera", "--headless", "--model", int8, "--source", images], cwd=workdir, env=environment)
    outputs = workdir / f"models-{os.getpid()}-{time.monotonic_ns()}.npz"
    report = json.loads(run([*interpreter, PROBE, digits, outputs, counts["first"], counts["second"], *files],
                            cwd=workdir, env=environment).stdout)
    with np.load(outputs) as saved:
        models = {key: saved[key] for key in saved.files}
    return {"read": json.loads(read.stdout), "camera": [json.loads(line) for line in camera.stdout.splitlines()],
            "models": models, **report}


def interpreter_for(target: Target, qemu: dict[str, Path], cache: Path, wheel: Path, mirror: str | None,
                    project: Path, scratch: Path) -> tuple[list, dict]:
    """The command that starts Python on `target`, and its environment."""
    if target.machine == "x86_64":
        prefix = [] if target.cpu is None else [qemu["x86_64"], "-cpu", target.cpu]
        return [*prefix, sys.executable], clean_environment([project], scratch)
    release = debian.RELEASES[target.release]
    root = debian.assemble_root(release, cache, mirror)
    site = debian.dependency_site(release, wheel, cache)
    python = root / "usr" / "bin" / f"python{release.python}"
    return [qemu["aarch64"], "-cpu", target.cpu, "-L", root, python], clean_environment([project, site], scratch)


def check(args: argparse.Namespace) -> None:
    if platform.machine() != "x86_64":
        raise CheckFailed(f"the native oracle must be x86_64 (this machine is {platform.machine()})")
    targets = [TARGETS[name] for name in args.targets if not args.exports or name in BUILD_TARGETS]
    emulated = {target.machine for target in targets if target.cpu is not None}
    if emulated and (os.geteuid() != 0 or shutil.which("apt-get") is None):
        raise CheckFailed("emulated targets need root and apt-get (qemu-user from Debian, mmdebstrap --mode=root)")
    cache, started = Path(args.cache), time.perf_counter()
    mirror = debian.debian_mirror() if emulated else None
    if emulated:
        debian.ensure_host_tools(arm="aarch64" in emulated)
    qemu = {machine: debian.ensure_qemu(cache, machine, mirror) for machine in sorted(emulated)}
    if args.exports:
        with tempfile.TemporaryDirectory(prefix="cpu-matrix-exports-") as scratch:
            environment = export_environment(REPO, Path(scratch), os.environ.get("EDGE_DIGITS_MNIST"))
            check_exports(targets, qemu, [REPO / "export", REPO / "export" / "second"], Path(scratch), environment)
        log(f"exports in {time.perf_counter() - started:.0f} s")
        return
    counts = {"first": args.digits, "second": args.second_digits}
    with tempfile.TemporaryDirectory(prefix="cpu-matrix-") as scratch:
        scratch = Path(scratch)
        wheel = Path(args.wheel) if args.wheel else debian.build_wheel(scratch / "dist")
        images, digits, workdir, project = scratch / "images", scratch / "digits.npz", scratch / "work", scratch / "project"
        make_images(images, args.scenes, Path(args.photos) if args.photos else None)
        test_images, labels = make_digits(digits, max(counts.values()))
        keras_accuracy = keras_accuracies(test_images, labels, counts)
        workdir.mkdir()
        run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
             "--target", project, wheel])
        imported = run([sys.executable, "-c", "import edge_digits; print(edge_digits.__file__)"], cwd=workdir,
                       env=clean_environment([project], scratch))
        if project not in Path(imported.stdout.strip()).parents:  # e.g. an editable install's finder took precedence
            raise CheckFailed(f"the native reference imported {imported.stdout.strip()}, not the wheel in {project}")

        def answer(target: Target) -> tuple[Target, dict, float]:
            began = time.perf_counter()
            interpreter, environment = interpreter_for(target, qemu, cache, wheel, mirror, project, scratch)
            return target, probe(interpreter, project, images, digits, counts, workdir, environment), time.perf_counter() - began

        native = answer(TARGETS["native"])[1]
        log(f"native: {len(native['read'])} images, {len(native['camera'])} camera frames; the second model "
            f"({native['second']['model']}) re-read {second_reads(native['second'])} of {len(native['second']['first'])} digits")
        results = {"native": (native, 0.0)}  # the oracle's own row: compared with itself, it shows its accuracy
        others = [target for target in targets if target.name != "native"]
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            for target, answers, seconds in pool.map(answer, others):
                results[target.name] = (answers, seconds)
    report(results, [target.name for target in targets], native, labels, counts, keras_accuracy, started)


def report(results: dict, names: list[str], native: dict, labels: np.ndarray, counts: dict[str, int],
           keras_accuracy: dict[str, float], started: float) -> None:
    """Compare every target with native, print the table and the differences; CheckFailed if any."""
    models, readings, paths, failures = {}, {}, {}, []
    for name in names:
        answers, seconds = results[name]
        paths[name] = answers["measured_on"]["path"]
        models[name] = compare_models(answers["models"], native["models"], labels, keras_accuracy)
        failures += [f"{name}: {key}: {reason}" for key, cell in models[name].items() for reason in cell.failures]
        readings[name] = "="
        if name != "native":
            try:
                box, confidence, count = compare_readings(answers, native, name)
                log(f"{name} ({paths[name]}): {count} readings equal native texts; largest box difference {box[0]} px "
                    f"({box[1]}), confidence {confidence[0]:.4f} ({confidence[1]}); {seconds:.0f} s, of which "
                    f"{sum(answers['seconds'].values()):.0f} s running the models")
            except CheckFailed as error:
                readings[name] = "FAIL"
                failures.append(str(error))
    print(format_matrix(models, paths, counts, keras_accuracy, readings))
    log(f"{len(names)} targets in {time.perf_counter() - started:.0f} s")
    if failures:
        raise CheckFailed("; ".join(failures))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", nargs="+", choices=list(TARGETS), default=list(TARGETS),
                        help="CPU paths to run (default: all; native always runs, as the oracle)")
    parser.add_argument("--digits", type=int, default=10000, help="MNIST test digits for the 40 KB model's formats "
                        "(default 10000, the whole test split)")
    parser.add_argument("--second-digits", type=int, default=500, help="MNIST test digits for export/second's formats "
                        "(default 500: the 8x larger model costs minutes per target under emulation)")
    parser.add_argument("--exports", action="store_true", help="instead: re-export export/ and export/second/ "
                        "(edge-digits export --int8, needs the train extra and $EDGE_DIGITS_MNIST) natively and as Haswell "
                        "and list every file whose bytes differ from the shipped set")
    parser.add_argument("--wheel", help="use this edge_digits wheel instead of building one")
    parser.add_argument("--build-wheel", metavar="DIR", help="only build the wheel into DIR, print its path, and exit")
    parser.add_argument("--scenes", type=int, default=3, help="synthetic scenes besides the sample (default 3)")
    parser.add_argument("--photos", default=os.environ.get("EDGE_DIGITS_PHOTOS") or None,
                        help="also read the photos in this folder (default $EDGE_DIGITS_PHOTOS, when set)")
    parser.add_argument("--jobs", type=int, default=max(1, min(2, os.cpu_count() or 1)),
                        help="emulated targets at a time (default: 2, or 1 on a one-core machine)")
    parser.add_argument("--cache", default=os.environ.get("CPU_MATRIX_CACHE",
                                                          Path.home() / ".cache" / "edge-digits-cpu-matrix"),
                        help="download cache (default $CPU_MATRIX_CACHE or ~/.cache/edge-digits-cpu-matrix)")
    args = parser.parse_args(argv)
    if not 1 <= args.digits <= 10000 or not 1 <= args.second_digits <= 10000:
        parser.error("--digits and --second-digits take 1 to 10000 (the MNIST test split)")
    if "native" not in args.targets:
        args.targets = ["native", *args.targets]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.build_wheel:
            print(debian.build_wheel(Path(args.build_wheel)))
            return 0
        check(args)
    except CheckFailed as error:
        print(f"{PROGRAM}: FAILED: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROGRAM}: interrupted", file=sys.stderr)
        return 130
    print("ok")
    return 0
