"""The shipped hypothesis strategies draw what they promise."""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_sim import Pump, Rejected, load_profile
from firmware_sim.schedule import Plan, Schedule, Step, Weekday, validate_schedule
from hal.faults import FaultPlan
from host_tools import strategies as ips
from protocol import parse_frame

PROFILE = load_profile("ip20")
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def schedule(steps: list[tuple[int, int]]) -> Schedule:
    return Schedule({Weekday.EVERY_DAY: Plan(tuple(Step(*s) for s in steps))})


@FAST
@given(st.data())
def test_valid_steps_are_accepted_by_the_pump(data: st.DataObject) -> None:
    drug, conc = data.draw(ips.drugs())
    steps = data.draw(ips.valid_steps(drug=drug, concentration_ug_per_ml=conc))
    Pump(PROFILE).program_therapy(drug, conc, schedule(steps))  # raises if refused


@FAST
@given(st.data())
def test_invalid_steps_are_refused_by_the_pump(data: st.DataObject) -> None:
    drug, conc = data.draw(ips.drugs())
    steps, defect = data.draw(ips.invalid_steps(drug=drug, concentration_ug_per_ml=conc))
    assert defect in ips.INVALID_DEFECTS
    with pytest.raises(Rejected):
        validate_schedule(schedule(steps), PROFILE)
        Pump(PROFILE).program_therapy(drug, conc, schedule(steps))


@FAST
@given(ips.frames())
def test_frames_are_valid_frames(frame: bytes) -> None:
    assert parse_frame(frame).raw == frame


@FAST
@given(ips.mutated_frames())
def test_mutated_frames_are_bytes(frame: bytes) -> None:
    assert isinstance(frame, bytes)


@FAST
@given(ips.fault_plans(max_probability=0.2))
def test_fault_plans_are_seeded_and_bounded(plan: FaultPlan) -> None:
    assert plan.seed is not None
    assert plan.drop <= 0.2 and plan.duplicate <= 0.2 and plan.corrupt <= 0.02


@FAST
@given(ips.patient_settings())
def test_patient_settings_within_the_profile(cfg: dict[str, int]) -> None:
    assert PROFILE.patient_min_dose_ug <= cfg["patient_bolus_dose_ug"] <= PROFILE.patient_max_dose_ug
    assert PROFILE.patient_min_lockout_ms <= cfg["patient_lockout_ms"] <= PROFILE.patient_max_lockout_ms
    assert 1 <= cfg["patient_max_per_day"] <= PROFILE.patient_max_per_24h


@FAST
@given(st.data())
def test_patient_settings_for_a_program_are_accepted_by_the_pump(data: st.DataObject) -> None:
    """Given the drug, concentration and plan under test, every drawn setting is accepted
    (the allotment fits the hard daily limit next to the plan, every dose is >= 1 nL)."""
    drug, conc = data.draw(ips.drugs())
    cap = ips.max_daily_volume_nl(PROFILE, drug, conc)
    steps = data.draw(ips.valid_steps(drug=drug, concentration_ug_per_ml=conc,
                                      max_daily_nl=max(PROFILE.min_rate_nl_per_day, cap // 2)))
    try:
        cfg = data.draw(ips.patient_settings(drug=drug, concentration_ug_per_ml=conc, steps=steps))
    except ValueError:  # the plan leaves no room: the pump must refuse the smallest setting
        pump = Pump(PROFILE)
        pump.program_therapy(drug, conc, schedule(steps))
        with pytest.raises(Rejected):
            pump.configure_patient_bolus(PROFILE.patient_min_dose_ug,
                                         PROFILE.patient_min_duration_ms,
                                         PROFILE.patient_min_lockout_ms, 1)
        return
    pump = Pump(PROFILE)
    pump.program_therapy(drug, conc, schedule(steps))
    pump.configure_patient_bolus(cfg["patient_bolus_dose_ug"], cfg["patient_bolus_duration_ms"],
                                 cfg["patient_lockout_ms"], cfg["patient_max_per_day"])


@settings(max_examples=1, deadline=None)
@given(st.data())
def test_patient_settings_without_room_raise(data: st.DataObject) -> None:
    full = [(0, ips.max_daily_volume_nl(PROFILE, "ziconotide", 100))]
    assert ips.patient_budget_ug(PROFILE, "ziconotide", 100, full) < 1
    with pytest.raises(ValueError, match="no patient bolus fits"):
        data.draw(ips.patient_settings(drug="ziconotide", concentration_ug_per_ml=100, steps=full))


STEPPED = dataclasses.replace(PROFILE, name="stepped", patient_duration_step_ms=7 * 60_000,
                              patient_lockout_step_ms=15 * 60_000)


@FAST
@given(st.data())
def test_patient_settings_follow_the_profiles_step_resolution(data: st.DataObject) -> None:
    """A profile whose duration and lockout come in steps (7 min, 15 min here) gets only
    settings on those steps, and the pump accepts them."""
    drug, conc = data.draw(ips.drugs(STEPPED))
    steps = [(0, STEPPED.min_rate_nl_per_day)]
    cfg = data.draw(ips.patient_settings(STEPPED, drug=drug, concentration_ug_per_ml=conc,
                                         steps=steps))
    assert cfg["patient_bolus_duration_ms"] % (7 * 60_000) == 0
    assert cfg["patient_lockout_ms"] % (15 * 60_000) == 0
    pump = Pump(STEPPED)
    pump.program_therapy(drug, conc, schedule(steps))
    pump.configure_patient_bolus(cfg["patient_bolus_dose_ug"], cfg["patient_bolus_duration_ms"],
                                 cfg["patient_lockout_ms"], cfg["patient_max_per_day"])
