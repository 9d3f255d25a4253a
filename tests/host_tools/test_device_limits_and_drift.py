"""The programmer learns the pump's ranges over the wire (GET_DEVICE_LIMITS), never from the
emulator's profile files, and reads the run clock's drift in STATUS (PROTOCOL.md section 9)."""
from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner

from firmware_sim.device import start_virtual_pump
from firmware_sim.device.handlers import Dispatcher, Refusal
from firmware_sim.profile import load_profile
from host_tools.client import PumpClient
from host_tools.errors import ProtocolViolation, Refused
from host_tools.pumpctl import cli
from host_tools.records import Step
from protocol.errors import NakCode

pytestmark = pytest.mark.requirement("PRO-6")

DAY_MS = 86_400_000
ML = 1_000_000


def _fill(client: PumpClient, filled_nl: int = 8 * ML) -> None:
    client.set_drug("morphine", 10_000)
    client.set_schedule([Step(0, 500_000)])
    client.refill_begin()
    client.refill_withdrawn(0)
    client.refill_complete(0, filled_nl, 10_000)


@pytest.mark.parametrize("drift_ppm", [250, -40, 0])
def test_status_reports_the_run_clock_drift(drift_ppm: int) -> None:
    profile = dataclasses.replace(load_profile("ip20"), clock_drift_ppm=drift_ppm)
    with start_virtual_pump(profile=profile) as vp:
        with PumpClient(vp.url) as client:
            _fill(client)
            client.start()
            vp.advance(DAY_MS)
            st = client.status()
    assert st.clock_drift_ppm == drift_ppm
    assert st.clock_drift_ms == st.time_ms * drift_ppm // 1_000_000  # floor, PROTOCOL.md
    if drift_ppm:
        assert abs(st.clock_drift_ms) >= DAY_MS * abs(drift_ppm) // 1_000_000  # a day and more


def test_pumpctl_status_shows_the_drift() -> None:
    profile = dataclasses.replace(load_profile("ip20"), clock_drift_ppm=-120)
    with start_virtual_pump(profile=profile) as vp:
        vp.advance(DAY_MS)
        doc = json.loads(CliRunner().invoke(cli, ["--url", vp.url, "status", "--json"]).stdout)
        text = CliRunner().invoke(cli, ["--url", vp.url, "status"]).stdout
    assert doc["clock_drift_ppm"] == -120 and doc["clock_drift_ms"] < 0
    assert "clock drift" in text and "-120 ppm (slow)" in text


def test_device_limits_are_the_pumps_own() -> None:
    # a model no profile file describes, with ranges of its own
    base = load_profile("ip20")
    profile = dataclasses.replace(base, name="xq9", reservoir_capacity_nl=10 * ML,
                                  max_steps_per_day=12, max_rate_nl_per_day=9 * ML,
                                  patient_max_per_24h=6, discrepancy_percent=15)
    with start_virtual_pump(profile=profile) as vp:
        with PumpClient(vp.url, role="patient") as client:
            lim = client.device_limits()
    assert (lim.reservoir_capacity_nl, lim.max_steps_per_day, lim.max_rate_nl_per_day,
            lim.patient_max_per_day, lim.discrepancy_percent) == (10 * ML, 12, 9 * ML, 6, 15)
    assert lim.min_rate_nl_per_day == base.min_rate_nl_per_day
    assert lim.step_resolution_minute == 1
    assert lim.discrepancy_limit_nl(20 * ML) == max(base.discrepancy_min_nl, 3 * ML)


def test_pumpctl_refill_checks_the_capacity_the_pump_reports() -> None:
    """A 10 mL pump of an unknown model: a 15 mL fill is refused before any request (it used
    to be checked against ip20's 20 mL reservoir and sent)."""
    profile = dataclasses.replace(load_profile("ip20"), name="xq9",
                                  reservoir_capacity_nl=10 * ML)
    with start_virtual_pump(profile=profile) as vp:
        with PumpClient(vp.url) as client:
            _fill(client, 5 * ML)
        result = CliRunner().invoke(cli, ["--url", vp.url, "refill", "--withdrawn", "0",
                                          "--filled", "15mL", "--no-start"])
        with vp.device.lock:
            state, reservoir = vp.pump.state.name, vp.pump.reservoir_nl
    assert result.exit_code == 2 and "10.000 mL reservoir" in result.output.replace("\n", " ")
    assert (state, reservoir) == ("STOPPED", 5 * ML)  # nothing was sent


