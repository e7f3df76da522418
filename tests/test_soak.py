"""`python -m edge_digits.measure.soak`: a short run proves the pipeline and the report; the 5000-frame soak is run by hand."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXPORT_DIR, REPO
from export_support import exported

from edge_digits.measure.soak import checkpoints, report


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, mnist_path) -> Path:
    if (EXPORT_DIR / "manifest.json").is_file():
        return EXPORT_DIR
    return exported(tmp_path_factory.getbasetemp(), mnist_path)


def soak(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_digits.measure.soak", *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_short_soak_reports_memory_and_speed(model_dir, mnist_path):
    # growth over 300 frames is start-up noise, so the limit is relaxed: this checks the pipeline and the report
    result = soak("--frames", "300", "--scenes", "10", "--model", str(model_dir), "--data", str(mnist_path), "--limit-mb", "1000")
    assert result.returncode == 0, result.stderr
    rows = [tuple(map(float, row)) for row in re.findall(r"^\s*(\d+)\s+(\d+\.\d)$", result.stdout, re.MULTILINE)]
    assert [int(frame) for frame, _ in rows] == [150, 300]
    assert all(20 < rss < 4000 for _, rss in rows)  # a real process's resident memory in MB
    growth = re.search(r"rss growth frame 150 -> 300: ([+-]\d+\.\d) MB", result.stdout)
    assert growth and abs(float(growth.group(1)) - (rows[1][1] - rows[0][1])) <= 0.11
    speed = re.search(r"throughput: (\d+\.\d) frames/s", result.stdout)
    assert speed and float(speed.group(1)) > 0
    assert result.stdout.rstrip().endswith("PASS")


def test_soak_fails_clearly_when_the_demo_cannot_run(tmp_path, mnist_path):
    result = soak("--frames", "5", "--scenes", "1", "--model", str(tmp_path / "missing"), "--data", str(mnist_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edge_digits.measure.soak: error: the camera demo failed after 0 of 5 frames")
    assert "model not found" in lines[0]


def test_checkpoints_and_verdict():
    assert checkpoints(5000) == [500, 1000, 2000, 3000, 4000, 5000]
    assert checkpoints(2500) == [500, 1000, 2000, 2500]
    assert checkpoints(1) == [1]
    records = [{"frame": i, "rss_mb": 100.0 + (12.0 if i >= 900 else 0.0), "fps": 30.0} for i in range(1000)]
    lines, passed = report(records, [i / 30 for i in range(1000)], limit_mb=10)
    assert not passed and lines[-1] == "FAIL" and "+12.0 MB" in "\n".join(lines)
    lines, passed = report(records, [i / 30 for i in range(1000)], limit_mb=15)
    assert passed and lines[-1] == "PASS"
