"""The owner's side of signed model sets: make a minisign key pair, sign an export set's manifest.json.

Secret keys are minisign's unencrypted format (what `minisign -G -W` writes): Ed25519 seed and public key in
base64 behind a comment line, file mode 0600, never overwritten. minisign's password-protected keys (scrypt,
1 GiB of memory to open) are not read here; sign with the stock `minisign -S` for those (docs/security.md).
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_digits.errors import EdgeDigitsError
from edge_digits.files import atomic_outputs
from edge_digits.runtime.manifest import MANIFEST_NAME, parse_manifest, verify_artifact
from edge_digits.runtime.minisign import (
    KEY_ALGORITHM,
    KEY_ID_BYTES,
    PREHASHED,
    UNTRUSTED_PREFIX,
    PublicKey,
    Signature,
    decode_line,
    global_message,
    signed_message,
    verify_signature,
)
from edge_digits.runtime.second_opinion import SECOND_SET
from edge_digits.runtime.trust import SIGNATURE_NAME, set_comment

SECRET_KEY_NAME, PUBLIC_KEY_NAME = "edge-digits.key", "edge-digits.pub"
NO_KDF, CHECKSUM_ALGORITHM = b"\0\0", b"B2"  # unencrypted; BLAKE2b-256 checksum of algorithm + key id + secret key
SECRET_KEY_BYTES = 2 + 2 + 2 + 32 + 8 + 8 + KEY_ID_BYTES + 64 + 32  # minisign's SeckeyStruct: 158 bytes
DEFAULT_SET_NAME = "digits"


@dataclass(frozen=True)
class SecretKey:
    """An Ed25519 key pair with minisign's key id."""

    key_id: bytes
    seed: bytes  # the 32-byte Ed25519 private key; libsodium's 64-byte secret key is seed + public key

    @property
    def public(self) -> PublicKey:
        raw = Ed25519PrivateKey.from_private_bytes(self.seed).public_key().public_bytes_raw()
        return PublicKey(self.key_id, raw)

    def file_text(self) -> str:
        secret = self.seed + self.public.key
        checksum = hashlib.blake2b(KEY_ALGORITHM + self.key_id + secret, digest_size=32).digest()
        raw = KEY_ALGORITHM + NO_KDF + CHECKSUM_ALGORITHM + bytes(32 + 8 + 8) + self.key_id + secret + checksum
        return f"{UNTRUSTED_PREFIX}minisign unencrypted secret key\n{base64.b64encode(raw).decode('ascii')}\n"

    def sign(self, data: bytes, trusted_comment: str) -> Signature:
        """A prehashed minisign signature of `data`; deterministic (Ed25519), so signing again gives the same bytes."""
        if "\n" in trusted_comment or "\r" in trusted_comment:
            raise ValueError("a trusted comment is one line")
        private = Ed25519PrivateKey.from_private_bytes(self.seed)
        signature = private.sign(signed_message(data, PREHASHED))
        return Signature(PREHASHED, self.key_id, signature, trusted_comment,
                         private.sign(global_message(signature, trusted_comment)))


def generate_key() -> SecretKey:
    """A fresh key pair with a random key id, as `minisign -G` makes."""
    seed = Ed25519PrivateKey.generate().private_bytes_raw()
    return SecretKey(os.urandom(KEY_ID_BYTES), seed)


def read_secret_key(path: str | os.PathLike) -> SecretKey:
    """An unencrypted minisign secret key file; other files are one-line errors that say what they are."""
    path = Path(path)
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except FileNotFoundError:
        raise EdgeDigitsError(f"secret key not found: {path}; make a key pair with `edge-digits keygen`") from None
    except (OSError, UnicodeDecodeError) as error:
        raise EdgeDigitsError(f"cannot read secret key {path}: {error}") from None
    if len(lines) != 2 or not lines[0].startswith(UNTRUSTED_PREFIX):
        raise EdgeDigitsError(f"{path} is not a minisign secret key: expected a comment line and a key line")
    raw = decode_line(lines[1], SECRET_KEY_BYTES, str(path), "secret key")
    if raw[:2] != KEY_ALGORITHM or raw[4:6] != CHECKSUM_ALGORITHM:
        raise EdgeDigitsError(f"{path} is not an Ed25519 minisign secret key")
    if raw[2:4] != NO_KDF:
        raise EdgeDigitsError(f"{path} is password-protected (scrypt); sign with `minisign -S -s {path}` instead, "
                              "or make an unencrypted key with `edge-digits keygen` (docs/security.md)")
    key_id, secret, checksum = raw[54:62], raw[62:126], raw[126:158]
    key = SecretKey(key_id, secret[:32])
    # minisign -W leaves the checksum zero; ours is checked, and the key must match its own public half either way
    expected = hashlib.blake2b(KEY_ALGORITHM + key_id + secret, digest_size=32).digest()
    if (any(checksum) and checksum != expected) or key.public.key != secret[32:]:
        raise EdgeDigitsError(f"{path} is damaged: its checksum or public half does not match its secret key")
    return key