def test_a_pump_without_device_limits_is_left_to_check_for_itself(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pump that does not report its ranges (protocol 1.0: UNKNOWN_MESSAGE_TYPE): pumpctl
    warns, checks nothing of its own and lets the pump refuse, naming the field."""
    def lacks_the_request(self, fields):  # what a pump without GET_DEVICE_LIMITS answers
        raise Refusal(NakCode.UNKNOWN_MESSAGE_TYPE, "GET_DEVICE_LIMITS is not a request")
    monkeypatch.setattr(Dispatcher, "get_device_limits", lacks_the_request)  # every host's
    with start_virtual_pump() as vp:
        with PumpClient(vp.url) as client:
            _fill(client)
            with pytest.raises(ProtocolViolation):
                client.device_limits()
        plan = tmp_path / "slow.yaml"
        plan.write_text('every_day:\n  - {start: "00:00", rate_ml_per_day: 0.01}\n')
        result = CliRunner().invoke(cli, ["--url", vp.url, "schedule", "set", str(plan), "--yes"])
    out = " ".join(result.output.split())
    assert "does not report its ranges" in out
    assert result.exit_code != 0 and "RATE_OUT_OF_RANGE" in out


def test_the_programmer_side_loads_no_part_of_the_pump_model() -> None:
    """pumpctl and PumpClient talk to a pump they know only from the wire: importing them loads
    nothing of firmware_sim (only the commands that run a simulator do, when they run)."""
    import subprocess
    import sys
    code = ("import sys, host_tools.pumpctl, host_tools.client, host_tools.history; "
            "print(sorted(m for m in sys.modules if m.startswith('firmware_sim')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(("args", "option"), [
    (["bolus", "--volume", "1mL", "--duration", "30s"], "--duration"),  # under 1 min
    (["bolus", "--volume", "10mL", "--duration", "1min"], "--duration"),  # 14,400 mL/day
    (["limits", "set", "--lockout", "5min"], "--lockout"),  # the pump's is 15 min..24 h
    (["limits", "set", "--max-per-day", "7"], "--max-per-day"),  # this pump takes 6
    (["limits", "set", "--threshold", "9mL"], "--threshold"),
])
def test_pumpctl_checks_boluses_and_limits_against_the_pumps_ranges(args: list[str],
                                                                     option: str) -> None:
    """Out of the range the pump reports: a usage error naming the option, nothing sent."""
    profile = dataclasses.replace(load_profile("ip20"), name="xq9", patient_max_per_24h=6)
    with start_virtual_pump(profile=profile) as vp:
        with PumpClient(vp.url) as client:
            _fill(client)
            client.start()
            before = client.read_log(0, 1).total_count
        result = CliRunner().invoke(cli, ["--url", vp.url, *args])
        with PumpClient(vp.url) as client:
            after = client.read_log(0, 1).total_count
    assert result.exit_code == 2 and option in result.output
    assert after == before  # no request was executed or refused by the pump


def test_refill_needs_the_withdrawal_first_and_pumpctl_continues_one_already_reported() -> None:
    """PumpClient gets WITHDRAW_REQUIRED for a fill sent before the withdrawal; pumpctl refill,
    run on a refill whose withdrawal was already reported, does not report it twice."""
    with start_virtual_pump() as vp:
        with PumpClient(vp.url) as client:
            _fill(client)
            client.refill_begin()
            with pytest.raises(Refused) as refused:
                client.refill_complete(0, 10 * ML, 10_000)
            assert refused.value.code == NakCode.WITHDRAW_REQUIRED
            client.refill_withdrawn(8 * ML)
        result = CliRunner().invoke(cli, ["--url", vp.url, "refill", "--withdrawn", "8mL",
                                          "--filled", "19mL", "--no-start", "--json"])
        with vp.device.lock:
            state, reservoir = vp.pump.state.name, vp.pump.reservoir_nl
    assert result.exit_code == 0, result.output
    assert (state, reservoir) == ("STOPPED", 19 * ML)


def test_pumpctl_shows_the_ranges_the_pump_reports() -> None:
    profile = dataclasses.replace(load_profile("ip20"), name="xq9", reservoir_capacity_nl=10 * ML)
    with start_virtual_pump(profile=profile) as vp:
        doc = json.loads(CliRunner().invoke(cli, ["--url", vp.url, "limits", "device",
                                                  "--json"]).stdout)
        text = CliRunner().invoke(cli, ["--url", vp.url, "limits", "device"]).stdout
    assert doc["reservoir_capacity_nl"] == 10 * ML and doc["max_steps_per_day"] == 48
    assert "10.000 mL" in text and "48 a day" in text
