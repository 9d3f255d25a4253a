"""ControlClock: warp, pause, resume, advance; never backwards."""
from __future__ import annotations

import pytest

from host_tools.control.clock import ClockError, ControlClock


class FakeTime:
    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        return self.ns

    def sleep_ms(self, ms: int) -> None:
        self.ns += ms * 1_000_000


def test_runs_at_its_warp_and_pauses() -> None:
    t = FakeTime()
    clock = ControlClock(warp=60, start_ms=1_000, source=t)
    t.sleep_ms(1_000)
    assert clock.now_ms() == 61_000
    clock.pause()
    t.sleep_ms(5_000)
    assert clock.now_ms() == 61_000 and clock.warp == 0.0
    clock.resume()
    t.sleep_ms(1)
    assert clock.now_ms() == 61_060 and clock.warp == 60


def test_warp_changes_from_now_on_and_advance_jumps() -> None:
    t = FakeTime()
    clock = ControlClock(source=t)
    t.sleep_ms(100)
    clock.set_warp(1000)
    t.sleep_ms(2)
    assert clock.now_ms() == 2_100
    assert clock.advance(3_600_000) == 3_602_100
    assert clock.advance_to(10) == 3_602_100  # never backwards


@pytest.mark.parametrize("call", [
    lambda c: c.advance(-1), lambda c: c.advance(1.5), lambda c: c.advance(True),
    lambda c: c.set_warp(0), lambda c: c.set_warp(-3), lambda c: c.set_warp(1e9),
    lambda c: c.set_warp("fast"),
])
def test_nonsense_is_refused_and_changes_nothing(call) -> None:
    t = FakeTime()
    clock = ControlClock(warp=2, source=t)
    before = clock.state()
    with pytest.raises(ClockError):
        call(clock)
    assert clock.state() == before
