"""Schedules checked by their exact results where the broader tests only look at totals: every
refusal's code, field and reason text, the stored form, plan lookups, the weekly table, integrals
across weeks and the worst 24 h window (the hard-limit check depends on each)."""
from __future__ import annotations

import pytest

from firmware_sim import Rejected, load_profile, validate_schedule
from firmware_sim.enums import RejectCode
from firmware_sim.schedule import (DAY_MS, MINUTE_MS, WEEK_MS, CompiledSchedule, Plan, Schedule,
                                   Step, Weekday, weekday_of)

pytestmark = pytest.mark.requirement("THR-1", "THR-2", "THR-3", "SAF-10")

ML = 1_000_000
PROFILE = load_profile("ip20")  # rates 48,000..24,000,000 nL/day, 48 steps a day
HOUR = 60 * MINUTE_MS


def refusal(schedule: object) -> tuple[RejectCode, str, str]:
    with pytest.raises(Rejected) as exc:
        validate_schedule(schedule, PROFILE)  # type: ignore[arg-type]
    return exc.value.code, exc.value.field, exc.value.reason


def test_refusals_name_code_field_and_reason() -> None:
    assert refusal([(0, ML)]) == (RejectCode.INVALID_ARGUMENT, "schedule", "expected a Schedule")
    assert refusal(Schedule({Weekday.MONDAY: Plan.constant(ML)})) == (
        RejectCode.NO_DEFAULT_PLAN, "schedule.plans",
        "a default plan for every day (0xFF) is required")
    assert refusal(Schedule({Weekday.EVERY_DAY: Plan(())})) == (
        RejectCode.NO_STEPS, "schedule.plans[EVERY_DAY]", "a plan needs at least one step")
    assert refusal(Schedule.daily([(i, ML) for i in range(49)])) == (
        RejectCode.TOO_MANY_STEPS, "schedule.plans[EVERY_DAY]", "49 steps, at most 48")
    assert refusal(Schedule.daily([(0, ML), (1440, ML)])) == (
        RejectCode.MINUTE_OUT_OF_RANGE, "schedule.plans[EVERY_DAY].steps[1].start_minute",
        "1440 not in 0..1439")
    assert refusal(Schedule.daily([(-1, ML)])) == (
        RejectCode.MINUTE_OUT_OF_RANGE, "schedule.plans[EVERY_DAY].steps[0].start_minute",
        "-1 not in 0..1439")
    order = "the first step starts at minute 0 and start minutes strictly increase"
    assert refusal(Schedule.daily([(5, ML)])) == (
        RejectCode.STEP_ORDER, "schedule.plans[EVERY_DAY].steps[0].start_minute", order)
    assert refusal(Schedule({Weekday.EVERY_DAY: Plan.constant(ML),
                             Weekday.FRIDAY: Plan((Step(0, ML), Step(9, ML), Step(9, ML)))})) == (
        RejectCode.STEP_ORDER, "schedule.plans[FRIDAY].steps[2].start_minute", order)
    assert refusal(Schedule.daily([(0, ML), (1, 47_999)])) == (
        RejectCode.RATE_OUT_OF_RANGE, "schedule.plans[EVERY_DAY].steps[1].rate_nl_per_day",
        "47999 nL/day outside [48000, 24000000]")


def test_every_edge_of_the_rules_is_accepted() -> None:
    validate_schedule(Schedule.daily([(i * 30, 48_000) for i in range(47)] + [(1439, 24 * ML)]),
                      PROFILE)
    validate_schedule(Schedule({Weekday.EVERY_DAY: Plan.constant(24 * ML),
                                Weekday.SUNDAY: Plan((Step(0, 48_000), Step(1, 48_000)))}),
                      PROFILE)


def test_daily_volume_of_a_stepped_plan() -> None:
    plan = Plan((Step(0, 240_000), Step(360, 480_000), Step(1080, 96_000)))
    # 6 h x 240,000 + 12 h x 480,000 + 6 h x 96,000, each over 24 h
    assert plan.daily_volume_x_day_ms() == (240_000 * 360 + 480_000 * 720 + 96_000 * 360) * MINUTE_MS
    assert plan.daily_volume_nl() == 60_000 + 240_000 + 24_000
    assert Plan.constant(ML).daily_volume_nl() == ML
    assert Plan.constant(ML).steps == (Step(0, ML),)


def test_plan_for_falls_back_to_the_every_day_plan() -> None:
    monday = Plan.constant(2 * ML)
    s = Schedule({Weekday.EVERY_DAY: Plan.constant(ML), Weekday.MONDAY: monday})
    assert s.plan_for(0) is monday
    assert [s.plan_for(wd).steps[0].rate_nl_per_day for wd in range(7)] == [2 * ML] + [ML] * 6
    assert Schedule.constant(ML).plans == {Weekday.EVERY_DAY: Plan((Step(0, ML),))}


