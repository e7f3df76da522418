"""camera_demo.py end to end in a subprocess: headless JSON lines, sources, errors, no TensorFlow."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import cv2
import pytest
from conftest import REPO

from edge_digits.measure.scenes import make_suite, write_video
from edge_digits.measure.textdistance import levenshtein

FRAMES_PER_SCENE = 2
# Run the demo with TensorFlow made unimportable: the runtime tier must never need it.
NO_TENSORFLOW = "import runpy, sys; sys.modules['tensorflow'] = None; sys.argv[0] = 'camera_demo.py'; runpy.run_path('camera_demo.py', run_name='__main__')"


def run_demo(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", NO_TENSORFLOW, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def model_args() -> list[str]:
    """--model from $EDGE_DIGITS_TEST_MODEL, else the default export/ (skip when there is none)."""
    model = os.environ.get("EDGE_DIGITS_TEST_MODEL")
    if model:
        return ["--model", model]
    from edge_digits.errors import EdgeDigitsError
    from edge_digits.runtime.classifier import default_export_dir

    try:
        default_export_dir()
    except EdgeDigitsError as error:
        pytest.skip(f"no model for the demo: {error}")
    return []


def records(result: subprocess.CompletedProcess) -> list[dict]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("camera_demo: error:") and "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def clip(tmp_path_factory, mnist_path):
    """A 20-frame video: 10 synthetic scenes held for 2 frames each, and each frame's true text."""
    scenes = make_suite(10, seed=11, data_path=mnist_path)
    path = tmp_path_factory.mktemp("clip") / "scenes.mp4"
    write_video([scene.image for scene in scenes for _ in range(FRAMES_PER_SCENE)], path, fps=10)
    return path, [scene.text for scene in scenes for _ in range(FRAMES_PER_SCENE)]


def digit_accuracy(lines: list[dict], truths: list[str]) -> float:
    errors = sum(levenshtein(line["text"].replace("\n", ""), truth.replace("\n", "")) for line, truth in zip(lines, truths))
    return 1 - errors / sum(len(truth.replace("\n", "")) for truth in truths)


def test_headless_video_reads_the_digits(clip):
    path, truths = clip
    lines = records(run_demo("--headless", "--source", str(path), *model_args()))
    assert [line["frame"] for line in lines] == list(range(len(truths)))
    for line in lines:
        assert {"frame", "text", "digits", "fps", "rss_mb"} <= set(line)
        assert line["fps"] > 0 and line["rss_mb"] > 0
        for digit in line["digits"]:
            assert set(digit) == {"digit", "confidence", "box", "line"} and len(digit["box"]) == 4
        assert line["text"].replace("\n", "") == "".join(str(d["digit"]) for d in line["digits"])
    assert digit_accuracy(lines, truths) >= 0.9


def test_directory_of_images_skips_unreadable_files(tmp_path, mnist_path):
    scenes = make_suite(3, seed=12, data_path=mnist_path)
    for index, scene in enumerate(scenes):
        cv2.imwrite(str(tmp_path / f"page_{index}.png"), scene.image)
    (tmp_path / "page_9.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("ignored: not an image name")
    result = run_demo("--headless", "--smooth", "1", "--source", str(tmp_path), *model_args())
    lines = records(result)
    assert [line["source"] for line in lines] == ["page_0.png", "page_1.png", "page_2.png"]
    assert "skipping" in result.stderr and "page_9.png" in result.stderr
    assert digit_accuracy(lines, [scene.text for scene in scenes]) >= 0.9


def test_max_frames_loop_and_record(clip, tmp_path):
    path, truths = clip
    out = tmp_path / "annotated.avi"
    lines = records(run_demo("--headless", "--source", str(path), "--loop", "--max-frames", "30", "--record", str(out), *model_args()))
    assert [line["frame"] for line in lines] == list(range(30))
    capture = cv2.VideoCapture(str(out))
    assert capture.isOpened() and int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 30
    capture.release()
    assert len(records(run_demo("--headless", "--source", str(path), "--max-frames", "3", *model_args()))) == 3


def test_camera_that_cannot_open():
    assert_one_line_error(run_demo("--headless", "--source", "99"), "cannot open camera 99")


def test_missing_and_bad_sources(tmp_path):
    assert_one_line_error(run_demo("--headless", "--source", str(tmp_path / "nope.mp4")), "source not found")
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video")
    assert_one_line_error(run_demo("--headless", "--source", str(fake)), "fake.mp4")
    assert_one_line_error(run_demo("--headless", "--source", str(tmp_path)), "no images")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 10)
    assert_one_line_error(run_demo("--headless", "--source", str(broken), *model_args()), "broken.png")


def test_usage_mistakes_are_one_line():
    result = run_demo("--max-frames", "0")
    assert result.returncode == 2
    assert_one_line_error(result, "--max-frames", "at least 1")


def test_ctrl_c_exits_130_without_traceback(clip):
    path, _ = clip
    command = [sys.executable, "-c", NO_TENSORFLOW, "--headless", "--loop", "--source", str(path), *model_args()]
    # SIGINT as at a terminal, even when pytest itself runs as a background job (which inherits it ignored)
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert process.stdout.readline().startswith("{")
        time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr


class FlakyCapture:
    """A camera that delivers `good` frames, then fails every grab."""

    def __init__(self, good: int):
        self.good, self.grabs = good, 0

    def read(self):
        self.grabs += 1
        return (True, object()) if self.grabs <= self.good else (False, None)

    def release(self):
        pass


def test_camera_grab_failures_are_retried_then_end_cleanly(monkeypatch, capsys):
    from edge_digits.apps import camera as demo

    monkeypatch.setattr(demo, "RETRY_SLEEP", 0.0)
    source = demo.CaptureSource.__new__(demo.CaptureSource)
    source.source, source.retries, source.loop, source.is_camera, source.name = 0, 3, False, True, "camera 0"
    source.capture = FlakyCapture(good=5)
    assert len(list(source.frames())) == 5
    assert source.capture.grabs == 5 + 1 + 3  # the failed grab plus three retries
    assert "stopped delivering frames (retried 3 times)" in capsys.readouterr().err
