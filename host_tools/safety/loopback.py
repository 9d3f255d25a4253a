"""A virtual pump served synchronously in the caller's thread: no device thread, no hand-offs.

:class:`LoopbackPump` is the model, its SQLite store and a :class:`firmware_sim.device.Device`
joined to a host link by an in-process loopback. A write on the host end is handled by the device
before the write returns (its answers and events are then waiting on the host end); a read that
finds nothing lets the device do what its serving loop does when no bytes come (advance the model,
push what is due, give up a partial frame left alone for 0.25 s), then waits out the read timeout
like any link. The device, the session rules, the model and the store are the ones a threaded
:class:`firmware_sim.device.VirtualPump` runs: only the scheduling differs, and it is
deterministic, so the safety machine spends its time on the pump and its checks instead of on
condition variables.

The store lives in memory until the first power loss: :meth:`restart` then writes the committed
content to the state file and rebuilds the pump from that file (opened and verified like any
store at start-up), and the pump runs on the file from then on. So every restart reads what was
committed, from a file, as on a real power loss, and the many examples that never lose power do
not pay for a file store.

It offers what the safety machine uses of a ``VirtualPump``: ``profile``, ``clock``, ``pump``,
``device`` (and ``device.lock``), :meth:`advance`, :meth:`restart` (a power loss: the pump is
rebuilt from the state file) and :meth:`close`; :attr:`host` is the host end of the link.
"""
from __future__ import annotations

import collections
import sqlite3
import time
from typing import Any

from firmware_sim import ManualClock, Profile
from firmware_sim.device import Device
from firmware_sim.pump import Pump
from firmware_sim.storage import Storage
from hal.base import Link
from hal.errors import LinkClosed
from protocol import DEVELOPMENT_KEYS


class _PumpEnd(Link):
    """The device's end: what the device writes waits on the host end, one chunk per write."""

    def __init__(self, name: str, host: "HostEnd") -> None:
        super().__init__(f"{name}#pump", timeout=0)
        self.host = host

    def _read_hook(self, n: int, timeout: float | None) -> bytes:
        return b""  # nobody reads it: bytes reach the device through Device.serve_bytes

    def _write_hook(self, data: bytes) -> None:
        if self.host.closed:
            raise LinkClosed(f"{self.name}: the other end closed")
        self.host.chunks.append(data)


class HostEnd(Link):
    """The host's end of the loopback (see the module documentation). A read returns at most
    one chunk the device wrote (as a host that reads promptly sees them), so per-chunk link
    faults apply to one answer or event at a time."""

    def __init__(self, name: str, owner: "LoopbackPump") -> None:
        super().__init__(f"{name}#host", timeout=None)
        self.owner = owner
        self.chunks: collections.deque[bytes] = collections.deque()

    def _read_hook(self, n: int, timeout: float | None) -> bytes:
        if not self.chunks:
            self.owner.device.serve_idle()
        if not self.chunks:
            # nothing can arrive while this thread waits: wait the timeout out all the same
            # (bounded, so that a caller without a timeout still gets control back)
            time.sleep(0.01 if timeout is None else min(timeout, 0.05))
            self.owner.device.serve_idle()
            if not self.chunks:
                return b""
        chunk = self.chunks[0]
        if len(chunk) <= n:
            self.chunks.popleft()
            return chunk
        self.chunks[0] = chunk[n:]
        return chunk[:n]

    def _write_hook(self, data: bytes) -> None:
        self.owner.device.serve_bytes(data)


class LoopbackPump:
    """A pump with profile ``profile``, clock ``clock`` and its store at ``state_path``,
    served synchronously on :attr:`host` (see the module documentation). ``device_options``
    go to :class:`Device` (``auth_limiter``, ``max_idle_s``...)."""

    def __init__(self, *, profile: Profile, clock: ManualClock, state_path: str,
                 name: str = "loopback", **device_options: Any) -> None:
        self.profile = profile
        self.clock = clock
        self.storage_path = state_path
        self.keys = dict(DEVELOPMENT_KEYS)
        self.device_options = device_options
        self.host = HostEnd(name, self)
        self._pump_end = _PumpEnd(name, self.host)
        self.storage = Storage(":memory:")  # until the first power loss (module documentation)
        self.device = self._make_device()

    def _make_device(self) -> Device:
        return Device(Pump(self.profile, self.storage, self.clock), self._pump_end, self.keys,
                      **self.device_options)

    @property
    def pump(self) -> Pump:
        """The pump model being served (replaced by :meth:`restart`)."""
        return self.device.pump

    def advance(self, delta_ms: int) -> None:
        """Move the clock forward by ``delta_ms`` and run the pump to it now (events pushed)."""
        with self.device.lock:
            self.clock.advance(delta_ms)
            self.device.run_pending()

    def restart(self) -> None:
        """Power loss: the device and pump vanish without a final commit and are rebuilt from
        the state file; the session is lost, the link stays plugged in."""
        self.device.stop(commit=False)
        self.device.close()
        if self.storage.path == ":memory:":
            self._to_file()
        self.storage.close()
        self.storage = Storage(self.storage_path)
        self.device = self._make_device()

    def _to_file(self) -> None:
        """Copy what the in-memory store committed (no transaction is open between two of its
        commits) to the state file, page by page."""
        target = sqlite3.connect(self.storage_path)
        try:
            self.storage._conn.backup(target)  # the store has no public export
        finally:
            target.close()

    def close(self) -> None:
        """Detach the device and close the store and both ends of the link."""
        self.device.close()
        self.host.close()
        self._pump_end.close()
        self.storage.close()


__all__ = ["HostEnd", "LoopbackPump"]
