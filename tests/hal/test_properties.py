"""Property tests: fragmentation never changes bytes; captures read back exactly what was written."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings, strategies as st

import hal
from hal.capture import CaptureWriter, read_capture

chunks = st.lists(st.binary(min_size=1, max_size=200), min_size=1, max_size=20)


@settings(max_examples=100, deadline=None)
@given(chunks, st.integers(0, 2**32), st.integers(2, 8))
def test_fragment_and_delay_preserve_the_stream(payloads, seed, max_fragments) -> None:
    pump, host = hal.virtual_pair(timeout=0)
    plan = hal.FaultPlan(fragment=0.7, delay=0.3, delay_ms=0, max_fragments=max_fragments, seed=seed)
    faulty = hal.FaultInjector(host, plan)
    for payload in payloads:
        faulty.write(payload)
    received = bytearray()
    while chunk := pump.read(1 << 16):
        received += chunk
    assert bytes(received) == b"".join(payloads)
    assert host.counters.writes == len(payloads) - faulty.stats.fragmented + faulty.stats.fragments
    faulty.close()
    pump.close()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["tx", "rx"]), st.binary(max_size=70),
                          st.integers(0, 2**63 - 1)), max_size=15))
def test_capture_round_trip(records) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.pcapng"
        writer = CaptureWriter(path)
        for direction, data, stamp in records:
            writer.record(direction, data, time_ns=stamp)
        writer.close()
        back = [(c.direction, c.data, c.time_ns) for c in read_capture(path)]
    assert back == records
