"""The Serial-shaped link interface and the base class that does the shared work.

A link moves bytes, nothing else.  Its shape is pyserial's, reduced to what an emulator and a
programmer need:

* ``read(n)`` returns between 1 and ``n`` bytes, blocking until at least one byte arrives or the
  timeout expires; on timeout it returns ``b""``.
* ``write(data)`` sends all of ``data`` and returns its length.
* ``timeout`` (seconds, settable): ``None`` blocks forever, ``0`` never blocks, ``> 0`` waits at
  most that long.
* ``close()``, use as a context manager, ``name``, ``closed``, ``counters``.

:class:`Link` checks arguments and the closed state, keeps counters, logs, and maps the outcome of
the hooks; a backend fills three hooks: :meth:`Link._read_hook`, :meth:`Link._write_hook` and
:meth:`Link._close_hook` (and optionally :meth:`Link._timeout_changed`).  Blocking in the hooks is
done with condition variables, ``select``/``poll`` or blocking system calls, never by polling.

Thread safety: one reader thread and one writer thread may use a link at the same time; any
thread may call :meth:`Link.close`, which wakes a blocked reader (it then raises LinkClosed).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from hal.errors import LinkClosed

_log = logging.getLogger(__name__)


@dataclass
class LinkCounters:
    """Traffic counters of one link (bytes and calls that moved data)."""

    bytes_read: int = 0
    bytes_written: int = 0
    reads: int = 0
    writes: int = 0
    read_timeouts: int = 0


class Link:
    """A byte link with pyserial's shape; subclass and fill the hooks to make a backend."""

    def __init__(self, name: str, *, timeout: float | None = None) -> None:
        self._name = name
        self._timeout = self._check_timeout(timeout)
        self._closed = False
        self._close_lock = threading.Lock()
        self.counters = LinkCounters()

    # -- public interface -------------------------------------------------------------------
    @property
    def name(self) -> str:
        """A human-readable name of the link, usually the URL it was opened with."""
        return self._name

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (a peer going away is only seen on read/write)."""
        return self._closed

    @property
    def timeout(self) -> float | None:
        """Read timeout in seconds: None blocks forever, 0 never blocks."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._timeout = self._check_timeout(value)
        self._timeout_changed(self._timeout)

    def read(self, n: int = 1) -> bytes:
        """Return 1..n bytes, blocking until some arrive or the timeout expires (then b"").

        Raises LinkClosed if the link is closed (locally, or the peer went away and everything it
        sent has been read).  ``n <= 0`` returns b"" at once.
        """
        if self._closed:
            raise LinkClosed(f"{self._name}: link is closed")
        if n <= 0:
            return b""
        data = self._read_hook(n, self._timeout)
        if not data:
            if self._closed:
                raise LinkClosed(f"{self._name}: link closed while reading")
            self.counters.read_timeouts += 1
            return b""
        self.counters.reads += 1
        self.counters.bytes_read += len(data)
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("%s rx %d bytes: %s", self._name, len(data), data.hex(" "))
        return data

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Send all of ``data``; return its length.  Raises LinkClosed if the link is closed."""
        if self._closed:
            raise LinkClosed(f"{self._name}: link is closed")
        payload = bytes(data)
        if not payload:
            return 0
        self._write_hook(payload)
        self.counters.writes += 1
        self.counters.bytes_written += len(payload)
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("%s tx %d bytes: %s", self._name, len(payload), payload.hex(" "))
        return len(payload)

    def close(self) -> None:
        """Close the link; idempotent.  A reader blocked in another thread raises LinkClosed."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        _log.debug("%s closed (%s)", self._name, self.counters)
        self._close_hook()

    def __enter__(self) -> "Link":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {self._name!r} {state}>"

    # -- hooks ------------------------------------------------------------------------------
    def _read_hook(self, n: int, timeout: float | None) -> bytes:
        """Return 1..n bytes, or b"" on timeout or local close; raise LinkClosed if the peer left."""
        raise NotImplementedError

    def _write_hook(self, data: bytes) -> None:
        """Send all of ``data`` (non-empty); raise LinkClosed if the peer is gone."""
        raise NotImplementedError

    def _close_hook(self) -> None:
        """Release resources and wake any blocked reader; called once."""

    def _timeout_changed(self, timeout: float | None) -> None:
        """Called after the read timeout changed (backends that cache it override this)."""

    @staticmethod
    def _check_timeout(value: Any) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"timeout must be None or a number of seconds >= 0, got {value!r}")
        return float(value)


class WrapperLink(Link):
    """A link that wraps another (``inner``) and adds to its traffic: named ``PREFIX+inner``,
    with the inner link's timeout. Attributes the wrapper lacks (``device_path``,
    ``bound_address``...) come from the inner link, and a timeout set on the wrapper is set on
    the inner link too."""

    def __init__(self, prefix: str, link: Link) -> None:
        super().__init__(f"{prefix}+{link.name}", timeout=link.timeout)
        self.inner = link

    def __getattr__(self, item: str) -> Any:
        inner = self.__dict__.get("inner")
        if inner is None:
            raise AttributeError(item)
        return getattr(inner, item)

    def _timeout_changed(self, timeout: float | None) -> None:
        self.inner.timeout = timeout

    # a wrapper that adds nothing in one direction passes it through: fill only what it changes
    def _read_hook(self, n: int, timeout: float | None) -> bytes:
        return self.inner.read(n)

    def _write_hook(self, data: bytes) -> None:
        self.inner.write(data)

    def _close_hook(self) -> None:
        self.inner.close()
