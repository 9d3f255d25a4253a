"""Weekday arithmetic and the worst 24 h window of weekly plans, checked by their results (the
hard-limit check of a weekday plan depends on them)."""
from __future__ import annotations

import pytest

from firmware_sim import Pump, Rejected, load_profile
from firmware_sim.enums import RejectCode
from firmware_sim.schedule import (DAY_MS, MINUTE_MS, CompiledSchedule, Plan, Schedule, Step,
                                   Weekday, weekday_of)

pytestmark = pytest.mark.requirement("THR-3", "LIM-1", "SAF-4", "SAF-10")

# every day 500,000 nL/day; Tuesday 1,000,000 nL/day until 06:00, then the minimum rate. The worst
# 24 h window runs Monday 06:00 -> Tuesday 06:00 (it ENDS on a step boundary; no window starting
# on one is as large): 18 h x 500,000 + 6 h x 1,000,000 = 625,000 nL.
TUESDAY_PEAK = Schedule({Weekday.EVERY_DAY: Plan.constant(500_000),
                         Weekday.TUESDAY: Plan((Step(0, 1_000_000), Step(360, 48_000)))})


def test_weekday_of_the_epoch_and_around_it() -> None:
    assert weekday_of(0) == Weekday.THURSDAY  # wall 0 is 1970-01-01, a Thursday
    assert weekday_of(DAY_MS - 1) == Weekday.THURSDAY
    assert weekday_of(DAY_MS) == Weekday.FRIDAY
    assert weekday_of(4 * DAY_MS) == Weekday.MONDAY
    assert weekday_of(7 * DAY_MS + 5) == Weekday.THURSDAY


def test_worst_window_ending_on_a_step_boundary() -> None:
    c = CompiledSchedule(TUESDAY_PEAK)
    assert c.max_window_x_day_ms // DAY_MS == 625_000
    monday_6h = (4 * DAY_MS) + 6 * 60 * MINUTE_MS  # wall 4 days = a Monday, 06:00
    assert c.integral_x_day_ms(monday_6h, monday_6h + DAY_MS) // DAY_MS == 625_000


def test_weekday_plan_over_the_hard_limit_only_in_that_window_is_refused() -> None:
    """Morphine 50,000 ug/mL, hard limit 30,000 ug = 600,000 nL a day: the Monday-Tuesday window
    (625,000 nL) is over it although every calendar day and every window starting on a step
    boundary is within it."""
    pump = Pump(load_profile("ip20"))
    with pytest.raises(Rejected) as exc:
        pump.program_therapy("morphine", 50_000, TUESDAY_PEAK)
    assert exc.value.code == RejectCode.HARD_DAILY_LIMIT
    pump.program_therapy("morphine", 50_000, Schedule({
        Weekday.EVERY_DAY: Plan.constant(500_000),
        Weekday.TUESDAY: Plan((Step(0, 800_000), Step(360, 48_000)))}))  # 575,000 nL: accepted


def test_weekly_table_puts_each_plan_on_its_own_day() -> None:
    """Thursday's plan is in force on wall day 0 (a Thursday) and on no other day."""
    c = CompiledSchedule(Schedule({Weekday.EVERY_DAY: Plan.constant(100_000),
                                   Weekday.THURSDAY: Plan.constant(1_000_000)}))
    days = [c.integral_x_day_ms(d * DAY_MS, (d + 1) * DAY_MS) // DAY_MS for d in range(8)]
    assert days == [1_000_000, 100_000, 100_000, 100_000, 100_000, 100_000, 100_000, 1_000_000]
    assert c.lookup(0)[1] == 1_000_000 and c.lookup(DAY_MS)[1] == 100_000
    assert c.lookup(6 * DAY_MS + DAY_MS - 1)[1] == 100_000  # the Wednesday before the next Thursday


def test_rate_at_the_last_ms_of_a_step_and_at_the_next_step() -> None:
    c = CompiledSchedule(Schedule.daily([(0, 100_000), (480, 200_000)]))
    at = 480 * MINUTE_MS
    assert c.lookup(at - 1)[:2] == (0, 100_000) and c.lookup(at - 1)[2] == at
    assert c.lookup(at)[:2] == (1, 200_000) and c.lookup(at)[2] == DAY_MS
    assert c.boundaries(0, at) == [at]  # (a, b]: the boundary at b is in
    assert c.boundaries(0, at - 1) == []
    assert c.boundaries(at, DAY_MS) == [DAY_MS]


def test_lookup_on_later_days_uses_the_time_of_day() -> None:
    c = CompiledSchedule(Schedule.daily([(0, 100_000), (480, 200_000)]))
    day3 = 3 * DAY_MS
    assert c.lookup(day3 + 480 * MINUTE_MS - 1) == (0, 100_000, day3 + 480 * MINUTE_MS)
    assert c.lookup(day3 + 480 * MINUTE_MS) == (1, 200_000, day3 + DAY_MS)


def test_daily_volume_is_the_floor_in_integer_nl() -> None:
    plan = Plan((Step(0, 100_000), Step(1, 200_000)))  # 199,930.55... nL a day
    assert plan.daily_volume_nl() == 199_930 and isinstance(plan.daily_volume_nl(), int)


def test_daily_takes_steps_or_pairs() -> None:
    assert Schedule.daily([Step(0, 100_000), (60, 200_000)]).plans[Weekday.EVERY_DAY].steps == (
        Step(0, 100_000), Step(60, 200_000))
