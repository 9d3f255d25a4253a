"""Per-device role keys: the documented development keys and the key-file loader.

Key file (JSON, UTF-8)::

    {"format": "intrapump-keys/1",
     "serial_number": "IP-000001",              (optional, informative)
     "keys": {"clinician": "<64 hex chars>", "patient": "<64 hex chars>"}}

Each key is 16..64 bytes written as hex; 32 random bytes are recommended. A role missing from
"keys" cannot open sessions.

Like ssh with a private key, a key file that other users may read or write (any group or other
permission bit, on POSIX systems) is refused, naming the file and the fix (``chmod 600``).
"""
from __future__ import annotations

import json
import logging
import os
from typing import Mapping

from .enums import Role

log = logging.getLogger(__name__)

KEY_FILE_FORMAT = "intrapump-keys/1"
MIN_KEY_BYTES = 16
MAX_KEY_BYTES = 64

# DEVELOPMENT KEYS - PUBLIC, NOT SECRET. SHA-256 of
# "intrapump development key, NOT SECRET: <role>". The simulator uses them when no key file is
# given so that tests and demos work out of the box; never provision them in anything real.
DEVELOPMENT_KEYS: dict[Role, bytes] = {
    Role.CLINICIAN: bytes.fromhex("152745736c2cd9bee4f87d1e3dc49c48971f0ecda0397e42d2868c90eb641320"),
    Role.PATIENT: bytes.fromhex("98174030df43a59e75768823b4dad4397d26292e1a8b55b073d2a9e66455b24e"),
}


class KeyFileError(ValueError):
    """The key file is unreadable or does not follow KEY_FILE_FORMAT (message says where)."""


def parse_keys(doc: Mapping[str, object]) -> dict[Role, bytes]:
    """Role keys from an already-loaded key document; raises KeyFileError."""
    if not isinstance(doc, Mapping) or doc.get("format") != KEY_FILE_FORMAT:
        raise KeyFileError(f"'format' must be {KEY_FILE_FORMAT!r}")
    raw = doc.get("keys")
    if not isinstance(raw, Mapping) or not raw:
        raise KeyFileError("'keys' must be a non-empty object of role -> hex key")
    keys: dict[Role, bytes] = {}
    for name, value in raw.items():
        try:
            role = Role[str(name).upper()]
        except KeyError:
            raise KeyFileError(f"keys.{name}: unknown role (clinician, patient)") from None
        if not isinstance(value, str):
            raise KeyFileError(f"keys.{name}: must be a hex string")
        keys[role] = _key_from_hex(value, f"keys.{name}")
    return keys


def _key_from_hex(text: str, where: str) -> bytes:
    """The key written as hex in ``text`` (16..64 bytes); KeyFileError naming ``where``."""
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise KeyFileError(f"{where}: not valid hex") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise KeyFileError(f"{where}: {len(key)} bytes, need {MIN_KEY_BYTES}..{MAX_KEY_BYTES}")
    return key


def check_private(path: str | os.PathLike[str]) -> None:
    """Raise KeyFileError if the file at ``path`` is accessible to its group or others (POSIX;
    no check where permissions are not POSIX modes). A missing file is left to the reader."""
    if os.name != "posix":
        return
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if mode & 0o077:
        raise KeyFileError(f"{path}: permissions {mode & 0o777:04o} are too open: other users "
                           f"could read the key; run chmod 600 {path}")


def load_key_file(path: str | os.PathLike[str]) -> bytes:
    """One key, written as hex (16..64 bytes; surrounding white space ignored), from a private
    file; raises KeyFileError."""
    check_private(path)
    try:
        with open(path, encoding="ascii") as fh:
            text = fh.read(4 * MAX_KEY_BYTES + 2).strip()
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"{path}: {exc}") from None
    return _key_from_hex(text, str(path))


def load_keys(path: str | os.PathLike[str]) -> dict[Role, bytes]:
    """Read a key file (see module doc) and return {Role: key bytes}; raises KeyFileError,
    also for a file other users may read (see :func:`check_private`)."""
    try:
        check_private(path)
    except KeyFileError as exc:
        log.error("%s", exc)
        raise
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError) as exc:
        log.error("key file %s unreadable: %s", path, exc)
        raise KeyFileError(f"{path}: {exc}") from None
    try:
        return parse_keys(doc)
    except KeyFileError as exc:
        log.error("key file %s invalid: %s", path, exc)
        raise KeyFileError(f"{path}: {exc}") from None


def dump_keys(keys: Mapping[Role, bytes], serial_number: str | None = None) -> str:
    """Key-file JSON text for `keys` (for provisioning tools and tests)."""
    doc: dict[str, object] = {"format": KEY_FILE_FORMAT}
    if serial_number is not None:
        doc["serial_number"] = serial_number
    doc["keys"] = {Role(r).name.lower(): k.hex() for r, k in keys.items()}
    return json.dumps(doc, indent=2)


def generate_keys() -> dict[Role, bytes]:
    """Fresh random 32-byte keys for every role."""
    return {role: os.urandom(32) for role in Role}
