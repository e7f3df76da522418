"""Signed sets in the front ends and the exporter: the camera keeps the model it verified, the web server serves
only verified bytes, and `edge-digits export` keeps a signature only while the manifest is the same bytes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from conftest import REPO
from signing_support import SAMPLE, flip_byte, owner, signed  # noqa: F401 (owner, signed: fixtures)

from edge_digits.apps.web import make_server, url_of
from edge_digits.build.signer import keep_signature_if_unchanged, sign_set
from edge_digits.errors import EdgeDigitsError
from edge_digits.runtime.classifier import load_classifier
from edge_digits.runtime.second_opinion import SECOND_SET
from edge_digits.runtime.trust import SIGNATURE_NAME, trust_from


def test_the_camera_keeps_the_model_it_verified_when_the_set_is_replaced(signed, owner, tmp_path):
    """The camera builds its reader once, from checked bytes: files overwritten under it change nothing, and the
    next start refuses them (a camera that reloaded models per frame, or lazily, fails here)."""
    frames = tmp_path / "frames"
    frames.mkdir()
    shutil.copyfile(SAMPLE, frames / "page.jpg")
    command = [sys.executable, "-m", "edge_digits.apps.camera", "--headless", "--loop", "--smooth", "1",
               "--source", str(frames), "--max-frames", "12", "--backend", "tflite", "--model", str(signed),
               "--trust", str(owner[1])]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(process.stdout.readline())
        for path in (signed / "digits_fp32.tflite", signed / SECOND_SET / "digits_fp32.tflite"):
            with open(path, "r+b") as handle:  # overwritten in place, as a careless updater would
                handle.write(bytes(len(handle.read())))
        rest = [json.loads(line) for line in process.stdout]
        assert process.wait(timeout=60) == 0, process.stderr.read()
    finally:
        process.kill() if process.poll() is None else None
    assert len(rest) == 11 and {line["raw_text"] for line in rest} == {first["raw_text"]} and first["raw_text"].strip()
    again = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)  # a new start checks again
    assert again.returncode == 1 and again.stdout == "" and "digits_fp32.tflite does not match" in again.stderr


def test_web_serves_only_the_verified_model(signed, owner, tmp_path):
    import threading
    import urllib.error
    import urllib.request

    from edge_digits.apps.web import ORT_ENTRY

    page = tmp_path / "page"
    (page / ORT_ENTRY).parent.mkdir(parents=True)
    (page / ORT_ENTRY).write_text("// stand-in")
    (page / "index.html").write_text("<!doctype html>")
    with pytest.raises(EdgeDigitsError, match="not trusted"):
        make_server(0, model=signed, web_dir=page, trust=trust_from(["project"], environ={}))
    server = make_server(0, model=signed, web_dir=page, trust=trust_from([owner[1]], environ={}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def status(name: str) -> int:
        try:
            with urllib.request.urlopen(url_of(server) + "models/" + name, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    try:
        assert status("digits_int8.onnx") == 200
        flip_byte(signed / "digits_int8.onnx")  # replaced while serving
        shutil.copyfile(signed / "digits_fp32.onnx", signed / "extra.onnx")
        assert status("digits_int8.onnx") == 403 and status("extra.onnx") == 403 and status("none.onnx") == 404
    finally:
        server.shutdown()
        server.server_close()


def test_keep_signature_only_for_the_same_manifest_bytes(signed, tmp_path):
    staged = tmp_path / "staged"
    staged.mkdir()
    shutil.copyfile(signed / "manifest.json", staged / "manifest.json")
    assert keep_signature_if_unchanged(signed, staged) and (staged / SIGNATURE_NAME).read_bytes() == \
        (signed / SIGNATURE_NAME).read_bytes()
    (staged / SIGNATURE_NAME).unlink()
    (staged / "manifest.json").write_bytes((signed / "manifest.json").read_bytes() + b" ")
    assert not keep_signature_if_unchanged(signed, staged) and not (staged / SIGNATURE_NAME).exists()


@pytest.mark.slow
def test_export_keeps_a_valid_signature_and_drops_a_stale_one(tmp_path_factory, tmp_path, mnist_path, owner):
    """A re-export with the same model and options writes the same manifest, so the signature still holds and
    stays; a different export drops it (the new set is unsigned until its owner signs it)."""
    from export_support import copy_of, exported, source_model

    from edge_digits.build.exporter import export

    base = tmp_path_factory.getbasetemp()
    out = copy_of(exported(base, mnist_path), tmp_path / "out")
    sign_set(out, owner[0], 1)
    signature = (out / SIGNATURE_NAME).read_bytes()
    export(source_model(base), out=out, int8=True, fp16=True, data_path=mnist_path, command="pytest")
    assert (out / SIGNATURE_NAME).read_bytes() == signature
    load_classifier(out, trust=trust_from([owner[1]], environ={}))
    export(source_model(base), out=out, data_path=mnist_path, command="pytest")  # fp32 only: new manifest
    assert not (out / SIGNATURE_NAME).exists()
    with pytest.raises(EdgeDigitsError, match="is not signed"):
        load_classifier(out, trust=trust_from([owner[1]], environ={}))
