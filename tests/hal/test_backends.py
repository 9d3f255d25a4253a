"""One back-to-back test class run against every backend (python-can style)."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest

from hal import LinkClosed
from tests.hal.conftest import Pair, read_exact


def _transfer(writer, reader, payload: bytes, chunk: int = 4096) -> bytes:
    """Write payload from a thread while reading it here; return what was read."""
    errors: list[BaseException] = []

    def pump_out() -> None:
        try:
            for i in range(0, len(payload), chunk):
                writer.write(payload[i : i + chunk])
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            errors.append(exc)

    thread = threading.Thread(target=pump_out)
    thread.start()
    try:
        got = read_exact(reader, len(payload))
    finally:
        thread.join(10)
    assert not errors, errors
    return got


class TestBackToBack:
    def test_echo_round_trip(self, pair: Pair) -> None:
        pair.host.write(b"ping\x00\xff")
        request = read_exact(pair.pump, 6)
        assert request == b"ping\x00\xff"
        pair.pump.write(request[::-1])
        assert read_exact(pair.host, 6) == b"\xff\x00gnip"

    @pytest.mark.parametrize("direction", ["host_to_pump", "pump_to_host"])
    def test_large_transfer_integrity(self, pair: Pair, direction: str) -> None:
        payload = os.urandom(256 * 1024)
        writer, reader = (pair.host, pair.pump) if direction == "host_to_pump" else (pair.pump, pair.host)
        got = _transfer(writer, reader, payload)
        assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
        assert reader.counters.bytes_read >= len(payload)

    def test_read_returns_at_most_n(self, pair: Pair) -> None:
        pair.host.write(b"abcdefgh")
        first = pair.pump.read(3)
        assert 1 <= len(first) <= 3
        rest = read_exact(pair.pump, 8 - len(first))
        assert first + rest == b"abcdefgh"

    def test_read_timeout_returns_empty(self, pair: Pair) -> None:
        for link in (pair.pump, pair.host):
            link.timeout = 0.05
            assert link.read(10) == b""
            link.timeout = 0
            assert link.read(10) == b""
        assert pair.host.timeout == 0

    def test_timeout_rejects_negative(self, pair: Pair) -> None:
        with pytest.raises(ValueError):
            pair.host.timeout = -1

    def test_local_close_raises_link_closed(self, pair: Pair) -> None:
        pair.host.close()
        pair.host.close()  # idempotent
        assert pair.host.closed
        with pytest.raises(LinkClosed):
            pair.host.read(1)
        with pytest.raises(LinkClosed):
            pair.host.write(b"x")

    def test_close_wakes_blocked_reader(self, pair: Pair) -> None:
        pair.pump.timeout = None
        outcome: list[object] = []

        def reader() -> None:
            try:
                outcome.append(pair.pump.read(1))
            except LinkClosed as exc:
                outcome.append(exc)

        thread = threading.Thread(target=reader)
        thread.start()
        thread.join(0.1)
        pair.pump.close()
        thread.join(10)
        assert not thread.is_alive()
        assert len(outcome) == 1 and isinstance(outcome[0], LinkClosed)

    def test_pump_close_reported_on_host(self, pair: Pair) -> None:
        if pair.loopback:
            pytest.skip("loop:// has a single end")
        pair.host.write(b"last words")
        pair.pump.write(b"bye")
        pair.pump.close()
        if pair.kind in ("virtual", "fault-off", "capture"):
            assert read_exact(pair.host, 3) == b"bye"  # drained before the close is reported
        with pytest.raises(LinkClosed):
            for _ in range(10):  # a few reads may still return buffered bytes
                pair.host.read(100)

    def test_host_close_reported_on_virtual_pump(self, pair: Pair) -> None:
        if pair.kind not in ("virtual", "fault-off", "capture"):
            pytest.skip("pty and tcp pump ends keep serving after the host leaves")
        pair.host.write(b"abc")
        pair.host.close()
        assert read_exact(pair.pump, 3) == b"abc"
        with pytest.raises(LinkClosed):
            pair.pump.read(1)
        with pytest.raises(LinkClosed):
            pair.pump.write(b"x")

    def test_host_reconnects(self, pair: Pair) -> None:
        if pair.reopen_host is None:
            pytest.skip("only pty and tcp pump ends serve successive hosts")
        for round_ in range(3):
            pair.host.write(b"hello %d" % round_)
            assert read_exact(pair.pump, 7) == b"hello %d" % round_
            pair.pump.write(b"ok %d" % round_)
            assert read_exact(pair.host, 4) == b"ok %d" % round_
            pair.host.close()
            pair.pump.timeout = 0.05
            assert pair.pump.read(10) == b""  # no host right now: a timeout, not an error
            pair.pump.timeout = 5.0
            pair.host = pair.reopen_host()
            pair.links.append(pair.host)
