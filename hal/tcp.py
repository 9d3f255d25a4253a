"""A TCP pump end: ``tcp-listen://HOST:PORT`` listens and serves one client at a time.

The listening socket is bound when the link opens (port 0 picks a free port; the actual address
is :attr:`TcpListenLink.bound_address`).  Reads wait for a client if none is connected, then for
its bytes; when the client disconnects, the link waits for the next one, so a pump end keeps
serving across host reconnects without being reopened.  Other clients wait in the listen backlog
until the current one leaves.  :attr:`TcpListenLink.connections` counts accepted clients, so a
device loop can notice a new host (and, say, drop its session).

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


class TcpListenLink(Link):
    """A listening pump end; see the module documentation."""

    def __init__(self, host: str, port: int, *, timeout: float | None = None, backlog: int = 1) -> None:
        try:
            listener = socket.create_server((host, port), backlog=backlog, reuse_port=False)
        except OSError as exc:
            raise LinkOpenError(f"could not listen on {host}:{port}: {exc}") from exc
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
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._client_lock:
            self._client = conn
        self.connections += 1
        _log.info("%s: client %s:%s connected", self._name, peer[0], peer[1])

    def _drop_client(self, conn: socket.socket, why: str) -> None:
        with self._client_lock:
            if self._client is conn:
                self._client = None
        try:
            conn.close()
        except OSError:
            pass
        _log.info("%s: client gone (%s); waiting for the next one", self._name, why)

    def _read_hook(self, n: int, timeout: float | None) -> bytes:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._closed:
            conn = self._client
            sock = conn if conn is not None else self._listener
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                ready, _, _ = select.select([sock, self._wake_r], [], [], left)
            except (OSError, ValueError):
                return b""  # closed under us
            if self._closed:
                return b""
            if sock in ready:
                if conn is None:
                    self._accept()
                else:
                    try:
                        data = conn.recv(n)
                    except BlockingIOError:
                        data = None
                    except OSError as exc:
                        self._drop_client(conn, str(exc))
                        data = None
                    else:
                        if data:
                            return data
                        self._drop_client(conn, "disconnected")
            if deadline is not None and time.monotonic() >= deadline:
                return b""
        return b""

    def _write_hook(self, data: bytes) -> None:
        if self._client is None:
            self._accept()
        conn = self._client
        if conn is None:
            self.bytes_discarded += len(data)
            return
        view = memoryview(data)
        while view:
            if self._closed:
                raise LinkClosed(f"{self._name}: link closed while writing")
            try:
                view = view[conn.send(view):]
            except BlockingIOError:
                select.select([self._wake_r], [conn], [])
            except OSError as exc:
                self._drop_client(conn, str(exc))
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


def tcp_listen_factory(url: str, *, end: str = "pump", **options: Any) -> TcpListenLink:
    """Registry factory for ``tcp-listen://HOST:PORT`` (options: timeout, backlog)."""
    _, address, query = split_url(url)
    if query:
        raise LinkOpenError(f"{url}: tcp-listen:// takes no URL parameters")
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise LinkOpenError(f"{url}: expected tcp-listen://HOST:PORT with PORT in 0..65535")
    host = host.strip("[]") or "0.0.0.0"
    unknown = set(options) - {"timeout", "backlog"}
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
