"""Which model sets a device accepts: sets whose manifest.json carries a minisign signature by a trusted key,
and, with a version record, none older than the newest it already accepted (rollback). docs/security.md.

Without trusted keys nothing here runs: the runtime checks sha256 against manifest.json only (integrity).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from edge_digits.errors import EdgeDigitsError
from edge_digits.files import write_json_atomic
from edge_digits.runtime.manifest import MANIFEST_NAME, parse_manifest, read_manifest
from edge_digits.runtime.minisign import SIGNATURE_SUFFIX, PublicKey, parse_public_key, parse_signature, verify_signature

TRUSTED_KEYS_VARIABLE = "EDGE_DIGITS_TRUSTED_KEYS"  # os.pathsep-separated .pub paths, inline keys or "project"
VERSION_RECORD_VARIABLE = "EDGE_DIGITS_VERSION_RECORD"  # a JSON file: the newest version of each set accepted
SIGNATURE_NAME = MANIFEST_NAME + SIGNATURE_SUFFIX  # manifest.json.minisig, where `minisign -V -m manifest.json` looks
PROJECT_KEY = "project"  # names the key that signs the shipped export/, whose public half the package carries
PROJECT_PUBLIC_KEY = Path(__file__).resolve().parent.parent / "keys" / "edge-digits.pub"
INLINE_KEY = re.compile(r"RW[A-Za-z0-9+/]{54}")  # base64 of "Ed" + 8-byte id + 32-byte key: a .pub file's key line
SET_FIELD, VERSION_FIELD = re.compile(r"(?:^|\s)set=(\S+)"), re.compile(r"(?:^|\s)version=(\d+)(?:\s|$)")
NO_VERIFY_WITH_KEYS = ("verification cannot be turned off (--no-verify, verify=False) while trusted keys are configured "
                       f"(--trust, trusted_keys= or ${TRUSTED_KEYS_VARIABLE}): unset them to load a model unverified")


@dataclass(frozen=True)
class Trust:
    """The keys model sets are accepted from (none: sha256 integrity only), and the file that remembers the
    newest signed version of each set accepted (None: rollback to an older signed set is not detected)."""

    keys: tuple[PublicKey, ...] = ()
    version_record: Path | None = None


def set_comment(name: str, version: int) -> str:
    """The trusted comment `edge-digits sign` writes: which set, which version; nothing else (deterministic)."""
    return f"edge-digits set={name} version={version}"


def set_version(comment: str) -> tuple[str, int] | None:
    """(set name, version) from a trusted comment, None when it carries none (e.g. minisign's default comment)."""
    name, version = SET_FIELD.search(comment), VERSION_FIELD.search(comment)
    return None if name is None or version is None else (name.group(1), int(version.group(1)))


def load_trusted_key(spec: str | os.PathLike) -> PublicKey:
    """`project`, a minisign .pub file, or a key inline (the base64 line of a .pub file, as `minisign -P` takes)."""
    text = str(spec).strip()
    path = PROJECT_PUBLIC_KEY if text == PROJECT_KEY else Path(text).expanduser()
    if path.is_file():
        try:
            content = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise EdgeDigitsError(f"cannot read trusted key {path}: {error}") from None
        return parse_public_key(content, f"trusted key file {path}")
    if INLINE_KEY.fullmatch(text):
        return parse_public_key(text, f"trusted key {text}")
    raise EdgeDigitsError(f"trusted key {text!r} is neither a key file nor a minisign public key "
                          "(the base64 line of a .pub file, or 'project')")


def trust_from(keys: Iterable[str | os.PathLike | PublicKey] | None = None,
               version_record: str | os.PathLike | None = None,
               environ: Mapping[str, str] | None = None) -> Trust:
    """`keys` plus those in $EDGE_DIGITS_TRUSTED_KEYS; `version_record`, else $EDGE_DIGITS_VERSION_RECORD."""
    environ = os.environ if environ is None else environ
    if isinstance(keys, (str, os.PathLike, PublicKey)):
        keys = [keys]  # one key, not the characters of its name
    specs = [*(keys or ()), *(part for part in environ.get(TRUSTED_KEYS_VARIABLE, "").split(os.pathsep) if part.strip())]
    loaded: list[PublicKey] = []
    for spec in specs:
        key = spec if isinstance(spec, PublicKey) else load_trusted_key(spec)
        if key not in loaded:
            loaded.append(key)
    record = version_record or environ.get(VERSION_RECORD_VARIABLE) or None
    if record is not None and not loaded:
        raise EdgeDigitsError(f"a version record ({record}) needs trusted keys: only signed sets carry a version; "
                              f"add --trust KEY or set ${TRUSTED_KEYS_VARIABLE}")
    return Trust(tuple(loaded), None if record is None else Path(record).expanduser())


def signed_manifest(directory: str | os.PathLike, trust: Trust) -> dict[str, Any]:
    """The manifest of `directory`, parsed from the very bytes whose signature by a trusted key was checked;
    a one-line EdgeDigitsError says what is wrong (no manifest, no signature, bad signature, other key, rollback)."""
    manifest_path, signature_path = Path(directory) / MANIFEST_NAME, Path(directory) / SIGNATURE_NAME
    if not trust.keys:
        raise ValueError("signed_manifest needs at least one trusted key")
    if not manifest_path.is_file():
        raise EdgeDigitsError(f"{directory} has no {MANIFEST_NAME}; with trusted keys configured only signed export "
                              "sets load")
    data = manifest_path.read_bytes()
    if not signature_path.is_file():
        raise EdgeDigitsError(f"{manifest_path} is not signed ({SIGNATURE_NAME} is missing); with trusted keys "
                              "configured only sets signed by one of them load")
    try:
        text = signature_path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        text = ""  # parse_signature names the file as not a signature
    signature = parse_signature(text, str(signature_path))
    key = next((key for key in trust.keys if key.key_id == signature.key_id), None)
    if key is None:
        raise EdgeDigitsError(f"{signature_path} was made by key {signature.key_id_text}, which is not trusted "
                              f"(trusted: {', '.join(key.id_text for key in trust.keys)})")
    verify_signature(data, signature, key, str(manifest_path), str(signature_path))
    if trust.version_record is not None:
        check_not_older(Path(directory), signature.trusted_comment, trust.version_record)
    return parse_manifest(data, manifest_path)


def checked_manifest(directory: str | os.PathLike, trust: Trust | None = None) -> dict[str, Any] | None:
    """The manifest every loader checks files against: signed_manifest's with trusted keys (`trust`, default
    $EDGE_DIGITS_TRUSTED_KEYS's), else read_manifest's (None for a folder without one)."""
    trust = trust_from() if trust is None else trust
    return signed_manifest(directory, trust) if trust.keys else read_manifest(directory)


def check_not_older(directory: Path, trusted_comment: str, record: Path) -> None:
    """Refuse a set older than the newest version of the same set accepted before; remember a newer one."""
    named = set_version(trusted_comment)
    if named is None:
        raise EdgeDigitsError(f"the signature of {directory} names no set version (trusted comment "
                              f"{trusted_comment!r}), so a rollback cannot be ruled out; sign it with "
                              "`edge-digits sign --set-version N`")
    name, version = named
    newest = read_version_record(record)
    if name in newest and version < newest[name]:
        raise EdgeDigitsError(f"{directory} is version {version} of set {name!r}, older than version {newest[name]} "
                              f"already accepted ({record}): refusing a rollback to an older signed set")
    if newest.get(name) != version:
        newest[name] = version
        try:
            write_json_atomic(record, {"sets": dict(sorted(newest.items()))})
        except OSError as error:
            raise EdgeDigitsError(f"cannot update the version record {record}: {error.strerror or error}") from None


def read_version_record(record: Path) -> dict[str, int]:
    """{set name: newest version accepted}; a missing file is a device that has accepted none yet."""
    if not record.exists():
        return {}
    try:
        sets = json.loads(record.read_text(encoding="utf-8"))["sets"]
        if not all(isinstance(name, str) and type(version) is int for name, version in sets.items()):
            raise ValueError("versions must be whole numbers")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise EdgeDigitsError(f"the version record {record} is unreadable ({error.__class__.__name__}); "
                              "restore it or delete it to trust the current sets afresh") from None
    return dict(sets)
