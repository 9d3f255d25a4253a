"""The control API in process: status, events, faults, clock, power, reset, refusals."""
from __future__ import annotations

import pytest

from tests.host_tools.control.conftest import close_controlled, make_controlled, program


def _stable(status: dict) -> dict:
    """The parts of a status that only a change would alter (not the clock or counters)."""
    return {"pump": {k: v for k, v in status["pump"].items()}, "faults": status["faults"],
            "plan": status["link"]["faults"]["plan"], "clock": status["clock"]}


def test_status_has_pump_truth_link_and_clock(controlled) -> None:
    body = controlled.api.get("/api/status").json()
    assert body["pump"]["state"] == "STOPPED"
    assert body["pump"]["capacity_nl"] == 20_000_000
    assert "truth" in body and "device" in body["link"]
    assert body["link"]["faults"]["plan"]["silent"] is False
    assert body["clock"]["paused"] is True


def test_openapi_lists_the_routes(controlled) -> None:
    paths = controlled.api.get("/openapi.json").json()["paths"]
    for path in ("/api/status", "/api/events", "/api/stream", "/api/faults",
                 "/api/faults/{name}", "/api/clock", "/api/power-cycle", "/api/reset",
                 "/api/scenario"):
        assert path in paths


def test_faults_list_model_and_link_faults_with_ranges(controlled) -> None:
    faults = {f["name"]: f for f in controlled.api.get("/api/faults").json()["faults"]}
    assert "motor_stall" in faults and faults["motor_stall"]["kind"] == "model"
    for name in ("link_drop", "link_corrupt", "link_duplicate", "link_delay", "link_fragment",
                 "link_silent"):
        assert faults[name]["kind"] == "link"
    drop = faults["link_drop"]["params"][0]
    assert (drop["name"], drop["minimum"], drop["maximum"]) == ("probability", 0, 1)


def test_motor_stall_on_and_off_through_the_api(controlled) -> None:
    program(controlled)
    r = controlled.api.post("/api/faults", json={"name": "motor_stall"})
    assert r.status_code == 200, r.text
    status = controlled.api.get("/api/status").json()
    assert status["pump"]["state"] == "FAULT"
    alarm = status["pump"]["alarms"][0]
    assert alarm["alarm"] == "MOTOR_STALL" and alarm["tone"].startswith("two-tone")
    assert "motor_stall" in status["faults"]
    r = controlled.api.delete("/api/faults/motor_stall")
    assert r.status_code == 200, r.text
    status = controlled.api.get("/api/status").json()
    assert status["pump"]["state"] == "STOPPED" and "motor_stall" not in status["faults"]
    kinds = [e["kind"] for e in controlled.api.get("/api/events").json()["events"]]
    assert "ALARM_RAISED" in kinds  # and the clearing is logged the way the model logs it
    assert len(kinds) > kinds.index("ALARM_RAISED") + 1


def test_link_fault_switches_the_running_injector(controlled) -> None:
    r = controlled.api.post("/api/faults", json={"name": "link_delay",
                                                 "params": {"probability": 1, "delay_ms": 5}})
    assert r.status_code == 200, r.text
    plan = controlled.host.injector.plan
    assert (plan.delay, plan.delay_ms) == (1.0, 5)
    assert controlled.api.post("/api/faults", json={"name": "link_silent"}).status_code == 200
    assert controlled.host.injector.plan.silent
    assert controlled.api.delete("/api/faults/link_silent").status_code == 200
    assert not controlled.host.injector.plan.silent and controlled.host.injector.plan.delay == 1


@pytest.mark.parametrize("body, status, words", [
    ({"name": "no_such_fault"}, 404, "no model fault 'no_such_fault'"),
    ({"name": "link_nope"}, 404, "no link fault 'link_nope'"),
    ({"name": "link_drop", "params": {"probability": 1.5}}, 400, "outside 0..1"),
    ({"name": "link_drop", "params": {"probability": "lots"}}, 400, "must be a number"),
    ({"name": "link_drop", "params": {"chance": 0.1}}, 400, "no parameter 'chance'"),
    ({"name": "link_delay", "params": {"delay_ms": 2.5}}, 400, "whole number"),
    ({"name": "motor_stall", "params": {"speed": 1}}, 400, "no parameter 'speed'"),
    ({"name": 7}, 400, "name must be a fault's name"),
    ({}, 400, "name must be a fault's name"),
])
def test_bad_fault_requests_are_refused_and_change_nothing(controlled, body, status,
                                                           words) -> None:
    before = _stable(controlled.api.get("/api/status").json())
    r = controlled.api.post("/api/faults", json=body)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]
    assert _stable(controlled.api.get("/api/status").json()) == before


def test_clearing_what_is_not_on_is_a_conflict(controlled) -> None:
    r = controlled.api.delete("/api/faults/link_drop")
    assert r.status_code == 409 and "not active" in r.json()["detail"]
    r = controlled.api.delete("/api/faults/motor_stall")
    assert r.status_code == 409 and "not active" in r.json()["detail"]


def test_a_refused_model_fault_is_a_conflict(controlled) -> None:
    """A fault the pump refuses in its present state (already in force) is 409, not 400."""
    assert controlled.api.post("/api/faults", json={"name": "motor_stall"}).status_code == 200
    r = controlled.api.post("/api/faults", json={"name": "motor_stall"})
    assert r.status_code == 409 and "refused" in r.json()["detail"]


