"""Exact event-driven integration: delivered = floor(sum(rate x ms) / day), however time is
split, with no per-second work."""
from __future__ import annotations

import random

import pytest

from firmware_sim import Plan, Schedule, Step, Weekday

from .helpers import DAY_MS, HOUR_MS, MINUTE_MS, ML, ready_pump

pytestmark = pytest.mark.requirement("THR-3", "THR-4", "SAF-10", "SAF-3")

ODD_STEPS = [(0, 1_234_567), (7, 48_001), (95, 2_999_999), (600, 777_777), (1439, 1_000_003)]


def schedule_integral(steps: list[tuple[int, int]], a: int, b: int) -> int:
    """Independent integral of a daily step schedule over wall [a, b) in nL/day x ms,
    evaluated minute by minute (every boundary is on a minute)."""
    total = 0
    t = a
    while t < b:
        tod_min = (t % DAY_MS) // MINUTE_MS
        rate = [r for m, r in steps if m <= tod_min][-1]
        e = min(b, (t // MINUTE_MS + 1) * MINUTE_MS)
        total += rate * (e - t)
        t = e
    return total


def test_constant_rate_one_day_is_exact() -> None:
    pump = ready_pump(schedule=Schedule.constant(1_000_001))
    pump.advance_to(DAY_MS)
    assert pump.status().delivered_nl == 1_000_001


def test_floor_of_partial_volume() -> None:
    pump = ready_pump(schedule=Schedule.constant(ML))
    pump.advance_to(86_399)  # 999.99 nL
    assert pump.status().delivered_nl == 999
    pump.advance_to(86_400)
    assert pump.status().delivered_nl == 1000


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_many_small_advances_equal_one_big(seed: int) -> None:
    rng = random.Random(seed)
    sched = Schedule.daily(ODD_STEPS)
    split = ready_pump(schedule=sched)
    whole = ready_pump(schedule=sched)
    end = 3 * DAY_MS + 12_345
    t = 0
    while t < end:
        t = min(end, t + rng.choice([1, 7, 999, 60_000, rng.randint(1, 5 * HOUR_MS)]))
        split.advance_to(t)
    whole.advance_to(end)
    a, b = split.status(), whole.status()
    expected = schedule_integral(ODD_STEPS, 0, end) // DAY_MS
    assert a.delivered_nl == b.delivered_nl == expected
    assert a.reservoir_nl == b.reservoir_nl
    assert a.delivered_dose_ug == b.delivered_dose_ug
    assert split.snapshot()["basal_rem"] == whole.snapshot()["basal_rem"]


def test_millisecond_steps_across_a_boundary() -> None:
    sched = Schedule.daily([(0, 1_111_111), (1, 23_999_999)])
    split = ready_pump(schedule=sched, drug="bupivacaine", conc=500)
    for t in range(MINUTE_MS - 50, MINUTE_MS + 50):
        split.advance_to(t)
    expected = schedule_integral([(0, 1_111_111), (1, 23_999_999)], 0, MINUTE_MS + 49) // DAY_MS
    assert split.status().delivered_nl == expected


def test_day_of_schedule_equals_its_integral() -> None:
    steps = [(i * 30, 600_000 + (i % 8) * 100_000) for i in range(48)]
    pump = ready_pump(schedule=Schedule.daily(steps))
    pump.advance_to(DAY_MS)
    plan_volume = Plan(tuple(Step(*s) for s in steps)).daily_volume_nl()
    assert pump.status().delivered_nl == plan_volume == schedule_integral(steps, 0, DAY_MS) // DAY_MS


def test_rate_follows_the_step_in_force() -> None:
    pump = ready_pump(schedule=Schedule.daily([(0, 480_000), (360, 2_400_000)]))
    assert pump.status().rate_nl_per_day == 480_000
    assert pump.status().step_index == 0
    pump.advance_to(6 * HOUR_MS)
    assert pump.status().rate_nl_per_day == 2_400_000
    assert pump.status().step_index == 1
    assert pump.status().delivered_nl == 480_000 // 4


def test_weekday_plan_overrides_default() -> None:
    # wall ms 0 is a Thursday; day 4 is a Monday
    sched = Schedule({Weekday.EVERY_DAY: Plan.constant(ML), Weekday.MONDAY: Plan.constant(2 * ML)})
    pump = ready_pump(schedule=sched)
    pump.advance_to(4 * DAY_MS)
    assert pump.status().delivered_nl == 4 * ML
    pump.advance_to(5 * DAY_MS)
    assert pump.status().delivered_nl == 6 * ML
    pump.advance_to(6 * DAY_MS)
    assert pump.status().delivered_nl == 7 * ML


def test_work_is_proportional_to_events_not_seconds() -> None:
    pump = ready_pump(schedule=Schedule.daily([(0, ML), (720, 2 * ML)]), fill_nl=20 * ML)
    pump.advance_to(5 * DAY_MS)
    # 2 step boundaries a day: a handful of segments, not 432,000 seconds
    assert pump.segments < 30


def test_nothing_delivered_while_stopped() -> None:
    pump = ready_pump(start=False)
    pump.advance_to(DAY_MS)
    assert pump.status().delivered_nl == 0
    pump.start()
    pump.advance_to(2 * DAY_MS)
    pump.stop()
    pump.advance_to(3 * DAY_MS)
    assert pump.status().delivered_nl == ML
