"""The delivery mechanism, the fault catalog and the truth ledger, each on its own."""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim.enums import RejectCode
from firmware_sim.errors import Rejected
from firmware_sim.pump.faults import (CATALOG, LEAK, MOTOR_STALL, OCCLUSION, OVER_INFUSION,
                                 UNDER_INFUSION, MechanismEffect, check_fault, mechanism_effect)
from firmware_sim.pump.ledger import TruthLedger
from firmware_sim.mechanism import (PPM, MechanismSpec, MechanismSpecError, Stroker,
                                    parse_mechanism, variation_pattern)
from firmware_sim.profile import load_profile

pytestmark = pytest.mark.requirement("SAF-13", "MEC-2")

SPEC = dataclasses.replace(load_profile("ip20").mechanism, error_model=True)


def test_variation_pattern_is_seeded_bounded_and_sums_to_zero() -> None:
    p = variation_pattern(50_000, 64, 7)
    assert p == variation_pattern(50_000, 64, 7) != variation_pattern(50_000, 64, 8)
    assert len(p) == 64 and sum(p) == 0 and max(map(abs, p)) <= 50_000 and any(p)


def test_strokes_match_the_sum_of_single_strokes() -> None:
    s = Stroker(SPEC, PPM + 145_000)
    pattern = variation_pattern(SPEC.stroke_variation_ppm, SPEC.variation_period, SPEC.seed)
    vs = SPEC.stroke_volume_nl
    exact = 0  # in nL x 1e12, stroke by stroke
    for k in range(1, 300):
        exact += vs * (PPM + 145_000) * (PPM + pattern[(k - 1) % 64])
        assert s.moved_nl(k * vs) == exact // PPM ** 2
        assert s.moved_nl(k * vs + vs - 1) == s.moved_nl(k * vs)  # nothing between strokes


def test_long_run_mean_error_is_exactly_the_gain() -> None:
    s = Stroker(SPEC, PPM + SPEC.systematic_error_ppm)
    n = SPEC.variation_period * 1000
    assert s.moved_nl(n * SPEC.stroke_volume_nl) == n * SPEC.stroke_volume_nl * 101 // 100


def test_ideal_mechanism_moves_exactly_what_is_commanded() -> None:
    ideal = Stroker(dataclasses.replace(SPEC, error_model=False), PPM)
    assert [ideal.moved_nl(c) for c in (0, 1, 249, 250, 10**9)] == [0, 1, 249, 250, 10**9]
    assert ideal.strokes(10**6) == 0 and Stroker(SPEC, PPM).strokes(1000) == 4


@given(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(0, 3 * PPM))
def test_moved_is_nondecreasing(a: int, b: int, gain: int) -> None:
    s = Stroker(SPEC, gain)
    lo, hi = sorted((a, b))
    assert 0 <= s.moved_nl(lo) <= s.moved_nl(hi)
    c = s.commanded_for(s.moved_nl(hi), hi)
    assert s.moved_nl(c) == s.moved_nl(hi) and (c == 0 or s.moved_nl(c - 1) < s.moved_nl(hi))


def test_mechanism_table_is_checked() -> None:
    assert parse_mechanism(None) == MechanismSpec()
    for bad, key in (({"kind": "piston"}, "kind"), ({"stroke_volume_nl": 0}, "stroke_volume_nl"),
                     ({"error_model": 1}, "error_model"), ({"variation_period": 3}, "period"),
                     ({"stroke_variation_ppm": -1}, "stroke_variation"), ({"x": 1}, "'x'")):
        with pytest.raises(MechanismSpecError, match=key):
            parse_mechanism(bad)
    assert MechanismSpec.from_dict(SPEC.to_dict()) == SPEC


def test_valve_gated_profile_is_shipped() -> None:
    m = load_profile("ipv20").mechanism
    assert m.kind == "valve" and m.mri_free_flow_nl_per_min > 0


# --- fault catalog ------------------------------------------------------------------------------

