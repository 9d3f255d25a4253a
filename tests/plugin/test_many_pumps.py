"""Several pumps per test (--pump-count, the intrapump(count=) marker) and strategies bound to
the profile under test (pump_strategies honours an overridden pump_profile)."""
from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

MANY = """
import pytest

def test_count(virtual_pumps, pump_count):
    assert len(virtual_pumps) == pump_count == {n}
    assert len({{vp.url for vp in virtual_pumps}}) == {n}
    virtual_pumps[0].clock.advance(60_000)
    assert virtual_pumps[-1].clock.now_ms() == ({n} == 1) * 60_000

@pytest.mark.intrapump(count=2)
def test_marker(virtual_pumps):
    assert len(virtual_pumps) == 2
"""

PROFILE = """
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

@pytest.fixture
def pump_profile():
    return "ip40"

def test_bound_to_the_overridden_profile(pump_strategies, virtual_pump):
    assert pump_strategies.profile.name == "ip40" == virtual_pump.profile.name

@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # the fixture is stateless
@given(data=st.data())
def test_settings_accepted_by_the_pump(pump_strategies, data):
    from firmware_sim import Pump
    from firmware_sim.schedule import Plan, Schedule, Step, Weekday
    drug, conc = data.draw(pump_strategies.drugs(names=["morphine"]))
    steps = data.draw(pump_strategies.valid_steps(drug=drug, concentration_ug_per_ml=conc,
                                                  max_daily_nl=100_000))
    cfg = data.draw(pump_strategies.patient_settings(drug=drug, concentration_ug_per_ml=conc,
                                                     steps=steps))
    pump = Pump(pump_strategies.profile)
    plan = Plan(tuple(Step(*s) for s in steps))
    pump.program_therapy(drug, conc, Schedule({Weekday.EVERY_DAY: plan}))
    pump.configure_patient_bolus(cfg["patient_bolus_dose_ug"], cfg["patient_bolus_duration_ms"],
                                 cfg["patient_lockout_ms"], cfg["patient_max_per_day"])
"""


@pytest.mark.parametrize("n", [1, 3])
def test_pump_count_option(pytester: pytest.Pytester, n: int) -> None:
    pytester.makepyfile(test_many=MANY.format(n=n))
    result = pytester.runpytest("-p", "no:cacheprovider", "--pump-count", str(n))
    result.assert_outcomes(passed=2)


def test_strategies_follow_the_profile_under_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_profile=PROFILE)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