def test_stored_form_and_back() -> None:
    s = Schedule({Weekday.EVERY_DAY: Plan((Step(0, ML), Step(90, 2 * ML))),
                  Weekday.WEDNESDAY: Plan.constant(3 * ML)})
    d = s.to_dict()
    assert d == {"255": [[0, ML], [90, 2 * ML]], "2": [[0, 3 * ML]]}
    back = Schedule.from_dict(d)
    assert back == s and back.plans[Weekday.WEDNESDAY] == Plan.constant(3 * ML)
    assert all(isinstance(k, Weekday) for k in back.plans)
    assert Schedule.from_dict({"255": [["0", "48000"]]}) == Schedule.constant(48_000)


def test_weekday_of_every_day_of_a_week_and_before_the_epoch() -> None:
    # wall day 0 (1970-01-01) is a Thursday (3)
    assert [weekday_of(d * DAY_MS + 1) for d in range(8)] == [3, 4, 5, 6, 0, 1, 2, 3]
    assert weekday_of(-1) == Weekday.WEDNESDAY
    assert weekday_of(3 * WEEK_MS + 4 * DAY_MS) == Weekday.MONDAY


WEEK = Schedule({Weekday.EVERY_DAY: Plan.constant(100_000),
                 Weekday.MONDAY: Plan((Step(0, 200_000), Step(720, 400_000))),
                 Weekday.SATURDAY: Plan.constant(700_000)})


def test_each_wall_day_gets_its_weekday_plan() -> None:
    c = CompiledSchedule(WEEK)
    # wall days 0..6: Thu Fri Sat Sun Mon Tue Wed
    per_day = [c.integral_x_day_ms(d * DAY_MS, (d + 1) * DAY_MS) // DAY_MS for d in range(7)]
    assert per_day == [100_000, 100_000, 700_000, 100_000, 300_000, 100_000, 100_000]
    assert c.lookup(2 * DAY_MS + 5) == (0, 700_000, 3 * DAY_MS)
    assert c.lookup(4 * DAY_MS + 12 * HOUR) == (1, 400_000, 5 * DAY_MS)
    assert c.lookup(4 * DAY_MS + 12 * HOUR - 1) == (0, 200_000, 4 * DAY_MS + 12 * HOUR)
    assert c.max_rate_nl_per_day == 700_000
    assert c.week_volume_x_day_ms == (5 * 100_000 + 700_000 + 300_000) * DAY_MS


def test_integrals_across_weeks_and_partial_steps() -> None:
    c = CompiledSchedule(WEEK)
    week = (5 * 100_000 + 700_000 + 300_000) * DAY_MS
    assert c.cumulative_x_day_ms(0) == 0
    assert c.cumulative_x_day_ms(WEEK_MS) == week
    assert c.cumulative_x_day_ms(2 * WEEK_MS + DAY_MS) == 2 * week + 100_000 * DAY_MS
    # Monday 11:00 -> 13:00 of the second week: 1 h at 200,000 then 1 h at 400,000
    a = WEEK_MS + 4 * DAY_MS + 11 * HOUR
    assert c.integral_x_day_ms(a, a + 2 * HOUR) == (200_000 + 400_000) * HOUR
    assert c.integral_x_day_ms(a, a) == 0
    assert c.integral_x_day_ms(a + 1, a) == 0
    assert c.integral_x_day_ms(a, a + 1) == 200_000


def test_boundaries_list_step_starts_and_midnights() -> None:
    c = CompiledSchedule(WEEK)
    monday = 4 * DAY_MS
    assert c.boundaries(monday - HOUR, monday + DAY_MS) == [monday, monday + 12 * HOUR,
                                                             monday + DAY_MS]
    assert c.boundaries(monday, monday) == []
    assert c.boundaries(monday + 12 * HOUR, monday + DAY_MS - 1) == []


def test_worst_window_of_a_constant_and_a_stepped_week() -> None:
    assert CompiledSchedule(Schedule.constant(ML)).max_window_x_day_ms == ML * DAY_MS
    c = CompiledSchedule(WEEK)
    # the worst 24 h is Saturday itself (700,000 nL); Monday gives 300,000
    assert c.max_window_x_day_ms == 700_000 * DAY_MS


def test_worst_window_starting_on_a_step_boundary_inside_the_week() -> None:
    """Sunday 12:00 -> Monday 12:00 at 100,000 then 200,000 is 150,000 nL; Monday 12:00 ->
    Tuesday 12:00 is 12 h x 400,000 + 12 h x 1,000,000 = 700,000 nL: the window starts on
    Monday's step boundary."""
    c = CompiledSchedule(Schedule({Weekday.EVERY_DAY: Plan.constant(48_000),
                                   Weekday.MONDAY: Plan((Step(0, 200_000), Step(720, 400_000))),
                                   Weekday.TUESDAY: Plan((Step(0, ML), Step(720, 48_000)))}))
    assert c.max_window_x_day_ms == 700_000 * DAY_MS


def test_worst_window_wrapping_the_end_of_the_week() -> None:
    """Wednesday (the last wall day of the week table) 12:00 -> Thursday 12:00: the worst window
    crosses the end of the weekly table."""
    c = CompiledSchedule(Schedule({Weekday.EVERY_DAY: Plan.constant(48_000),
                                   Weekday.WEDNESDAY: Plan((Step(0, 48_000), Step(720, ML))),
                                   Weekday.THURSDAY: Plan((Step(0, ML), Step(720, 48_000)))}))
    assert c.max_window_x_day_ms == ML * DAY_MS
