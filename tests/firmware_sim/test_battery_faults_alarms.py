"""Battery (ERI, end of service), motor stall, memory error, alarm priorities and latching."""
from __future__ import annotations

import pytest

from firmware_sim import (ALARM_PRIORITY, Alarm, AlarmPriority, BolusKind, Pump, Rejected,
                          RejectCode, Schedule, TherapyState, load_profile)

from .helpers import DAY_MS, HOUR_MS, MINUTE_MS, ML, events_of, ready_pump, write_profile

pytestmark = pytest.mark.requirement("ALM-3", "ALM-4", "ALM-5", "ALM-6", "SAF-8", "SAF-3")

S = TherapyState


def active(pump: Pump) -> dict[Alarm, tuple[int, bool]]:
    return {a.alarm: (a.raised_ms, a.acked) for a in pump.status().alarms}


@pytest.fixture
def short_battery(tmp_path):
    """A profile whose battery lasts 20 days idle and 10 days at 1 mL/day (ERI 2 days before
    the end at the rate in force): 600 uAh, 30 uAh/day idle + 30 uAh/mL pumped."""
    return load_profile(write_profile(tmp_path, "shortbat", idle_uah_per_day="30",
                                      life_days_low_volume="20", life_days_high_volume="10",
                                      high_volume_nl_per_day="1_000_000",
                                      eri_days_before_end_of_service="2",
                                      reduced_battery_percent="0"))


def test_eri_and_end_of_service_exact_ms_while_infusing(short_battery) -> None:
    pump = ready_pump(short_battery)
    assert pump.status().battery_remaining_uah == 600
    pump.advance_to(8 * DAY_MS - 1)
    assert Alarm.BATTERY_ERI not in active(pump)
    pump.advance_to(9 * DAY_MS)
    assert active(pump)[Alarm.BATTERY_ERI] == (8 * DAY_MS, False)
    st = pump.status()
    assert st.state is S.INFUSING  # the pump keeps running after ERI
    assert st.delivered_nl == 9 * ML
    assert st.battery_remaining_uah == 600 - 9 * 60
    assert st.battery_percent == 10
    pump.advance_to(30 * DAY_MS)
    st = pump.status()
    assert st.state is S.END_OF_SERVICE
    assert active(pump)[Alarm.END_OF_SERVICE][0] == 10 * DAY_MS
    assert st.delivered_nl == 10 * ML  # nothing after end of service
    assert st.battery_remaining_uah == 0
    for call in (pump.start, lambda: pump.set_low_reservoir_threshold(ML), pump.refill_begin,
                 lambda: pump.configure_patient_bolus(dose_ug=100, duration_ms=MINUTE_MS,
                                                      lockout_ms=HOUR_MS, max_per_24h=1),
                 lambda: pump.start_clinician_bolus(duration_ms=MINUTE_MS, volume_nl=1),
                 pump.inject_motor_stall):
        with pytest.raises(Rejected) as ei:
            call()
        assert ei.value.code is RejectCode.INVALID_STATE
    pump.acknowledge_alarm(Alarm.END_OF_SERVICE)
    assert active(pump)[Alarm.END_OF_SERVICE][1] is True  # silenced, never cleared
    assert pump.status().state is S.END_OF_SERVICE


def test_motor_work_drains_the_battery(short_battery) -> None:
    idle = Pump(short_battery)
    idle.advance_to(18 * DAY_MS - 1)
    assert Alarm.BATTERY_ERI not in active(idle)
    idle.advance_to(18 * DAY_MS)  # 30 uAh/day only: ERI 2 idle days (60 uAh) before the end
    assert active(idle)[Alarm.BATTERY_ERI][0] == 18 * DAY_MS
    busy = ready_pump(short_battery, schedule=Schedule.constant(3 * ML), fill_nl=20 * ML)
    busy.advance_to(5 * DAY_MS)  # 120 uAh/day: ERI 240 uAh before the end, at 3 days
    assert active(busy)[Alarm.BATTERY_ERI][0] == 3 * DAY_MS
    busy.advance_to(6 * DAY_MS)
    assert active(busy)[Alarm.END_OF_SERVICE][0] == 5 * DAY_MS


def test_eri_exact_ms_with_shipped_profile() -> None:
    pump = Pump(load_profile("ip20"))
    eri = (2557 - 90) * DAY_MS  # stopped: the idle drain alone, 7 years in all
    pump.advance_to(eri - 1)
    assert Alarm.BATTERY_ERI not in active(pump)
    pump.advance_to(eri)
    assert active(pump)[Alarm.BATTERY_ERI] == (eri, False)
    pump.advance_to(2557 * DAY_MS)
    assert pump.status().state is S.END_OF_SERVICE
    assert Alarm.REDUCED_BATTERY in active(pump)


