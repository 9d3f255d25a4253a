"""Model faults through the Pump facade: each fault's effect on belief and truth, timing,
refusals that change nothing, persistence, and the 30-day over-infusion clinical story."""
from __future__ import annotations

import pytest

from firmware_sim import DAY_MS, Pump, Schedule, Storage, load_profile
from firmware_sim.enums import Alarm, RejectCode, TherapyState
from firmware_sim.errors import Rejected
from firmware_sim.pump.faults import CATALOG

pytestmark = pytest.mark.requirement("SAF-13", "RFL-2", "MEC-1", "MEC-3")

MIN = 60_000
HOUR = 60 * MIN
ML = 1_000_000


def running_pump(profile: str = "ip20", rate: int = 500_000, storage: Storage | None = None,
                 conc: int = 10_000) -> Pump:
    """Morphine at ``conc`` ug/mL at ``rate`` nL/day, reservoir full, infusing."""
    p = load_profile(profile)
    pump = Pump(p, storage or Storage(":memory:"))
    pump.program_therapy("morphine", conc, Schedule.daily([(0, rate)]))
    pump.refill_begin()
    pump.refill_withdrawn(0)
    pump.refill_complete(p.reservoir_capacity_nl, conc)
    pump.start()
    return pump


def conserved(pump: Pump) -> None:
    tr = pump.truth()
    assert tr.filled_nl == tr.patient_nl + tr.leaked_nl + tr.reservoir_nl + tr.withdrawn_nl
    st = pump.status()
    assert tr.filled_nl == st.filled_nl == st.delivered_nl + st.reservoir_nl + st.withdrawn_nl


def kinds(pump: Pump) -> list[str]:
    return [e.kind for e in pump.read_events(0, 10_000)]


def test_without_a_fault_truth_equals_belief() -> None:
    pump = running_pump()
    pump.advance_to(10 * DAY_MS + 12_345)
    st, tr = pump.status(), pump.truth()
    assert (tr.reservoir_nl, tr.patient_nl, tr.leaked_nl) == (st.reservoir_nl,
                                                              st.delivered_nl, 0)
    assert pump.fault_catalog() == CATALOG and pump.active_faults() == {}


def test_bad_fault_requests_change_nothing() -> None:
    pump = running_pump()
    before = pump.snapshot()
    for name, params, code in (("nope", {}, RejectCode.UNKNOWN_FAULT),
                               ("leak", {"lost_percent": 0}, RejectCode.FAULT_PARAM_OUT_OF_RANGE),
                               ("leak", {"gone": 5}, RejectCode.INVALID_ARGUMENT)):
        with pytest.raises(Rejected) as e:
            pump.raise_fault(name, **params)
        assert e.value.code is code
    with pytest.raises(Rejected) as e:
        pump.clear_fault("occlusion")
    assert e.value.code is RejectCode.FAULT_NOT_ACTIVE
    assert pump.snapshot() == before


def test_over_infusion_runs_the_true_reservoir_down_faster() -> None:
    pump = running_pump()
    pump.raise_fault("over_infusion", permille=145)
    assert pump.active_faults() == {"over_infusion": {"permille": 145}}
    pump.advance_to(pump.time_ms + 4 * DAY_MS)
    st, tr = pump.status(), pump.truth()
    assert st.delivered_nl == 2 * ML and tr.patient_nl == 2_290_000
    assert tr.reservoir_nl == st.reservoir_nl - 290_000
    conserved(pump)


def test_total_occlusion_stops_the_drain_and_only_the_refill_shows_it() -> None:
    pump = running_pump()
    pump.advance_to(DAY_MS)
    pump.raise_fault("occlusion")  # default: total
    pump.advance_to(3 * DAY_MS)
    st, tr = pump.status(), pump.truth()
    assert st.state is TherapyState.INFUSING and st.delivered_nl == 1_500_000
    assert tr.patient_nl == 500_000 and tr.reservoir_nl == 20 * ML - 500_000
    pump.clear_fault("occlusion")
    assert "FAULT_CLEARED" in kinds(pump)
    conserved(pump)


def test_leak_loses_drug_on_its_way() -> None:
    pump = running_pump()
    pump.raise_fault("leak", lost_percent=40)
    pump.advance_to(2 * DAY_MS)
    tr = pump.truth()
    assert (tr.patient_nl, tr.leaked_nl) == (600_000, 400_000)
    conserved(pump)


def test_transient_motor_stall_recovers_by_itself() -> None:
    pump = running_pump()
    pump.advance_to(HOUR)
    pump.raise_fault("motor_stall", recover_after_ms=10 * MIN)
    st = pump.status()
    assert st.state is TherapyState.FAULT and Alarm.MOTOR_STALL in pump.active_alarms
    assert pump.next_event_ms() == HOUR + 10 * MIN
    delivered = st.delivered_nl
    pump.advance_to(HOUR + 10 * MIN - 1)
    assert pump.status().delivered_nl == delivered  # nothing while stalled
    pump.advance_to(HOUR + 10 * MIN)
    assert pump.state is TherapyState.INFUSING and Alarm.MOTOR_STALL not in pump.active_alarms
    assert pump.active_faults() == {}
    assert "MOTOR_RECOVERED" in kinds(pump)
    stalls = [e for e in pump.read_events(0, 10_000) if e.kind == "ALARM_RAISED"
              and e.details["alarm"] == "MOTOR_STALL"]
    assert [e.time_ms for e in stalls] == [HOUR]
    pump.advance_to(2 * HOUR)
    assert pump.status().delivered_nl > delivered
    conserved(pump)


