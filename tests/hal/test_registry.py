"""The backend registry, URL forms and the errors of opening."""

from __future__ import annotations

import pytest

import hal
from hal import Link, LinkOpenError
from hal import registry


class ChatterLink(Link):
    """A third-party backend: answers every write with the written bytes upper-cased."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.pending = b""

    def _read_hook(self, n: int, timeout: float | None) -> bytes:
        data, self.pending = self.pending[:n], self.pending[n:]
        return data

    def _write_hook(self, data: bytes) -> None:
        self.pending += data.upper()


def chatter_factory(url: str, *, end: str = "host", **options) -> Link:
    return ChatterLink(url)


def test_third_party_scheme() -> None:
    hal.register_backend("chatter", chatter_factory)
    try:
        with pytest.raises(ValueError):
            hal.register_backend("chatter", chatter_factory)
        with hal.open("chatter://x", faults="seed=1") as link:
            link.write(b"hello")
            assert link.read(10) == b"HELLO"
        assert "chatter" in hal.backends()
    finally:
        hal.unregister_backend("chatter")
    with pytest.raises(LinkOpenError):
        hal.open("chatter://x")


def test_entry_point_backend(monkeypatch) -> None:
    class FakeEntryPoint:
        name = "plugged"

        def load(self):
            return chatter_factory

    monkeypatch.setattr(registry, "entry_points", lambda group: [FakeEntryPoint()]
                        if group == hal.ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    try:
        with hal.open("plugged://y") as link:
            link.write(b"ab")
            assert link.read(2) == b"AB"
    finally:
        hal.unregister_backend("plugged")


def test_unknown_scheme_and_end() -> None:
    with pytest.raises(LinkOpenError):
        hal.open("nosuch://x")
    with pytest.raises(LinkOpenError):
        hal.open("loop://", end="middle")


def test_virtual_host_needs_a_pump_end() -> None:
    with pytest.raises(LinkOpenError):
        hal.open("virtual://nobody-here")
    pump = hal.open("virtual://once", end="pump")
    host = hal.open("virtual://once")
    with pytest.raises(LinkOpenError):
        hal.open("virtual://once")  # one host per pump end
    with pytest.raises(LinkOpenError):
        hal.open("virtual://once", end="pump")  # one pump end per name
    pump.close()
    host.close()
    pump = hal.open("virtual://once", end="pump")  # the name is free again
    pump.close()


def test_virtual_baud_option_delivers() -> None:
    pump = hal.open("virtual://paced?baud=1000000", end="pump", timeout=2)
    host = hal.open("virtual://paced", timeout=2)
    assert pump.baud == 1_000_000
    host.write(b"x" * 100)
    assert len(pump.read(100)) >= 1
    pump.close()
    host.close()
    with pytest.raises(LinkOpenError):
        hal.open("virtual://paced?baud=fast", end="pump")
    with pytest.raises(LinkOpenError):
        hal.open("virtual://paced", end="pump", baud=0)


def test_bad_urls_and_options() -> None:
    with pytest.raises(LinkOpenError):
        hal.open("/dev/does-not-exist-intrapump")
    with pytest.raises(LinkOpenError):
        hal.open("loop://", parity="Q")
    with pytest.raises(LinkOpenError):
        hal.open("loop://", colour="blue")
    with pytest.raises(LinkOpenError):
        hal.open("tcp-listen://127.0.0.1:notaport", end="pump")
    with pytest.raises(LinkOpenError):
        hal.open("pty", end="host")
    with pytest.raises(LinkOpenError):
        hal.open("pty", end="pump", baudrate=9600)


def test_serial_options_reach_pyserial() -> None:
    with hal.open("loop://", baudrate=9600, parity="E", bytesize=7, stopbits=2, timeout=0.1) as link:
        port = link.port
        assert (port.baudrate, port.parity, port.bytesize, port.stopbits) == (9600, "E", 7, 2)
        assert link.read(1) == b""


def test_tcp_pump_discards_writes_without_client() -> None:
    with hal.open("tcp-listen://127.0.0.1:0", end="pump", timeout=0.05) as pump:
        assert pump.bound_address[1] > 0 and not pump.connected
        pump.write(b"nobody")
        assert pump.bytes_discarded == 6
        assert pump.read(1) == b""


def test_list_ports_returns_port_infos() -> None:
    ports = hal.list_ports()
    assert all(isinstance(p, hal.PortInfo) for p in ports)


def test_pty_pump_writes_never_block_without_host() -> None:
    with hal.open("pty", end="pump", write_timeout=0.02) as pump:
        for _ in range(64):
            pump.write(b"t" * 4096)  # far more than the tty queue holds
        assert pump.overruns >= 1
        with hal.open(pump.device_path, timeout=0.05) as host:
            pump.write(b"fresh")
            got = bytearray()
            while chunk := host.read(100000):
                got += chunk
            assert got.endswith(b"fresh")
