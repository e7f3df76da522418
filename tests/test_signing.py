"""Signed model sets (docs/security.md): minisign-compatible signatures of manifest.json, checked at load.

The tamper battery damages a signed copy of the shipped export/ one way at a time and expects its own one-line
error and nothing read; then the version record, the project key, signing and key files.
"""

from __future__ import annotations

import base64
import json
import os

import pytest
from conftest import EXPORT_DIR, REPO
from signing_support import (  # noqa: F401 (owner, signed, stranger: fixtures)
    SAMPLE,
    drop_in_model,
    drop_second_manifest,
    drop_second_signature,
    drop_signature,
    flip_byte,
    garble_signature,
    owner,
    read_cli,
    roll_back,
    sign_by_stranger,
    signed,
    stranger,
    tamper_artifact,
    tamper_manifest,
    tamper_second_model,
    tamper_signature,
    tamper_trusted_comment,
    truncate_key,
)

from edge_digits.apps.cli import main
from edge_digits.build.signer import read_secret_key, sign_set
from edge_digits.errors import EdgeDigitsError
from edge_digits.runtime.classifier import load_classifier
from edge_digits.runtime.imageio import load_image
from edge_digits.runtime.manifest import read_manifest
from edge_digits.runtime.reader import DigitReader
from edge_digits.runtime.second_opinion import SECOND_SET
from edge_digits.runtime.trust import SIGNATURE_NAME, trust_from


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
