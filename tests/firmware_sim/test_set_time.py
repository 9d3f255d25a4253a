"""Setting the wall clock forwards or backwards never gives a dose twice nor skips one."""
from __future__ import annotations

import pytest

from firmware_sim import DenialReason, Rejected, RejectCode, Schedule

from .helpers import DAY_MS, HOUR_MS, MINUTE_MS, ML, events_of, ready_pump

pytestmark = pytest.mark.requirement("SAF-11")

# 1 mL/day from midnight to noon, 5 mL/day from noon (bupivacaine 500 ug/mL: far from limits)
SCHED = Schedule.daily([(0, ML), (720, 5 * ML)])


def pump_at_midnight():
    return ready_pump(schedule=SCHED, drug="bupivacaine", conc=500)


def test_set_time_delivers_nothing_by_itself() -> None:
    pump = pump_at_midnight()
    pump.advance_to(3 * HOUR_MS)
    before = pump.status()
    pump.set_time(20 * HOUR_MS)
    after = pump.status()
    assert after.delivered_nl == before.delivered_nl
    assert after.time_ms == before.time_ms
    assert after.wall_ms == 20 * HOUR_MS
    ev = events_of(pump, "CLOCK_SET")[-1]
    assert ev.details == {"old_wall_ms": 3 * HOUR_MS, "new_wall_ms": 20 * HOUR_MS,
                          "delta_ms": 17 * HOUR_MS}


def test_jump_forward_follows_the_new_time_of_day_without_skipping() -> None:
    pump = pump_at_midnight()
    pump.advance_to(6 * HOUR_MS)  # 6 h at 1 mL/day
    pump.set_time(18 * HOUR_MS)  # skip the wall clock 12 h ahead
    assert pump.status().rate_nl_per_day == 5 * ML
    pump.advance_to(12 * HOUR_MS)  # 6 run hours at the evening rate
    # every run ms was delivered once at the rate then in force: 6 h x 1 + 6 h x 5 mL/day
    assert pump.status().delivered_nl == ML // 4 + 5 * ML // 4
    pump.advance_to(24 * HOUR_MS)  # wall 00:00-12:00 of the next day
    assert pump.status().delivered_nl == ML // 4 + 5 * ML // 4 + ML // 2


def test_jump_backward_gives_no_dose_twice() -> None:
    pump = pump_at_midnight()
    pump.advance_to(18 * HOUR_MS)
    delivered = pump.status().delivered_nl
    assert delivered == ML // 2 + 5 * ML // 4
    pump.set_time(13 * HOUR_MS)  # five hours back
    pump.advance_to(24 * HOUR_MS)  # 6 run hours: wall 13:00-19:00
    assert pump.status().delivered_nl == delivered + 5 * ML // 4
    assert pump.status().wall_ms == 19 * HOUR_MS


def test_jump_in_the_middle_of_a_bolus_keeps_the_bolus_on_the_run_clock() -> None:
    pump = pump_at_midnight()
    pump.start_clinician_bolus(duration_ms=HOUR_MS, volume_nl=60_000)
    pump.advance_to(30 * MINUTE_MS)
    pump.set_time(3 * DAY_MS)  # far forward
    pump.advance_to(HOUR_MS)
    st = pump.status()
    assert st.bolus is None
    assert st.delivered_nl == 60_000 + ML // 24
    end = events_of(pump, "BOLUS_END")[-1]
    assert end.time_ms == HOUR_MS and end.details["delivered_nl"] == 60_000


def test_clock_change_neither_resets_nor_extends_the_lockout() -> None:
    pump = pump_at_midnight()
    pump.configure_patient_bolus(dose_ug=100, duration_ms=30 * MINUTE_MS, lockout_ms=HOUR_MS,
                                 max_per_24h=2)
    assert pump.request_patient_bolus().granted
    pump.advance_to(HOUR_MS - 1)
    pump.set_time(5 * DAY_MS)  # forward: the lockout still runs on the run clock
    assert pump.request_patient_bolus().reason is DenialReason.LOCKOUT
    pump.advance_to(HOUR_MS)
    pump.set_time(0)  # backward: no longer lockout than programmed
    assert pump.request_patient_bolus().granted
    pump.advance_to(3 * HOUR_MS)
    pump.set_time(10 * DAY_MS)  # a clock jump does not reset the 24 h maximum
    assert pump.request_patient_bolus().reason is DenialReason.DAILY_MAXIMUM


def test_jump_over_a_week_follows_weekday_plans() -> None:
    from firmware_sim import Plan, Weekday
    sched = Schedule({Weekday.EVERY_DAY: Plan.constant(ML), Weekday.MONDAY: Plan.constant(3 * ML)})
    pump = ready_pump(schedule=sched, drug="bupivacaine", conc=500)
    pump.set_time(4 * DAY_MS)  # Monday
    pump.advance_to(DAY_MS)
    assert pump.status().delivered_nl == 3 * ML


@pytest.mark.parametrize("bad", [-1, 1.5, None, "noon"])
def test_set_time_rejects_bad_values(bad: object) -> None:
    pump = pump_at_midnight()
    before = pump.snapshot()
    with pytest.raises(Rejected) as ei:
        pump.set_time(bad)  # type: ignore[arg-type]
    assert (ei.value.code, ei.value.field) == (RejectCode.TIME_OUT_OF_RANGE, "wall_ms")
    assert pump.snapshot() == before