def write_key_pair(directory: str | os.PathLike) -> tuple[Path, Path, PublicKey]:
    """DIRECTORY/edge-digits.key (mode 0600) and DIRECTORY/edge-digits.pub; refuses to replace either."""
    directory = Path(directory)
    secret_path, public_path = directory / SECRET_KEY_NAME, directory / PUBLIC_KEY_NAME
    for path in (secret_path, public_path):
        if path.exists():
            raise EdgeDigitsError(f"{path} already exists; keys are never overwritten: move it away first")
    directory.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    try:
        descriptor = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # 0600 from the first byte
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(key.file_text())
        descriptor = os.open(public_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(key.public.file_text())
    except BaseException as error:
        for path in (secret_path, public_path):  # no half key pair left behind
            path.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise EdgeDigitsError(f"cannot write the key pair into {directory}: {error.strerror or error}") from None
        raise
    return secret_path, public_path, key.public


def sign_set(directory: str | os.PathLike, key: SecretKey, version: int, name: str = DEFAULT_SET_NAME) -> list[Path]:
    """Sign DIRECTORY/manifest.json (and its second/ set's, as NAME/second) after checking every listed file
    against it; writes manifest.json.minisig beside each manifest and returns their paths."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise EdgeDigitsError(f"--set-version must be a whole number >= 1, got {version!r}")
    if not name or any(character.isspace() for character in name):
        raise EdgeDigitsError(f"a set name is one word without spaces, got {name!r}")
    directory = Path(directory)
    sets = [(directory, name)]
    if (directory / SECOND_SET / MANIFEST_NAME).is_file():
        sets.append((directory / SECOND_SET, f"{name}/{SECOND_SET}"))
    signatures = []
    for folder, set_name in sets:  # check everything before writing anything
        if not (folder / MANIFEST_NAME).is_file():
            raise EdgeDigitsError(f"{folder} has no {MANIFEST_NAME}; sign an export directory")
        data = (folder / MANIFEST_NAME).read_bytes()  # checked, then signed: the same bytes
        manifest = parse_manifest(data, folder / MANIFEST_NAME)
        for entry in manifest["artifacts"]:
            path = folder / str(entry.get("file"))
            if not path.is_file():
                raise EdgeDigitsError(f"{path}, listed in {folder / MANIFEST_NAME}, is missing; re-export before signing")
            verify_artifact(path, manifest)
        signature = key.sign(data, set_comment(set_name, version))
        verify_signature(data, signature, key.public, MANIFEST_NAME, SIGNATURE_NAME)  # as minisign -S does with -p
        signatures.append((folder / SIGNATURE_NAME, signature.file_text()))
    with atomic_outputs([path for path, _ in signatures]) as temporaries:
        for temporary, (_, text) in zip(temporaries, signatures):
            temporary.write_text(text, encoding="utf-8")
    return [path for path, _ in signatures]


def keep_signature_if_unchanged(previous: Path, staged: Path) -> bool:
    """Carry `previous`'s signature into a new export staged in `staged` when the new manifest.json is byte for byte
    the old one (the signature still holds); otherwise the new set is unsigned until its owner signs it."""
    old_manifest, old_signature = previous / MANIFEST_NAME, previous / SIGNATURE_NAME
    if not (old_manifest.is_file() and old_signature.is_file()):
        return False
    if old_manifest.read_bytes() != (staged / MANIFEST_NAME).read_bytes():
        return False
    shutil.copy2(old_signature, staged / SIGNATURE_NAME)
    return True
