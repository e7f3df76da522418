"""The stock `minisign` binary and our files, both ways: it accepts our signatures and rejects what we reject,
signs with our secret key byte for byte as we do, and makes signatures the runtime accepts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import EXPORT_DIR
from signing_support import (  # noqa: F401 (owner, signed, stranger: fixtures)
    owner,
    sign_by_stranger,
    signed,
    stranger,
    tamper_manifest,
    tamper_signature,
    tamper_trusted_comment,
)

from edge_digits.build.signer import read_secret_key
from edge_digits.errors import EdgeDigitsError
from edge_digits.runtime.reader import DigitReader
from edge_digits.runtime.second_opinion import SECOND_SET
from edge_digits.runtime.trust import PROJECT_PUBLIC_KEY, SIGNATURE_NAME, trust_from

MINISIGN = shutil.which("minisign")


def needs_minisign() -> str:
    if MINISIGN is None:
        if os.environ.get("CI"):
            pytest.fail("the minisign binary is missing: .ci/run must install it")
        pytest.skip("the minisign binary is missing (apt-get install minisign)")
    return MINISIGN



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
