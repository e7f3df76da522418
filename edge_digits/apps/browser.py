"""Drive the web page in headless system Chromium through Playwright, for tests, screenshots and the benchmark.

The browser is the Debian `chromium` package, started through Playwright's executable_path (no browser
download, never `playwright install`); the page is served by apps/web.py on 127.0.0.1. Every request
the page makes and every console error is recorded, so callers can prove it loads nothing from elsewhere.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import numpy as np

from edge_digits.apps.web import HOST, ORT_ENTRY, WEB_DIR, PageServer, make_server, url_of

CHROMIUM_VARIABLE = "EDGE_DIGITS_CHROMIUM"
CHROMIUM = "/usr/lib/chromium/chromium"  # Debian's binary itself: the /usr/bin wrapper prints a shell warning
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
FAKE_CAMERA = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
BATCH_BYTES = 8_000_000  # RGBA bytes sent to the page per evaluate call


def chromium_path() -> str:
    """$EDGE_DIGITS_CHROMIUM, else Debian's Chromium binary."""
    return os.environ.get(CHROMIUM_VARIABLE) or CHROMIUM


def missing() -> str | None:
    """What the browser runs lack on this machine (one phrase naming how to get it), or None."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright Python package (pip install -e '.[dev]')"
    if not Path(chromium_path()).is_file():
        return f"Chromium at {chromium_path()} (apt-get install chromium)"
    if not (WEB_DIR / ORT_ENTRY).is_file():
        return "the page's npm packages (npm ci --prefix web)"
    return None


@dataclass
class Session:
    """An open page with what it did: every request URL and every console error or page error."""

    page: Any
    url: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def foreign_requests(self) -> list[str]:
        """Requests to anywhere but the local server (data: and blob: URLs are the page's own)."""
        return [url for url in self.requests if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).hostname != HOST]


class Browser:
    """Headless Chromium beside a local server of the page; `open` gives a fresh, ready page."""

    def __init__(self, chromium: Any, url: str, server: Any = None):
        self.chromium, self.url, self.server = chromium, url, server

    def open(self, query: str = "", viewport: tuple[int, int] = (760, 640), touch: bool = False) -> Session:
        """A new page at the page's URL + `query`, recording requests and errors, once its model is ready
        (`touch`: a touch screen, as a phone's)."""
        page = self.chromium.new_page(viewport={"width": viewport[0], "height": viewport[1]}, has_touch=touch)
        session = Session(page, self.url + query)
        page.on("request", lambda request: session.requests.append(request.url))
        page.on("console", lambda message: session.errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: session.errors.append(str(error)))
        page.goto(session.url)
        page.evaluate("window.edgeDigits.ready")
        return session


def plain_server(directory: str | os.PathLike) -> PageServer:
    """A plain static file server of `directory` on HOST (any free port): no special headers, as a simple
    host serves a site built by `edge-digits web --build`."""

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    return PageServer((HOST, 0), partial(Handler, directory=str(directory)))


@contextmanager
def launch(model: str | os.PathLike | None = None, video: str | os.PathLike | None = None,
           site: str | os.PathLike | None = None) -> Iterator[Browser]:
    """Serve the page on a free port (`edge-digits web`, or a plain static server of the built `site`) and
    start headless Chromium with a fake camera (playing `video`, a .y4m file, if given)."""
    from playwright.sync_api import sync_playwright

    server = make_server(0, model) if site is None else plain_server(site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    flags = FLAGS + FAKE_CAMERA + ([f"--use-file-for-fake-video-capture={Path(video).resolve()}"] if video else [])
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=flags)
            try:
                yield Browser(chromium, url_of(server), server)
            finally:
                chromium.close()
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def open_page(query: str = "", model: str | os.PathLike | None = None, viewport: tuple[int, int] = (760, 640),
              video: str | os.PathLike | None = None) -> Iterator[Session]:
    """One ready page in its own browser (see launch)."""
    with launch(model, video) as browser:
        yield browser.open(query, viewport)


def to_rgba(image: np.ndarray) -> np.ndarray:
    """A gray (H, W) or BGR (H, W, 3) uint8 image as the RGBA bytes of an ImageData."""
    image = np.asarray(image, dtype=np.uint8)
    rgb = np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image[:, :, ::-1]
    return np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)


def packed(image: np.ndarray) -> dict[str, Any]:
    """An image as the page's DECODE takes it: width, height and base64 RGBA bytes."""
    rgba = to_rgba(image)
    return {"width": rgba.shape[1], "height": rgba.shape[0], "data": base64.b64encode(rgba.tobytes()).decode("ascii")}


def _batches(items: list[np.ndarray]) -> Iterator[list[np.ndarray]]:
    batch, size = [], 0
    for item in items:
        if batch and size + item.size * 4 > BATCH_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item.size * 4
    if batch:
        yield batch


DECODE = """const decode = async ({width, height, data}) => {
  const bytes = Uint8Array.fromBase64 ? Uint8Array.fromBase64(data)
    : new Uint8Array(await (await fetch("data:application/octet-stream;base64," + data)).arrayBuffer());
  return new ImageData(new Uint8ClampedArray(bytes.buffer), width, height);
};"""


def read_images(session: Session, images: list[np.ndarray]) -> list[dict[str, Any]]:
    """The page's readings ({text, digits}) of gray or BGR uint8 images, sent in few evaluate calls."""
    readings: list[dict[str, Any]] = []
    for batch in _batches(list(images)):
        readings += session.page.evaluate(f"""async (images) => {{ {DECODE}
            const out = [];
            for (const image of images) out.push(await window.edgeDigits.read(await decode(image)));
            return out; }}""", [packed(image) for image in batch])
    return readings


