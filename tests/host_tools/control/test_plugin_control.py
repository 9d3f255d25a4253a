"""The pytest plugin's pump_control fixture: a controlled virtual pump by default, and with
--pump-url/--pump-control a remote pump reset before every test."""
from __future__ import annotations

from pathlib import Path

import pytest

from host_tools.control.process import ControlledPumpsim

pytest_plugins = ["pytester"]

LOCAL_TESTS = '''
def test_fault_seen_by_the_programmer(pump_control, pump_client):
    pump_control.add_fault("motor_stall")
    assert pump_client.status().state.name == "FAULT"

def test_clock_moves(pump_control):
    assert pump_control.advance_clock(3_600_000)["now_ms"] >= 3_600_000
'''

REMOTE_TESTS = '''
def test_first_changes_the_pump(pump_client, pump_control):
    pump_client.set_drug("morphine", 10_000)
    pump_control.add_fault("motor_stall")
    assert pump_client.status().state.name == "FAULT"

def test_second_finds_a_fresh_pump(pump_client):
    status = pump_client.status()
    assert status.state.name == "STOPPED" and not status.active_alarms
'''


def test_pump_control_on_a_local_controlled_pump(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_local=LOCAL_TESTS)
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider",
                                          "-W", "ignore::pytest.PytestAssertRewriteWarning")
    result.assert_outcomes(passed=2)


@pytest.mark.slow
def test_remote_pump_is_reset_between_tests(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_remote=REMOTE_TESTS)
    with ControlledPumpsim(["--url", "pty", "--allow-reset"], tmp_path / "sim.log") as sim:
        result = pytester.runpytest_inprocess(
            "-q", "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning",
            "--pump-url", sim.device, "--pump-control", sim.control)
    result.assert_outcomes(passed=2)
