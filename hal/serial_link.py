"""Links through pyserial: real serial ports and every pyserial URL.

Any port name (``/dev/ttyUSB0``, ``COM3``, a pty's ``/dev/pts/5``) and any pyserial URL
(``socket://``, ``rfc2217://``, ``loop://``, ``spy://``, ``hwgrep://``, ``alt://``) opens with
:func:`serial.serial_for_url`.  Options: ``baudrate`` (alias ``baud``), ``bytesize`` (5..8),
``parity`` ("N", "E", "O", "M", "S"), ``stopbits`` (1, 1.5, 2), ``timeout`` (read, seconds),
``write_timeout`` (seconds), ``rtscts``, ``xonxoff``, ``dsrdtr``, ``exclusive``.

pyserial's own errors are mapped: a failure to open is LinkOpenError, a read or write failure
(device unplugged, socket disconnected, pty master gone) is LinkClosed, a write timeout is
LinkTimeout.  ``tcp://HOST:PORT`` is an alias of ``socket://HOST:PORT``.
"""

from __future__ import annotations

import logging
from typing import Any

import serial
from serial.urlhandler import protocol_socket

from hal.base import Link
from hal.errors import LinkClosed, LinkOpenError, LinkTimeout

_log = logging.getLogger(__name__)

_SERIAL_OPTIONS = {
    "baudrate", "bytesize", "parity", "stopbits", "write_timeout", "rtscts", "xonxoff", "dsrdtr",
    "exclusive", "inter_byte_timeout",
}


class SerialLink(Link):
    """A link over a pyserial ``Serial`` object (owned: closing the link closes the port)."""

    def __init__(self, port: serial.SerialBase, name: str, *, timeout: float | None = None) -> None:
        super().__init__(name, timeout=timeout)
        self._port = port
        # socket:// reports in_waiting as 0/1, so the rest of a chunk is read with timeout 0.
        self._inexact_in_waiting = isinstance(port, protocol_socket.Serial)
        port.timeout = self._timeout

    @property
    def port(self) -> serial.SerialBase:
        """The underlying pyserial object (for settings this interface does not cover)."""
        return self._port

    def _timeout_changed(self, timeout: float | None) -> None:
        self._port.timeout = timeout

    def _read_hook(self, n: int, timeout: float | None) -> bytes:
        port = self._port
        try:
            first = port.read(1)
            if not first or n == 1:
                return first
            if self._inexact_in_waiting:
                port.timeout = 0
                try:
                    return first + port.read(n - 1)
                finally:
                    port.timeout = timeout
            waiting = port.in_waiting
            if waiting:
                return first + port.read(min(n - 1, waiting))
            return first
        except serial.SerialException as exc:
            if self._closed:
                return b""
            raise LinkClosed(f"{self._name}: {exc}") from exc
        except (OSError, TypeError, AttributeError) as exc:
            # pyserial raises these when the port is closed under a blocked reader.
            if self._closed:
                return b""
            raise LinkClosed(f"{self._name}: {exc}") from exc

    def _write_hook(self, data: bytes) -> None:
        try:
            self._port.write(data)
        except serial.SerialTimeoutException as exc:
            raise LinkTimeout(f"{self._name}: {exc}") from exc
        except (serial.SerialException, OSError) as exc:
            raise LinkClosed(f"{self._name}: {exc}") from exc

    def _close_hook(self) -> None:
        cancel = getattr(self._port, "cancel_read", None)
        if cancel is not None:
            try:
                cancel()
            except Exception:  # noqa: BLE001 - best effort wake-up; close follows anyway
                _log.debug("%s: cancel_read failed", self._name, exc_info=True)
        try:
            self._port.close()
        except Exception:  # noqa: BLE001 - the port may already be gone (unplugged)
            _log.debug("%s: close failed", self._name, exc_info=True)


def open_serial(url: str, *, timeout: float | None = None, **options: Any) -> SerialLink:
    """Open a port name or pyserial URL with pyserial options (see module docs)."""
    if "baud" in options:
        options["baudrate"] = options.pop("baud")
    unknown = set(options) - _SERIAL_OPTIONS
    if unknown:
        raise LinkOpenError(f"{url}: unknown serial options {sorted(unknown)}")
    target = url
    if target.lower().startswith("tcp://"):
        target = "socket://" + target[len("tcp://"):]
    try:
        port = serial.serial_for_url(target, timeout=timeout, **options)
    except (serial.SerialException, ValueError, OSError) as exc:
        raise LinkOpenError(f"could not open {url}: {exc}") from exc
    _log.info("opened %s through pyserial (%s)", url, type(port).__module__)
    return SerialLink(port, url, timeout=timeout)


def serial_factory(url: str, *, end: str = "host", **options: Any) -> SerialLink:
    """Registry factory for port names and pyserial URLs; either end may use a serial port."""
    if end not in ("host", "pump"):
        raise LinkOpenError(f"end must be 'pump' or 'host', got {end!r}")
    return open_serial(url, **options)
