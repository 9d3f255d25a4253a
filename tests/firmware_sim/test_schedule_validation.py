"""Schedule validation: every rejection names its code and field, and changes nothing."""
from __future__ import annotations

import pytest

from firmware_sim import (Plan, Pump, Rejected, RejectCode, Schedule, Step, Weekday, load_profile,
                          validate_schedule)

from .helpers import ML, events_of, ready_pump, write_profile

pytestmark = pytest.mark.requirement("THR-1", "THR-2", "THR-3")

DEFAULT = "schedule.plans[EVERY_DAY]"


def rejection(pump: Pump, schedule: Schedule) -> Rejected:
    before = pump.snapshot()
    n = pump.status().event_count
    with pytest.raises(Rejected) as ei:
        pump.program_therapy("morphine", 10_000, schedule)
    assert pump.snapshot() == before
    assert pump.status().event_count == n
    return ei.value


@pytest.mark.parametrize("rate", [47_999, 24_000_001, 0, -1])
def test_rate_out_of_range(rate: int) -> None:
    pump = Pump(load_profile("ip20"))
    e = rejection(pump, Schedule.daily([(0, ML), (60, rate)]))
    assert e.code is RejectCode.RATE_OUT_OF_RANGE
    assert e.field == f"{DEFAULT}.steps[1].rate_nl_per_day"


@pytest.mark.parametrize("rate", [48_000, 24_000_000])
def test_rate_range_edges_accepted(rate: int) -> None:
    pump = Pump(load_profile("ip20"))
    pump.program_therapy("bupivacaine", 500, Schedule.constant(rate))
    assert pump.status().drug_name == "bupivacaine"


def test_rate_range_comes_from_the_profile(tmp_path) -> None:
    prof = load_profile(write_profile(tmp_path, min_nl_per_day="100_000",
                                      max_nl_per_day="1_000_000"))
    pump = Pump(prof)
    for bad in (99_999, 1_000_001):
        e = rejection(pump, Schedule.constant(bad))
        assert e.code is RejectCode.RATE_OUT_OF_RANGE
    pump.program_therapy("morphine", 10_000, Schedule.constant(100_000))
    pump.program_therapy("morphine", 10_000, Schedule.constant(1_000_000))


def test_step_order_not_increasing() -> None:
    e = rejection(Pump(load_profile("ip20")), Schedule.daily([(0, ML), (60, ML), (60, ML)]))
    assert (e.code, e.field) == (RejectCode.STEP_ORDER, f"{DEFAULT}.steps[2].start_minute")
    e = rejection(Pump(load_profile("ip20")), Schedule.daily([(0, ML), (90, ML), (30, ML)]))
    assert (e.code, e.field) == (RejectCode.STEP_ORDER, f"{DEFAULT}.steps[2].start_minute")


def test_first_step_must_start_at_midnight() -> None:
    e = rejection(Pump(load_profile("ip20")), Schedule.daily([(1, ML)]))
    assert (e.code, e.field) == (RejectCode.STEP_ORDER, f"{DEFAULT}.steps[0].start_minute")


def test_minute_out_of_range() -> None:
    e = rejection(Pump(load_profile("ip20")), Schedule.daily([(0, ML), (1440, ML)]))
    assert (e.code, e.field) == (RejectCode.MINUTE_OUT_OF_RANGE, f"{DEFAULT}.steps[1].start_minute")


def test_more_than_48_steps_rejected_48_accepted() -> None:
    pump = Pump(load_profile("ip20"))
    e = rejection(pump, Schedule.daily([(i * 29, ML) for i in range(49)]))
    assert (e.code, e.field) == (RejectCode.TOO_MANY_STEPS, DEFAULT)
    pump.program_therapy("morphine", 10_000, Schedule.daily([(i * 29, ML) for i in range(48)]))
    assert len(pump.schedule.plans[Weekday.EVERY_DAY].steps) == 48


def test_no_steps_and_no_default_plan() -> None:
    pump = Pump(load_profile("ip20"))
    e = rejection(pump, Schedule({Weekday.EVERY_DAY: Plan(())}))
    assert (e.code, e.field) == (RejectCode.NO_STEPS, DEFAULT)
    e = rejection(pump, Schedule({Weekday.MONDAY: Plan.constant(ML)}))
    assert (e.code, e.field) == (RejectCode.NO_DEFAULT_PLAN, "schedule.plans")


def test_weekday_plan_validated_with_its_own_field() -> None:
    sched = Schedule({Weekday.EVERY_DAY: Plan.constant(ML),
                      Weekday.SATURDAY: Plan((Step(0, ML), Step(10, 10)))})
    e = rejection(Pump(load_profile("ip20")), sched)
    assert (e.code, e.field) == (RejectCode.RATE_OUT_OF_RANGE,
                                 "schedule.plans[SATURDAY].steps[1].rate_nl_per_day")
    sched = Schedule({Weekday.EVERY_DAY: Plan.constant(ML),
                      Weekday.TUESDAY: Plan(tuple(Step(i, ML) for i in range(49)))})
    e = rejection(Pump(load_profile("ip20")), sched)
    assert (e.code, e.field) == (RejectCode.TOO_MANY_STEPS, "schedule.plans[TUESDAY]")


def test_not_a_schedule() -> None:
    with pytest.raises(Rejected) as ei:
        validate_schedule([(0, ML)], load_profile("ip20"))  # type: ignore[arg-type]
    assert ei.value.code is RejectCode.INVALID_ARGUMENT


def test_set_schedule_needs_program_and_validates() -> None:
    pump = Pump(load_profile("ip20"))
    with pytest.raises(Rejected) as ei:
        pump.set_schedule(Schedule.constant(ML))
    assert (ei.value.code, ei.value.field) == (RejectCode.NO_PROGRAM, "drug_name")
    pump = ready_pump()
    before = pump.snapshot()
    with pytest.raises(Rejected) as ei:
        pump.set_schedule(Schedule.constant(10))
    assert ei.value.code is RejectCode.RATE_OUT_OF_RANGE
    assert pump.snapshot() == before
    pump.set_schedule(Schedule.constant(2 * ML))
    assert pump.status().rate_nl_per_day == 2 * ML
    assert events_of(pump, "PROGRAM")[-1].details["daily_volume_nl"] == 2 * ML


def test_programming_refused_during_bolus_and_refill() -> None:
    pump = ready_pump()
    pump.start_clinician_bolus(duration_ms=600_000, volume_nl=1000)
    with pytest.raises(Rejected) as ei:
        pump.program_therapy("morphine", 10_000, Schedule.constant(ML))
    assert ei.value.code is RejectCode.BOLUS_ACTIVE
    pump.stop_bolus()
    pump.refill_begin()
    with pytest.raises(Rejected) as ei:
        pump.program_therapy("morphine", 10_000, Schedule.constant(ML))
    assert ei.value.code is RejectCode.INVALID_STATE
