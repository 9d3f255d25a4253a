"""Fault plans switched while the link is in use: set, update, clear, silent."""
from __future__ import annotations

import threading

import pytest

import hal
from hal import FaultInjector, FaultPlan, FaultSpecError, parse_fault_spec

CHUNK = bytes(range(16))


def _drain(link) -> bytes:
    link.timeout = 0
    out = b""
    while chunk := link.read(65536):
        out += chunk
    return out


@pytest.fixture
def pair():
    pump, host = hal.virtual_pair()
    faulty = FaultInjector(pump)
    yield faulty, host
    faulty.close()
    host.close()


def test_switching_drop_on_and_off_while_in_use(pair) -> None:
    faulty, host = pair
    faulty.write(CHUNK)
    faulty.update(drop=1.0)
    faulty.write(CHUNK)
    faulty.clear("drop")
    faulty.write(CHUNK)
    assert _drain(host) == CHUNK * 2
    assert faulty.stats.dropped == 1 and faulty.plan == FaultPlan()


def test_silent_swallows_everything_and_counts_it(pair) -> None:
    faulty, host = pair
    faulty.update(silent=True)
    assert faulty.plan.active
    for _ in range(5):
        faulty.write(CHUNK)
    assert _drain(host) == b"" and faulty.stats.silenced == 5
    faulty.clear()
    faulty.write(CHUNK)
    assert _drain(host) == CHUNK


def test_silent_on_the_receive_side(pair) -> None:
    faulty, host = pair
    faulty.set_plan(FaultPlan(silent=True, direction="rx"))
    host.write(CHUNK)
    faulty.timeout = 0
    assert faulty.read(100) == b""
    faulty.clear()
    host.write(CHUNK)
    assert faulty.read(100) == CHUNK


@pytest.mark.parametrize("changes, words", [
    ({"drop": 2.0}, "drop=2.0 is not a number in [0, 1]"),
    ({"speed": 1}, "unknown fault key 'speed'"),
    ({"silent": "yes"}, "silent must be true or false"),
    ({"delay_ms": -1}, "delay_ms must be an integer >= 0"),
])
def test_a_bad_update_changes_nothing(pair, changes, words) -> None:
    faulty, _ = pair
    faulty.update(corrupt=0.5)
    before = faulty.plan
    with pytest.raises(FaultSpecError) as err:
        faulty.update(**changes)
    assert words in str(err.value) and faulty.plan is before


def test_clear_names_only_link_faults(pair) -> None:
    faulty, _ = pair
    with pytest.raises(FaultSpecError, match="'seed' is not a link fault"):
        faulty.clear("seed")


def test_silent_in_a_spec_string() -> None:
    assert parse_fault_spec("silent=true").silent is True
    assert parse_fault_spec("silent=0").silent is False
    with pytest.raises(FaultSpecError, match="true or false"):
        parse_fault_spec("silent=maybe")


def test_a_new_seed_restarts_the_sequence(pair) -> None:
    faulty, _ = pair
    faulty.set_plan(FaultPlan(drop=0.5, seed=11))
    first = [bool(faulty.mangle(CHUNK)) for _ in range(50)]
    faulty.set_plan(FaultPlan(drop=0.5, seed=12))
    faulty.set_plan(FaultPlan(drop=0.5, seed=11))
    assert [bool(faulty.mangle(CHUNK)) for _ in range(50)] == first


def test_switching_from_another_thread_while_writing(pair) -> None:
    faulty, host = pair
    done = threading.Event()

    def switch() -> None:
        for i in range(200):
            faulty.update(drop=0.0 if i % 2 else 1.0)
        faulty.clear()
        done.set()

    t = threading.Thread(target=switch)
    t.start()
    written = 0
    while not done.is_set() or written < 10:
        faulty.write(CHUNK)
        written += 1
    t.join()
    received = _drain(host)
    assert len(received) % len(CHUNK) == 0  # whole chunks: never half a plan
    assert received.count(CHUNK) + faulty.stats.dropped == written
