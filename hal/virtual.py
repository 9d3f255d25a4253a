"""In-process virtual links: two ends joined like a null-modem cable.

``virtual://NAME`` with ``end="pump"`` creates the pump end of the pair called NAME (replacing a
pair whose pump end was closed); with ``end="host"`` it connects to the pump end of NAME, which
must exist (LinkOpenError otherwise, like opening a port nothing is plugged into).  Each pair takes
one host; after either end closes, the other end's reads return what was already sent and then
raise LinkClosed, and its writes raise LinkClosed.  A pump end that wants to serve the next host
closes and opens ``virtual://NAME`` again.

Several hosts: a pump that can talk to more than one host at a time (a clinician programmer and a
patient controller in range) calls :func:`accept_extra_hosts` with a handler.  From then on a host
that opens ``virtual://NAME`` while the pair's host end is taken (or while the pump end is being
replaced between two hosts) gets a pair of its own, and the handler receives that pair's pump end
to serve; :func:`refuse_extra_hosts` ends this.

Bytes move through condition variables (no polling).  ``baud=`` paces writes like a UART with
10 bits per byte (start, 8 data, stop): a write returns once its last byte would be on the line,
so a test can emulate a slow serial line (both ends of a pair are paced).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from hal.base import Link
from hal.errors import LinkClosed, LinkOpenError
from hal.urls import split_url

_log = logging.getLogger(__name__)

BITS_PER_BYTE = 10


class _Pipe:
    """One direction of a pair: a byte buffer, a condition, and the state of both ends."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.cond = threading.Condition()
        self.writer_gone = False
        self.reader_gone = False

    def put(self, data: bytes) -> None:
        with self.cond:
            if self.reader_gone:
                raise LinkClosed("peer closed")
            self.buffer += data
            self.cond.notify()

    def get(self, n: int, timeout: float | None) -> bytes:
        with self.cond:
            if not self.buffer and not self.reader_gone:
                if timeout is None:
                    while not self.buffer and not self.writer_gone and not self.reader_gone:
                        self.cond.wait()
                elif timeout > 0:
                    deadline = time.monotonic() + timeout
                    while not self.buffer and not self.writer_gone and not self.reader_gone:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        self.cond.wait(left)
            if self.reader_gone:
                return b""
            if self.buffer:
                data = bytes(self.buffer[:n])
                del self.buffer[:n]
                return data
            if self.writer_gone:
                raise LinkClosed("peer closed")
            return b""

    def close_writer(self) -> None:
        with self.cond:
            self.writer_gone = True
            self.cond.notify_all()

    def close_reader(self) -> None:
        with self.cond:
            self.reader_gone = True
            self.buffer.clear()
            self.cond.notify_all()


class VirtualLink(Link):
    """One end of an in-process pair; see the module documentation for the semantics."""

    def __init__(
        self,
        name: str,
        rx: _Pipe,
        tx: _Pipe,
        *,
        timeout: float | None = None,
        baud: int | None = None,
    ) -> None:
        super().__init__(name, timeout=timeout)
        if baud is not None and (isinstance(baud, bool) or not isinstance(baud, int) or baud <= 0):
            raise LinkOpenError(f"baud must be a positive integer, got {baud!r}")
        self._rx = rx
        self._tx = tx
        self._baud = baud
        self._line_free_at = 0.0
        self._on_close: list = []

    @property
    def peer_closed(self) -> bool:
        """True once the other end was closed (known at once, before any read notices it)."""
        return self._rx.writer_gone

    @property
    def baud(self) -> int | None:
        """Pacing in bits per second (10 bits per byte), or None for as fast as possible."""
        return self._baud

    def _read_hook(self, n: int, timeout: float | None) -> bytes:
        try:
            return self._rx.get(n, timeout)
        except LinkClosed:
            raise LinkClosed(f"{self._name}: the other end closed") from None

    def _write_hook(self, data: bytes) -> None:
        if self._baud:
            now = time.monotonic()
            self._line_free_at = max(now, self._line_free_at) + len(data) * BITS_PER_BYTE / self._baud
            time.sleep(self._line_free_at - now)
        try:
            self._tx.put(data)
        except LinkClosed:
            raise LinkClosed(f"{self._name}: the other end closed") from None

    def _close_hook(self) -> None:
        self._tx.close_writer()
        self._rx.close_reader()
        for callback in self._on_close:
            callback(self)