def test_end_of_service_during_bolus(short_battery) -> None:
    pump = ready_pump(short_battery)
    pump.advance_to(10 * DAY_MS - HOUR_MS)
    pump.start_clinician_bolus(duration_ms=2 * HOUR_MS, volume_nl=100_000)
    pump.advance_to(11 * DAY_MS)
    st = pump.status()
    assert st.state is S.END_OF_SERVICE and st.bolus is None
    assert events_of(pump, "BOLUS_END")[-1].details["outcome"] == "END_OF_SERVICE"
    assert st.filled_nl == st.delivered_nl + st.reservoir_nl + st.withdrawn_nl


def test_motor_stall_stops_delivery_until_acknowledged_and_restarted() -> None:
    pump = ready_pump()
    pump.start_clinician_bolus(duration_ms=HOUR_MS, volume_nl=60_000)
    pump.advance_to(30 * MINUTE_MS)
    pump.inject_motor_stall()
    st = pump.status()
    assert st.state is S.FAULT and st.bolus is None
    assert active(pump)[Alarm.MOTOR_STALL] == (30 * MINUTE_MS, False)
    assert events_of(pump, "BOLUS_END")[-1].details["outcome"] == "MOTOR_STALL"
    delivered = st.delivered_nl
    assert delivered == 30_000 + ML // 48
    pump.advance_to(DAY_MS)
    assert pump.status().delivered_nl == delivered
    with pytest.raises(Rejected) as ei:
        pump.inject_motor_stall()
    assert ei.value.code is RejectCode.INVALID_STATE
    with pytest.raises(Rejected) as ei:
        pump.start()
    assert ei.value.code is RejectCode.INVALID_STATE
    pump.acknowledge_alarm(Alarm.MOTOR_STALL)
    assert pump.status().state is S.STOPPED
    assert Alarm.MOTOR_STALL not in active(pump)
    pump.start()
    pump.advance_to(2 * DAY_MS)
    assert pump.status().delivered_nl == delivered + ML


def test_memory_error_falls_back_to_the_minimum_rate_safe_mode() -> None:
    """Reproduction: a memory error stopped delivery entirely."""
    pump = ready_pump()
    pump.start_clinician_bolus(duration_ms=HOUR_MS, volume_nl=60_000)
    pump.inject_memory_error("test")
    st = pump.status()
    assert st.state is S.INFUSING and st.bolus is None
    assert st.rate_nl_per_day == pump.profile.min_rate_nl_per_day
    assert Alarm.MEMORY_ERROR in active(pump)
    ev = [e for e in events_of(pump, "ALARM_RAISED") if e.details["alarm"] == "MEMORY_ERROR"]
    assert ev[-1].details["reason"] == "test" and ev[-1].details["priority"] == "HIGH"
    assert events_of(pump, "SAFE_MODE")[-1].details == {
        "reason": "MEMORY_ERROR", "rate_nl_per_day": pump.profile.min_rate_nl_per_day}
    with pytest.raises(Rejected) as ei:
        pump.start_clinician_bolus(duration_ms=HOUR_MS, volume_nl=1_000)
    assert ei.value.code is RejectCode.INVALID_STATE
    pump.advance_to(DAY_MS)
    assert pump.status().delivered_nl == pump.profile.min_rate_nl_per_day
    pump.acknowledge_alarm(Alarm.MEMORY_ERROR)  # the clinician checked the program
    assert Alarm.MEMORY_ERROR not in active(pump)
    pump.advance_to(2 * DAY_MS)
    assert pump.status().delivered_nl == pump.profile.min_rate_nl_per_day + ML


def test_memory_error_with_no_therapy_running_stays_stopped() -> None:
    pump = ready_pump(start=False)
    pump.inject_memory_error("test")
    assert pump.status().state is S.STOPPED and Alarm.MEMORY_ERROR in active(pump)
    pump.advance_to(DAY_MS)
    assert pump.status().delivered_nl == 0


