"""Raspberry Pi: the camera-module source (with a stand-in picamera2) and scripts/pi-check under emulation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXPORT_DIR, REPO

SAMPLE = REPO / "examples" / "sample.jpg"
# A stand-in for picamera2's Picamera2: frames are the image at $FAKE_PICAMERA_IMAGE in BGR ("RGB888"),
# and every call the demo makes is logged to $FAKE_PICAMERA_LOG so the test sees the camera was released.
FAKE_PICAMERA2 = '''
import os
import cv2


def log(line):
    with open(os.environ["FAKE_PICAMERA_LOG"], "a") as handle:
        handle.write(line + "\\n")


class Picamera2:
    def __init__(self, camera_num=0):
        if os.environ.get("FAKE_PICAMERA_FAIL"):
            raise IndexError("list index out of range")
        self.image = cv2.imread(os.environ["FAKE_PICAMERA_IMAGE"])
        self.config = None

    def create_video_configuration(self, main):
        return {"main": dict(main)}

    def configure(self, config):
        self.config = config
        log(f"configure {config['main']['format']} {tuple(config['main']['size'])}")

    def start(self):
        log("start")

    def capture_array(self, name="main"):
        width, height = self.config["main"]["size"]
        return cv2.resize(self.image, (width, height), interpolation=cv2.INTER_AREA)

    def stop(self):
        log("stop")

    def close(self):
        log("close")
'''
# picamera2 made unimportable even where it is installed (Raspberry Pi OS).
WITHOUT_PICAMERA2 = "import sys; sys.modules['picamera2'] = None; from edge_digits.apps.cli import main; sys.exit(main(sys.argv[1:]))"


def run_camera(tmp_path: Path, *args: str, fake: bool = True, **variables: str) -> subprocess.CompletedProcess:
    """`edge-digits camera --source picamera --headless ARGS` with the stand-in module on sys.path (or none)."""
    package = tmp_path / "fake" / "picamera2"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(FAKE_PICAMERA2)
    path = [str(package.parent)] if fake else []
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([*path, str(REPO)]), "FAKE_PICAMERA_IMAGE": str(SAMPLE),
                   "FAKE_PICAMERA_LOG": str(tmp_path / "calls.log"), **variables}
    program = ["-m", "edge_digits.apps.cli"] if fake else ["-c", WITHOUT_PICAMERA2]
    return subprocess.run([sys.executable, *program, "camera", "--source", "picamera", "--headless", *args],
                          cwd=REPO, env=environment, capture_output=True, text=True, timeout=300)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    return lines[0]


def test_picamera_source_reads_the_camera_frames_and_releases_the_camera(tmp_path):
    import cv2

    from edge_digits.runtime.reader import DigitReader

    result = run_camera(tmp_path, "--max-frames", "3")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    frame = cv2.resize(cv2.imread(str(SAMPLE)), (640, 480), interpolation=cv2.INTER_AREA)
    expected = DigitReader(model=EXPORT_DIR).read(frame).text
    assert [record["raw_text"] for record in records] == [expected] * 3
    assert (tmp_path / "calls.log").read_text().split("\n")[:-1] == ["configure RGB888 (640, 480)", "start", "stop", "close"]


def test_picamera_source_without_picamera2_is_one_line_naming_it(tmp_path):
    line = one_error_line(run_camera(tmp_path, "--max-frames", "1", fake=False))
    assert "picamera2" in line and "python3-picamera2" in line


def test_a_pi_camera_that_cannot_start_is_one_line(tmp_path):
    line = one_error_line(run_camera(tmp_path, "--max-frames", "1", FAKE_PICAMERA_FAIL="1"))
    assert "cannot start the Pi camera" in line


def pi_check_unavailable() -> str | None:
    """Why this machine cannot run pi-check (it needs root for mmdebstrap and apt for its tools), or None."""
    if os.geteuid() != 0:
        return "pi-check needs root (mmdebstrap --mode=root)"
    if shutil.which("apt-get") is None:
        return "pi-check needs apt-get (Debian/Ubuntu) for mmdebstrap, arch-test and qemu-user"
    return None


@pytest.mark.slow
def test_pi_check_reads_like_x86_on_both_releases_and_both_pi_cpus(built_wheel, mnist_path):
    reason = pi_check_unavailable()
    if reason and not os.environ.get("CI"):
        pytest.skip(reason)
    environment = {**os.environ, "EDGE_DIGITS_MNIST": str(mnist_path)}
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "pi-check"), "--wheel", str(built_wheel)],
                            env=environment, capture_output=True, text=True, timeout=3600)
    print(result.stdout)  # its summary: what it checked, the largest differences, the wall time
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[-1] == "ok"
    for release in ("bookworm (Python 3.11)", "trixie (Python 3.13)"):
        for model in ("pi4 (cortex-a72)", "pi5 (cortex-a76)"):
            assert any(line.startswith(f"pi-check: {release} as {model}: ") and "equal x86's texts" in line for line in lines), result.stdout
    assert any("the second model (export/second/digits_fp32.onnx) re-read" in line for line in lines), result.stdout


def load_pi_check():
    """scripts/pi-check as a module (it has no .py suffix, being a command)."""
    import importlib.util
    from importlib.machinery import SourceFileLoader

    loader = SourceFileLoader("pi_check", str(REPO / "scripts" / "pi-check"))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("pi_check", loader))
    sys.modules["pi_check"] = module  # dataclasses look their module up there
    loader.exec_module(module)
    return module


def test_pi_check_reports_the_largest_differences_and_fails_on_a_changed_text():
    import copy

    pi_check = load_pi_check()
    digits = [{"digit": 1, "confidence": 0.9, "box": [10, 10, 8, 20], "line": 0},
              {"digit": 2, "confidence": 0.8, "box": [30, 10, 12, 20], "line": 0}]
    x86 = {"read": [{"image": "/tmp/a.jpg", "text": "12", "digits": copy.deepcopy(digits)}],
           "camera": [{"frame": 0, "source": "a.jpg", "text": "12", "raw_text": "12", "digits": copy.deepcopy(digits)}],
           "second": {"model": "export/second/digits_fp32.onnx", "below": 0.995, "first": [0.9, 0.99501]}}
    arm = copy.deepcopy(x86)
    arm["read"][0]["digits"][1]["box"][2] += 2
    arm["camera"][0]["digits"][0]["confidence"] -= 0.03
    box, confidence, count = pi_check.compare(arm, x86, "test")
    assert box == (2, "read a.jpg") and count == 2
    assert confidence[1] == "camera a.jpg" and confidence[0] == pytest.approx(0.03)
    arm["camera"][0]["raw_text"] = "17"
    with pytest.raises(pi_check.CheckFailed, match="camera a.jpg reads '17' on ARM but '12' on x86"):
        pi_check.compare(arm, x86, "test")
    arm["camera"][0]["raw_text"] = "12"
    for second in ({"model": None, "below": None, "first": []}, {**x86["second"], "first": [0.9]},
                   {**x86["second"], "model": "export/digits_fp32.onnx"}):
        with pytest.raises(pi_check.CheckFailed, match="second model on ARM"):  # not loaded, or offered other digits
            pi_check.compare({**arm, "second": second}, x86, "test")
    assert pi_check.second_reads(x86["second"]) == 1
    flipped = {**x86["second"], "first": [0.9, 0.99499]}  # a hair below 0.995 on ARM: rounding, allowed
    pi_check.compare({**arm, "second": flipped}, x86, "test")
    assert pi_check.second_reads(flipped) == 2
    with pytest.raises(pi_check.CheckFailed, match="re-read digit 1 on one CPU only"):
        pi_check.compare({**arm, "second": {**x86["second"], "first": [0.9, 0.98]}}, x86, "test")
