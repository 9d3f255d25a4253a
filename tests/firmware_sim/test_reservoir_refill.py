"""Reservoir thresholds, empty detection, the refill workflow and the refill-due date."""
from __future__ import annotations

import pytest

from firmware_sim import Alarm, Pump, Rejected, RejectCode, Schedule, TherapyState, load_profile

from .helpers import DAY_MS, HOUR_MS, MINUTE_MS, ML, ceil_div, events_of, ready_pump

pytestmark = pytest.mark.requirement(
    "ALM-1", "ALM-2", "ALM-8", "RFL-1", "RFL-2", "RFL-3", "SAF-2", "SAF-8")

S = TherapyState


def alarm_time(pump: Pump, alarm: Alarm) -> int | None:
    for a in pump.status().alarms:
        if a.alarm is alarm:
            return a.raised_ms
    return None


@pytest.mark.parametrize("rate", [ML, 999_999, 1_234_567])
def test_low_reservoir_raised_at_the_first_ms(rate: int) -> None:
    pump = ready_pump(fill_nl=2_100_000, schedule=Schedule.constant(rate))
    cross = ceil_div(100_000 * DAY_MS, rate)  # first ms with 100,000 nL delivered
    twin = ready_pump(fill_nl=2_100_000, schedule=Schedule.constant(rate))
    pump.advance_to(cross - 1)
    assert Alarm.LOW_RESERVOIR not in {a.alarm for a in pump.status().alarms}
    assert pump.status().reservoir_nl > 2 * ML
    pump.advance_to(cross)
    assert alarm_time(pump, Alarm.LOW_RESERVOIR) == cross
    assert pump.status().reservoir_nl <= 2 * ML
    twin.advance_to(5 * DAY_MS)  # one big jump finds the same ms
    assert alarm_time(twin, Alarm.LOW_RESERVOIR) == cross
    raised = [e for e in events_of(twin, "ALARM_RAISED") if e.details["alarm"] == "LOW_RESERVOIR"]
    assert [e.time_ms for e in raised] == [cross]
    assert raised[0].details["priority"] == "MEDIUM"


def test_low_threshold_programmable() -> None:
    pump = ready_pump(fill_nl=4 * ML)
    for bad in (499_999, 5_000_001, 1.5):
        with pytest.raises(Rejected) as ei:
            pump.set_low_reservoir_threshold(bad)  # type: ignore[arg-type]
        assert (ei.value.code, ei.value.field) == (RejectCode.THRESHOLD_OUT_OF_RANGE, "threshold_nl")
    pump.set_low_reservoir_threshold(ML)
    pump.advance_to(3 * DAY_MS - 1)
    assert alarm_time(pump, Alarm.LOW_RESERVOIR) is None
    pump.advance_to(3 * DAY_MS)
    assert alarm_time(pump, Alarm.LOW_RESERVOIR) == 3 * DAY_MS
    assert events_of(pump, "THRESHOLD")[-1].details == {"low_threshold_nl": ML}


def test_raising_threshold_above_reservoir_alarms_now() -> None:
    pump = ready_pump(fill_nl=4 * ML)
    pump.advance_to(HOUR_MS)
    pump.set_low_reservoir_threshold(5 * ML)
    assert alarm_time(pump, Alarm.LOW_RESERVOIR) == HOUR_MS


def test_empty_stops_delivery_at_the_first_ms() -> None:
    pump = ready_pump(fill_nl=600_000, schedule=Schedule.constant(999_999))
    empty_at = ceil_div(600_000 * DAY_MS, 999_999)
    pump.advance_to(empty_at - 1)
    assert pump.status().state is S.INFUSING and pump.status().reservoir_nl == 1
    pump.advance_to(10 * DAY_MS)
    st = pump.status()
    assert st.state is S.EMPTY
    assert st.reservoir_nl == 0 and st.delivered_nl == 600_000
    assert alarm_time(pump, Alarm.EMPTY_RESERVOIR) == empty_at
    assert alarm_time(pump, Alarm.LOW_RESERVOIR) == 0  # below the threshold from the start
    assert st.rate_nl_per_day == 0
    with pytest.raises(Rejected) as ei:
        pump.start_clinician_bolus(duration_ms=MINUTE_MS, volume_nl=1)
    assert ei.value.code is RejectCode.INVALID_STATE
    assert pump.status().filled_nl == st.delivered_nl + st.reservoir_nl + st.withdrawn_nl


