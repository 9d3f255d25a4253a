"""Clinician, patient, priming and bridge boluses."""
from __future__ import annotations

import pytest

from firmware_sim import (BolusKind, DenialReason, Pump, Rejected, RejectCode,
                          TherapyState, load_profile)

from .helpers import DAY_MS, HOUR_MS, MINUTE_MS, ML, events_of, ready_pump

pytestmark = pytest.mark.requirement("THR-5", "THR-6", "THR-7", "LIM-4", "LIM-5", "LIM-6", "SAF-5")

S = TherapyState


# ---------------------------------------------------------------- clinician bolus
def test_clinician_bolus_by_volume_on_top_of_schedule() -> None:
    pump = ready_pump()
    pump.advance_to(HOUR_MS)
    pump.start_clinician_bolus(duration_ms=10 * MINUTE_MS, volume_nl=100_000)
    st = pump.status()
    assert st.state is S.BOLUS
    assert st.bolus is not None and st.bolus.kind is BolusKind.CLINICIAN
    assert st.bolus.end_ms == HOUR_MS + 10 * MINUTE_MS
    pump.advance_to(HOUR_MS + 3 * MINUTE_MS + 7)
    b = pump.status().bolus
    assert b is not None
    assert b.delivered_nl == 100_000 * (3 * MINUTE_MS + 7) // (10 * MINUTE_MS)
    assert b.remaining_nl == 100_000 - b.delivered_nl
    pump.advance_to(2 * HOUR_MS)
    st = pump.status()
    assert st.state is S.INFUSING and st.bolus is None
    assert st.delivered_nl == ML * 2 // 24 + 100_000
    end = [e for e in events_of(pump, "BOLUS_END")][-1]
    assert end.time_ms == HOUR_MS + 10 * MINUTE_MS
    assert end.details == {"bolus_kind": "CLINICIAN", "delivered_nl": 100_000,
                           "outcome": "COMPLETE"}


def test_clinician_bolus_by_dose() -> None:
    pump = ready_pump()
    pump.start_clinician_bolus(duration_ms=10 * MINUTE_MS, dose_ug=1_234)  # 123.4 uL, 10 mg/mL
    assert pump.status().bolus.volume_nl == 123_400
    pump.advance_to(10 * MINUTE_MS)
    assert pump.status().delivered_nl == 123_400 + ML // 144


def test_single_bolus_from_stopped_returns_to_stopped() -> None:
    pump = ready_pump(start=False)
    pump.start_clinician_bolus(duration_ms=MINUTE_MS, volume_nl=5_000)
    assert pump.status().state is S.BOLUS
    pump.advance_to(HOUR_MS)
    st = pump.status()
    assert st.state is S.STOPPED
    assert st.delivered_nl == 5_000  # no basal while the therapy is stopped


@pytest.mark.parametrize("kwargs,code,field", [
    (dict(duration_ms=59_999, volume_nl=1000), RejectCode.DURATION_OUT_OF_RANGE, "duration_ms"),
    (dict(duration_ms=DAY_MS + 1, volume_nl=1000), RejectCode.DURATION_OUT_OF_RANGE, "duration_ms"),
    (dict(duration_ms=MINUTE_MS, volume_nl=0), RejectCode.VOLUME_OUT_OF_RANGE, "volume_nl"),
    (dict(duration_ms=MINUTE_MS, volume_nl=1.5), RejectCode.VOLUME_OUT_OF_RANGE, "volume_nl"),
    (dict(duration_ms=MINUTE_MS, dose_ug=0), RejectCode.DOSE_OUT_OF_RANGE, "dose_ug"),
    (dict(duration_ms=MINUTE_MS), RejectCode.INVALID_ARGUMENT, "volume_nl"),
    (dict(duration_ms=MINUTE_MS, volume_nl=10, dose_ug=1), RejectCode.INVALID_ARGUMENT, "volume_nl"),
    (dict(duration_ms=MINUTE_MS, volume_nl=20 * ML + 1), RejectCode.INSUFFICIENT_RESERVOIR,
     "volume_nl"),
    (dict(duration_ms=4 * HOUR_MS, volume_nl=2 * ML + 1), RejectCode.HARD_DAILY_LIMIT,
     "volume_nl"),
])
def test_clinician_bolus_rejections(kwargs: dict, code: RejectCode, field: str) -> None:
    pump = ready_pump()  # 1 mL/day = 10,000 ug; hard limit 30,000 ug leaves 2 mL of bolus
    before = pump.snapshot()
    with pytest.raises(Rejected) as ei:
        pump.start_clinician_bolus(**kwargs)
    assert (ei.value.code, ei.value.field) == (code, field)
    assert pump.snapshot() == before


