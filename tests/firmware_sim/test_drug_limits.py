"""Drug library: names, concentration ranges, hard and soft daily limits."""
from __future__ import annotations

import pytest

from firmware_sim import (DAY_MS, Plan, Pump, Rejected, RejectCode, Schedule, Step, Weekday,
                          load_profile)

from .helpers import ML, events_of, ready_pump

pytestmark = pytest.mark.requirement("THR-8", "LIM-1", "LIM-2", "LIM-3", "SAF-4")


def test_unknown_drug_rejected() -> None:
    pump = Pump(load_profile("ip20"))
    for name in ("aspirin", "", None, 3):
        with pytest.raises(Rejected) as ei:
            pump.program_therapy(name, 1000, Schedule.constant(ML))  # type: ignore[arg-type]
        assert (ei.value.code, ei.value.field) == (RejectCode.UNKNOWN_DRUG, "drug_name")
    assert pump.status().drug_name is None


def test_drug_name_is_case_insensitive() -> None:
    pump = Pump(load_profile("ip20"))
    pump.program_therapy("Morphine", 10_000, Schedule.constant(ML))
    assert pump.status().drug_name == "morphine"
    assert pump.status().concentration_ug_per_ml == 10_000


@pytest.mark.parametrize("drug,bad", [("morphine", 499), ("morphine", 50_001),
                                      ("ziconotide", 24), ("ziconotide", 101),
                                      ("baclofen", 2_001), ("clonidine", 49)])
def test_concentration_out_of_range(drug: str, bad: int) -> None:
    pump = Pump(load_profile("ip20"))
    with pytest.raises(Rejected) as ei:
        pump.program_therapy(drug, bad, Schedule.constant(48_000))
    assert (ei.value.code, ei.value.field) == (RejectCode.CONCENTRATION_OUT_OF_RANGE,
                                               "concentration_ug_per_ml")


def test_non_integer_concentration_rejected() -> None:
    pump = Pump(load_profile("ip20"))
    with pytest.raises(Rejected) as ei:
        pump.program_therapy("morphine", 1000.5, Schedule.constant(ML))  # type: ignore[arg-type]
    assert ei.value.code is RejectCode.CONCENTRATION_OUT_OF_RANGE


def test_hard_daily_limit_of_schedule() -> None:
    # morphine hard limit 30,000 ug/day; at 10,000 ug/mL that is 3 mL/day
    pump = Pump(load_profile("ip20"))
    pump.program_therapy("morphine", 10_000, Schedule.constant(3 * ML))
    with pytest.raises(Rejected) as ei:
        pump.program_therapy("morphine", 10_000, Schedule.constant(3 * ML + 1))
    assert (ei.value.code, ei.value.field) == (RejectCode.HARD_DAILY_LIMIT, "schedule")
    assert pump.status().rate_nl_per_day == 0  # stopped; still the accepted program
    assert pump.schedule == Schedule.constant(3 * ML)


def test_hard_limit_checks_windows_across_midnight_and_weekdays() -> None:
    # each calendar day stays at 2.4 mL (24,000 ug), but Monday evening + Tuesday morning,
    # 24 h from Monday 12:00, carry 12 h x 4 mL/day + 12 h x 4 mL/day = 4 mL: over the limit
    high_evening = Plan((Step(0, 800_000), Step(720, 4 * ML)))
    high_morning = Plan((Step(0, 4 * ML), Step(720, 800_000)))
    pump = Pump(load_profile("ip20"))
    with pytest.raises(Rejected) as ei:
        pump.program_therapy("morphine", 10_000,
                             Schedule({Weekday.EVERY_DAY: Plan.constant(ML),
                                       Weekday.MONDAY: high_evening,
                                       Weekday.TUESDAY: high_morning}))
    assert ei.value.code is RejectCode.HARD_DAILY_LIMIT
    # the same days in the other order never put the two halves together
    pump.program_therapy("morphine", 10_000,
                         Schedule({Weekday.EVERY_DAY: Plan.constant(ML),
                                   Weekday.MONDAY: high_morning,
                                   Weekday.TUESDAY: high_evening}))


def test_soft_limit_accepted_with_warning() -> None:
    pump = Pump(load_profile("ip20"))
    pump.program_therapy("morphine", 10_000, Schedule.constant(1_500_000))  # 15,000 ug = soft
    assert events_of(pump, "SOFT_LIMIT_WARNING") == []
    pump.program_therapy("morphine", 10_000, Schedule.constant(1_500_001))
    warn = events_of(pump, "SOFT_LIMIT_WARNING")
    assert len(warn) == 1
    assert warn[0].details["soft_daily_limit_ug"] == 15_000


def test_patient_allotment_counts_towards_the_hard_limit() -> None:
    pump = ready_pump(schedule=Schedule.constant(2 * ML))  # 20,000 ug/day
    with pytest.raises(Rejected) as ei:
        pump.configure_patient_bolus(dose_ug=2_001, duration_ms=1_800_000, lockout_ms=3_600_000,
                                     max_per_24h=5)
    assert (ei.value.code, ei.value.field) == (RejectCode.HARD_DAILY_LIMIT, "patient_bolus")
    pump.configure_patient_bolus(dose_ug=2_000, duration_ms=1_800_000, lockout_ms=3_600_000,
                                 max_per_24h=5)