def test_empty_during_a_bolus() -> None:
    pump = ready_pump(fill_nl=600_000)
    pump.start_clinician_bolus(duration_ms=HOUR_MS, volume_nl=600_000)
    pump.advance_to(2 * HOUR_MS)
    st = pump.status()
    assert st.state is S.EMPTY and st.bolus is None and st.reservoir_nl == 0
    assert st.delivered_nl == 600_000
    assert events_of(pump, "BOLUS_END")[-1].details["outcome"] == "EMPTY"


def test_empty_during_a_single_bolus_from_stopped() -> None:
    pump = ready_pump(fill_nl=600_000, start=False)
    pump.start_clinician_bolus(duration_ms=HOUR_MS, volume_nl=600_000)
    pump.advance_to(2 * HOUR_MS)
    st = pump.status()
    assert st.state is S.EMPTY and st.reservoir_nl == 0 and st.bolus is None
    assert Alarm.EMPTY_RESERVOIR in {a.alarm for a in st.alarms}


def test_start_with_empty_reservoir_rejected() -> None:
    pump = Pump(load_profile("ip20"))
    pump.program_therapy("morphine", 10_000, Schedule.constant(ML))
    with pytest.raises(Rejected) as ei:
        pump.start()
    assert ei.value.code is RejectCode.RESERVOIR_EMPTY


def test_refill_workflow_resumes_therapy_and_clears_alarms() -> None:
    pump = ready_pump(fill_nl=3 * ML)
    pump.advance_to(2 * DAY_MS)  # 1 mL left, LOW_RESERVOIR active
    assert alarm_time(pump, Alarm.LOW_RESERVOIR) is not None
    pump.refill_begin()
    assert pump.status().state is S.REFILL
    pump.advance_to(2 * DAY_MS + HOUR_MS)
    assert pump.status().delivered_nl == 2 * ML  # nothing during the refill
    assert pump.refill_withdrawn(ML) is False
    st = pump.status()
    assert st.reservoir_nl == 0 and st.withdrawn_nl == ML
    pump.refill_complete(20 * ML, 10_000)
    st = pump.status()
    assert st.state is S.INFUSING
    assert st.reservoir_nl == 20 * ML
    assert st.filled_nl == 23 * ML
    assert st.alarm_mask == 0
    kinds = [e.kind for e in events_of(pump)]
    assert kinds.index("REFILL_BEGIN") < kinds.index("REFILL_WITHDRAWN") < \
        len(kinds) - 1 - kinds[::-1].index("REFILL_COMPLETE")
    assert st.filled_nl == st.delivered_nl + st.reservoir_nl + st.withdrawn_nl


def test_refill_of_stopped_pump_stays_stopped_and_empty_pump_can_be_refilled() -> None:
    pump = ready_pump(fill_nl=600_000)
    pump.advance_to(DAY_MS)
    assert pump.status().state is S.EMPTY
    pump.refill_begin()
    pump.refill_withdrawn(0)
    pump.refill_complete(10 * ML, 10_000)
    assert pump.status().state is S.INFUSING  # therapy was running when it ran dry
    pump.stop()
    pump.refill_begin()
    pump.refill_withdrawn(pump.status().reservoir_nl)
    pump.refill_complete(10 * ML, 10_000)
    assert pump.status().state is S.STOPPED