def test_clinician_bolus_up_to_the_hard_limit_accepted() -> None:
    pump = ready_pump()
    pump.start_clinician_bolus(duration_ms=4 * HOUR_MS, volume_nl=2 * ML)
    pump.advance_to(5 * HOUR_MS)
    with pytest.raises(Rejected) as ei:
        pump.start_clinician_bolus(duration_ms=MINUTE_MS, volume_nl=1)
    assert ei.value.code is RejectCode.HARD_DAILY_LIMIT
    pump.advance_to(DAY_MS + 4 * HOUR_MS + 1)  # 24 h after the first bolus ended
    pump.start_clinician_bolus(duration_ms=MINUTE_MS, volume_nl=1_000)


def test_clinician_bolus_state_rejections() -> None:
    pump = ready_pump()
    pump.start_clinician_bolus(duration_ms=MINUTE_MS, volume_nl=1000)
    with pytest.raises(Rejected) as ei:
        pump.start_clinician_bolus(duration_ms=MINUTE_MS, volume_nl=1000)
    assert ei.value.code is RejectCode.BOLUS_ACTIVE
    pump = Pump(load_profile("ip20"))
    with pytest.raises(Rejected) as ei:
        pump.start_clinician_bolus(duration_ms=MINUTE_MS, volume_nl=1000)
    assert ei.value.code is RejectCode.NO_PROGRAM
    pump = ready_pump()
    pump.refill_begin()
    with pytest.raises(Rejected) as ei:
        pump.start_clinician_bolus(duration_ms=MINUTE_MS, volume_nl=1000)
    assert ei.value.code is RejectCode.INVALID_STATE


def test_stop_bolus() -> None:
    pump = ready_pump()
    with pytest.raises(Rejected) as ei:
        pump.stop_bolus()
    assert ei.value.code is RejectCode.NO_BOLUS
    pump.start_clinician_bolus(duration_ms=10 * MINUTE_MS, volume_nl=100_000)
    pump.advance_to(MINUTE_MS)
    pump.stop_bolus()
    st = pump.status()
    assert st.state is S.INFUSING and st.bolus is None
    assert st.delivered_nl == 10_000 + ML // 1440
    assert events_of(pump, "BOLUS_END")[-1].details["outcome"] == "CANCELLED"


# ---------------------------------------------------------------- patient bolus
def patient_pump(**cfg: int) -> Pump:
    pump = ready_pump()
    kw = dict(dose_ug=500, duration_ms=10 * MINUTE_MS, lockout_ms=HOUR_MS, max_per_24h=3)
    kw.update(cfg)
    pump.configure_patient_bolus(**kw)
    return pump


def last_denial(pump: Pump) -> str:
    return events_of(pump, "PATIENT_BOLUS_DENIED")[-1].details["reason"]


def test_patient_bolus_granted() -> None:
    pump = patient_pump()
    r = pump.request_patient_bolus()
    assert r.granted and r.reason is None
    assert r.volume_nl == 50_000
    assert r.next_allowed_ms == HOUR_MS
    assert pump.status().bolus.kind is BolusKind.PATIENT
    pump.advance_to(10 * MINUTE_MS)
    assert pump.status().state is S.INFUSING
    assert pump.status().delivered_nl == 50_000 + ML // 144
    ev = events_of(pump, "PATIENT_BOLUS_GRANTED")
    assert ev[-1].details == {"dose_ug": 500, "volume_nl": 50_000}


def test_patient_bolus_not_configured() -> None:
    pump = ready_pump()
    r = pump.request_patient_bolus()
    assert (r.granted, r.reason) == (False, DenialReason.NOT_CONFIGURED)
    assert last_denial(pump) == "NOT_CONFIGURED"
    pump = patient_pump()
    pump.disable_patient_bolus()
    assert pump.request_patient_bolus().reason is DenialReason.NOT_CONFIGURED


def test_patient_bolus_not_infusing() -> None:
    pump = patient_pump()
    pump.stop()
    r = pump.request_patient_bolus()
    assert r.reason is DenialReason.NOT_INFUSING
    assert last_denial(pump) == "NOT_INFUSING"
    assert pump.status().state is S.STOPPED


