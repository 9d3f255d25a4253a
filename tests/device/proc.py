"""Helpers for talking to a ``pumpsim serve`` child process (:class:`host_tools.simprocess.PumpsimProcess`)."""
from __future__ import annotations

import socket
from typing import Callable

import serial

from host_tools.simprocess import PumpsimProcess

__all__ = ["PumpsimProcess", "TcpBytes", "serial_reader"]


def serial_reader(port: serial.Serial) -> Callable[[int], bytes]:
    """read(n) for a pyserial port that returns as soon as bytes are there (pyserial's own
    read(n) waits for all n bytes or the timeout)."""
    def read(n: int) -> bytes:
        data = port.read(1)
        if data and port.in_waiting:
            data += port.read(min(n - 1, port.in_waiting))
        return data
    return read


class TcpBytes:
    """A blocking-with-timeout byte reader/writer on a TCP connection; EOF raises EOFError."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("socket://").rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.sock.settimeout(0.05)

    def read(self, n: int) -> bytes:
        try:
            data = self.sock.recv(n)
        except (socket.timeout, BlockingIOError):
            return b""
        if not data:
            raise EOFError("pump closed the connection")
        return data

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        self.sock.close()
