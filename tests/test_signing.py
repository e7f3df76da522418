"""Signed model sets (docs/security.md): minisign-compatible signatures of manifest.json, checked at load.

The tamper battery damages a signed copy of the shipped export/ one way at a time and expects its own one-line
error and nothing read; the stock `minisign` binary checks our signatures and makes signatures we must accept.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXPORT_DIR, REPO

from edge_digits.apps.cli import main
from edge_digits.apps.web import make_server, url_of
from edge_digits.build.signer import (
    keep_signature_if_unchanged,
    read_secret_key,
    sign_set,
    write_key_pair,
)
from edge_digits.errors import EdgeDigitsError
from edge_digits.runtime.classifier import load_classifier
from edge_digits.runtime.imageio import load_image
from edge_digits.runtime.manifest import read_manifest
from edge_digits.runtime.reader import DigitReader
from edge_digits.runtime.second_opinion import SECOND_SET
from edge_digits.runtime.trust import PROJECT_PUBLIC_KEY, SIGNATURE_NAME, trust_from

SAMPLE = REPO / "examples" / "sample.jpg"
MINISIGN = shutil.which("minisign")


def needs_minisign() -> str:
    if MINISIGN is None:
        if os.environ.get("CI"):
            pytest.fail("the minisign binary is missing: .ci/run must install it")
        pytest.skip("the minisign binary is missing (apt-get install minisign)")
    return MINISIGN


@pytest.fixture(scope="module")
def owner(tmp_path_factory):
    """(secret key, .pub path) of the set's owner; `edge-digits keygen`'s files."""
    secret, public, _ = write_key_pair(tmp_path_factory.mktemp("owner"))
    return read_secret_key(secret), public


@pytest.fixture(scope="module")
def stranger(tmp_path_factory):
    secret, public, _ = write_key_pair(tmp_path_factory.mktemp("stranger"))
    return read_secret_key(secret), public


@pytest.fixture
def signed(tmp_path, owner) -> Path:
    """A copy of the shipped export/ (with its second/ set) signed by `owner` as version 2."""
    target = tmp_path / "set"
    shutil.copytree(EXPORT_DIR, target)
    sign_set(target, owner[0], 2)
    return target


def flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2 if offset is None else offset] ^= 0x01
    path.write_bytes(bytes(data))


def replace_line(path: Path, index: int, change) -> None:
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[index] = change(lines[index])
    path.write_text("\n".join(lines), encoding="utf-8")


def other_base64_char(line: str) -> str:
    middle = len(line) // 2
    return line[:middle] + ("A" if line[middle] != "A" else "B") + line[middle + 1:]


def read_cli(capsys, *args: str) -> tuple[int, str, list[str]]:
    """`edge-digits read examples/sample.jpg ARGS` in this process: (exit code, stdout, stderr lines)."""
    code = main(["read", str(SAMPLE), *args])
    captured = capsys.readouterr()
    return code, captured.out, [line for line in captured.err.splitlines() if line.strip()]


# ------------------------------------------------------------------ the tamper battery


def tamper_artifact(set_dir, owner, stranger, tmp_path):
    flip_byte(set_dir / "digits_fp32.onnx")


def tamper_manifest(set_dir, owner, stranger, tmp_path):
    manifest = set_dir / "manifest.json"
    text = manifest.read_text(encoding="utf-8")
    digest = read_manifest(set_dir)["artifacts"][1]["sha256"]  # an attacker points the manifest at their own file
    manifest.write_text(text.replace(digest, digest[:-1] + ("0" if digest[-1] != "0" else "1")), encoding="utf-8")


def tamper_signature(set_dir, owner, stranger, tmp_path):
    replace_line(set_dir / SIGNATURE_NAME, 1, other_base64_char)


def tamper_trusted_comment(set_dir, owner, stranger, tmp_path):
    replace_line(set_dir / SIGNATURE_NAME, 2, lambda line: line.replace("version=2", "version=9"))


def sign_by_stranger(set_dir, owner, stranger, tmp_path):
    sign_set(set_dir, stranger[0], 2)


def drop_signature(set_dir, owner, stranger, tmp_path):
    (set_dir / SIGNATURE_NAME).unlink()


def garble_signature(set_dir, owner, stranger, tmp_path):
    (set_dir / SIGNATURE_NAME).write_text("signed, honestly\n", encoding="utf-8")


def truncate_key(set_dir, owner, stranger, tmp_path):
    text = owner[1].read_text(encoding="utf-8")
    (tmp_path / "cut.pub").write_text(text[: len(text) - 20], encoding="utf-8")
    return ["--trust", str(tmp_path / "cut.pub")]


def roll_back(set_dir, owner, stranger, tmp_path):
    (tmp_path / "record.json").write_text(json.dumps({"sets": {"digits": 3}}), encoding="utf-8")
    return ["--version-record", str(tmp_path / "record.json")]


def drop_in_model(set_dir, owner, stranger, tmp_path):
    shutil.copyfile(set_dir / "digits_int8.onnx", set_dir / "better.onnx")
    return ["--model", str(set_dir / "better.onnx")]


def tamper_second_model(set_dir, owner, stranger, tmp_path):
    flip_byte(set_dir / SECOND_SET / "digits_fp32.onnx")


def drop_second_signature(set_dir, owner, stranger, tmp_path):
    (set_dir / SECOND_SET / SIGNATURE_NAME).unlink()


def drop_second_manifest(set_dir, owner, stranger, tmp_path):  # without keys, a second model so bare is skipped
    (set_dir / SECOND_SET / "manifest.json").unlink()


BATTERY = [  # (damage, words of its own one-line error)
    (tamper_artifact, "digits_fp32.onnx does not match manifest.json"),
    (tamper_manifest, "manifest.json.minisig does not match"),
    (tamper_signature, "manifest.json.minisig does not match"),
    (tamper_trusted_comment, "trusted comment of"),
    (sign_by_stranger, "which is not trusted"),
    (drop_signature, "is not signed (manifest.json.minisig is missing)"),
    (garble_signature, "is not a minisign signature"),
    (truncate_key, "is not a minisign public key"),
    (roll_back, "refusing a rollback to an older signed set"),
    (drop_in_model, "better.onnx is not listed in its directory's manifest.json"),
    (tamper_second_model, "second/digits_fp32.onnx does not match manifest.json"),
    (drop_second_signature, "second/manifest.json is not signed"),
    (drop_second_manifest, "second has no manifest.json"),
]


@pytest.mark.parametrize("damage, message", BATTERY, ids=[damage.__name__ for damage, _ in BATTERY])
def test_each_tampering_is_refused_with_its_own_line_and_nothing_is_read(signed, owner, stranger, tmp_path, capsys,
                                                                          damage, message):
    code, out, _ = read_cli(capsys, "--model", str(signed), "--trust", str(owner[1]))
    assert code == 0 and out.strip(), "the undamaged signed set must read"
    extra = damage(signed, owner, stranger, tmp_path) or []
    trust = [] if "--trust" in extra else ["--trust", str(owner[1])]
    model = [] if "--model" in extra else ["--model", str(signed)]
    code, out, errors = read_cli(capsys, *model, *trust, *extra)
    assert (code, out) == (1, "")
    assert len(errors) == 1 and errors[0].startswith("edge-digits: error: ") and message in errors[0], errors


@pytest.mark.parametrize("name", [entry["file"] for entry in read_manifest(EXPORT_DIR)["artifacts"]
                                  if entry["file"].endswith((".onnx", ".tflite"))]
                         + [f"{SECOND_SET}/{entry['file']}" for entry in read_manifest(EXPORT_DIR / SECOND_SET)["artifacts"]
                            if entry["file"].endswith((".onnx", ".tflite"))])
def test_one_byte_changed_in_any_runtime_artifact_is_refused(signed, owner, name):
    backend = "onnx" if name.endswith(".onnx") else "tflite"
    trust = trust_from([owner[1]], environ={})
    load_classifier(signed / name, backend=backend, trust=trust)  # loads before the damage
    flip_byte(signed / name)
    with pytest.raises(EdgeDigitsError, match="does not match manifest.json"):
        load_classifier(signed / name, backend=backend, trust=trust)


def test_without_keys_only_integrity_is_checked_as_help_says(signed, capsys):
    tamper_signature(signed, None, None, None)
    code, out, errors = read_cli(capsys, "--model", str(signed))
    assert code == 0 and out.strip() and errors == []  # a bad signature is not looked at without keys
    drop_in_model(signed, None, None, None)  # but a file the manifest does not list is refused even so
    code, out, errors = read_cli(capsys, "--model", str(signed / "better.onnx"))
    assert code == 1 and "not listed" in errors[0] and "--no-verify" in errors[0]
    assert main(["read", str(SAMPLE), "--model", str(signed / "better.onnx"), "--no-verify"]) == 0
    assert "without any key" in " ".join(main_help(capsys, "read").split()).lower()


def main_help(capsys, command: str) -> str:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    return capsys.readouterr().out


def test_no_verify_and_trusted_keys_do_not_mix(signed, owner, capsys):
    code, _, errors = read_cli(capsys, "--model", str(signed), "--trust", str(owner[1]), "--no-verify")
    assert code == 1 and "cannot be turned off" in errors[0] and "--no-verify" in errors[0]


def test_keys_from_the_environment_and_inline(signed, owner, stranger, monkeypatch):
    inline = owner[1].read_text(encoding="utf-8").splitlines()[1]
    monkeypatch.setenv("EDGE_DIGITS_TRUSTED_KEYS", os.pathsep.join([str(stranger[1]), inline]))
    assert DigitReader(signed).second_opinion is not None  # owner's key, given inline, beside another key
    monkeypatch.setenv("EDGE_DIGITS_TRUSTED_KEYS", str(stranger[1]))
    with pytest.raises(EdgeDigitsError, match="not trusted"):
        DigitReader(signed)
    with pytest.raises(EdgeDigitsError, match="not trusted"):  # every loader honours the variable, bench and parity too
        load_classifier(signed)


def test_version_record_accepts_newer_and_equal_and_remembers(signed, owner, tmp_path):
    record = tmp_path / "record.json"
    DigitReader(signed, trusted_keys=[owner[1]], version_record=record)
    assert json.loads(record.read_text())["sets"] == {"digits": 2, "digits/second": 2}
    DigitReader(signed, trusted_keys=[owner[1]], version_record=record)  # the same version again: fine
    sign_set(signed, owner[0], 5)
    DigitReader(signed, trusted_keys=[owner[1]], version_record=record)
    assert json.loads(record.read_text())["sets"] == {"digits": 5, "digits/second": 5}
    sign_set(signed, owner[0], 4)
    with pytest.raises(EdgeDigitsError, match="version 4 of set 'digits', older than version 5"):
        DigitReader(signed, trusted_keys=[owner[1]], version_record=record)
    record.write_text("{not json", encoding="utf-8")
    with pytest.raises(EdgeDigitsError, match="version record .* is unreadable"):
        DigitReader(signed, trusted_keys=[owner[1]], version_record=record)
    with pytest.raises(EdgeDigitsError, match="needs trusted keys"):
        trust_from(None, record, environ={})


def test_the_shipped_sets_verify_with_the_packaged_project_key():
    reader = DigitReader(trusted_keys=["project"])
    assert reader.classifier.path.parent.resolve() == EXPORT_DIR.resolve()
    assert reader.second_opinion is not None
    assert reader.read(load_image(SAMPLE)).text.strip()


def test_readme_and_security_doc_name_the_packaged_project_key():
    key = trust_from(["project"], environ={}).keys[0]
    for document in ("README.md", "docs/security.md"):
        assert key.base64() in (REPO / document).read_text(encoding="utf-8"), document
    assert key.id_text in (REPO / "docs" / "security.md").read_text(encoding="utf-8")


def test_signing_is_deterministic_and_checks_the_set_first(signed, owner):
    first = (signed / SIGNATURE_NAME).read_bytes()
    sign_set(signed, owner[0], 2)
    assert (signed / SIGNATURE_NAME).read_bytes() == first
    flip_byte(signed / "digits_int8.tflite")
    with pytest.raises(EdgeDigitsError, match="digits_int8.tflite does not match"):
        sign_set(signed, owner[0], 3)
    assert (signed / SIGNATURE_NAME).read_bytes() == first  # nothing written for a set that fails its own manifest


# ------------------------------------------------------------------ keys


def test_keygen_writes_a_private_secret_key_and_never_overwrites(tmp_path, capsys):
    assert main(["keygen", "--out", str(tmp_path)]) == 0
    secret = tmp_path / "edge-digits.key"
    assert secret.stat().st_mode & 0o777 == 0o600
    before = secret.read_bytes()
    assert main(["keygen", "--out", str(tmp_path)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert secret.read_bytes() == before
    assert read_secret_key(secret).public == trust_from([tmp_path / "edge-digits.pub"], environ={}).keys[0]


def test_bad_secret_keys_are_one_line_errors(tmp_path, owner, capsys):
    comment, line = owner[0].file_text().splitlines()
    raw = base64.b64decode(line)

    def key_file(content: bytes) -> str:
        return f"{comment}\n{base64.b64encode(content).decode()}\n"

    cases = {
        "missing.key": None,
        "cut.key": f"{comment}\n{line[:40]}\n",
        "locked.key": key_file(raw[:2] + b"Sc" + raw[4:]),  # minisign's scrypt-encrypted kind
        "damaged.key": key_file(raw[:100] + bytes([raw[100] ^ 1]) + raw[101:]),
    }
    messages = {"missing.key": "secret key not found", "cut.key": "is not a minisign secret key",
                "locked.key": "password-protected", "damaged.key": "is damaged"}
    for name, text in cases.items():
        if text is not None:
            (tmp_path / name).write_text(text, encoding="utf-8")
        assert main(["sign", str(tmp_path), "--key", str(tmp_path / name), "--set-version", "1"]) == 1
        errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(errors) == 1 and messages[name] in errors[0], (name, errors)
    assert not (tmp_path / SIGNATURE_NAME).exists()


# ------------------------------------------------------------------ the stock minisign binary


def minisign(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([needs_minisign(), *args], capture_output=True, text=True, timeout=60, cwd=cwd,
                          stdin=subprocess.DEVNULL)


def test_minisign_accepts_the_shipped_signatures():
    for folder, name in ((EXPORT_DIR, "digits"), (EXPORT_DIR / SECOND_SET, "digits/second")):
        result = minisign("-V", "-p", str(PROJECT_PUBLIC_KEY), "-m", str(folder / "manifest.json"))
        assert result.returncode == 0, result.stderr
        assert f"Trusted comment: edge-digits set={name} version=" in result.stdout


@pytest.mark.parametrize("damage", [tamper_manifest, tamper_signature, tamper_trusted_comment, sign_by_stranger])
def test_minisign_rejects_what_we_reject(signed, owner, stranger, tmp_path, damage):
    assert minisign("-V", "-p", str(owner[1]), "-m", str(signed / "manifest.json")).returncode == 0
    damage(signed, owner, stranger, tmp_path)
    result = minisign("-V", "-p", str(owner[1]), "-m", str(signed / "manifest.json"))
    assert result.returncode != 0 and "verified" not in result.stdout


def test_we_accept_signatures_of_the_stock_minisign(tmp_path):
    needs_minisign()
    target = tmp_path / "set"
    shutil.copytree(EXPORT_DIR, target)
    keys = tmp_path / "keys"
    keys.mkdir()
    made = minisign("-G", "-W", "-p", str(keys / "m.pub"), "-s", str(keys / "m.key"))
    assert made.returncode == 0, made.stderr
    for folder, name in ((target, "digits"), (target / SECOND_SET, "digits/second")):
        result = minisign("-S", "-s", str(keys / "m.key"), "-m", str(folder / "manifest.json"),
                          "-t", f"edge-digits set={name} version=7")
        assert result.returncode == 0, result.stderr
    record = tmp_path / "record.json"
    assert DigitReader(target, trusted_keys=[keys / "m.pub"], version_record=record).second_opinion is not None
    assert json.loads(record.read_text())["sets"] == {"digits": 7, "digits/second": 7}
    assert read_secret_key(keys / "m.key").public == trust_from([keys / "m.pub"], environ={}).keys[0]
    tamper_manifest(target, None, None, None)
    with pytest.raises(EdgeDigitsError, match="does not match"):
        DigitReader(target, trusted_keys=[keys / "m.pub"])
    # minisign's default trusted comment (a timestamp) carries no version: fine without a record, refused with one
    for folder in (target, target / SECOND_SET):
        shutil.copyfile(EXPORT_DIR / folder.relative_to(target) / "manifest.json", folder / "manifest.json")
        assert minisign("-S", "-s", str(keys / "m.key"), "-m", str(folder / "manifest.json")).returncode == 0
    DigitReader(target, trusted_keys=[keys / "m.pub"])
    with pytest.raises(EdgeDigitsError, match="names no set version"):
        DigitReader(target, trusted_keys=[keys / "m.pub"], version_record=record)


def test_minisign_signing_with_our_key_writes_the_very_bytes_we_write(signed, owner, tmp_path):
    """Same key, same comments: Ed25519 is deterministic, so byte equality proves the same file format."""
    secret = tmp_path / "owner.key"
    secret.write_text(owner[0].file_text(), encoding="utf-8")
    out = tmp_path / "theirs.minisig"
    result = minisign("-S", "-s", str(secret), "-m", str(signed / "manifest.json"), "-x", str(out),
                      "-c", "signature from edge-digits secret key", "-t", "edge-digits set=digits version=2")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == (signed / SIGNATURE_NAME).read_bytes()


# ------------------------------------------------------------------ camera, web, export


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
    from export_support import copy_of, exported, tiny_model

    from edge_digits.build.exporter import export

    base = tmp_path_factory.getbasetemp()
    out = copy_of(exported(base, mnist_path), tmp_path / "out")
    sign_set(out, owner[0], 1)
    signature = (out / SIGNATURE_NAME).read_bytes()
    export(tiny_model(base, mnist_path), out=out, int8=True, fp16=True, data_path=mnist_path, command="pytest")
    assert (out / SIGNATURE_NAME).read_bytes() == signature
    load_classifier(out, trust=trust_from([owner[1]], environ={}))
    export(tiny_model(base, mnist_path), out=out, data_path=mnist_path, command="pytest")  # fp32 only: new manifest
    assert not (out / SIGNATURE_NAME).exists()
    with pytest.raises(EdgeDigitsError, match="is not signed"):
        load_classifier(out, trust=trust_from([owner[1]], environ={}))
