"""Fixtures for the hal tests: one connected (pump, host) pair per backend."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

import hal
from hal.base import Link

_names = itertools.count(1)


@dataclass
class Pair:
    """A connected pump end and host end of one backend, and how to reconnect the host."""

    kind: str
    pump: Link
    host: Link
    reopen_host: Callable[[], Link] | None = None
    loopback: bool = False  # one object that is its own peer (pyserial loop://)
    links: list[Link] = field(default_factory=list)

    def close_all(self) -> None:
        for link in {id(x): x for x in [self.pump, self.host, *self.links]}.values():
            link.close()


def read_exact(link: Link, n: int) -> bytes:
    """Read exactly n bytes (the link's timeout bounds each read; a timeout fails the test)."""
    out = bytearray()
    while len(out) < n:
        chunk = link.read(n - len(out))
        assert chunk, f"timed out after {len(out)} of {n} bytes on {link.name}"
        out += chunk
    return bytes(out)


def _make_pair(kind: str, tmp_path) -> Pair:
    timeout = 5.0
    if kind == "virtual":
        name = f"test-{next(_names)}"
        pump = hal.open(f"virtual://{name}", end="pump", timeout=timeout)
        host = hal.open(f"virtual://{name}", timeout=timeout)
        return Pair(kind, pump, host)
    if kind == "pty":
        pump = hal.open("pty", end="pump", timeout=timeout)
        host = hal.open(pump.device_path, timeout=timeout)
        return Pair(kind, pump, host, lambda: hal.open(pump.device_path, timeout=timeout))
    if kind == "tcp":
        pump = hal.open("tcp-listen://127.0.0.1:0", end="pump", timeout=timeout)
        url = "tcp://%s:%d" % pump.bound_address
        host = hal.open(url, timeout=timeout)
        return Pair(kind, pump, host, lambda: hal.open(url, timeout=timeout))
    if kind == "loop":
        link = hal.open("loop://", timeout=timeout)
        return Pair(kind, link, link, loopback=True)
    if kind == "fault-off":
        name = f"test-{next(_names)}"
        pump = hal.open(f"virtual://{name}", end="pump", timeout=timeout, faults="seed=1")
        host = hal.open(f"fault+virtual://{name}?seed=2", timeout=timeout)
        return Pair(kind, pump, host)
    if kind == "capture":
        name = f"test-{next(_names)}"
        pump = hal.open(f"virtual://{name}", end="pump", timeout=timeout,
                        capture=str(tmp_path / "pump.pcapng"))
        host = hal.open(f"virtual://{name}", timeout=timeout, capture=str(tmp_path / "host.pcapng"))
        return Pair(kind, pump, host)
    raise AssertionError(kind)


BACKENDS = ["virtual", "pty", "tcp", "loop", "fault-off", "capture"]


@pytest.fixture(params=BACKENDS)
def pair(request, tmp_path) -> Iterator[Pair]:
    """A connected pair of every backend in turn."""
    made = _make_pair(request.param, tmp_path)
    try:
        yield made
    finally:
        made.close_all()
