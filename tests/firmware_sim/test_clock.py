"""Clocks: manual and scaled (time warp); the model only reads them through tick()."""
from __future__ import annotations

import pytest

from firmware_sim import Clock, ManualClock, Pump, ScaledClock, load_profile

from .helpers import DAY_MS, HOUR_MS, ML, ready_pump


def test_manual_clock_moves_only_forward() -> None:
    c = ManualClock(5)
    assert c.now_ms() == 5
    assert c.advance(10) == 15
    c.set(20)
    assert c.now_ms() == 20
    with pytest.raises(ValueError):
        c.set(19)
    with pytest.raises(ValueError):
        c.advance(-1)
    assert c.now_ms() == 20
    assert isinstance(c, Clock)


class FakeNs:
    """A controllable nanosecond source standing in for time.monotonic_ns."""

    def __init__(self) -> None:
        self.ns = 1_000_000_000

    def __call__(self) -> int:
        return self.ns


def test_scaled_clock_applies_warp_in_integer_ms() -> None:
    src = FakeNs()
    c = ScaledClock(warp=3600.0, start_ms=1000, source=src)
    assert c.now_ms() == 1000
    src.ns += 1_000_000  # 1 real ms = 3.6 simulated s
    assert c.now_ms() == 1000 + 3600
    src.ns += 999_000_000  # 1 real s in all = 1 simulated hour
    assert c.now_ms() == 1000 + HOUR_MS
    assert isinstance(c.now_ms(), int)
    assert isinstance(c, Clock)


def test_scaled_clock_rejects_non_positive_warp() -> None:
    with pytest.raises(ValueError):
        ScaledClock(warp=0)
    with pytest.raises(ValueError):
        ScaledClock(warp=-2.0)


def test_scaled_clock_default_source_is_monotonic() -> None:
    c = ScaledClock(warp=1.0)
    a = c.now_ms()
    assert c.now_ms() >= a >= 0


def test_tick_follows_the_pump_clock() -> None:
    clock = ManualClock(0)
    pump = Pump(load_profile("ip20"), clock=clock)
    pump.tick()
    assert pump.status().time_ms == 0
    clock.advance(HOUR_MS)
    pump.tick()
    assert pump.status().time_ms == HOUR_MS


def test_tick_with_scaled_clock_integrates_warped_time() -> None:
    src = FakeNs()
    pump = ready_pump()
    pump.clock = ScaledClock(warp=86_400.0, source=src)  # 1 real s = 1 simulated day
    src.ns += 1_000_000_000
    pump.tick()
    st = pump.status()
    assert st.time_ms == DAY_MS
    assert st.delivered_nl == ML


def test_tick_never_goes_backwards() -> None:
    clock = ManualClock(0)
    pump = Pump(load_profile("ip20"), clock=clock)
    pump.advance_to(HOUR_MS)
    pump.tick()  # the clock is behind the run time: nothing happens
    assert pump.status().time_ms == HOUR_MS
    with pytest.raises(ValueError):
        pump.advance_to(HOUR_MS - 1)
