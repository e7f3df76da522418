"""Raspberry Pi: the camera-module source (with a stand-in picamera2). The emulated Pi 4 and Pi 5 run in
tests/test_cpu_matrix.py, with the x86 paths."""

from __future__ import annotations

import json
import os
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
