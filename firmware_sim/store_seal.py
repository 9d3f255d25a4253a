"""Integrity hashes of the pump's store: the event-log hash chain and the state seal.

Both are SHA-256 over a canonical JSON encoding (so no two different rows hash the same input);
the seal is an HMAC-SHA256 when the store has a key. A seal binds the state text (which carries
the device profile and so every drug limit) to the exact length and content of the event log.
"""
from __future__ import annotations

import hashlib
import hmac
import json
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
    data = json.dumps([prev, idx, time_ms, kind, details]).encode()
    return hashlib.sha256(data).hexdigest()


def seal_of(key: bytes | None, state_text: str, event_count: int, head: str) -> str:
    """Seal (hex) of a state row: SHA-256, or HMAC-SHA256 with ``key``, over the state text,
    the number of events and the chain head."""
    data = json.dumps(["intrapump-state", state_text, event_count, head]).encode()
    if key:
        return hmac.new(key, data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()
