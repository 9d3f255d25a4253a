"""Running ``pumpsim serve`` in a subprocess for tests."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import IO, Callable

import serial

PUMPSIM = [sys.executable, "-m", "host_tools.pumpsim"]


class PumpsimProcess:
    """``pumpsim serve ARGS`` with stderr to ``log_path``; ``device`` is the announced URL."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        self.log_path = log_path
        self._log: IO[str] = open(log_path, "a", encoding="utf-8")
        self.proc = subprocess.Popen(PUMPSIM + ["serve", *args], stdout=subprocess.PIPE,
                                     stderr=self._log, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("device: "):
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"no device line: {line!r}; log: {self.log()}")
        self.device = line[len("device: "):].strip()

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(encoding="utf-8")

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM; the exit code."""
        self.proc.terminate()
        return self.wait(timeout)

    def wait(self, timeout: float = 10) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()
            if self.proc.stdout is not None:
                self.proc.stdout.close()


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
