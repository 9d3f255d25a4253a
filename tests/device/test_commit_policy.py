"""When the state is written: every logged event and every acknowledged change at once; time
that passed with nothing logged (a status read on a running pump) with the next change or the
device's checkpoint, so reads cost no storage write (safety invariant SAF-9 of REQUIREMENTS.md still holds)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

import hal
from firmware_sim import ManualClock, Schedule, Storage, TherapyState, load_profile
from firmware_sim.device import VirtualPump, start_virtual_pump
from firmware_sim.pump import Pump
from protocol import Role
from protocol import MessageType as MT

from .host import RawHost, ok, program

pytestmark = pytest.mark.requirement("PER-1", "SAF-9")

ML = 1_000_000
HOUR_MS = 3_600_000


def stored_t(storage: Storage) -> int:
    state = storage.load_state()
    assert state is not None
    return state["t_ms"]


def running_pump(storage: Storage) -> Pump:
    pump = Pump(load_profile("ip20"), storage)
    pump.program_therapy("morphine", 10_000, Schedule.constant(ML))
    pump.refill_begin()
    pump.refill_withdrawn(0)
    pump.refill_complete(20 * ML, 10_000)
    pump.start()
    return pump


def test_time_only_progress_waits_for_a_commit(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "p.db")
    pump = running_pump(storage)
    n = storage.event_count()
    pump.advance_to(HOUR_MS, commit=False)
    assert pump.delivered_nl > 0 and pump.uncommitted_ms == HOUR_MS
    assert stored_t(storage) == 0 and storage.event_count() == n
    pump.checkpoint()
    assert stored_t(storage) == HOUR_MS and pump.uncommitted_ms == 0
    again = Pump(load_profile("ip20"), Storage(tmp_path / "p.db"))
    assert again.status() == pump.status()


def test_an_event_is_committed_at_once(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "p.db")
    pump = running_pump(storage)
    t = pump.next_event_ms()
    assert t is not None
    pump.advance_to(t + 1, commit=False)  # crosses the low-reservoir threshold
    assert pump.uncommitted_ms == 0 and stored_t(storage) == t + 1
    assert storage.read_events(storage.event_count() - 1, 1)[0].kind == "ALARM_RAISED"


def test_a_change_stores_the_time_that_passed(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "p.db")
    pump = running_pump(storage)
    pump.advance_to(HOUR_MS, commit=False)
    pump.set_low_reservoir_threshold(3 * ML)
    assert stored_t(storage) == HOUR_MS


@pytest.fixture
def slow_checkpoint_vp() -> Iterator[VirtualPump]:
    with start_virtual_pump(clock=ManualClock(0), max_idle_s=3600.0) as vp:
        yield vp


def test_status_reads_do_not_write_until_the_checkpoint(slow_checkpoint_vp: VirtualPump) -> None:
    vp = slow_checkpoint_vp
    link = hal.open(vp.url)
    try:
        host = RawHost.on_link(link)
        ok(host.handshake(Role.CLINICIAN), MT.SESSION_ACCEPTED)
        program(host)
        assert isinstance(vp.clock, ManualClock)
        with vp.device.lock:
            vp.clock.advance(HOUR_MS)
        ok(host.request(MT.GET_STATUS), MT.STATUS)  # the first checkpoint is due at once
        with vp.device.lock:
            assert stored_t(vp.storage) == HOUR_MS
            vp.clock.advance(HOUR_MS)
        st = ok(host.request(MT.GET_STATUS), MT.STATUS)
        assert st["time_ms"] == 2 * HOUR_MS and st["state"] == TherapyState.INFUSING
        with vp.device.lock:
            assert stored_t(vp.storage) == HOUR_MS  # a read wrote nothing
            assert vp.pump.uncommitted_ms == HOUR_MS
        ok(host.request(MT.SET_CLOCK, {"wall_ms": 5 * HOUR_MS}))  # an acknowledged change
        with vp.device.lock:
            assert stored_t(vp.storage) == 2 * HOUR_MS
    finally:
        link.close()