def test_patient_bolus_while_bolus_active() -> None:
    pump = patient_pump()
    pump.start_clinician_bolus(duration_ms=MINUTE_MS, volume_nl=1000)
    r = pump.request_patient_bolus()
    assert r.reason is DenialReason.BOLUS_ACTIVE
    assert last_denial(pump) == "BOLUS_ACTIVE"


def test_patient_lockout_boundary_ms() -> None:
    pump = patient_pump(lockout_ms=HOUR_MS)
    pump.advance_to(5 * MINUTE_MS)
    assert pump.request_patient_bolus().granted
    pump.advance_to(5 * MINUTE_MS + HOUR_MS - 1)
    r = pump.request_patient_bolus()
    assert r.reason is DenialReason.LOCKOUT
    assert r.next_allowed_ms == 5 * MINUTE_MS + HOUR_MS
    assert last_denial(pump) == "LOCKOUT"
    pump.advance_to(5 * MINUTE_MS + HOUR_MS)
    assert pump.request_patient_bolus().granted


def test_patient_daily_maximum_over_a_rolling_24h() -> None:
    pump = patient_pump(lockout_ms=HOUR_MS, max_per_24h=3)
    for h in (0, 1, 2):
        pump.advance_to(h * HOUR_MS)
        assert pump.request_patient_bolus().granted
    pump.advance_to(3 * HOUR_MS)
    r = pump.request_patient_bolus()
    assert r.reason is DenialReason.DAILY_MAXIMUM
    assert r.next_allowed_ms == DAY_MS
    assert last_denial(pump) == "DAILY_MAXIMUM"
    pump.advance_to(DAY_MS - 1)
    assert pump.request_patient_bolus().reason is DenialReason.DAILY_MAXIMUM
    pump.advance_to(DAY_MS)
    assert pump.request_patient_bolus().granted


def test_patient_hard_daily_limit() -> None:
    # 1 mL/day = 10,000 ug; a clinician bolus of 19,500 ug leaves room for 500 ug, not 1,000
    pump = patient_pump(dose_ug=1_000, max_per_24h=4)
    pump.start_clinician_bolus(duration_ms=3 * HOUR_MS, dose_ug=19_500)
    pump.advance_to(3 * HOUR_MS + MINUTE_MS)
    r = pump.request_patient_bolus()
    assert r.reason is DenialReason.HARD_DAILY_LIMIT
    assert last_denial(pump) == "HARD_DAILY_LIMIT"
    pump.advance_to(DAY_MS + 3 * HOUR_MS + 1)
    assert pump.request_patient_bolus().granted


def test_patient_denials_change_no_delivery() -> None:
    pump = patient_pump()
    twin = patient_pump()
    pump.stop()
    twin.stop()
    for _ in range(5):
        pump.request_patient_bolus()
    pump.advance_to(DAY_MS)
    twin.advance_to(DAY_MS)
    assert pump.status().delivered_nl == twin.status().delivered_nl == 0
    assert len(events_of(pump, "PATIENT_BOLUS_DENIED")) == 5


@pytest.mark.parametrize("field,value,code", [
    ("dose_ug", 0, RejectCode.DOSE_OUT_OF_RANGE),
    ("dose_ug", 5_001, RejectCode.DOSE_OUT_OF_RANGE),
    ("duration_ms", 59_999, RejectCode.DURATION_OUT_OF_RANGE),
    ("duration_ms", HOUR_MS + 1, RejectCode.DURATION_OUT_OF_RANGE),
    ("lockout_ms", 899_999, RejectCode.LOCKOUT_OUT_OF_RANGE),
    ("lockout_ms", DAY_MS + 1, RejectCode.LOCKOUT_OUT_OF_RANGE),
    ("max_per_24h", 0, RejectCode.MAX_PER_DAY_OUT_OF_RANGE),
    ("max_per_24h", 25, RejectCode.MAX_PER_DAY_OUT_OF_RANGE),
    ("max_per_24h", True, RejectCode.MAX_PER_DAY_OUT_OF_RANGE),
])
def test_patient_config_rejections(field: str, value: int, code: RejectCode) -> None:
    pump = ready_pump()
    kw = dict(dose_ug=500, duration_ms=10 * MINUTE_MS, lockout_ms=HOUR_MS, max_per_24h=3)
    kw[field] = value
    with pytest.raises(Rejected) as ei:
        pump.configure_patient_bolus(**kw)
    assert (ei.value.code, ei.value.field) == (code, field)
    assert pump.patient_cfg is None


