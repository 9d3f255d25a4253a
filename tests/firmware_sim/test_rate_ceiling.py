"""No delivery of any kind runs faster than the profile's maximum rate (invariant 12).

Reproductions: a 10 mL clinician bolus over 1 minute, a 1 ms priming bolus and the bridge bolus
after a refill from 0.5 to 50 mg/mL were accepted at thousands of mL/day.
"""
from __future__ import annotations

import pytest

from firmware_sim import DAY_MS, BolusKind, Pump, Rejected, RejectCode, Schedule, TherapyState

from .helpers import HOUR_MS, MINUTE_MS, ML, events_of, ready_pump

pytestmark = pytest.mark.requirement("SAF-12")


def assert_refused(pump: Pump, call, field: str) -> None:
    before = pump.snapshot()
    with pytest.raises(Rejected) as exc:
        call()
    assert exc.value.code is RejectCode.RATE_OUT_OF_RANGE
    assert exc.value.field == field
    assert pump.snapshot() == before  # nothing changed


def test_clinician_bolus_of_10_ml_in_a_minute_is_refused_on_the_volume() -> None:
    pump = ready_pump(fill_nl=20 * ML)
    # 10 mL fits in a longer bolus (about 10.4 h on top of 1 mL/day): the duration causes it
    assert_refused(pump, lambda: pump.start_clinician_bolus(MINUTE_MS, volume_nl=10 * ML),
                   "duration_ms")
    # 20 mL on top of 5 mL/day does not fit even in the longest bolus (24 h): the volume does
    pump2 = ready_pump(schedule=Schedule.constant(5 * ML), conc=1_000)
    assert_refused(pump2, lambda: pump2.start_clinician_bolus(MINUTE_MS, volume_nl=20 * ML),
                   "volume_nl")


def test_bolus_at_the_ceiling_is_accepted_and_one_nl_more_is_not() -> None:
    pump = ready_pump(schedule=Schedule.constant(ML))
    room = pump.profile.max_rate_nl_per_day - ML  # nL/day left above the basal rate
    duration = HOUR_MS
    fits = room * duration // DAY_MS
    assert_refused(pump, lambda: pump.start_clinician_bolus(duration, volume_nl=fits + 1),
                   "duration_ms")
    pump.start_clinician_bolus(duration, volume_nl=fits)
    assert pump.state is TherapyState.BOLUS


def test_dose_bolus_names_the_dose_field() -> None:
    pump = ready_pump(schedule=Schedule.constant(5 * ML), conc=1_000)
    assert_refused(pump, lambda: pump.start_clinician_bolus(MINUTE_MS, dose_ug=20_000),
                   "dose_ug")


def test_one_ms_priming_bolus_is_refused() -> None:
    pump = ready_pump(start=False)
    assert_refused(pump, lambda: pump.start_priming_bolus(duration_ms=1), "duration_ms")
    pump.start_priming_bolus()  # the profile's default priming fits
    assert pump.state is TherapyState.BOLUS


def test_patient_bolus_setting_that_cannot_be_delivered_in_time_is_refused() -> None:
    pump = ready_pump(conc=500)  # morphine 0.5 mg/mL
    # 0.1 mg at 0.5 mg/mL = 0.2 mL in 1 minute (288 mL/day): a longer duration would fit
    assert_refused(pump, lambda: pump.configure_patient_bolus(100, MINUTE_MS, HOUR_MS, 4),
                   "duration_ms")
    # 5 mg = 10 mL: not even in the longest patient bolus (60 min)
    assert_refused(pump, lambda: pump.configure_patient_bolus(5_000, MINUTE_MS, HOUR_MS, 4),
                   "dose_ug")
    pump.configure_patient_bolus(100, 20 * MINUTE_MS, HOUR_MS, 4)  # 0.2 mL in 20 min: fine


def test_refill_to_a_weaker_drug_that_breaks_the_patient_setting_is_refused() -> None:
    pump = ready_pump(conc=50_000, schedule=Schedule.constant(100_000))
    pump.configure_patient_bolus(5_000, HOUR_MS, HOUR_MS, 4)  # 0.1 mL in an hour: fine
    pump.refill_begin()
    pump.refill_withdrawn(pump.reservoir_nl)
    with pytest.raises(Rejected) as exc:
        pump.refill_complete(10 * ML, 500)  # the same dose is now 10 mL in an hour
    assert exc.value.code is RejectCode.RATE_OUT_OF_RANGE
    assert exc.value.field == "patient_bolus"


def test_bridge_after_refill_from_half_to_fifty_mg_per_ml_is_capped_and_lengthened() -> None:
    schedule = Schedule.constant(600_000)  # 0.6 mL/day
    pump = ready_pump(conc=500, schedule=schedule)
    pump.advance_to(2 * DAY_MS)
    pump.refill_begin()
    pump.refill_withdrawn(pump.reservoir_nl)
    pump.refill_complete(10 * ML, 50_000, schedule)
    assert pump.status().bolus is not None and pump.status().bolus.kind is BolusKind.BRIDGE
    start = [e for e in events_of(pump, "BOLUS_START") if e.details["bolus_kind"] == "BRIDGE"][-1]
    assert start.details["rate_nl_per_day"] == 60 * ML  # what the old formula asked for
    cap = pump.profile.max_rate_nl_per_day
    assert start.details["capped_rate_nl_per_day"] == cap
    assert pump.status().rate_nl_per_day == cap
    t0, d0 = pump.time_ms, pump.delivered_nl
    dead = pump.profile.dead_volume_nl
    end = pump.next_event_ms()
    # the bridge lasts as long as the dead volume needs at the capped rate (15 min, not 6)
    assert end is not None and end - t0 == -(-dead * DAY_MS // cap)
    assert pump.status().bolus.end_ms == end  # the reported end is the capped bridge's end
    pump.advance_to(end)
    assert pump.delivered_nl - d0 == dead
    assert pump.status().bolus is None and pump.state is TherapyState.INFUSING