def test_reduced_battery_falls_back_to_the_minimum_rate(tmp_path) -> None:
    """Reproduction: reduced battery never fell back to the minimum-rate safe mode."""
    prof = load_profile(write_profile(tmp_path, "reduced", idle_uah_per_day="30",
                                      life_days_low_volume="20", life_days_high_volume="10",
                                      high_volume_nl_per_day="1_000_000",
                                      eri_days_before_end_of_service="2",
                                      reduced_battery_percent="5"))
    pump = ready_pump(prof)  # 60 uAh/day of 600: reduced at 570 uAh used, day 9.5
    pump.advance_to(9 * DAY_MS)
    assert Alarm.REDUCED_BATTERY not in active(pump)
    pump.advance_to(9 * DAY_MS + DAY_MS // 2)
    assert active(pump)[Alarm.REDUCED_BATTERY][0] == 9 * DAY_MS + DAY_MS // 2
    st = pump.status()
    assert st.state is S.INFUSING and st.rate_nl_per_day == prof.min_rate_nl_per_day
    assert events_of(pump, "SAFE_MODE")[-1].details["reason"] == "REDUCED_BATTERY"
    d0 = st.delivered_nl
    pump.advance_to(10 * DAY_MS)
    assert pump.status().delivered_nl - d0 == prof.min_rate_nl_per_day // 2
    assert pump.request_patient_bolus().reason is not None


@pytest.mark.parametrize("rate_nl_per_day", [48_000, ML, 24 * ML])
def test_end_of_service_comes_90_days_after_eri_at_any_rate(rate_nl_per_day: int,
                                                             tmp_path) -> None:
    """Reproduction: 90 days only at exactly 1 mL/day (8.5 days at 24 mL/day). (The reduced-
    battery safe mode, which slows the end down, is off in this profile.)"""
    prof = load_profile(write_profile(tmp_path, "noreduced", reduced_battery_percent="0"))
    pump = Pump(prof)
    conc = 500 if rate_nl_per_day > ML else 10_000
    pump.program_therapy("morphine", conc, Schedule.constant(rate_nl_per_day))
    pump.refill_begin()
    pump.refill_withdrawn(0)
    pump.refill_complete(20 * ML, conc)
    pump.start()
    pump.inject_battery_drain()  # straight to ERI, as if it had run down
    eri = active(pump)[Alarm.BATTERY_ERI][0]
    forecast = events_of(pump, "BATTERY_FORECAST")[-1].details
    assert forecast["daily_volume_nl"] == rate_nl_per_day and forecast["eri_days"] == 90
    # keep the reservoir full so delivery never stops before the battery does
    t = eri
    while pump.state is not S.END_OF_SERVICE:
        t += 20 * DAY_MS
        pump.advance_to(min(t, pump.next_event_ms(t) or t))
        if pump.state is not S.END_OF_SERVICE and pump.reservoir_nl <= 2 * ML:
            pump.refill_begin()
            pump.refill_withdrawn(pump.reservoir_nl)
            pump.refill_complete(20 * ML, conc)
            if pump.state is S.STOPPED:
                pump.start()
    eos = active(pump)[Alarm.END_OF_SERVICE][0]
    assert abs(eos - eri - 90 * DAY_MS) <= MINUTE_MS


def test_battery_life_is_7_years_idle_and_about_5_at_the_maximum_rate() -> None:
    """Reproduction: the battery lasted 0.56 years at the maximum rate."""
    p = load_profile("ip20")
    def life_years(ml_per_day: float) -> float:
        per_day = p.battery_idle_uah_per_day + p.battery_motor_uah_per_ml * ml_per_day
        return p.battery_capacity_uah / per_day / 365.25
    assert life_years(0) == pytest.approx(7.0, abs=0.01)
    assert life_years(24) == pytest.approx(5.0, abs=0.05)


def test_alarm_priorities() -> None:
    assert ALARM_PRIORITY == {
        Alarm.LOW_RESERVOIR: AlarmPriority.MEDIUM, Alarm.EMPTY_RESERVOIR: AlarmPriority.HIGH,
        Alarm.REFILL_DUE: AlarmPriority.LOW, Alarm.BATTERY_ERI: AlarmPriority.MEDIUM,
        Alarm.END_OF_SERVICE: AlarmPriority.HIGH, Alarm.MOTOR_STALL: AlarmPriority.HIGH,
        Alarm.MEMORY_ERROR: AlarmPriority.HIGH, Alarm.REFILL_DISCREPANCY: AlarmPriority.MEDIUM,
        Alarm.REDUCED_BATTERY: AlarmPriority.HIGH}
    for a in Alarm:
        assert a.priority is ALARM_PRIORITY[a]
        assert a.mask == 1 << int(a)
    pump = ready_pump(fill_nl=600_000)
    pump.advance_to(DAY_MS)
    st = pump.status()
    assert {(a.alarm, a.priority) for a in st.alarms} == {
        (Alarm.LOW_RESERVOIR, AlarmPriority.MEDIUM), (Alarm.EMPTY_RESERVOIR, AlarmPriority.HIGH),
        (Alarm.REFILL_DUE, AlarmPriority.LOW)}
    assert st.alarm_mask == Alarm.LOW_RESERVOIR.mask | Alarm.EMPTY_RESERVOIR.mask | \
        Alarm.REFILL_DUE.mask


def test_condition_alarms_latch_until_their_condition_ends() -> None:
    pump = ready_pump(fill_nl=600_000)
    pump.advance_to(DAY_MS)
    for a in (Alarm.LOW_RESERVOIR, Alarm.EMPTY_RESERVOIR, Alarm.REFILL_DUE):
        pump.acknowledge_alarm(a)
        assert active(pump)[a][1] is True
    pump.advance_to(2 * DAY_MS)  # still active, not raised again
    assert len([e for e in events_of(pump, "ALARM_RAISED")
                if e.details["alarm"] == "EMPTY_RESERVOIR"]) == 1
    pump.refill_begin()
    pump.refill_withdrawn(0)
    pump.refill_complete(10 * ML, 10_000)
    assert pump.status().alarm_mask == 0
    cleared = {e.details["alarm"] for e in events_of(pump, "ALARM_CLEARED")}
    assert cleared == {"LOW_RESERVOIR", "EMPTY_RESERVOIR", "REFILL_DUE"}


def test_acknowledge_inactive_alarm_rejected() -> None:
    pump = ready_pump()
    with pytest.raises(Rejected) as ei:
        pump.acknowledge_alarm(Alarm.MOTOR_STALL)
    assert (ei.value.code, ei.value.field) == (RejectCode.ALARM_NOT_ACTIVE, "alarm")
    with pytest.raises(ValueError):
        pump.acknowledge_alarm(99)  # type: ignore[arg-type]


def test_event_log_entries() -> None:
    pump = ready_pump()
    pump.configure_patient_bolus(dose_ug=100, duration_ms=MINUTE_MS, lockout_ms=HOUR_MS,
                                 max_per_24h=2)
    pump.request_patient_bolus()
    pump.request_patient_bolus()
    pump.advance_to(HOUR_MS)
    pump.inject_motor_stall()
    pump.acknowledge_alarm(Alarm.MOTOR_STALL)
    evs = events_of(pump)
    assert [e.index for e in evs] == list(range(len(evs)))
    assert all(evs[i].time_ms <= evs[i + 1].time_ms for i in range(len(evs) - 1))
    kinds = [e.kind for e in evs]
    for k in ("PROGRAM", "REFILL_BEGIN", "REFILL_WITHDRAWN", "REFILL_COMPLETE", "STATE",
              "PATIENT_BOLUS_CONFIG", "PATIENT_BOLUS_GRANTED", "BOLUS_START", "BOLUS_END",
              "PATIENT_BOLUS_DENIED", "ALARM_RAISED", "ALARM_ACK", "ALARM_CLEARED",
              "REFILL_DUE_DATE"):
        assert k in kinds, k
    start = [e for e in evs if e.kind == "BOLUS_START"][0]
    assert start.details["bolus_kind"] == BolusKind.PATIENT.name
    states = [(e.details["old"], e.details["new"]) for e in evs if e.kind == "STATE"]
    assert ("INFUSING", "FAULT") in states and ("FAULT", "STOPPED") in states
    assert pump.status().event_count == len(evs)
    assert pump.read_events(2, 3) == evs[2:5]
    with pytest.raises(ValueError):
        pump.read_events(-1, 3)


def test_subscribers_get_committed_events_and_cannot_break_the_pump() -> None:
    pump = ready_pump()
    seen = []
    unsubscribe = pump.subscribe(seen.append)

    def broken(ev: object) -> None:
        raise RuntimeError("subscriber bug")

    pump.subscribe(broken)
    pump.inject_motor_stall()
    # the stall stops the therapy: the battery forecast follows the new rate (0)
    assert [e.kind for e in seen] == ["ALARM_RAISED", "STATE", "BATTERY_FORECAST"]
    assert seen == pump.read_events(seen[0].index, 10)
    unsubscribe()
    pump.acknowledge_alarm(Alarm.MOTOR_STALL)
    assert len(seen) == 3
