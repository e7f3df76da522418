"""Signed copies of export/, their owners' keys and the ways tests damage them: shared by test_signing.py,
test_minisign.py and test_signed_apps.py (import the fixtures by name)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import EXPORT_DIR, REPO

from edge_digits.apps.cli import main
from edge_digits.build.signer import read_secret_key, sign_set, write_key_pair
from edge_digits.runtime.manifest import read_manifest
from edge_digits.runtime.second_opinion import SECOND_SET
from edge_digits.runtime.trust import SIGNATURE_NAME

SAMPLE = REPO / "examples" / "sample.jpg"


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

