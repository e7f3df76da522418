"""The page's WebAssembly image kernels (web/wasm/kernels.c -> kernels.wasm): the committed module is what
scripts/build-wasm builds from the committed source, and every kernel gives exactly what its JavaScript twin
gives, on odd sizes and edge cases as on whole readings. Browser tests skip or fail as tests/test_web.py's do;
the rebuild needs Debian's clang and lld (outside CI a missing one skips it, under CI=true it fails)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from edge_digits.apps import browser
from tests.conftest import REPO
from tests.test_web import require_browser

WASM = REPO / "web" / "wasm" / "kernels.wasm"
SCENES = 12

# Each kernel's JavaScript caller, run with the WebAssembly kernels on and off on the same inputs.
KERNEL_CASES = """async () => {
  const kernels = await import("./js/kernels.js");
  const image = await import("./js/image.js");
  const resize = await import("./js/resize.js");
  const inkmap = await import("./js/inkmap.js");
  const canvas = await import("./js/canvas.js");
  let seed = 1;
  const random = (n) => Uint8Array.from({ length: n }, () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24);
  const cases = [];
  for (const [w, h] of [[1, 1], [2, 3], [7, 5], [128, 96], [33, 200], [320, 240]]) {
    const p = image.plane(w, h, random(w * h));
    for (const size of [3, 5, 11]) {
      cases.push([`erode ${size} ${w}x${h}`, () => image.erode(p, image.ellipse(size)).data]);
      cases.push([`dilate ${size} ${w}x${h}`, () => image.dilate(p, image.ellipse(size)).data]);
    }
    cases.push([`gaussian ${w}x${h}`, () => image.gaussian3(p).data]);
    for (const factor of [2, 3, 4, 5]) {
      if (w % factor === 0 && h % factor === 0) cases.push([`area /${factor} ${w}x${h}`, () => resize.resizeArea(p, w / factor, h / factor).data]);
    }
    cases.push([`linear up ${w}x${h}`, () => resize.resizeLinear(p, 2 * w + 1, 3 * h).data]);
    cases.push([`linear down ${w}x${h}`, () => resize.resizeLinear(p, Math.max(1, w >> 1), Math.max(1, (h * 2) / 3 | 0)).data]);
    const colour = [p, image.plane(w, h, random(w * h)), image.plane(w, h, random(w * h))];
    cases.push([`ink map ${w}x${h}`, () => inkmap.inkMap(colour).data]);
    const rgba = random(4 * w * h), opaque = rgba.map((v, i) => (i % 4 === 3 ? 255 : v));
    const gray = opaque.map((v, i) => (i % 4 === 3 ? 255 : opaque[i - (i % 4)]));
    for (const [kind, data] of [["rgba", rgba], ["opaque", opaque], ["gray", gray]]) {
      cases.push([`split ${kind} ${w}x${h}`, () => canvas.fromImageData({ width: w, height: h, data: new Uint8ClampedArray(data) }).flatMap((q) => Array.from(q.data))]);
    }
  }
  const results = [true, false].map((on) => {
    kernels.useWebAssembly(on);
    return cases.map(([, run]) => Array.from(run()));
  });
  kernels.useWebAssembly(true);
  return { backend: kernels.backend, count: cases.length,
           differ: cases.filter((_, i) => JSON.stringify(results[0][i]) !== JSON.stringify(results[1][i])).map(([name]) => name) };
}"""


@pytest.fixture(scope="module")
def session():
    require_browser()
    with browser.open_page() as opened:
        yield opened


def test_webassembly_kernels_equal_their_javascript_twins(session):
    outcome = session.page.evaluate(KERNEL_CASES)
    assert outcome["backend"] == "webassembly"  # the module loaded: the fast path is the one being tested
    assert outcome["count"] >= 80
    assert outcome["differ"] == []
    assert session.errors == []


def test_readings_are_the_same_with_either_kernels(session, mnist_path):
    from edge_digits.measure.paper import on_paper
    from edge_digits.measure.scenes import make_suite
    import numpy as np

    scenes = make_suite(SCENES, seed=2, data_path=mnist_path)
    images = [scene.image for scene in scenes] + [on_paper(scenes[0], "lined", np.random.default_rng(1)).image]
    assert session.page.evaluate("import('./js/kernels.js').then((k) => k.useWebAssembly(true))") is True
    fast = browser.read_images(session, images)
    session.page.evaluate("import('./js/kernels.js').then((k) => k.useWebAssembly(false))")
    try:
        plain = browser.read_images(session, images)
    finally:
        session.page.evaluate("import('./js/kernels.js').then((k) => k.useWebAssembly(true))")
    assert fast == plain
    assert sum(len(reading["digits"]) for reading in fast) >= 5 * SCENES


def test_committed_module_is_built_from_the_committed_source(tmp_path):
    """scripts/build-wasm reproduces web/wasm/kernels.wasm byte for byte (so the .wasm holds nothing else)."""
    missing = [tool for tool in ("clang", "wasm-ld") if shutil.which(tool) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"rebuilding the page's WebAssembly needs {', '.join(missing)} (apt-get install clang lld)")
        pytest.skip(f"rebuilding the page's WebAssembly needs {', '.join(missing)} (apt-get install clang lld)")
    rebuilt = tmp_path / "kernels.wasm"
    result = subprocess.run([str(REPO / "scripts" / "build-wasm"), str(rebuilt)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert rebuilt.read_bytes() == WASM.read_bytes(), "web/wasm/kernels.wasm is stale: run scripts/build-wasm"