def test_delivered_dose_follows_concentration() -> None:
    pump = ready_pump(conc=2_500, drug="bupivacaine", schedule=Schedule.constant(2 * ML))
    pump.advance_to(DAY_MS)
    assert pump.status().delivered_dose_ug == 5_000


# ---------------------------------------------------------------- 24 h windows across changes
EVENING = Schedule.daily([(0, 50_000), (720, 5_900_000)])  # 2.975 mL = 29,750 ug per 24 h
MORNING = Schedule.daily([(0, 5_900_000), (720, 50_000)])


def test_reprogramming_cannot_stack_two_schedules_beyond_the_hard_limit() -> None:
    pump = ready_pump(schedule=EVENING)
    pump.advance_to(DAY_MS)  # the evening high-rate hours just ran
    with pytest.raises(Rejected) as ei:
        pump.set_schedule(MORNING)  # its morning would follow: ~59 mg in 24 h
    assert (ei.value.code, ei.value.field) == (RejectCode.HARD_DAILY_LIMIT, "schedule")
    assert pump.schedule == EVENING
    # stopping does not erase what was delivered: the window still holds the evening
    pump.stop()
    with pytest.raises(Rejected):
        pump.set_schedule(MORNING)
    pump.start()
    # at noon the evening is 12 h back and the next morning 12 h ahead: no window holds both
    pump.advance_to(DAY_MS + 12 * 3_600_000)
    pump.set_schedule(MORNING)
    assert pump.schedule == MORNING


def test_stacked_schedules_never_exceed_the_limit_in_any_window() -> None:
    pump = ready_pump(schedule=EVENING)
    samples = []
    for hour in range(0, 96):
        pump.advance_to(hour * 3_600_000)
        samples.append((pump.status().time_ms, pump.snapshot()["dose_pg"]))
        if hour % 6 == 0:
            for sched in (MORNING, EVENING, Schedule.constant(2_900_000)):
                try:
                    pump.set_schedule(sched)
                except Rejected:
                    pass
    for i, (t0, d0) in enumerate(samples):
        for t1, d1 in samples[i:]:
            if t1 - t0 <= DAY_MS:
                assert d1 - d0 <= 30_000 * 1_000_000


def test_clock_jump_back_cannot_repeat_high_hours_beyond_the_limit() -> None:
    pump = ready_pump(schedule=MORNING)
    pump.advance_to(12 * 3_600_000)  # the morning high hours ran
    with pytest.raises(Rejected) as ei:
        pump.set_time(0)  # would run the morning again
    assert (ei.value.code, ei.value.field) == (RejectCode.HARD_DAILY_LIMIT, "wall_ms")
    assert pump.status().wall_ms == 12 * 3_600_000
    with pytest.raises(Rejected):
        pump.set_time(13 * 3_600_000)  # even 1 h forward brings the next morning too close
    pump.advance_to(18 * 3_600_000)
    pump.set_time(17 * 3_600_000)  # 1 h back in the evening: no window holds 13 high hours
    # stopped, the clock can be set; a start that would repeat the morning is refused
    pump.stop()
    pump.set_time(DAY_MS)
    with pytest.raises(Rejected) as ei:
        pump.start()
    assert ei.value.code is RejectCode.HARD_DAILY_LIMIT
    pump.advance_to(DAY_MS)
    pump.start()


def test_constant_schedule_clock_changes_always_allowed() -> None:
    pump = ready_pump(schedule=Schedule.constant(3 * ML))  # exactly at the limit
    pump.advance_to(5 * 3_600_000)
    pump.set_time(0)
    pump.set_time(20 * DAY_MS)
    pump.advance_to(DAY_MS)
    assert pump.status().delivered_nl == 3 * ML


def test_bolus_after_reprogramming_counts_the_previous_schedule() -> None:
    pump = ready_pump(schedule=EVENING)
    pump.advance_to(DAY_MS)
    pump.stop()
    # stopped: no basal ahead, but the evening's 29.7 mg are within the last 24 h
    with pytest.raises(Rejected) as ei:
        pump.start_clinician_bolus(duration_ms=1_800_000, dose_ug=1_000)
    assert ei.value.code is RejectCode.HARD_DAILY_LIMIT
    pump.start_clinician_bolus(duration_ms=1_800_000, dose_ug=200)


def test_start_after_a_single_bolus_counts_the_bolus() -> None:
    pump = ready_pump(schedule=Schedule.constant(2 * ML), start=False)  # 20 mg/day
    pump.start_clinician_bolus(duration_ms=7_200_000, dose_ug=15_000)  # stopped: allowed
    pump.advance_to(3 * 3_600_000)
    with pytest.raises(Rejected) as ei:
        pump.start()  # 15 + 20 mg within 24 h
    assert (ei.value.code, ei.value.field) == (RejectCode.HARD_DAILY_LIMIT, "schedule")
    with pytest.raises(Rejected):  # nor may the schedule be raised on top of the bolus
        pump.set_schedule(Schedule.constant(2 * ML))
    pump.set_schedule(Schedule.constant(ML))  # 15 + 10 mg: fine
    pump.start()