def test_patient_config_needs_program() -> None:
    pump = Pump(load_profile("ip20"))
    with pytest.raises(Rejected) as ei:
        pump.configure_patient_bolus(dose_ug=500, duration_ms=MINUTE_MS, lockout_ms=HOUR_MS,
                                     max_per_24h=3)
    assert ei.value.code is RejectCode.NO_PROGRAM


# ---------------------------------------------------------------- priming
def test_priming_bolus_fills_the_dead_volume() -> None:
    pump = ready_pump(start=False)
    pump.start_priming_bolus()
    st = pump.status()
    assert st.state is S.BOLUS and st.bolus.kind is BolusKind.PRIMING
    assert st.bolus.volume_nl == 250_000
    assert st.bolus.end_ms == HOUR_MS
    pump.advance_to(HOUR_MS)
    st = pump.status()
    assert st.state is S.STOPPED
    assert st.delivered_nl == 250_000
    assert st.delivered_dose_ug == 2_500


def test_priming_bolus_custom_and_rejections() -> None:
    pump = ready_pump()
    with pytest.raises(Rejected) as ei:
        pump.start_priming_bolus()
    assert ei.value.code is RejectCode.INVALID_STATE
    pump = Pump(load_profile("ip20"))
    with pytest.raises(Rejected) as ei:
        pump.start_priming_bolus()
    assert ei.value.code is RejectCode.NO_PROGRAM
    pump = ready_pump(start=False)
    with pytest.raises(Rejected) as ei:
        pump.start_priming_bolus(volume_nl=0)
    assert (ei.value.code, ei.value.field) == (RejectCode.VOLUME_OUT_OF_RANGE, "volume_nl")
    with pytest.raises(Rejected) as ei:
        pump.start_priming_bolus(duration_ms=0)
    assert (ei.value.code, ei.value.field) == (RejectCode.DURATION_OUT_OF_RANGE, "duration_ms")
    pump.start_priming_bolus(volume_nl=100_000, duration_ms=2 * HOUR_MS)
    pump.advance_to(HOUR_MS)
    assert pump.status().delivered_nl == 50_000


# ---------------------------------------------------------------- bridge
def test_bridge_bolus_after_concentration_change() -> None:
    pump = ready_pump()
    pump.advance_to(DAY_MS)  # 1 mL delivered at 10 mg/mL; the catheter holds 10 mg/mL
    pump.refill_begin()
    pump.refill_withdrawn(19 * ML)
    pump.refill_complete(20 * ML, 20_000)
    st = pump.status()
    assert st.state is S.BOLUS
    assert st.bolus.kind is BolusKind.BRIDGE
    assert st.bolus.volume_nl == 250_000
    # the old, weaker fluid is pushed at twice the volume rate: same dose rate as prescribed
    assert st.rate_nl_per_day == 2 * ML
    dose0 = st.delivered_dose_ug
    bridge_ms = 250_000 * DAY_MS // (2 * ML)
    assert st.bolus.end_ms == DAY_MS + bridge_ms  # when the old drug will have left the catheter
    pump.advance_to(DAY_MS + bridge_ms - 1)
    assert pump.status().state is S.BOLUS
    pump.advance_to(DAY_MS + bridge_ms)
    st = pump.status()
    assert st.state is S.INFUSING and st.bolus is None
    assert st.delivered_nl == ML + 250_000
    assert st.delivered_dose_ug == dose0 + 2_500  # 250 uL at the old 10 mg/mL
    end = events_of(pump, "BOLUS_END")[-1]
    assert end.details["bolus_kind"] == "BRIDGE" and end.details["outcome"] == "COMPLETE"
    pump.advance_to(2 * DAY_MS + bridge_ms)
    assert pump.status().delivered_dose_ug == dose0 + 2_500 + 20_000


def test_no_bridge_when_concentration_unchanged_or_stopped() -> None:
    pump = ready_pump()
    pump.advance_to(DAY_MS)
    pump.refill_begin()
    pump.refill_withdrawn(19 * ML)
    pump.refill_complete(20 * ML, 10_000)
    assert pump.status().state is S.INFUSING
    pump.stop()
    pump.refill_begin()
    pump.refill_withdrawn(20 * ML)
    pump.refill_complete(20 * ML, 5_000)
    assert pump.status().state is S.STOPPED
    pump.start()  # the catheter still holds 10 mg/mL: the bridge runs on start
    st = pump.status()
    assert st.state is S.BOLUS and st.bolus.kind is BolusKind.BRIDGE
    assert st.rate_nl_per_day == ML // 2
