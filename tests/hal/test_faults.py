"""Fault injection: specs, statistics with fixed seeds, reproducibility."""

from __future__ import annotations

import pytest

import hal
from hal import FaultInjector, FaultPlan, FaultSpecError, parse_fault_spec
from tests.hal.conftest import read_exact

N = 4000
CHUNK = bytes(range(16))


def _drain(link) -> list[bytes]:
    link.timeout = 0
    chunks = []
    while chunk := link.read(65536):
        chunks.append(chunk)
    return chunks


def _run(plan: FaultPlan, count: int = N) -> tuple[bytes, FaultInjector]:
    pump, host = hal.virtual_pair()
    faulty = FaultInjector(host, plan)
    for _ in range(count):
        faulty.write(CHUNK)
    received = b"".join(_drain(pump))
    faulty.close()
    pump.close()
    return received, faulty


def test_parse_fault_spec() -> None:
    plan = parse_fault_spec("drop=0.01, corrupt=0.001,seed=7,direction=both,delay_ms=3")
    assert plan == FaultPlan(drop=0.01, corrupt=0.001, seed=7, direction="both", delay_ms=3)
    assert parse_fault_spec("") == FaultPlan()
    assert not FaultPlan().active and plan.active


@pytest.mark.parametrize(
    "spec",
    ["dorp=0.1", "drop=1.5", "drop=-0.1", "drop=abc", "seed=x", "drop", "drop=0.1,drop=0.2",
     "direction=sideways", "max_fragments=1", "delay_ms=-5"],
)
def test_bad_fault_specs_are_refused(spec: str) -> None:
    with pytest.raises(FaultSpecError):
        parse_fault_spec(spec)


def test_bad_fault_url_is_refused() -> None:
    hal.open("virtual://faulturl", end="pump").close()
    with pytest.raises(FaultSpecError):
        hal.open("fault+virtual://faulturl?drop=2", end="pump")
    with pytest.raises(hal.LinkOpenError):
        hal.open("fault+virtual://faulturl?bogus=1", end="pump")  # unknown key reaches virtual://


def test_fault_url_builds_plan() -> None:
    pump = hal.open("fault+virtual://fu1?drop=0.25&corrupt=0.001&seed=7", end="pump")
    try:
        assert isinstance(pump, FaultInjector)
        assert pump.plan == FaultPlan(drop=0.25, corrupt=0.001, seed=7)
        assert pump.name == "fault+virtual://fu1#pump"
    finally:
        pump.close()


def test_drop_rate_close_to_probability() -> None:
    received, faulty = _run(FaultPlan(drop=0.1, seed=11))
    dropped = faulty.stats.dropped
    assert faulty.stats.chunks == N
    assert 0.08 * N < dropped < 0.12 * N  # ~8 standard deviations wide
    assert len(received) == (N - dropped) * len(CHUNK)


def test_same_seed_same_faults_other_seed_differs() -> None:
    plan = dict(drop=0.05, corrupt=0.01, duplicate=0.05, fragment=0.2)
    first, a = _run(FaultPlan(seed=3, **plan), 500)
    second, b = _run(FaultPlan(seed=3, **plan), 500)
    third, _ = _run(FaultPlan(seed=4, **plan), 500)
    assert first == second and a.stats == b.stats
    assert first != third


def test_corrupt_flips_single_bits() -> None:
    received, faulty = _run(FaultPlan(corrupt=0.01, seed=5), 1000)
    sent = CHUNK * 1000
    assert len(received) == len(sent)
    diffs = [a ^ b for a, b in zip(received, sent) if a != b]
    assert len(diffs) == faulty.stats.bits_flipped
    assert all(bin(d).count("1") == 1 for d in diffs)
    assert 0.007 * len(sent) < len(diffs) < 0.013 * len(sent)


def test_duplicate_delivers_chunks_twice() -> None:
    received, faulty = _run(FaultPlan(duplicate=0.2, seed=9), 1000)
    assert 150 < faulty.stats.duplicated < 250
    assert received == CHUNK * (1000 + faulty.stats.duplicated)


def test_fragment_preserves_bytes() -> None:
    pump, host = hal.virtual_pair()
    faulty = FaultInjector(host, FaultPlan(fragment=1.0, max_fragments=5, seed=2))
    payload = bytes(range(256)) * 4
    faulty.write(payload)
    assert faulty.stats.fragmented == 1
    assert 2 <= faulty.stats.fragments <= 5
    assert faulty.inner.counters.writes == faulty.stats.fragments
    assert read_exact(pump, len(payload)) == payload
    faulty.close()
    pump.close()


def test_delay_counts_and_delivers() -> None:
    received, faulty = _run(FaultPlan(delay=0.5, delay_ms=0, seed=1), 100)
    assert 30 < faulty.stats.delayed < 70
    assert received == CHUNK * 100


def test_rx_direction_faults_reads() -> None:
    pump, host = hal.virtual_pair(timeout=0.2)
    faulty = FaultInjector(host, FaultPlan(corrupt=1.0, direction="rx", seed=1))
    faulty.write(b"\x00" * 8)  # tx untouched
    assert read_exact(pump, 8) == b"\x00" * 8
    pump.write(b"\x00" * 8)
    got = read_exact(faulty, 8)
    assert all(bin(b).count("1") == 1 for b in got)
    faulty.close()
    pump.close()


def test_rx_drop_skips_chunks_until_timeout() -> None:
    pump, host = hal.virtual_pair(timeout=0.05)
    faulty = FaultInjector(host, FaultPlan(drop=1.0, direction="rx", seed=1))
    pump.write(b"lost")
    assert faulty.read(10) == b""
    assert faulty.stats.dropped == 1
    faulty.close()
    pump.close()


def test_wrapper_forwards_inner_attributes() -> None:
    pump = hal.open("pty", end="pump", faults="drop=0")
    try:
        assert pump.device_path.startswith("/dev/")
    finally:
        pump.close()