def test_advancing_the_clock_runs_the_pump(controlled) -> None:
    program(controlled, rate_nl_per_day=2_000_000)
    before = controlled.api.get("/api/status").json()["pump"]["reservoir_nl"]
    r = controlled.api.post("/api/clock", json={"action": "advance", "ms": 12 * 3_600_000})
    assert r.status_code == 200, r.text
    after = controlled.api.get("/api/status").json()["pump"]
    assert before - after["reservoir_nl"] == 1_000_000  # half a day at 2 mL/day, exactly
    assert after["delivered_nl"] == 1_000_000


def test_pause_resume_and_warp(controlled) -> None:
    assert controlled.api.post("/api/clock", json={"action": "warp", "warp": 3600}).json() \
        == {"now_ms": controlled.host.clock.now_ms(), "warp": 3600.0, "paused": True}
    assert controlled.api.post("/api/clock", json={"action": "resume"}).json()["paused"] is False
    assert controlled.host.clock.warp == 3600.0
    assert controlled.api.post("/api/clock", json={"action": "pause"}).json()["paused"] is True


@pytest.mark.parametrize("body, words", [
    ({"action": "rewind"}, "action must be one of"),
    ({"action": "advance"}, "ms must be an integer"),
    ({"action": "advance", "ms": -5}, "outside 0.."),
    ({"action": "advance", "ms": 1.5}, "ms must be an integer"),
    ({"action": "warp", "warp": 0}, "warp must be a number in"),
    ({"action": "warp", "warp": "fast"}, "warp must be a number"),
    ({"action": "pause", "ms": 5}, "ms goes only with advance"),
])
def test_bad_clock_requests_are_refused_and_change_nothing(controlled, body, words) -> None:
    before = controlled.host.clock.state()
    r = controlled.api.post("/api/clock", json=body)
    assert r.status_code == 400 and words in r.json()["detail"], r.text
    assert controlled.host.clock.state() == before


def test_unknown_body_keys_are_refused(controlled) -> None:
    r = controlled.api.post("/api/clock", json={"action": "pause", "colour": "red"})
    assert r.status_code == 422 and "colour" in r.text


def test_power_cycle_restarts_from_the_state_file(controlled) -> None:
    program(controlled)
    controlled.api.post("/api/clock", json={"action": "advance", "ms": 3_600_000})
    before = controlled.api.get("/api/status").json()["pump"]
    r = controlled.api.post("/api/power-cycle")
    assert r.status_code == 200, r.text
    after = controlled.api.get("/api/status").json()
    assert after["power_cycles"] == 1
    assert after["pump"]["state"] == "INFUSING"
    assert after["pump"]["filled_nl"] == before["filled_nl"]
    assert after["pump"]["delivered_nl"] == before["delivered_nl"]  # caught up to the clock
    assert controlled.host.pump is not None and controlled.host.device.session is None


def test_reset_gives_a_fresh_pump(controlled) -> None:
    program(controlled)
    controlled.api.post("/api/faults", json={"name": "link_drop"})
    r = controlled.api.post("/api/reset")
    assert r.status_code == 200, r.text
    status = controlled.api.get("/api/status").json()
    assert status["pump"]["state"] == "STOPPED" and status["pump"]["filled_nl"] == 0
    assert status["pump"]["event_count"] == 0 and status["faults"] == {}
    assert status["generation"] == 1


def test_reset_is_refused_without_permission() -> None:
    c = make_controlled(allow_reset=False)
    try:
        program(c)
        r = c.api.post("/api/reset")
        assert r.status_code == 403 and "--allow-reset" in r.json()["detail"]
        assert c.api.get("/api/status").json()["pump"]["state"] == "INFUSING"
    finally:
        close_controlled(c)


def test_events_paging_and_bad_arguments(controlled) -> None:
    program(controlled)
    page = controlled.api.get("/api/events", params={"since": 1, "limit": 2}).json()
    assert [e["index"] for e in page["events"]] == [1, 2] and page["next"] == 3
    assert controlled.api.get("/api/events", params={"since": -1}).status_code == 422
    assert controlled.api.get("/api/events", params={"limit": 0}).status_code == 422


def test_token_guards_the_api_but_not_the_page() -> None:
    c = make_controlled(token="s3cret-token-0123456789")
    try:
        assert c.api.get("/api/status").status_code == 401
        assert c.api.get("/openapi.json").status_code == 401
        assert c.api.get("/").status_code == 200
        ok = c.api.get("/api/status", headers={"Authorization": "Bearer s3cret-token-0123456789"})
        assert ok.status_code == 200
        assert c.api.get("/api/status", params={"token": "s3cret-token-0123456789"}) \
            .status_code == 200
        assert c.api.get("/api/status", headers={"Authorization": "Bearer wrong"}) \
            .status_code == 401
    finally:
        close_controlled(c)


def test_stream_sends_status_and_log(controlled) -> None:
    program(controlled)
    controlled.host.device  # the stream reads under the same locks
    with controlled.api.stream("GET", "/api/stream", params={"interval_ms": 100}) as r:
        kinds = []
        for line in r.iter_lines():
            if line.startswith("event: "):
                kinds.append(line[7:])
            if "status" in kinds and kinds.count("log") >= 3:
                break
    assert kinds[0] == "status" and "log" in kinds


def test_refusals_are_logged(controlled, caplog) -> None:
    with caplog.at_level("WARNING", logger="host_tools.control.app"):
        controlled.api.post("/api/faults", json={"name": "no_such_fault"})
        controlled.api.post("/api/clock", json={"action": "pause", "colour": "red"})
    assert "control refused POST /api/faults (404): no model fault 'no_such_fault'" in caplog.text
    assert "control refused POST /api/clock (422)" in caplog.text