def test_catalog_names_and_documentation() -> None:
    names = [f.name for f in CATALOG]
    assert names == ["over_infusion", "under_infusion", "occlusion", "leak", "motor_stall",
                     "mri_exposure", "reduced_battery", "memory_error", "battery_eri",
                     "battery_end_of_service"]
    for f in CATALOG:
        assert f.description
        for p in f.params:
            assert p.unit and p.description and p.minimum <= p.default <= p.maximum


def test_check_fault_fills_defaults_and_refuses_bad_requests() -> None:
    assert check_fault(OVER_INFUSION, {}) == {"permille": 145}
    assert check_fault(MOTOR_STALL, {"recover_after_ms": 5000}) == {"recover_after_ms": 5000}
    cases = [("nope", {}, RejectCode.UNKNOWN_FAULT, "fault"),
             (3, {}, RejectCode.UNKNOWN_FAULT, "fault"),
             (LEAK, {"percent": 5}, RejectCode.INVALID_ARGUMENT, "percent"),
             (LEAK, {"lost_percent": 0}, RejectCode.FAULT_PARAM_OUT_OF_RANGE, "lost_percent"),
             (LEAK, {"lost_percent": 101}, RejectCode.FAULT_PARAM_OUT_OF_RANGE, "lost_percent"),
             (LEAK, {"lost_percent": True}, RejectCode.FAULT_PARAM_OUT_OF_RANGE, "lost_percent"),
             (OCCLUSION, {"blocked_percent": "50"}, RejectCode.FAULT_PARAM_OUT_OF_RANGE,
              "blocked_percent")]
    for name, params, code, field in cases:
        with pytest.raises(Rejected) as e:
            check_fault(name, params)
        assert (e.value.code, e.value.field) == (code, field)


def test_mechanism_effect_of_each_fault() -> None:
    ideal = MechanismSpec()
    assert mechanism_effect(ideal, {}) == MechanismEffect()
    assert mechanism_effect(SPEC, {}).gain_ppm == PPM + 10_000  # the declared accuracy
    over = mechanism_effect(SPEC, {OVER_INFUSION: {"permille": 145}})
    assert over.gain_ppm == PPM + 145_000  # replaces the profile's systematic error
    assert mechanism_effect(ideal, {UNDER_INFUSION: {"permille": 1000}}).gain_ppm == 0
    occ = mechanism_effect(ideal, {OCCLUSION: {"blocked_percent": 40}})
    assert occ.drain_gain_ppm == 600_000
    assert mechanism_effect(ideal, {LEAK: {"lost_percent": 100}}).lost_ppm == PPM
    valve = load_profile("ipv20").mechanism
    mri = mechanism_effect(valve, {}, in_mri=True)
    assert (mri.gain_ppm, mri.free_flow_nl_per_min) == (0, valve.mri_free_flow_nl_per_min)
    assert mechanism_effect(ideal, {}, in_mri=True) == MechanismEffect()  # a motor stalls instead


# --- truth ledger -------------------------------------------------------------------------------

def _balanced(led: TruthLedger, c: int, t: int) -> None:
    r = led.at(c, t)
    assert r.filled_nl == r.patient_nl + r.leaked_nl + r.reservoir_nl + r.withdrawn_nl
    assert min(r.patient_nl, r.leaked_nl, r.reservoir_nl, r.withdrawn_nl) >= 0


def test_ideal_ledger_equals_the_belief() -> None:
    led = TruthLedger(MechanismSpec())
    led.fill(20_000_000, 0, 0)
    r = led.at(1_234_567, 10**9)
    assert (r.reservoir_nl, r.patient_nl, r.leaked_nl) == (20_000_000 - 1_234_567, 1_234_567, 0)


def test_over_infusion_runs_the_true_reservoir_dry_first() -> None:
    led = TruthLedger(MechanismSpec())
    led.fill(10_000_000, 0, 0)
    led.set_effect(mechanism_effect(MechanismSpec(), {OVER_INFUSION: {"permille": 145}}), 0, 0)
    assert led.at(8_000_000, 0).reservoir_nl == 10_000_000 - 9_160_000
    assert led.at(9_000_000, 0).reservoir_nl == 0  # the pump still believes 1 mL is left
    assert led.withdraw_all(9_000_000, 0) == 0
    _balanced(led, 9_000_000, 0)


