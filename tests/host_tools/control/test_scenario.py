"""Scenarios: the file format's checks and the shipped examples run against a pump."""
from __future__ import annotations

from pathlib import Path

import pytest

from host_tools.control.errors import ControlError
from host_tools.control.scenario import ScenarioError, parse_scenario
from host_tools.control.scenario_runner import ScenarioManager
from tests.host_tools.control.conftest import program

EXAMPLES = Path(__file__).resolve().parents[3] / "host_tools" / "control" / "scenarios"


@pytest.mark.parametrize("text, words", [
    ("steps: []", "1..1000 steps"),
    ("[1, 2]", "an object with a list of steps"),
    ("steps: [{start: true}]", "step 1: give exactly one of at: or after:"),
    ("steps: [{at: 1h, after: 2h, start: true}]", "exactly one of at: or after:"),
    ("steps: [{at: 1h}]", "step 1: one action is needed"),
    ("steps: [{at: 1h, start: true, stop: true}]", "one action is needed"),
    ("steps: [{at: 1h, dance: true}]", "one action is needed"),
    ("steps: [{at: 2h, start: true}, {at: 1h, stop: true}]", "step 2: at 3600000 ms is before"),
    ("steps: [{at: soon, start: true}]", "step 1: at:"),
    ("steps: [{at: 0, clock: {advance: -3h}}]", "step 1: advance"),
    ("steps: [{at: 0, clock: rewind}]", "clock is pause, resume"),
    ("steps: [{at: 0, program: {drug: morphine, rate: 1mL}}]", "missing 'concentration'"),
    ("steps: [{at: 0, refill: {fill: 20mL, colour: red}}]", "unknown 'colour'"),
    ("steps: [{at: 0, refill: {fill: lots}}]", "fill"),
    ("mode: sometimes\nsteps: [{at: 0, start: true}]", "mode must be one of"),
    ("steps: [{at: 0, fault: {percent: 3}}]", "fault is a name or an object"),
    ("colour: red\nsteps: [{at: 0, start: true}]", "unknown key 'colour'"),
    ("steps: [{at: 0, start: true", "not YAML"),
])
def test_bad_scenarios_are_refused_with_the_step(text, words) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text)
    assert words in str(err.value)


def test_times_add_up() -> None:
    sc = parse_scenario("steps: [{at: 1d, start: true}, {after: 2h, stop: true}, "
                        "{after: 90s, power_cycle: true}]")
    assert [s.offset_ms for s in sc.steps] == [86_400_000, 93_600_000, 93_690_000]
    assert sc.mode == "jump"


def test_the_examples_parse() -> None:
    for path in EXAMPLES.glob("*.yaml"):
        assert parse_scenario(path.read_text(encoding="utf-8")).steps


def test_motor_stall_during_a_refill(controlled) -> None:
    scenario = parse_scenario((EXAMPLES / "motor_stall_refill.yaml").read_text())
    run = ScenarioManager(controlled.controller).start(scenario)
    assert run.wait(30) == "done", run.report()
    kinds = [e["kind"] for e in controlled.controller.events(0, 1000)["events"]]
    assert kinds.count("REFILL_BEGIN") == 3 and "ALARM_RAISED" in kinds
    assert controlled.host.pump.state.name == "INFUSING"
    assert controlled.host.pump.reservoir_nl < 20_000_000


def test_over_infusion_story_ends_in_a_refill_discrepancy(controlled) -> None:
    names = {f["name"] for f in controlled.controller.faults()["faults"]}
    if "over_infusion" not in names:
        pytest.skip("the pump model offers no over_infusion fault yet")
    scenario = parse_scenario((EXAMPLES / "over_infusion_story.yaml").read_text())
    run = ScenarioManager(controlled.controller).start(scenario)
    assert run.wait(30) == "done", run.report()
    assert "REFILL_DISCREPANCY" in {a.name for a in controlled.host.pump.active_alarms}


def test_a_scenario_naming_a_missing_fault_is_refused_before_it_runs(controlled) -> None:
    scenario = parse_scenario("steps: [{at: 0, start: true}, {at: 1h, fault: warp_core}]")
    with pytest.raises(ControlError) as err:
        ScenarioManager(controlled.controller).start(scenario)
    assert err.value.status == 400 and "warp_core" in err.value.message
    assert controlled.host.clock.now_ms() < 3_600_000  # nothing ran


def test_a_failing_step_stops_the_run(controlled) -> None:
    scenario = parse_scenario("steps: [{at: 0, start: true}, {at: 1h, stop: true}]")
    run = ScenarioManager(controlled.controller).start(scenario)
    assert run.wait(10) == "failed"
    assert len(run.report()["results"]) == 1
    assert "NO_PROGRAM" in run.report()["results"][0]["error"]


def test_link_clock_bolus_and_power_actions(controlled) -> None:
    program(controlled)
    text = """
mode: jump
steps:
  - at: 0
    patient_bolus_setting: {dose: 100ug, duration: 10min, lockout: 2h, per_day: 4}
  - after: 1min
    patient_bolus: true
  - after: 1min
    link: drop=0.5,seed=3
  - after: 1min
    clock: {warp: 60}
  - after: 1h
    power_cycle: true
  - after: 1min
    link: "off"
"""
    run = ScenarioManager(controlled.controller).start(parse_scenario(text))
    assert run.wait(15) == "done", run.report()
    results = run.report()["results"]
    assert results[1]["result"]["granted"] is True
    assert controlled.host.power_cycles == 1
    assert controlled.host.injector.plan.drop == 0.0
    assert controlled.host.clock.state().warp == 60.0


def test_scenario_over_http(controlled) -> None:
    r = controlled.api.post("/api/scenario", content=b"steps: [{at: 0, dance: true}]",
                            headers={"Content-Type": "text/plain"})
    assert r.status_code == 400 and "step 1" in r.json()["detail"]
    text = (EXAMPLES / "motor_stall_refill.yaml").read_bytes()
    r = controlled.api.post("/api/scenario", content=text,
                            headers={"Content-Type": "text/plain"})
    assert r.status_code == 200, r.text
    controlled.controller  # the run goes on in its thread
    for _ in range(300):
        report = controlled.api.get("/api/scenario").json()["scenario"]
        if report["state"] != "running":
            break
        import time
        time.sleep(0.05)
    assert report["state"] == "done", report
