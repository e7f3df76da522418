"""`edge-digits web`: the static server of the browser page (no browser needed here)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from typing import Any

import pytest

from edge_digits.apps.web import ORT_ENTRY, WEB_DIR, make_server, url_of
from edge_digits.errors import EdgeDigitsError
from tests.conftest import EXPORT_DIR, REPO, run_cli


def require_npm_packages() -> None:
    """Skip (outside CI) or fail (CI) without web/node_modules: the server refuses to start before anything else."""
    if (WEB_DIR / ORT_ENTRY).is_file():
        return
    if os.environ.get("CI"):
        pytest.fail("web/node_modules is missing: .ci/run must run `npm ci --prefix web`")
    pytest.skip("the page's npm packages are missing: npm ci --prefix web")


@pytest.fixture(scope="module")
def server():
    require_npm_packages()
    served = make_server(0)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield url_of(served)
    served.shutdown()
    served.server_close()


def fetch(url: str) -> tuple[int, Any, bytes]:
    """(status, headers (case-insensitive), body) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, b""


def test_serves_page_and_models_with_isolation_headers(server):
    status, headers, body = fetch(server)
    assert status == 200 and b'src="js/app.js"' in body
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    status, headers, body = fetch(server + "models/digits_int8.onnx")
    assert status == 200 and body == (EXPORT_DIR / "digits_int8.onnx").read_bytes()
    status, headers, _ = fetch(server + "node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm")
    assert status == 200 and headers["Content-Type"] == "application/wasm"
    assert fetch(server + "js/reader.js")[1]["Content-Type"].startswith("text/javascript")


def test_serves_nothing_outside_its_directories(server):
    for path in ("models/..%2Fpyproject.toml", "models/", "js/", "../pyproject.toml", "models/nothing.onnx"):
        assert fetch(server + path)[0] == 404, path


def test_missing_npm_packages_name_the_command(tmp_path):
    (tmp_path / "index.html").write_text("<!doctype html>")
    with pytest.raises(EdgeDigitsError, match=r"run `npm ci --prefix .*`"):
        make_server(0, web_dir=tmp_path)


@pytest.mark.parametrize("args, message", [
    (["--port", "70000"], "port must be between 0 and 65535"),
    (["--port", "eighty"], "expected a whole number"),
    (["--model", "no-such-dir"], "--model must be an export directory"),
])
def test_bad_options_are_one_line_errors(args, message):
    if args[0] == "--model":
        require_npm_packages()  # the missing packages are reported first
    result = run_cli("web", *args, timeout=60)
    assert result.returncode != 0
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_port_in_use_is_one_line_error():
    require_npm_packages()  # the missing packages are reported first
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run_cli("web", "--port", str(taken.getsockname()[1]), timeout=60)
    assert result.returncode == 1
    assert "already in use" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_command_prints_the_url_it_serves(server):
    process = subprocess.Popen([sys.executable, "-m", "edge_digits.apps.cli", "web", "--port", "0"], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        url = line.split(" at ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        assert fetch(url)[0] == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
