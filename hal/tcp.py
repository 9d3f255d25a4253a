"""A TCP pump end: ``tcp-listen://HOST:PORT`` listens and serves one client at a time.

The listening socket is bound when the link opens (port 0 picks a free port; the actual address
is :attr:`TcpListenLink.bound_address`; an empty HOST, as in ``tcp-listen://:7070``, means the
loopback address 127.0.0.1, never every interface).  Reads wait for a client if none is
connected, then for its bytes; when the client disconnects, the link waits for the next one, so a
pump end keeps serving across host reconnects without being reopened.
:attr:`TcpListenLink.connections` counts accepted clients, so a device loop can notice a new host
(and, say, drop its session).

No client can hold the pump (defaults, all options of the URL factory and the constructor):

* ``write_timeout`` (0.5 s): a write that cannot make progress for that long (the client does not
  read) drops the client and discards the rest; a write never blocks longer, so a stop request
  is honoured within it.
* ``idle_timeout`` (600 s): a client that has sent nothing for that long is disconnected.
* ``yield_after`` (10 s): a client that has sent nothing for that long gives way to a client
  waiting to connect.
* ``prove_within`` (5 s): a client the pump has not vouched for (:meth:`TcpListenLink.vouch`,
  called by the device once the client proved a key) that long after it connected gives way
  to a client waiting to connect, however much it sends: someone without a key cannot hold the
  only connection by sending junk or wrong guesses.
* Otherwise a second client while an active one is connected is refused at once: it receives the line
  ``intrapump: busy, another host is connected`` and the connection is closed (logged, at most
  once a second with a count).
* ``rcvbuf`` (64 KiB): the receive buffer, which bounds how much unread input (junk included)
  can queue ahead of a request.

Bytes written while no client is connected are discarded (nobody is on the line), and counted in
``bytes_discarded``.  The host end is pyserial's ``socket://HOST:PORT`` (alias ``tcp://``).
All waiting is in ``select`` on the sockets and a close pipe: an idle pump end uses no CPU.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
from typing import Any

from hal.base import Link
from hal.errors import LinkClosed, LinkOpenError
from hal.urls import split_url

_log = logging.getLogger(__name__)


NOTE_WINDOW_S = 10.0
NOTES_PER_WINDOW = 20
BUSY_LINE = b"intrapump: busy, another host is connected\r\n"
LOOPBACK = "127.0.0.1"


class TcpListenLink(Link):
    """A listening pump end; see the module documentation (times in seconds)."""

    def __init__(self, host: str, port: int, *, timeout: float | None = None, backlog: int = 1,
                 write_timeout: float = 0.5, idle_timeout: float = 600.0,
                 yield_after: float = 10.0, prove_within: float = 5.0,
                 rcvbuf: int = 64 * 1024) -> None:
        try:
            listener = socket.create_server((host, port), backlog=backlog, reuse_port=False)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # inherited
        except OSError as exc:
            raise LinkOpenError(f"could not listen on {host}:{port}: {exc}") from exc
        self.write_timeout = write_timeout
        self.idle_timeout = idle_timeout
        self.yield_after = yield_after
        self.prove_within = prove_within
        self._connected_at = time.monotonic()
        self._vouched = False
        self.refused_clients = 0
        self._last_rx = time.monotonic()
        self._refusals_unlogged = 0
        self._next_refusal_log = 0.0
        self._note_window = 0.0
        self._notes = self._notes_hidden = 0
        listener.setblocking(False)
        self._listener = listener
        self.bound_address: tuple[str, int] = listener.getsockname()[:2]
        super().__init__(f"tcp-listen://{self.bound_address[0]}:{self.bound_address[1]}", timeout=timeout)
        self._client: socket.socket | None = None
        self._client_lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        self.connections = 0
        self.bytes_discarded = 0
        _log.info("%s listening", self._name)

    @property
    def connected(self) -> bool:
        """True while a client is connected (as far as the last read or write knows)."""
        return self._client is not None

    def _accept(self) -> None:
        try:
            conn, peer = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if self._closed:
                return
            raise LinkClosed(f"{self._name}: accept failed: {exc}") from exc
        current = self._client
        if current is not None and not self._gone_or_idle(current):
            self._refuse(conn, peer)
            return
        if current is not None:
            self._drop_client(current, "gave way to a new client after "
                              f"{time.monotonic() - self._last_rx:.0f} s without sending"
                              + ("" if self._vouched else ", having proved no key"))
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._client_lock:
            self._client = conn
            self._vouched = False
        self._last_rx = self._connected_at = time.monotonic()
        self.connections += 1
        self._note(f"{self._name}: client {peer[0]}:{peer[1]} connected")

    def vouch(self) -> None:
        """The pump saw the current client prove a key: from now on it gives way to a new
        client only when silent for ``yield_after`` (not after ``prove_within``)."""
        with self._client_lock:
            if self._client is not None:
                self._vouched = True

    def _gone_or_idle(self, conn: socket.socket) -> bool:
        """True if the current client has hung up, sent nothing for ``yield_after``, or proved
        no key within ``prove_within`` of connecting."""
        try:
            if conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                return True
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            return True
        now = time.monotonic()
        if not self._vouched and now - self._connected_at >= self.prove_within:
            return True
        return now - self._last_rx >= self.yield_after

    def _refuse(self, conn: socket.socket, peer: Any) -> None:
        self.refused_clients += 1
        try:
            conn.setblocking(False)
            conn.send(BUSY_LINE)
        except OSError:
            pass
        conn.close()
        self._refusals_unlogged += 1
        now = time.monotonic()
        if now >= self._next_refusal_log:
            _log.warning("%s: refused %d client(s) (latest %s:%s): another host is connected",
                         self._name, self._refusals_unlogged, peer[0], peer[1])
            self._refusals_unlogged = 0
            self._next_refusal_log = now + 1.0

    def _drop_client(self, conn: socket.socket, why: str) -> None:
        with self._client_lock:
            if self._client is conn:
                self._client = None
        try:
            conn.close()
        except OSError:
            pass
        self._note(f"{self._name}: client gone ({why}); waiting for the next one")

    def _note(self, text: str) -> None:
        """Log a connection change; at most NOTES_PER_WINDOW lines per NOTE_WINDOW_S, the
        rest counted and reported with the next line written (a connect flood cannot flood
        the log)."""
        now = time.monotonic()
        if now - self._note_window >= NOTE_WINDOW_S:
            self._note_window, self._notes = now, 0
        if self._notes >= NOTES_PER_WINDOW:
            self._notes_hidden += 1
            return
        self._notes += 1
        if self._notes_hidden:
            text += f" ({self._notes_hidden} earlier connection changes not logged)"
            self._notes_hidden = 0
        _log.info("%s", text)

    def _read_hook(self, n: int, timeout: float | None) -> bytes:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._closed:
            conn = self._client
            socks = [self._listener, self._wake_r] + ([conn] if conn is not None else [])
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if conn is not None:  # wake up in time to enforce the idle timeout
                idle_left = max(0.0, self._last_rx + self.idle_timeout - time.monotonic())
                left = idle_left if left is None else min(left, idle_left)
            try:
                ready, _, _ = select.select(socks, [], [], left)
            except (OSError, ValueError):
                return b""  # closed under us
            if self._closed:
                return b""
            if conn is not None and conn in ready:
                data = self._receive(conn, n)
                if data:
                    return data
            if self._listener in ready:
                self._accept()
            conn = self._client
            if conn is not None and time.monotonic() - self._last_rx >= self.idle_timeout:
                self._drop_client(conn, f"idle for {self.idle_timeout:g} s")
            if deadline is not None and time.monotonic() >= deadline:
                return b""
        return b""

    def _receive(self, conn: socket.socket, n: int) -> bytes:
        try:
            data = conn.recv(n)
        except BlockingIOError:
            return b""
        except OSError as exc:
            self._drop_client(conn, str(exc))
            return b""
        if not data:
            self._drop_client(conn, "disconnected")
            return b""
        self._last_rx = time.monotonic()
        return data

    def _write_hook(self, data: bytes) -> None:
        if self._client is None:
            self._accept()
        conn = self._client
        if conn is None:
            self.bytes_discarded += len(data)
            return
        view = memoryview(data)
        deadline = time.monotonic() + self.write_timeout
        while view:
            if self._closed:
                raise LinkClosed(f"{self._name}: link closed while writing")
            try:
                view = view[conn.send(view):]
                continue
            except BlockingIOError:
                pass
            except OSError as exc:
                self._drop_client(conn, str(exc))
                self.bytes_discarded += len(view)
                return
            left = deadline - time.monotonic()
            if left <= 0:
                self._drop_client(conn, f"not reading: a write made no progress for "
                                  f"{self.write_timeout:g} s")
                self.bytes_discarded += len(view)
                return
            select.select([self._wake_r], [conn], [], left)
            if self._client is not conn:
                self.bytes_discarded += len(view)
                return

    def _close_hook(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        with self._client_lock:
            conn, self._client = self._client, None
        for sock in (conn, self._listener):
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
        os.close(self._wake_w)

    def __del__(self) -> None:
        try:
            os.close(self._wake_r)
        except (OSError, AttributeError):
            pass


_OPTIONS = {"timeout", "backlog", "write_timeout", "idle_timeout", "yield_after", "prove_within",
            "rcvbuf"}


def tcp_listen_factory(url: str, *, end: str = "pump", **options: Any) -> TcpListenLink:
    """Registry factory for ``tcp-listen://HOST:PORT`` (options: timeout, backlog,
    write_timeout, idle_timeout, yield_after, prove_within, rcvbuf). An empty HOST is the
    loopback address."""
    _, address, query = split_url(url)
    if query:
        raise LinkOpenError(f"{url}: tcp-listen:// takes no URL parameters")
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise LinkOpenError(f"{url}: expected tcp-listen://HOST:PORT with PORT in 0..65535")
    host = host.strip("[]") or LOOPBACK
    unknown = set(options) - _OPTIONS
    if unknown:
        raise LinkOpenError(f"tcp-listen://: unknown options {sorted(unknown)}")
    return TcpListenLink(host, int(port_text), **options)


def tcp_factory(url: str, *, end: str = "host", **options: Any) -> Link:
    """Registry factory for ``tcp://HOST:PORT``: the host end through pyserial's ``socket://``.

    With ``end="pump"`` it listens instead (same as ``tcp-listen://``).
    """
    if end == "pump":
        return tcp_listen_factory("tcp-listen://" + url.split("://", 1)[1], **options)
    from hal.serial_link import open_serial

    return open_serial(url, **options)
