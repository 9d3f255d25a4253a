"""pumpsim serve --control in a child process: the announced lines, the API beside a programmer
on the pty, link faults while it talks, the shell commands, and the option checks."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from host_tools.client import PumpClient
from host_tools.control.client import ControlClient, ControlRefused
from host_tools.control.process import ControlledPumpsim
from host_tools.errors import ResponseTimeout
from host_tools.pumpsim import cli, main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> ControlledPumpsim:
    tmp = tmp_path_factory.mktemp("sim")
    with ControlledPumpsim(["--url", "pty", "--state", str(tmp / "pump.db"), "--allow-reset"],
                           tmp / "sim.log") as process:
        yield process


def test_announces_device_then_control(sim) -> None:
    assert sim.device.startswith("/dev/")
    assert sim.control.startswith("http://127.0.0.1:") and sim.control.endswith("/")


def test_control_beside_a_programmer_on_the_pty(sim) -> None:
    with ControlClient(sim.control) as ctl:
        ctl.reset()
        with PumpClient(sim.device, timeout_s=0.3, retries=1) as programmer:
            assert programmer.status().state.name == "STOPPED"
            ctl.add_fault("motor_stall")
            assert programmer.status().state.name == "FAULT"
            ctl.add_fault("link_silent")
            with pytest.raises(ResponseTimeout):
                programmer.status()
            ctl.clear_fault("link_silent")
            ctl.clear_fault("motor_stall")
            assert programmer.status().state.name == "STOPPED"
        status = ctl.status()
        assert status["link"]["faults"]["stats"]["silenced"] >= 1
        assert status["link"]["device"]["requests"] >= 3


def test_power_cycle_drops_the_session_and_keeps_the_state(sim) -> None:
    with ControlClient(sim.control) as ctl:
        ctl.reset()
        ctl.advance_clock(3_600_000)
        before = ctl.status()["pump"]
        after = ctl.power_cycle()
        assert after["power_cycles"] >= 1 and after["time_ms"] >= before["time_ms"]
        with pytest.raises(ControlRefused) as err:
            ctl.add_fault("link_drop", probability=7)
        assert err.value.status == 400 and "outside 0..1" in err.value.message


def test_control_commands_from_the_shell(sim) -> None:
    run = CliRunner().invoke
    base = ["control", "--url", sim.control]
    assert run(cli, [*base, "reset"]).exit_code == 0
    listed = run(cli, [*base, "faults", "list"])
    assert listed.exit_code == 0 and "motor_stall" in listed.output and "link_drop" in listed.output
    added = run(cli, [*base, "faults", "add", "link_drop", "probability=0.25"])
    assert added.exit_code == 0, added.output
    assert json.loads(added.output)["values"]["probability"] == 0.25
    assert run(cli, [*base, "faults", "clear", "link_drop"]).exit_code == 0
    moved = run(cli, [*base, "clock", "advance", "6h"])
    assert moved.exit_code == 0 and json.loads(moved.output)["now_ms"] >= 21_600_000
    refused = run(cli, [*base, "faults", "clear", "link_drop"])
    assert refused.exit_code == 1 and "not active" in refused.output
    watched = run(cli, [*base, "watch", "--count", "1"])
    assert watched.exit_code == 0 and watched.output.startswith("status t=")
    assert run(cli, [*base, "power-cycle"]).exit_code == 0


def test_a_scenario_file_runs_at_start(tmp_path: Path) -> None:
    scenario = Path(__file__).resolve().parents[3] / "host_tools" / "control" / "scenarios" \
        / "motor_stall_refill.yaml"
    with ControlledPumpsim(["--url", "pty", "--scenario", str(scenario)],
                           tmp_path / "sim.log") as process, \
            ControlClient(process.control) as ctl:
        for _ in range(200):
            report = ctl.scenario()
            if report and report["state"] != "running":
                break
            import time
            time.sleep(0.05)
        assert report["state"] == "done", report


def test_remote_access_needs_a_token(tmp_path: Path) -> None:
    with ControlledPumpsim(["--url", "pty", "--control", "127.0.0.1:0",
                            "--control-allow-remote"], tmp_path / "sim.log") as process:
        assert process.token
        with ControlClient(process.control) as anonymous, pytest.raises(ControlRefused) as err:
            anonymous.status()
        assert err.value.status == 401
        with ControlClient(process.control, token=process.token) as ctl:
            assert ctl.status()["pump"]["state"] == "STOPPED"
            with pytest.raises(ControlRefused) as err:
                ctl.reset()
            assert err.value.status == 403


@pytest.mark.parametrize("args, words", [
    (["--control", "0.0.0.0:0"], "not a loopback address"),
    (["--control", "localhost"], "is not HOST:PORT"),
    (["--allow-reset"], "--allow-reset needs --control"),
    (["--scenario", "/nonexistent/s.yaml"], "--scenario: cannot read"),
])
def test_bad_control_options_exit_2_with_one_line(args, words, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--url", "pty", *args])
    out, err = capsys.readouterr()
    assert exited.value.code == 2, err
    assert words in err and out == ""
    assert len(err.strip().splitlines()) == 1


def test_control_subcommand_help_needs_no_url(monkeypatch) -> None:
    """`pumpsim control SUBCOMMAND --help` prints the help without a control URL; running a
    subcommand without one is a usage error (exit 2) that names the option."""
    monkeypatch.delenv("PUMPSIM_CONTROL", raising=False)
    run = CliRunner().invoke
    helped = run(cli, ["control", "faults", "--help"])
    assert helped.exit_code == 0, helped.output
    assert "faults" in helped.output.lower()
    missing = run(cli, ["control", "status"])
    assert missing.exit_code == 2
    assert "--url" in missing.output and "PUMPSIM_CONTROL" in missing.output
