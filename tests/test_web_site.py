"""The page as an installable app and as one static folder: `edge-digits web --build DIR` served by a plain
static file server reads as `edge-digits web` does, installs (manifest, icons, service worker), and reads
the same with the network off and the server gone. Browser tests skip or fail as tests/test_web.py's do."""

from __future__ import annotations

import hashlib
import json
import numpy as np
import pytest

from edge_digits.apps import browser
from edge_digits.apps.site import CHECKSUMS, FILE_LIST, build_site, site_files
from edge_digits.apps.web import WEB_DIR
from edge_digits.errors import EdgeDigitsError
from tests.conftest import EXPORT_DIR, run_cli
from tests.test_web import require_browser
from tests.test_web_server import require_npm_packages

SCENES = 8
DIGITS = 40


@pytest.fixture(scope="module")
def images(mnist, mnist_path):
    from edge_digits.measure.scenes import make_suite

    return [scene.image for scene in make_suite(SCENES, seed=4, data_path=mnist_path)] + [255 - d for d in mnist.x_test[:DIGITS]]


def test_built_site_reads_as_the_served_page_and_offline(tmp_path, images):
    """Build, serve with a plain static server (no COOP/COEP), read; read again after going offline with the
    server shut down (the service worker's copy); both equal the readings of `edge-digits web`."""
    require_browser()
    with browser.launch() as served:
        session = served.open()
        expected = browser.read_images(session, images)
        assert session.page.evaluate("window.edgeDigits.offline") is True  # a service worker is active on the dev server too
    site = tmp_path / "site"
    checksums = build_site(site)
    with browser.launch(site=site) as plain:
        session = plain.open()
        page = session.page
        assert page.evaluate("window.edgeDigits.offline") is True
        assert page.evaluate("!!navigator.serviceWorker.controller")
        assert page.evaluate("crossOriginIsolated") is False  # no special headers: one WebAssembly thread
        assert browser.read_images(session, images) == expected
        errors = page.context.new_cdp_session(page).send("Page.getInstallabilityErrors")["installabilityErrors"]
        assert [error["errorId"] for error in errors] in ([], ["in-incognito"])  # manifest, icons, worker: nothing missing
        page.context.set_offline(True)
        plain.server.shutdown()
        page.reload()
        page.evaluate("window.edgeDigits.ready")
        assert browser.read_images(session, images) == expected
        assert session.errors == []
        assert session.foreign_requests() == []
        requested = {request.split("/", 3)[3].split("?")[0] for request in session.requests}
        assert requested - {""} <= set(checksums["files"]), "the page loads a file the site and the offline copy lack"


def test_site_holds_every_listed_file_with_its_checksum(tmp_path):
    require_npm_packages()
    site = tmp_path / "site"
    checksums = build_site(site)
    assert json.loads((site / CHECKSUMS).read_text()) == checksums
    assert set(checksums["files"]) == set(site_files())
    for name, entry in checksums["files"].items():
        data = (site / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"], name
    assert (site / "models" / "digits_int8.onnx").read_bytes() == (EXPORT_DIR / "digits_int8.onnx").read_bytes()
    listed = json.loads((WEB_DIR / FILE_LIST).read_text())["files"]
    modules = {f"js/{path.name}" for path in (WEB_DIR / "js").glob("*.js")}
    assert modules <= set(listed), "a module of web/js is missing from web/offline.json"


def test_rebuild_replaces_the_site_and_keeps_the_hosts_files(tmp_path):
    require_npm_packages()
    site = tmp_path / "site"
    build_site(site)
    (site / "CNAME").write_text("digits.example\n")
    (site / "js" / "stale.js").write_text("// from an older build")
    build_site(site)
    assert (site / "CNAME").read_text() == "digits.example\n"
    assert not (site / "js" / "stale.js").exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["site"]  # no staging leftovers


def test_failed_build_leaves_the_old_site_untouched(tmp_path, monkeypatch):
    require_npm_packages()
    import shutil

    site = tmp_path / "site"
    build_site(site)
    before = {path: path.read_bytes() for path in site.rglob("*") if path.is_file()}
    copied = []

    def failing_copy(source, target):
        if len(copied) == 5:
            raise OSError(28, "No space left on device")
        copied.append(target)
        return real_copy(source, target)

    real_copy = shutil.copyfile
    monkeypatch.setattr(shutil, "copyfile", failing_copy)
    with pytest.raises(EdgeDigitsError, match="No space left on device.* is unchanged"):
        build_site(site)
    assert {path: path.read_bytes() for path in site.rglob("*") if path.is_file()} == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["site"]
    monkeypatch.undo()
    with pytest.raises(EdgeDigitsError, match="no digits_int8.onnx"):
        build_site(site, model=tmp_path)
    assert {path: path.read_bytes() for path in site.rglob("*") if path.is_file()} == before


def test_build_onto_a_file_is_a_one_line_error(tmp_path):
    target = tmp_path / "taken"
    target.write_text("not a directory")
    result = run_cli("web", "--build", str(target), timeout=60)
    assert result.returncode == 1
    assert "--build must name a directory" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert target.read_text() == "not a directory"


def test_build_command_writes_the_site(tmp_path):
    require_npm_packages()
    result = run_cli("web", "--build", str(tmp_path / "site"), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "checksums.json" in result.stdout
    assert np.all([(tmp_path / "site" / name).is_file() for name in site_files()])
