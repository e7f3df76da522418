"""minisign's public key and signature files, read, written and checked with `cryptography`'s Ed25519.

A signature file is four lines: an untrusted comment; base64("ED", the key id, the Ed25519 signature of the
file's BLAKE2b-512 digest); a trusted comment; base64(the Ed25519 signature of that signature followed by the
trusted comment's bytes), so the trusted comment cannot be changed either. Files written here pass the stock
`minisign -V`, and files minisign writes are read here (tests/test_minisign.py runs both ways).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge_digits.errors import EdgeDigitsError

UNTRUSTED_PREFIX = "untrusted comment: "
TRUSTED_PREFIX = "trusted comment: "
SIGNATURE_SUFFIX = ".minisig"  # minisign's default: FILE's signature is FILE.minisig
KEY_ALGORITHM = b"Ed"  # Ed25519 keys; also the legacy signature algorithm over the whole file (minisign -l)
PREHASHED = b"ED"  # signature over the file's BLAKE2b-512: what minisign writes by default since 0.8, and we write
KEY_ID_BYTES, PUBLIC_KEY_BYTES, SIGNATURE_BYTES = 8, 32, 64


def key_id_text(key_id: bytes) -> str:
    """A key id as minisign prints it: 16 hex digits of the little-endian number."""
    return f"{int.from_bytes(key_id, 'little'):016X}"


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key with minisign's 8-byte key id (which names the key in every signature it makes)."""

    key_id: bytes
    key: bytes

    @property
    def id_text(self) -> str:
        return key_id_text(self.key_id)

    def base64(self) -> str:
        """The one-line form `minisign -P` takes."""
        return base64.b64encode(KEY_ALGORITHM + self.key_id + self.key).decode("ascii")

    def file_text(self) -> str:
        """The .pub file minisign writes and `minisign -V -p` reads."""
        return f"{UNTRUSTED_PREFIX}minisign public key {self.id_text}\n{self.base64()}\n"


@dataclass(frozen=True)
class Signature:
    """A parsed .minisig file."""

    algorithm: bytes
    key_id: bytes
    signature: bytes
    trusted_comment: str
    global_signature: bytes
    untrusted_comment: str = "signature from edge-digits secret key"

    @property
    def key_id_text(self) -> str:
        return key_id_text(self.key_id)

    def file_text(self) -> str:
        """The four lines minisign writes, in the same byte layout."""
        line = base64.b64encode(self.algorithm + self.key_id + self.signature).decode("ascii")
        return (f"{UNTRUSTED_PREFIX}{self.untrusted_comment}\n{line}\n"
                f"{TRUSTED_PREFIX}{self.trusted_comment}\n{base64.b64encode(self.global_signature).decode('ascii')}\n")


def decode_line(line: str, size: int, source: str, what: str) -> bytes:
    """Strict base64 of exactly `size` bytes; anything else is a one-line error naming `source`."""
    try:
        raw = base64.b64decode(line.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size:
        raise EdgeDigitsError(f"{source} is not a minisign {what}: a line is not {size} bytes of base64 "
                              "(truncated or damaged?)")
    return raw


def parse_public_key(text: str, source: str) -> PublicKey:
    """A .pub file's text (comment line + key line) or the key line alone, as `minisign -P` takes it."""
    lines = [line for line in text.replace("\r", "").split("\n") if line.strip()]
    if len(lines) == 2 and lines[0].startswith(UNTRUSTED_PREFIX):
        line = lines[1]
    elif len(lines) == 1 and not lines[0].startswith(UNTRUSTED_PREFIX):
        line = lines[0]
    else:
        raise EdgeDigitsError(f"{source} is not a minisign public key: expected a comment line and a key line")
    raw = decode_line(line, 2 + KEY_ID_BYTES + PUBLIC_KEY_BYTES, source, "public key")
    if raw[:2] != KEY_ALGORITHM:
        raise EdgeDigitsError(f"{source} is not an Ed25519 minisign public key (algorithm {raw[:2]!r})")
    return PublicKey(raw[2:2 + KEY_ID_BYTES], raw[2 + KEY_ID_BYTES:])


def parse_signature(text: str, source: str) -> Signature:
    """A .minisig file's text; a file that is not one raises a one-line error naming `source`."""
    lines = text.replace("\r", "").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) != 4 or not lines[0].startswith(UNTRUSTED_PREFIX) or not lines[2].startswith(TRUSTED_PREFIX):
        raise EdgeDigitsError(f"{source} is not a minisign signature: expected 4 lines (untrusted comment, signature, "
                              "trusted comment, comment signature)")
    raw = decode_line(lines[1], 2 + KEY_ID_BYTES + SIGNATURE_BYTES, source, "signature")
    if raw[:2] not in (PREHASHED, KEY_ALGORITHM):
        raise EdgeDigitsError(f"{source} uses signature algorithm {raw[:2]!r}, which minisign does not define")
    return Signature(raw[:2], raw[2:2 + KEY_ID_BYTES], raw[2 + KEY_ID_BYTES:], lines[2][len(TRUSTED_PREFIX):],
                     decode_line(lines[3], SIGNATURE_BYTES, source, "signature"), lines[0][len(UNTRUSTED_PREFIX):])


def signed_message(data: bytes, algorithm: bytes) -> bytes:
    """What the Ed25519 signature covers: the BLAKE2b-512 digest of the data (prehashed) or the data itself."""
    return hashlib.blake2b(data, digest_size=64).digest() if algorithm == PREHASHED else data


def global_message(signature: bytes, trusted_comment: str) -> bytes:
    """What the second (global) signature covers: the first signature, then the trusted comment."""
    return signature + trusted_comment.encode("utf-8")


def verify_signature(data: bytes, signature: Signature, key: PublicKey, data_name: str, signature_name: str) -> None:
    """Raise a one-line EdgeDigitsError unless `signature` is `key`'s signature of `data` and its trusted comment."""
    if signature.key_id != key.key_id:
        raise EdgeDigitsError(f"{signature_name} was made by key {signature.key_id_text}, not by key {key.id_text}")
    verifier = Ed25519PublicKey.from_public_bytes(key.key)
    try:
        verifier.verify(signature.signature, signed_message(data, signature.algorithm))
    except InvalidSignature:
        raise EdgeDigitsError(f"{signature_name} does not match {data_name}: {data_name} was changed after it was "
                              "signed, or the signature was damaged") from None
    try:
        verifier.verify(signature.global_signature, global_message(signature.signature, signature.trusted_comment))
    except InvalidSignature:
        raise EdgeDigitsError(f"the trusted comment of {signature_name} was changed after signing "
                              "(its comment signature does not verify)") from None