def test_permanent_stall_is_latched_until_cleared() -> None:
    pump = running_pump()
    pump.raise_fault("motor_stall")
    pump.advance_to(30 * DAY_MS)
    assert pump.state is TherapyState.FAULT
    with pytest.raises(Rejected) as e:
        pump.raise_fault("motor_stall")
    assert e.value.code is RejectCode.INVALID_STATE
    pump.clear_fault("motor_stall")  # the motor was replaced
    assert pump.state is TherapyState.STOPPED and Alarm.MOTOR_STALL not in pump.active_alarms


def test_mri_stalls_a_motor_driven_pump_for_the_scan() -> None:
    pump = running_pump("ip20")
    pump.raise_fault("mri_exposure", duration_ms=20 * MIN)
    assert pump.state is TherapyState.FAULT
    pump.advance_to(pump.time_ms + 20 * MIN)
    assert pump.state is TherapyState.INFUSING
    assert {"MRI_EXPOSURE", "MRI_EXPOSURE_END"} <= set(kinds(pump))
    conserved(pump)


def test_mri_opens_a_valve_gated_pump_into_the_patient() -> None:
    pump = running_pump("ipv20")
    free = pump.profile.mechanism.mri_free_flow_nl_per_min
    pump.raise_fault("mri_exposure", duration_ms=60 * MIN)
    assert pump.state is TherapyState.INFUSING  # the pump does not know
    pump.advance_to(pump.time_ms + 10 * MIN)
    tr = pump.truth()
    assert 10 * free <= tr.patient_nl <= 10 * free + 10_000
    pump.advance_to(pump.time_ms + 50 * MIN)
    assert pump.truth().reservoir_nl == 0 and pump.truth().patient_nl == 20 * ML
    assert pump.status().reservoir_nl > 19 * ML  # the pump believes it is nearly full
    assert pump.active_faults() == {}
    conserved(pump)


def test_faults_survive_a_restart() -> None:
    storage = Storage(":memory:")
    pump = running_pump(storage=storage)
    pump.raise_fault("under_infusion", permille=300)
    pump.raise_fault("motor_stall", recover_after_ms=HOUR)
    again = Pump(pump.profile, storage)
    assert again.active_faults() == pump.active_faults()
    assert again.truth() == pump.truth()
    assert again.next_event_ms() == pump.next_event_ms()


def test_error_model_gives_the_declared_accuracy() -> None:
    pump = running_pump(rate=24 * ML, conc=1_000)
    pump.set_error_model(True)
    pump.advance_to(pump.time_ms + 16 * HOUR)
    st, tr = pump.status(), pump.truth()
    err = (tr.patient_nl - st.delivered_nl) * 1_000_000 // st.delivered_nl
    assert abs(err - pump.profile.mechanism.systematic_error_ppm) < 500  # 0.05 %


def test_thirty_days_of_over_infusion_then_the_refill_alarm() -> None:
    """+14.5 % for 30 days at 0.5 mL/day from 20 mL: the pump expects 5.0 mL back, the
    syringe draws 2.825 mL; |2.825 - 5.0| = 2.175 mL > max(2.0 mL, 20 % of 5.0 mL)."""
    pump = running_pump()
    pump.raise_fault("over_infusion", permille=145)
    pump.advance_to(30 * DAY_MS)
    assert pump.active_alarms == frozenset()  # nothing a real pump could notice
    pump.refill_begin()
    measured = pump.true_reservoir_nl
    assert measured == 20 * ML - 15 * ML * 1145 // 1000 == 2_825_000
    assert pump.refill_withdrawn(measured) is True
    ev = [e for e in pump.read_events(0, 10_000) if e.kind == "REFILL_WITHDRAWN"][-1]
    assert (ev.details["withdrawn_nl"], ev.details["expected_nl"],
            ev.details["tolerance_nl"]) == (2_825_000, 5_000_000, 2_000_000)
    assert Alarm.REFILL_DISCREPANCY in pump.active_alarms
    conserved(pump)
    tr = pump.truth()
    assert (tr.withdrawn_nl, tr.reservoir_nl) == (2_825_000, 0)


def test_reduced_battery_fault_falls_back_to_the_minimum_rate_until_cleared() -> None:
    """The injected reduced-battery fault acts as the battery model's own reduced level does:
    REDUCED_BATTERY alarm, minimum-rate safe mode (no boluses); clearing it restores the
    programmed rate."""
    pump = running_pump(rate=2_400_000)
    minimum = pump.profile.min_rate_nl_per_day
    pump.raise_fault("reduced_battery")
    assert Alarm.REDUCED_BATTERY in pump.active_alarms
    assert pump.status().safe_mode == "REDUCED_BATTERY"
    before = pump.delivered_nl
    pump.advance_to(pump.time_ms + DAY_MS)
    assert pump.delivered_nl - before == minimum
    with pytest.raises(Rejected):
        pump.start_clinician_bolus(600_000, volume_nl=10_000)
    pump.clear_fault("reduced_battery")
    assert Alarm.REDUCED_BATTERY not in pump.active_alarms
    assert pump.status().safe_mode is None
    before = pump.delivered_nl
    pump.advance_to(pump.time_ms + DAY_MS)
    assert pump.delivered_nl - before == 2_400_000
    conserved(pump)
