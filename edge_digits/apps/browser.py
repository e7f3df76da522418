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
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import numpy as np

from edge_digits.apps.web import HOST, ORT_ENTRY, WEB_DIR, make_server, url_of

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


@contextmanager
def open_page(query: str = "", camera: bool = False, model: str | os.PathLike | None = None,
              viewport: tuple[int, int] = (760, 640)) -> Iterator[Session]:
    """Serve the page, open it in headless Chromium (with a fake camera when `camera`), wait until the model is ready."""
    from playwright.sync_api import sync_playwright

    server = make_server(0, model)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                                 args=FLAGS + (FAKE_CAMERA if camera else []))
            try:
                page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
                session = Session(page, url_of(server) + query)
                page.on("request", lambda request: session.requests.append(request.url))
                page.on("console", lambda message: session.errors.append(message.text) if message.type == "error" else None)
                page.on("pageerror", lambda error: session.errors.append(str(error)))
                page.goto(session.url)
                page.evaluate("window.edgeDigits.ready")
                yield session
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()


def to_rgba(image: np.ndarray) -> np.ndarray:
    """A gray (H, W) or BGR (H, W, 3) uint8 image as the RGBA bytes of an ImageData."""
    image = np.asarray(image, dtype=np.uint8)
    rgb = np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image[:, :, ::-1]
    return np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)


def _packed(image: np.ndarray) -> dict[str, Any]:
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


DECODE = """const decode = ({width, height, data}) => {
  const bytes = Uint8ClampedArray.from(atob(data), (c) => c.charCodeAt(0));
  return new ImageData(bytes, width, height);
};"""


def read_images(session: Session, images: list[np.ndarray]) -> list[dict[str, Any]]:
    """The page's readings ({text, digits}) of gray or BGR uint8 images, sent in few evaluate calls."""
    readings: list[dict[str, Any]] = []
    for batch in _batches(list(images)):
        readings += session.page.evaluate(f"""async (images) => {{ {DECODE}
            const out = [];
            for (const image of images) out.push(await window.edgeDigits.read(decode(image)));
            return out; }}""", [_packed(image) for image in batch])
    return readings


def time_reads(session: Session, images: list[np.ndarray], warmup: int = 10) -> list[float]:
    """Milliseconds the page takes to read each image (decoding excluded), after `warmup` untimed reads."""
    times: list[float] = []
    for index, batch in enumerate(_batches(list(images))):
        times += session.page.evaluate(f"""async ([images, warmup]) => {{ {DECODE}
            const frames = images.map(decode);
            for (let i = 0; i < Math.min(warmup, frames.length); i++) await window.edgeDigits.read(frames[i]);
            const out = [];
            for (const frame of frames) {{
              const start = performance.now();
              await window.edgeDigits.read(frame);
              out.push(performance.now() - start);
            }}
            return out; }}""", [[_packed(image) for image in batch], warmup if index == 0 else 0])
    return times


def normalize_masks(session: Session, masks: list[np.ndarray]) -> np.ndarray:
    """The page's normalization of ink masks (uint8, ink > 0) -> (N, 28, 28) float32."""
    payload = [{"width": int(m.shape[1]), "height": int(m.shape[0]), "data": m.astype(np.uint8).ravel().tolist()} for m in masks]
    values = session.page.evaluate("(masks) => masks.map((mask) => window.edgeDigits.normalize(mask))", payload)
    return np.asarray(values, dtype=np.float32).reshape(len(masks), 28, 28)
