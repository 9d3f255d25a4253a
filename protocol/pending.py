"""Pending handshakes of the pump: a bounded pool of issued challenges (pure; time passed in).

What it promises (PROTOCOL.md section 4):

* Up to ``size`` handshakes per role may be pending at once, so a SESSION_OPEN from someone
  else does not burn the challenge a key holder is about to answer: only ``size`` newer
  SESSION_OPEN frames of the same role arriving before its proof replace it (the oldest
  challenge of a role goes first when the role's pool is full).
* A challenge accepts one verified proof; a proof refused with RATE_LIMITED before it was
  verified leaves it valid. It is forgotten ``ttl_ms`` after it was issued (by default
  120 s: longer than the authentication back-off can make a proof wait, so a key holder's
  challenge outlives the wait).
* Every operation costs O(1) amortised (dictionaries in issue order): bounded work per frame
  whatever arrives.
"""
from __future__ import annotations

import collections
import dataclasses

from .session import PumpSession


@dataclasses.dataclass
class Pending:
    """One issued challenge: its session, when (ms) and to which sender it was issued, the
    bytes of the SESSION_OPEN that asked for it and of the answer (for a byte-identical
    retransmission of that SESSION_OPEN)."""

    session: PumpSession
    issued_ms: int
    sender: int
    request_raw: bytes
    answer: bytes


class PendingPool:
    """Issued challenges awaiting their proof (see the module documentation)."""

    def __init__(self, size: int = 128, ttl_ms: int = 120_000) -> None:
        if size < 1 or ttl_ms < 1:
            raise ValueError("size and ttl_ms must be >= 1")
        self.size = size
        self.ttl_ms = ttl_ms
        self._by_role: dict[int, collections.OrderedDict[int, Pending]] = {}
        self._by_raw: dict[bytes, Pending] = {}

    def __len__(self) -> int:
        return sum(len(d) for d in self._by_role.values())

    def find_open(self, raw: bytes, now_ms: int) -> Pending | None:
        """The live pending handshake that a byte-identical SESSION_OPEN created, if any."""
        pending = self._by_raw.get(raw)
        if pending is None or now_ms - pending.issued_ms > self.ttl_ms:
            return None
        return pending

    def add(self, pending: Pending, now_ms: int) -> None:
        """Remember an issued challenge; the role's oldest goes when its pool is full."""
        role = int(pending.session.role)
        pool = self._by_role.setdefault(role, collections.OrderedDict())
        self._expire(pool, now_ms)
        while len(pool) >= self.size:
            _, old = pool.popitem(last=False)
            self._by_raw.pop(old.request_raw, None)
        pool[pending.session.session_id] = pending
        self._by_raw[pending.request_raw] = pending

    def get(self, session_id: int, now_ms: int) -> Pending | None:
        """The live pending handshake ``session_id`` (left in the pool), or None."""
        for pool in self._by_role.values():
            pending = pool.get(session_id)
            if pending is not None:
                if now_ms - pending.issued_ms > self.ttl_ms:
                    self.remove(pending)
                    return None
                return pending
        return None

    def remove(self, pending: Pending) -> None:
        """Forget one pending handshake (its proof was verified, right or wrong)."""
        self._by_role.get(int(pending.session.role), {}).pop(pending.session.session_id, None)
        if self._by_raw.get(pending.request_raw) is pending:
            del self._by_raw[pending.request_raw]

    def clear(self) -> None:
        """Forget every pending handshake (a new host on the link)."""
        self._by_role.clear()
        self._by_raw.clear()

    def _expire(self, pool: collections.OrderedDict[int, Pending], now_ms: int) -> None:
        while pool:
            oldest = next(iter(pool.values()))
            if now_ms - oldest.issued_ms <= self.ttl_ms:
                return
            self.remove(oldest)
