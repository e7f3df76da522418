"""`edge-digits web`: serve the browser page (web/) and the exported models on 127.0.0.1.

The page reads digits itself with onnxruntime-web; this server only hands out static files, with
the cross-origin isolation headers (COOP/COEP) that let WebAssembly use threads. Standard library only.
Models are served only as verified bytes: the set's manifest (signed, with trusted keys) is checked at
start, and each model file against that manifest when it is served, so a set replaced meanwhile is refused.
"""

from __future__ import annotations

import argparse
import errno
import io
import os
import sys
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from edge_digits.errors import EdgeDigitsError
from edge_digits.runtime.classifier import default_export_dir
from edge_digits.runtime.manifest import verify_artifact
from edge_digits.runtime.trust import Trust, checked_manifest, trust_from

HOST = "127.0.0.1"
WEB_DIR = Path(__file__).resolve().parents[2] / "web"
MODELS_PREFIX = "/models/"
PAGE_MODEL = "digits_int8.onnx"  # what the page loads (models/digits_int8.onnx)
ORT_ENTRY = Path("node_modules") / "onnxruntime-web" / "dist" / "ort.wasm.min.mjs"
HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",  # with COEP: crossOriginIsolated, so WebAssembly threads
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


class PageHandler(SimpleHTTPRequestHandler):
    """Static files from the page directory, /models/* from the export directory; no directory listings."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript",
                      ".js": "text/javascript", ".wasm": "application/wasm", ".onnx": "application/octet-stream",
                      ".webmanifest": "application/manifest+json"}

    def __init__(self, *args, web_dir: Path, model_dir: Path, manifest: dict | None, **kwargs):
        self.model_dir, self.manifest = model_dir, manifest
        super().__init__(*args, directory=str(web_dir), **kwargs)

    def send_head(self):  # type: ignore[override]
        route = unquote(urlsplit(self.path).path)
        if not route.startswith(MODELS_PREFIX):
            return super().send_head()
        name = route[len(MODELS_PREFIX):]
        path = self.model_dir / name
        # only plain file names of the export directory: no sub-paths, no way out of it
        if not name or "/" in name or name in (".", "..") or not path.is_file():
            self.send_error(404, "File not found")
            return None
        content = path.read_bytes()  # checked and served from this one read
        try:
            verify_artifact(path, self.manifest, content)  # no manifest (a plain folder of models): served as is
        except EdgeDigitsError:
            self.send_error(403, "not a file of the verified model set")
            return None
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        return io.BytesIO(content)

    def list_directory(self, path):  # type: ignore[override]
        self.send_error(404, "no directory listings")
        return None

    def end_headers(self) -> None:
        for name, value in HEADERS.items():
            self.send_header(name, value)
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # quiet: the page is served locally to one user
        pass


class PageServer(ThreadingHTTPServer):
    """A threading server on which a browser may drop a connection (a closed tab, a service worker's
    cancelled refresh) without a traceback on stderr; other errors are reported as usual."""

    def handle_error(self, request, client_address) -> None:  # type: ignore[override]
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def check_web_dir(web_dir: Path) -> None:
    """The page and its npm packages exist; else one line naming the command that installs them."""
    if not (web_dir / "index.html").is_file():
        raise EdgeDigitsError(f"the web page is missing: {web_dir / 'index.html'} not found")
    if not (web_dir / ORT_ENTRY).is_file():
        raise EdgeDigitsError(f"the page's npm packages are missing; run `npm ci --prefix {os.path.relpath(web_dir)}`")


def check_model_dir(model: str | os.PathLike | None, trust: Trust | None = None) -> tuple[Path, dict | None]:
    """The export directory to serve (default: the shipped export/) and its manifest, checked as the reader checks
    a set (signed by a trusted key when `trust`, default $EDGE_DIGITS_TRUSTED_KEYS's, has keys); it must hold the
    page's model, which must match."""
    directory = default_export_dir() if model is None else Path(model)
    if not directory.is_dir():
        raise EdgeDigitsError(f"--model must be an export directory, got {directory}")
    if not (directory / PAGE_MODEL).is_file():
        raise EdgeDigitsError(f"no {PAGE_MODEL} in {directory}; run `edge-digits export --int8 --out {directory}`")
    manifest = checked_manifest(directory, trust)
    verify_artifact(directory / PAGE_MODEL, manifest)
    return directory, manifest


def make_server(port: int = 8000, model: str | os.PathLike | None = None, web_dir: Path = WEB_DIR,
                trust: Trust | None = None) -> ThreadingHTTPServer:
    """A server (not yet serving) for the page and the models on HOST:port; port 0 picks a free one."""
    if not 0 <= port <= 65535:
        raise EdgeDigitsError(f"port must be between 0 and 65535, got {port}")
    check_web_dir(web_dir)
    model_dir, manifest = check_model_dir(model, trust)
    handler = partial(PageHandler, web_dir=web_dir, model_dir=model_dir, manifest=manifest)
    try:
        server = PageServer((HOST, port), handler)
    except OSError as error:
        reason = "already in use" if error.errno == errno.EADDRINUSE else (error.strerror or str(error))
        raise EdgeDigitsError(f"cannot serve on {HOST}:{port}: {reason}") from None
    server.daemon_threads = True
    return server


def url_of(server: ThreadingHTTPServer) -> str:
    """The page's address on `server`."""
    return f"http://{HOST}:{server.server_address[1]}/"


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; the URL is printed first (flushed, so scripts can read it). With --build,
    write the static site instead (apps/site.py)."""
    if getattr(args, "build", None):
        from edge_digits.apps.site import run_build

        return run_build(args)
    server = make_server(args.port, args.model, trust=trust_from(args.trust, args.version_record))
    print(f"serving the edge-digits page at {url_of(server)} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0