def test_leak_occlusion_and_free_flow() -> None:
    valve = load_profile("ipv20").mechanism
    led = TruthLedger(valve)
    led.fill(20_000_000, 0, 0)
    led.set_effect(mechanism_effect(valve, {LEAK: {"lost_percent": 25}}), 0, 0)
    r = led.at(4_000_000, 0)
    assert (r.patient_nl, r.leaked_nl) == (3_000_000, 1_000_000)
    led.set_effect(mechanism_effect(valve, {OCCLUSION: {"blocked_percent": 100}}), 4_000_000, 0)
    assert led.at(9_000_000, 0).reservoir_nl == 16_000_000  # nothing drains past a total block
    led.set_effect(mechanism_effect(valve, {}, in_mri=True), 9_000_000, 0)
    assert led.at(9_000_000, 60_000).reservoir_nl == 16_000_000 - 500_000
    assert led.at(9_000_000, 10**9).reservoir_nl == 0  # the reservoir empties into the patient
    _balanced(led, 9_000_000, 10**9)


@settings(max_examples=50)
@given(st.lists(st.tuples(st.integers(0, 3_000_000), st.sampled_from(
    [{}, {OVER_INFUSION: {"permille": 145}}, {UNDER_INFUSION: {"permille": 300}},
     {LEAK: {"lost_percent": 30}}, {OCCLUSION: {"blocked_percent": 60}}]),
    st.booleans()), max_size=12))
def test_truth_is_conserved_and_split_independent(steps: list) -> None:
    led = TruthLedger(SPEC)
    led.fill(20_000_000, 0, 0)
    c = t = 0
    for dc, faults, refill in steps:
        c += dc
        t += 1000
        _balanced(led, c, t)
        before = led.at(c, t)
        led.set_effect(mechanism_effect(SPEC, faults), c, t)  # anchoring changes no value
        assert led.at(c, t) == before
        if refill:
            assert led.withdraw_all(c, t) == before.reservoir_nl
            led.fill(20_000_000, c, t)
        _balanced(led, c, t)
    assert TruthLedger.from_dict(SPEC, led.to_dict()) == led


def test_ledger_restore_refuses_unbalanced_or_bad_values() -> None:
    led = TruthLedger(SPEC)
    led.fill(5, 0, 0)
    d = led.to_dict()
    for key, value in (("reservoir_nl", 4), ("leaked_nl", -1), ("gain_ppm", 1.5)):
        with pytest.raises(ValueError):
            TruthLedger.from_dict(SPEC, {**d, key: value})


# --- fault state --------------------------------------------------------------------------------

def test_fault_state_times_persists_and_switches_the_error_model() -> None:
    from firmware_sim.pump.fault_state import FaultState
    fs = FaultState(MechanismSpec())
    fs.ledger.fill(10_000_000, 0, 0)
    fs.set(MOTOR_STALL, {"recover_after_ms": 5_000}, 1_000, 0)
    fs.set("mri_exposure", {"duration_ms": 3_000}, 1_000, 0)
    fs.set(LEAK, {"lost_percent": 50}, 1_000, 0)
    assert fs.next_end_ms() == 4_000 and fs.due(6_000) == ["mri_exposure", MOTOR_STALL]
    assert fs.ledger.at(2_000_000, 2_000).leaked_nl == 1_000_000
    again = FaultState.from_dict(MechanismSpec(), fs.to_dict())
    assert again.to_dict() == fs.to_dict()
    assert fs.end(LEAK, 2_000, 2_000_000) == {"lost_percent": 50}
    assert fs.ledger.at(3_000_000, 2_000).leaked_nl == 1_000_000  # no more loss after it
    fs.set_error_model(True, 2_000, 3_000_000)
    assert fs.effect().gain_ppm == PPM  # the ideal default spec declares no error
    for bad in ({**fs.to_dict(), "active": {"nope": {}}},
                {**fs.to_dict(), "ends_ms": {LEAK: 5}},
                {**fs.to_dict(), "resume_after_stall": 1}):
        with pytest.raises((ValueError, Rejected)):
            FaultState.from_dict(MechanismSpec(), bad)
