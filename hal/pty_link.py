"""A pseudo-terminal pump end: the emulator appears to any program as a serial port.

``hal.open("pty", end="pump")`` (or ``pty://``) creates a pty in raw mode and exposes its slave
path as :attr:`PtyLink.device_path` (e.g. ``/dev/pts/5``).  Any program that opens a serial port
(pyserial, minicom, screen, a programmer written in another language) opens that path; the host
end of this package does it with ``hal.open(link.device_path)`` or ``hal.open("pty:///dev/pts/5")``.

Surviving reconnects: on Linux, reading the master of a pty whose slave nobody holds fails with
EIO and ``poll`` reports POLLHUP continuously, so waiting for the next host would need a polling
loop.  The pump end therefore keeps a slave descriptor of its own open: the master then simply
blocks (in ``poll``, no CPU) while no host is attached, and a host may close and reopen the tty
any number of times.  Should EIO occur anyway, it is treated as "no peer right now" and waited out
in ``poll`` on the close pipe with a bounded nap (never a busy loop).

What the pump writes while no host is attached waits in the tty's input queue (pyserial discards
it when it opens the port).  If the queue is full for ``write_timeout`` seconds (default 1 s),
the oldest queued bytes are discarded, like a UART overrun with nobody listening, and
``overruns`` is incremented; a write therefore never blocks forever.

Closing the pump end hangs up the tty: the host's reads then raise LinkClosed.

Pacing: a pty moves bytes as fast as the kernel can, whatever baud rate the host sets.  With
``baud=N`` (``pty?baud=9600``, or ``pumpsim serve --url pty --baud 9600``) the pump end emulates a
line of that speed with 10 bits per byte, both ways: a write returns once its last byte would be
on the line, and bytes read are handed over only when they would have arrived, so tests of a
programmer see the delays of a real slow serial line.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import termios
import time
import tty
from typing import Any

from hal.base import Link
from hal.errors import LinkClosed, LinkOpenError
from hal.urls import split_url

_log = logging.getLogger(__name__)

_NO_PEER_NAP_S = 0.05
BITS_PER_BYTE = 10


class PtyLink(Link):
    """The pump (master) end of a pseudo-terminal; see the module documentation."""

    def __init__(self, *, timeout: float | None = None, write_timeout: float = 1.0,
                 baud: int | None = None) -> None:
        if baud is not None and (isinstance(baud, bool) or not isinstance(baud, int) or baud <= 0):
            raise LinkOpenError(f"baud must be a positive integer, got {baud!r}")
        master, keeper = os.openpty()
        try:
            tty.setraw(keeper)
            os.set_blocking(master, False)
            path = os.ttyname(keeper)
        except OSError as exc:
            os.close(master)
            os.close(keeper)
            raise LinkOpenError(f"could not configure pty: {exc}") from exc
        super().__init__(f"pty://{path}", timeout=timeout)
        self._master = master
        self._keeper = keeper
        self._device_path = path
        self._write_timeout = write_timeout
        self._wake_r, self._wake_w = os.pipe()
        self.overruns = 0
        self._overrun_reported = False
        self._baud = baud
        self._tx_free_at = 0.0
        self._rx_free_at = 0.0
        _log.info("pty pump end ready on %s%s", path, f" (paced at {baud} baud)" if baud else "")

    @property
    def baud(self) -> int | None:
        """Pacing in bits per second (10 bits per byte), or None for as fast as possible."""
        return self._baud

    def _pace(self, free_at: float, nbytes: int) -> float:
        """Sleep until ``nbytes`` sent after ``free_at`` would be through the line; return the
        time the line is free again."""
        now = time.monotonic()
        done = max(now, free_at) + nbytes * BITS_PER_BYTE / self._baud  # type: ignore[operator]
        if done > now:
            time.sleep(done - now)
        return done

    @property
    def device_path(self) -> str:
        """Path of the tty a host program opens, e.g. ``/dev/pts/5``."""
        return self._device_path

    def _wait(self, fd: int, events: int, timeout: float | None) -> bool:
        """Wait until ``fd`` has ``events`` or the close pipe fires; True if ``fd`` is ready."""
        poller = select.poll()
        poller.register(fd, events)
        poller.register(self._wake_r, select.POLLIN)
        ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
        ready = poller.poll(ms)
        return any(rfd == fd for rfd, _ in ready) and not self._closed

    def _read_hook(self, n: int, timeout: float | None) -> bytes:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._closed:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if self._wait(self._master, select.POLLIN, left):
                try:
                    data = os.read(self._master, n)
                except BlockingIOError:
                    data = b""
                except OSError as exc:
                    if self._closed:
                        return b""
                    if exc.errno != errno.EIO:
                        raise LinkClosed(f"{self._name}: {exc}") from exc
                    # No slave open right now: wait for one without spinning.
                    nap = _NO_PEER_NAP_S if left is None else min(_NO_PEER_NAP_S, left)
                    select.select([self._wake_r], [], [], nap)
                    data = b""
                if data:
                    self._overrun_reported = False
                    if self._baud:
                        self._rx_free_at = self._pace(self._rx_free_at, len(data))
                    return data
            if deadline is not None and time.monotonic() >= deadline:
                return b""
        return b""

    def _write_hook(self, data: bytes) -> None:
        if self._baud:
            self._tx_free_at = self._pace(self._tx_free_at, len(data))
        view = memoryview(data)
        while view:
            if self._closed:
                raise LinkClosed(f"{self._name}: link closed while writing")
            try:
                sent = os.write(self._master, view)
                view = view[sent:]
                continue
            except BlockingIOError:
                pass
            except OSError as exc:
                raise LinkClosed(f"{self._name}: {exc}") from exc
            if not self._wait(self._master, select.POLLOUT, self._write_timeout) and not self._closed:
                # Nobody is draining the tty: drop what is queued, as an unread UART would.
                termios.tcflush(self._keeper, termios.TCIFLUSH)
                self.overruns += 1
                level = logging.DEBUG if self._overrun_reported else logging.WARNING
                self._overrun_reported = True
                _log.log(level, "%s: nobody reads the tty, discarded its queued bytes", self._name)

    def _close_hook(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        for fd in (self._master, self._keeper, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        # The read end of the wake pipe stays open until garbage collection so that a reader
        # still inside poll() never sees a recycled descriptor.

    def __del__(self) -> None:
        try:
            os.close(self._wake_r)
        except (OSError, AttributeError):
            pass


def _query(url: str) -> dict[str, str]:
    if url.startswith("pty?"):
        url = "pty://?" + url[4:]
    return split_url(url)[2] if "://" in url else {}


def pty_factory(url: str, *, end: str = "host", **options: Any) -> Link:
    """Registry factory: ``pty``/``pty://`` creates a pump end; ``pty:///dev/pts/N`` opens it as host."""
    path = url.split("://", 1)[1].split("?", 1)[0] if "://" in url else ""
    if end == "pump":
        if path:
            raise LinkOpenError(f"{url}: a pty pump end creates its own tty; use plain 'pty'")
        for key, value in _query(url).items():
            if key != "baud":
                raise LinkOpenError(f"pty: unknown URL parameter {key!r} (known: baud)")
            try:
                options["baud"] = int(value)
            except ValueError:
                raise LinkOpenError(f"pty: baud must be an integer, got {value!r}") from None
        unknown = set(options) - {"timeout", "write_timeout", "baud"}
        if unknown:
            raise LinkOpenError(f"pty: unknown options {sorted(unknown)} (known: timeout, write_timeout, baud)")
        return PtyLink(**options)
    if end != "host":
        raise LinkOpenError(f"end must be 'pump' or 'host', got {end!r}")
    if not path:
        raise LinkOpenError("a pty host end needs the tty path: pty:///dev/pts/N or just /dev/pts/N")
    from hal.serial_link import open_serial

    return open_serial(path, **options)