def _make_pair(name: str, timeout: float | None, baud: int | None) -> tuple[VirtualLink, VirtualLink]:
    to_host, to_pump = _Pipe(), _Pipe()
    pump = VirtualLink(f"virtual://{name}#pump", to_pump, to_host, timeout=timeout, baud=baud)
    host = VirtualLink(f"virtual://{name}#host", to_host, to_pump, timeout=timeout, baud=baud)
    return pump, host


_registry_lock = threading.Lock()
_pump_ends: dict[str, tuple[VirtualLink, VirtualLink]] = {}
_host_taken: set[str] = set()
_extra_handlers: dict[str, Callable[["VirtualLink"], None]] = {}
_anonymous = itertools.count(1)
_extra_numbers = itertools.count(2)


def accept_extra_hosts(name: str, handler: Callable[["VirtualLink"], None]) -> None:
    """Let further hosts connect to ``virtual://NAME``, each on a pair of its own whose pump end
    is passed to ``handler`` (called in the connecting thread; it must return quickly)."""
    with _registry_lock:
        _extra_handlers[name] = handler


def refuse_extra_hosts(name: str) -> None:
    """Undo :func:`accept_extra_hosts` (open extra pairs stay connected); idempotent."""
    with _registry_lock:
        _extra_handlers.pop(name, None)


def virtual_pair(
    name: str | None = None, *, timeout: float | None = None, baud: int | None = None
) -> tuple[VirtualLink, VirtualLink]:
    """Return a new connected ``(pump_end, host_end)`` pair, not registered under any URL."""
    return _make_pair(name or f"anonymous-{next(_anonymous)}", timeout, baud)


def open_virtual(
    name: str, *, end: str = "host", timeout: float | None = None, baud: int | None = None
) -> VirtualLink:
    """Open one end of the named pair (``end`` is "pump" or "host"); see the module docs."""
    if not name:
        raise LinkOpenError("virtual:// needs a name, e.g. virtual://pump1")
    with _registry_lock:
        if end == "pump":
            existing = _pump_ends.get(name)
            if existing is not None and not existing[0].closed:
                raise LinkOpenError(f"virtual://{name}: a pump end is already open")
            pump, host = _make_pair(name, timeout, baud)
            pump._on_close.append(lambda link: _forget(name, link))
            _pump_ends[name] = (pump, host)
            _host_taken.discard(name)
            _log.info("virtual://%s: pump end open", name)
            return pump
        if end != "host":
            raise LinkOpenError(f"end must be 'pump' or 'host', got {end!r}")
        existing = _pump_ends.get(name)
        handler = _extra_handlers.get(name)
        extra = handler is not None and (existing is None or name in _host_taken)
        if not extra:
            if existing is None:
                raise LinkOpenError(f"virtual://{name}: no pump end is open under that name")
            if name in _host_taken:
                raise LinkOpenError(f"virtual://{name}: a host is already connected to this pump end")
            _host_taken.add(name)
            host = existing[1]
            host._timeout = timeout
            if baud is not None:
                host._baud = baud
            _log.info("virtual://%s: host end connected", name)
            return host
    assert handler is not None
    if baud is None and existing is not None:
        baud = existing[0].baud  # the same line speed as the pump's own end
    pump, host = _make_pair(f"{name}#{next(_extra_numbers)}", timeout, baud)
    handler(pump)  # outside the registry lock: the handler may open links itself
    _log.info("virtual://%s: extra host connected (%s)", name, host.name)
    return host


def _forget(name: str, pump: VirtualLink) -> None:
    with _registry_lock:
        existing = _pump_ends.get(name)
        if existing is not None and existing[0] is pump:
            del _pump_ends[name]
            _host_taken.discard(name)


def virtual_factory(url: str, *, end: str = "host", **options: Any) -> VirtualLink:
    """Registry factory for ``virtual://NAME[?baud=N]`` (options: timeout, baud)."""
    _, name, query = split_url(url)
    opts = dict(options)
    for key, value in query.items():
        if key != "baud":
            raise LinkOpenError(f"virtual://: unknown URL parameter {key!r} (known: baud)")
        try:
            opts["baud"] = int(value)
        except ValueError:
            raise LinkOpenError(f"virtual://: baud must be an integer, got {value!r}") from None
    unknown = set(opts) - {"timeout", "baud"}
    if unknown:
        raise LinkOpenError(f"virtual://: unknown options {sorted(unknown)} (known: timeout, baud)")
    return open_virtual(name, end=end, **opts)
