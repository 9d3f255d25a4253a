"""Integrity hashes of the pump's store: the event-log hash chain and the state seal.

Both are SHA-256 over an unambiguous encoding (JSON for event rows, length-prefixed text for
the state), so no two different rows hash the same input;
the seal is an HMAC-SHA256 when the store has a key. A seal binds the state text (which carries
the device profile and so every drug limit) to the exact length and content of the event log.
"""
from __future__ import annotations

import hashlib
import hmac
from json.encoder import encode_basestring_ascii as _json_string
from typing import Any

GENESIS = hashlib.sha256(b"intrapump event log v2").hexdigest()
"""Chain value before the first event."""


class StoreCorrupt(Exception):
    """The store's content cannot be trusted (the message says what failed)."""


def chain_next(prev: str, idx: Any, time_ms: Any, kind: Any, details: Any) -> str:
    """Chain value (hex SHA-256) after an event row, from the previous value and the row's
    stored columns exactly as stored. Raises StoreCorrupt for a column of the wrong type."""
    if not (type(idx) is int and type(time_ms) is int and isinstance(kind, str)
            and isinstance(details, str)):
        raise StoreCorrupt(f"event row {idx!r} has a column of the wrong type")
    # byte for byte json.dumps([prev, idx, time_ms, kind, details]), without its generic walk
    data = '[%s, %d, %d, %s, %s]' % (_json_string(prev), idx, time_ms, _json_string(kind),
                                     _json_string(details))
    return hashlib.sha256(data.encode()).hexdigest()


def seal_of(key: bytes | None, state_text: str, event_count: int, head: str) -> str:
    """Seal (hex) of a state row: SHA-256, or HMAC-SHA256 with ``key``, over the state text,
    the number of events and the chain head."""
    text = state_text.encode()
    data = b"".join((b"intrapump-state\0%d\0%d\0" % (event_count, len(text)), text,
                     head.encode()))  # the length prefix keeps the encoding unambiguous
    if key:
        return hmac.new(key, data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()