def time_reads(session: Session, images: list[np.ndarray], warmup: int = 10,
               cpu_clock: Callable[[], float] | None = None) -> tuple[list[float], float]:
    """(milliseconds the page takes to read each image, CPU seconds `cpu_clock` counted while only reading),
    after `warmup` untimed reads; each batch of images is uploaded and decoded before its reads are timed."""
    times: list[float] = []
    cpu = 0.0
    for index, batch in enumerate(_batches(list(images))):
        session.page.evaluate(f"""async (images) => {{ {DECODE}
            window.edgeDigitsFrames = await Promise.all(images.map(decode)); }}""", [packed(image) for image in batch])
        start = cpu_clock() if cpu_clock else 0.0
        times += session.page.evaluate("""async (warmup) => {
            const frames = window.edgeDigitsFrames;
            for (let i = 0; i < Math.min(warmup, frames.length); i++) await window.edgeDigits.read(frames[i]);
            const out = [];
            for (const frame of frames) {
              const start = performance.now();
              await window.edgeDigits.read(frame);
              out.push(performance.now() - start);
            }
            return out; }""", warmup if index == 0 else 0)
        cpu += (cpu_clock() - start) if cpu_clock else 0.0
    session.page.evaluate("delete window.edgeDigitsFrames")
    return times, cpu


def normalize_masks(session: Session, masks: list[np.ndarray]) -> np.ndarray:
    """The page's normalization of ink masks (uint8, ink > 0) -> (N, 28, 28) float32."""
    payload = [{"width": int(m.shape[1]), "height": int(m.shape[0]), "data": m.astype(np.uint8).ravel().tolist()} for m in masks]
    values = session.page.evaluate("(masks) => masks.map((mask) => window.edgeDigits.normalize(mask))", payload)
    return np.asarray(values, dtype=np.float32).reshape(len(masks), 28, 28)


# Pen strokes of a few digits in a unit box (x right, y down), for drawing on the pad like a user.
STROKES = {
    "0": [[(0.5 + 0.42 * np.sin(t), 0.5 - 0.5 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 25)]],
    "1": [[(0.5, 0.0), (0.5, 1.0)]],
    "2": [[(0.1, 0.25), (0.3, 0.02), (0.7, 0.02), (0.9, 0.25), (0.8, 0.5), (0.1, 1.0), (0.95, 1.0)]],
    "4": [[(0.65, 0.0), (0.05, 0.65), (0.95, 0.65)], [(0.65, 0.05), (0.65, 1.0)]],
    "7": [[(0.05, 0.0), (0.95, 0.0), (0.35, 1.0)]],
}
SLOT = (150, 60, 100, 200)  # pad pixels: slot pitch, left and top of the first digit, digit width, digit height


def draw_digits(page: Any, text: str, first_slot: int = 0, touch: bool = False) -> None:
    """Write `text` (digits of STROKES; a space skips a slot) on the page's pad with the mouse, or with a
    finger on a touch screen (`touch`: DevTools touch events, which the browser turns into pointer events)."""
    box = page.locator("#pad").bounding_box()
    scale = box["width"] / float(page.evaluate("document.getElementById('pad').width"))
    pitch, left, top, width, height = SLOT[0], SLOT[1], SLOT[2] - 40, SLOT[2], SLOT[3]
    devtools = page.context.new_cdp_session(page) if touch else None
    for index, char in enumerate(text, first_slot):
        for stroke in STROKES.get(char, []):
            points = [(box["x"] + scale * (left + pitch * index + width * x), box["y"] + scale * (top + height * y)) for x, y in stroke]
            if devtools is not None:
                touch_stroke(devtools, points)
                continue
            page.mouse.move(*points[0])
            page.mouse.down()
            for point in points[1:]:
                page.mouse.move(*point, steps=4)
            page.mouse.up()


def touch_stroke(devtools: Any, points: list[tuple[float, float]], steps: int = 4) -> None:
    """One finger stroke through `points` (page pixels): touchStart, touchMoves `steps` per segment, touchEnd."""
    path = [points[0]] + [(a[0] + (b[0] - a[0]) * k / steps, a[1] + (b[1] - a[1]) * k / steps)
                          for a, b in zip(points, points[1:]) for k in range(1, steps + 1)]
    devtools.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": path[0][0], "y": path[0][1]}]})
    for x, y in path[1:]:
        devtools.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    devtools.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def fake_camera_file(path: str | os.PathLike, data_path: str | os.PathLike | None = None, seed: int = 5,
                     frames: int = 10, fps: int = 30, images: list[np.ndarray] | None = None) -> tuple[Path, Any]:
    """A .y4m video for Chromium's fake camera, `fps` frames per second (a camera's 30 by default, so a reader
    faster than the camera is not held back): one synthetic 640x480 scene (measure.scenes) shown `frames`
    times, or `images` (BGR, all one size) one after another; -> (path, the scene or None)."""
    import cv2

    scene = None
    if images is None:
        from edge_digits.measure.scenes import make_suite

        scene = make_suite(1, seed=seed, data_path=data_path)[0]
        images = [scene.image] * frames
    height, width = images[0].shape[:2]
    path = Path(path)
    with open(path, "wb") as stream:
        stream.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for image in images:
            stream.write(b"FRAME\n" + cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path, scene