@pytest.mark.parametrize("expected_nl", [5 * ML, 15 * ML])
def test_refill_discrepancy_tolerance(expected_nl: int) -> None:
    tol = max(2 * ML, expected_nl * 20 // 100)
    for measured, alarm in ((expected_nl + tol, False), (expected_nl - tol, False),
                            (expected_nl + tol + 1, True), (expected_nl - tol - 1, True)):
        if measured < 0:
            continue
        pump = ready_pump(fill_nl=expected_nl, start=False)
        pump.refill_begin()
        assert pump.refill_withdrawn(measured) is alarm
        active = {a.alarm for a in pump.status().alarms}
        assert (Alarm.REFILL_DISCREPANCY in active) is alarm
        ev = events_of(pump, "REFILL_WITHDRAWN")[-1]
        assert ev.details == {"withdrawn_nl": measured, "expected_nl": expected_nl,
                              "tolerance_nl": tol}
        # the model's content is what left the reservoir, whatever was measured
        assert pump.status().withdrawn_nl == expected_nl


def test_refill_discrepancy_latches_until_acknowledged() -> None:
    pump = ready_pump(fill_nl=10 * ML, start=False)
    pump.refill_begin()
    pump.refill_withdrawn(0)
    pump.refill_complete(10 * ML, 10_000)
    assert Alarm.REFILL_DISCREPANCY in {a.alarm for a in pump.status().alarms}
    pump.acknowledge_alarm(Alarm.REFILL_DISCREPANCY)
    assert pump.status().alarm_mask == 0


def test_refill_rejections() -> None:
    pump = ready_pump(fill_nl=10 * ML)
    with pytest.raises(Rejected) as ei:
        pump.refill_withdrawn(0)
    assert ei.value.code is RejectCode.INVALID_STATE
    with pytest.raises(Rejected) as ei:
        pump.refill_complete(ML, 10_000)
    assert ei.value.code is RejectCode.INVALID_STATE
    pump.refill_begin()
    with pytest.raises(Rejected) as ei:
        pump.refill_begin()
    assert ei.value.code is RejectCode.INVALID_STATE
    with pytest.raises(Rejected) as ei:
        pump.refill_complete(ML, 10_000)
    assert ei.value.code is RejectCode.WITHDRAW_REQUIRED
    for bad in (-1, 40 * ML + 1, 1.0):
        with pytest.raises(Rejected) as ei:
            pump.refill_withdrawn(bad)  # type: ignore[arg-type]
        assert (ei.value.code, ei.value.field) == (RejectCode.VOLUME_OUT_OF_RANGE, "withdrawn_nl")
    pump.refill_withdrawn(10 * ML)
    with pytest.raises(Rejected) as ei:
        pump.refill_withdrawn(10 * ML)
    assert ei.value.code is RejectCode.ALREADY_WITHDRAWN
    before = pump.snapshot()
    for args, code, field in (((20 * ML + 1, 10_000), RejectCode.RESERVOIR_OVERFLOW, "filled_nl"),
                              ((0, 10_000), RejectCode.VOLUME_OUT_OF_RANGE, "filled_nl"),
                              ((ML, 60_000), RejectCode.CONCENTRATION_OUT_OF_RANGE,
                               "concentration_ug_per_ml")):
        with pytest.raises(Rejected) as ei:
            pump.refill_complete(*args)
        assert (ei.value.code, ei.value.field) == (code, field)
        assert pump.snapshot() == before
    with pytest.raises(Rejected) as ei:  # 30 mg/mL x 1 mL/day = 30,000 ug: at the limit, OK;
        pump.refill_complete(ML, 30_001)  # above it, refused
    assert ei.value.code is RejectCode.HARD_DAILY_LIMIT
    pump.refill_complete(20 * ML, 10_000)
    assert pump.status().reservoir_nl == 20 * ML


def test_refill_with_new_schedule() -> None:
    pump = ready_pump(fill_nl=10 * ML)
    pump.refill_begin()
    pump.refill_withdrawn(10 * ML)
    with pytest.raises(Rejected) as ei:
        pump.refill_complete(ML, 10_000, Schedule.constant(1))
    assert ei.value.code is RejectCode.RATE_OUT_OF_RANGE
    pump.refill_complete(10 * ML, 10_000, Schedule.constant(2 * ML))
    pump.advance_to(DAY_MS)
    assert pump.status().delivered_nl == 2 * ML


def test_refill_due_date_from_schedule_and_allotted_boluses() -> None:
    pump = ready_pump(fill_nl=20 * ML)
    # 18 mL above the 2 mL threshold at 1 mL/day
    assert pump.status().refill_due_ms == 18 * DAY_MS
    assert events_of(pump, "REFILL_DUE_DATE")[-1].details == {"refill_due_ms": 18 * DAY_MS,
                                                              "limited_by": "volume"}
    pump.configure_patient_bolus(dose_ug=1_000, duration_ms=30 * MINUTE_MS, lockout_ms=HOUR_MS,
                                 max_per_24h=4)  # +0.4 mL/day when every bolus is taken
    due = ceil_div(18 * ML * DAY_MS, 1_400_000)
    assert pump.status().refill_due_ms == due
    pump.advance_to(due - 1)
    assert alarm_time(pump, Alarm.REFILL_DUE) is None
    pump.advance_to(due + DAY_MS)
    assert alarm_time(pump, Alarm.REFILL_DUE) == due
    pump.acknowledge_alarm(Alarm.REFILL_DUE)  # silenced, still active until the refill
    assert Alarm.REFILL_DUE in {a.alarm for a in pump.status().alarms}
    pump.refill_begin()
    pump.refill_withdrawn(pump.status().reservoir_nl)
    pump.refill_complete(20 * ML, 10_000)
    assert Alarm.REFILL_DUE not in {a.alarm for a in pump.status().alarms}
    assert pump.status().refill_due_ms == pump.status().time_ms + due


def test_refill_due_date_with_weekly_schedule() -> None:
    from firmware_sim import Plan, Weekday
    sched = Schedule({Weekday.EVERY_DAY: Plan.constant(ML), Weekday.SUNDAY: Plan.constant(3 * ML)})
    pump = ready_pump(fill_nl=20 * ML, schedule=sched)
    # average 9 mL per 7 days
    assert pump.status().refill_due_ms == ceil_div(18 * ML * 7 * DAY_MS, 9 * ML)


def test_no_refill_due_while_stopped() -> None:
    pump = ready_pump(start=False)
    assert pump.status().refill_due_ms is None
    pump.start()
    assert pump.status().refill_due_ms == 18 * DAY_MS
    pump.stop()
    assert pump.status().refill_due_ms is None


def test_low_reservoir_raised_when_a_single_bolus_starts_below_the_threshold() -> None:
    pump = ready_pump(fill_nl=ML, start=False)  # stopped: no low-reservoir alarm yet
    assert alarm_time(pump, Alarm.LOW_RESERVOIR) is None
    pump.advance_to(HOUR_MS)
    pump.start_clinician_bolus(duration_ms=MINUTE_MS, volume_nl=1_000)
    assert alarm_time(pump, Alarm.LOW_RESERVOIR) == HOUR_MS  # delivering from this ms on


def test_refill_due_is_the_drug_stability_limit_when_that_comes_first() -> None:
    """Reproduction: ziconotide at a low rate came out "due in 792 days"; it stays stable in the
    reservoir for its library's stability_days only."""
    pump = ready_pump(drug="ziconotide", conc=25, schedule=Schedule.constant(100_000))
    stability = pump.profile.drug("ziconotide").stability_days
    assert pump.status().refill_due_ms == stability * DAY_MS  # not 180 days by volume
    assert events_of(pump, "REFILL_DUE_DATE")[-1].details["limited_by"] == "stability"
    pump.advance_to(stability * DAY_MS - 1)
    assert alarm_time(pump, Alarm.REFILL_DUE) is None
    pump.advance_to(stability * DAY_MS)
    assert alarm_time(pump, Alarm.REFILL_DUE) == stability * DAY_MS
    # a fresh fill starts the stability period again
    pump.refill_begin()
    pump.refill_withdrawn(pump.reservoir_nl)
    pump.refill_complete(20 * ML, 25)
    assert pump.status().refill_due_ms == 2 * stability * DAY_MS
