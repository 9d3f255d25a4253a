"""The pytest plugin, tested the way a user meets it: a test file using its fixtures."""
from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

USER_TESTS = '''
import pytest
from hypothesis import given, settings
from host_tools.pytest_plugin import valid_steps
from host_tools.errors import Refused


def my_programmer_setup(client, steps):
    """What a user's programmer code does: program, fill, start."""
    client.set_drug("morphine", 10_000)
    client.set_schedule(steps)
    client.refill_begin()
    client.refill_withdrawn(0)
    client.refill_complete(0, 10_000_000, 10_000)
    client.start()


def test_programmer_starts_therapy(pump_client, virtual_pump):
    my_programmer_setup(pump_client, [(0, 400_000), (600, 800_000)])
    virtual_pump.advance(24 * 3_600_000)
    assert pump_client.status().state.name == "INFUSING"
    assert virtual_pump.pump.status().delivered_nl > 0


def test_bad_schedule_is_refused(pump_client, virtual_pump):
    pump_client.set_drug("morphine", 10_000)
    with pytest.raises(Refused):
        pump_client.set_schedule([(10, 400_000)])       # the first step must start at 0
    assert virtual_pump.pump.status().delivered_nl == 0


@pytest.mark.intrapump(profile="ip40")
def test_marker_selects_the_profile(virtual_pump, pump_client):
    assert pump_client.identify().reservoir_capacity_nl == 40_000_000


def test_patient_role(patient_client):
    assert patient_client.patient_bolus().granted is False


def test_factory_starts_more_pumps(pump_factory):
    a, b = pump_factory(), pump_factory()
    assert a.url != b.url


@settings(max_examples=5, deadline=None)
@given(steps=valid_steps(max_steps=4, drug="morphine", concentration_ug_per_ml=10_000))
def test_strategy_steps_are_accepted(steps):
    from firmware_sim.device import start_virtual_pump
    from host_tools.client import PumpClient
    with start_virtual_pump() as vp, PumpClient(vp.url) as client:   # one pump per example
        client.set_drug("morphine", 10_000)
        client.set_schedule(steps)
'''


def test_user_style_test_file_passes(pytester: pytest.Pytester) -> None:
    """The fixtures work in a plain user test file (the plugin loads by its entry point)."""
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider",
                                           "-W", "ignore::pytest.PytestAssertRewriteWarning")
    result.assert_outcomes(passed=6)


def test_pump_url_option_skips_model_tests(pytester: pytest.Pytester) -> None:
    """With --pump-url the model-only fixture skips instead of starting a virtual pump."""
    pytester.makepyfile(test_remote="def test_needs_model(virtual_pump):\n    pass\n")
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider",
                                           "--pump-url", "virtual://nowhere")
    result.assert_outcomes(skipped=1)


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["*@pytest.mark.intrapump(profile=*"])


def test_strategies_are_reexported() -> None:
    from host_tools import pytest_plugin, strategies
    assert pytest_plugin.valid_steps is strategies.valid_steps
    with pytest.raises(AttributeError):
        pytest_plugin.no_such_strategy  # noqa: B018
