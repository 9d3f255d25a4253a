"""Scenarios: a YAML timeline of things that happen to a running pump.

    name: motor stall during a refill
    mode: jump          # jump (default): the clock jumps to each step; follow: wait for it
    steps:
      - at: 0                       # pump time since the scenario started (3d, 2h, 90s, 500ms)
        program: {drug: morphine, concentration: 10mg/mL, rate: 0.5mL}   # rate per day
      - after: 10d                  # time since the previous step
        fault: motor_stall          # or {name: over_infusion, percent: 20}; link faults too

One action per step: ``program``, ``start``, ``stop``, ``refill`` ({withdraw, fill,
concentration}), ``refill_begin``, ``withdraw`` (a volume, ``truth`` = what really remains,
``estimate`` = what the pump believes), ``refill_complete`` ({fill, concentration}),
``patient_bolus_setting`` ({dose, duration, lockout, per_day}), ``patient_bolus``, ``fault``,
``clear_fault``, ``link`` (a fault plan: "drop=0.05,seed=3", an object, or ``off``),
``clock`` (pause, resume, {advance: 6h}, {warp: 3600}), ``power_cycle``, ``acknowledge``
(an alarm) and ``expect`` ({state, alarms: [...]}, a check that fails the run when false).
The whole file is checked before anything runs: every error names its step.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from host_tools.units import (QuantityError, parse_concentration, parse_dose_ug,
                              parse_duration_ms, parse_volume_nl)

from .errors import bad_request

MODES = ("jump", "follow")
MAX_STEPS = 1000
ACTIONS = ("program", "start", "stop", "refill", "refill_begin", "withdraw", "refill_complete",
           "patient_bolus_setting", "patient_bolus", "fault", "clear_fault", "link", "clock",
           "power_cycle", "acknowledge", "expect")
_ARGS: dict[str, set[str]] = {
    "program": {"drug", "concentration", "rate"},
    "refill": {"withdraw", "fill", "concentration"},
    "refill_complete": {"fill", "concentration"},
    "patient_bolus_setting": {"dose", "duration", "lockout", "per_day"},
    "expect": {"state", "alarms", "no_alarms"},
}
_REQUIRED: dict[str, set[str]] = {
    "program": {"drug", "concentration", "rate"}, "refill": {"fill"},
    "refill_complete": {"fill"}, "patient_bolus_setting": {"dose", "duration", "lockout"},
}


class ScenarioError(ValueError):
    """A scenario file that cannot run (the message names the step and the problem)."""


@dataclass(frozen=True)
class Step:
    """One step: ``offset_ms`` after the scenario's start, ``action`` with its ``args``."""

    number: int
    offset_ms: int
    action: str
    args: Any
    text: str


@dataclass(frozen=True)
class Scenario:
    """A checked timeline (steps in time order as written; time never goes back)."""

    name: str
    mode: str
    steps: tuple[Step, ...] = field(default_factory=tuple)
    description: str = ""


def _duration(where: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ScenarioError(f"{where}: {value!r} is not a duration")
    if isinstance(value, int):
        if value < 0:
            raise ScenarioError(f"{where}: {value} is negative")
        return value
    try:
        return parse_duration_ms(str(value))
    except QuantityError as exc:
        raise ScenarioError(f"{where}: {exc}") from None


def _quantity(where: str, parse: Any, value: Any) -> int:
    if isinstance(value, bool):
        raise ScenarioError(f"{where}: {value!r} is not a quantity")
    try:
        return parse(str(value))
    except QuantityError as exc:
        raise ScenarioError(f"{where}: {exc}") from None


def _withdrawal(where: str, value: Any) -> Any:
    if value in ("truth", "estimate"):
        return value
    return _quantity(where, parse_volume_nl, value)


def _check_args(where: str, action: str, args: Any) -> Any:
    """The action's arguments, converted to integer units (ScenarioError if wrong)."""
    if action in _ARGS:
        if not isinstance(args, dict):
            raise ScenarioError(f"{where}: {action} needs an object with "
                                f"{', '.join(sorted(_ARGS[action]))}")
        unknown = set(args) - _ARGS[action]
        missing = _REQUIRED.get(action, set()) - set(args)
        if unknown or missing:
            what = f"unknown {sorted(unknown)[0]!r}" if unknown else \
                f"missing {sorted(missing)[0]!r}"
            raise ScenarioError(f"{where}: {action}: {what} (keys: "
                                f"{', '.join(sorted(_ARGS[action]))})")
    return _CONVERT.get(action, lambda w, a: a)(where, args)


def _program(where: str, a: dict[str, Any]) -> dict[str, Any]:
    return {"drug": str(a["drug"]),
            "concentration": _quantity(f"{where}: concentration", parse_concentration,
                                       a["concentration"]),
            "rate": _quantity(f"{where}: rate (volume per day)", parse_volume_nl, a["rate"])}


def _refill(where: str, a: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"fill": _quantity(f"{where}: fill", parse_volume_nl, a["fill"])}
    if "withdraw" in a:
        out["withdraw"] = _withdrawal(f"{where}: withdraw", a["withdraw"])
    if "concentration" in a:
        out["concentration"] = _quantity(f"{where}: concentration", parse_concentration,
                                         a["concentration"])
    return out


def _bolus_setting(where: str, a: dict[str, Any]) -> dict[str, int]:
    per_day = a.get("per_day", 24)
    if isinstance(per_day, bool) or not isinstance(per_day, int):
        raise ScenarioError(f"{where}: per_day must be an integer")
    return {"dose_ug": _quantity(f"{where}: dose", parse_dose_ug, a["dose"]),
            "duration_ms": _duration(f"{where}: duration", a["duration"]),
            "lockout_ms": _duration(f"{where}: lockout", a["lockout"]), "max_per_24h": per_day}


def _fault(where: str, a: Any) -> dict[str, Any]:
    if isinstance(a, str) and a:
        return {"name": a, "params": {}}
    if isinstance(a, dict) and isinstance(a.get("name"), str):
        return {"name": a["name"], "params": {k: v for k, v in a.items() if k != "name"}}
    raise ScenarioError(f"{where}: fault is a name or an object with a name and parameters")


def _clock(where: str, a: Any) -> dict[str, Any]:
    if a in ("pause", "resume"):
        return {"action": a}
    if isinstance(a, dict) and len(a) == 1 and "advance" in a:
        return {"action": "advance", "ms": _duration(f"{where}: advance", a["advance"])}
    if isinstance(a, dict) and len(a) == 1 and "warp" in a:
        warp = a["warp"]
        if isinstance(warp, bool) or not isinstance(warp, (int, float)) or warp <= 0:
            raise ScenarioError(f"{where}: warp must be a number > 0")
        return {"action": "warp", "warp": float(warp)}
    raise ScenarioError(f"{where}: clock is pause, resume, {{advance: 6h}} or {{warp: 3600}}")


def _name(where: str, a: Any) -> str:
    if not isinstance(a, str) or not a:
        raise ScenarioError(f"{where}: a name is needed")
    return a


def _expect(where: str, a: dict[str, Any]) -> dict[str, Any]:
    alarms = a.get("alarms", [])
    absent = a.get("no_alarms", [])
    if not isinstance(alarms, list) or not isinstance(absent, list):
        raise ScenarioError(f"{where}: expect alarms / no_alarms are lists of alarm names")
    return {"state": a.get("state"), "alarms": [str(x) for x in alarms],
            "no_alarms": [str(x) for x in absent]}


_CONVERT: dict[str, Any] = {
    "program": _program, "refill": _refill, "refill_complete": _refill,
    "patient_bolus_setting": _bolus_setting, "fault": _fault, "clear_fault": _name,
    "clock": _clock, "acknowledge": _name, "expect": _expect,
    "withdraw": _withdrawal,
}


def _step(number: int, raw: Any, previous_ms: int) -> Step:
    where = f"step {number}"
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: a step is an object (at/after + one action)")
    times = [k for k in ("at", "after") if k in raw]
    if len(times) != 1:
        raise ScenarioError(f"{where}: give exactly one of at: or after:")
    delta = _duration(f"{where}: {times[0]}", raw[times[0]])
    offset = delta if times[0] == "at" else previous_ms + delta
    if offset < previous_ms:
        raise ScenarioError(f"{where}: at {offset} ms is before the previous step "
                            f"({previous_ms} ms); time never goes back")
    actions = [k for k in raw if k not in ("at", "after", "note")]
    if len(actions) != 1 or actions[0] not in ACTIONS:
        raise ScenarioError(f"{where}: one action is needed, one of {', '.join(ACTIONS)}; "
                            f"got {', '.join(map(str, actions)) or 'none'}")
    action = actions[0]
    args = _check_args(where, action, raw[action])
    text = str(raw.get("note", "")) or f"{action} {raw[action]!r}"
    return Step(number, offset, action, args, text)


def parse_scenario(text: str) -> Scenario:
    """Check a YAML scenario; ScenarioError naming the step at the first problem."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"not YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("steps"), list):
        raise ScenarioError("a scenario is an object with a list of steps")
    unknown = set(doc) - {"name", "mode", "steps", "description"}
    if unknown:
        raise ScenarioError(f"unknown key {sorted(unknown)[0]!r} (keys: name, description, "
                            "mode, steps)")
    mode = doc.get("mode", "jump")
    if mode not in MODES:
        raise ScenarioError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    raw_steps = doc["steps"]
    if not raw_steps or len(raw_steps) > MAX_STEPS:
        raise ScenarioError(f"a scenario has 1..{MAX_STEPS} steps")
    steps: list[Step] = []
    previous = 0
    for i, raw in enumerate(raw_steps, start=1):
        step = _step(i, raw, previous)
        previous = step.offset_ms
        steps.append(step)
    return Scenario(str(doc.get("name", "scenario")), mode, tuple(steps),
                    str(doc.get("description", "")).strip())


def check_against(scenario: Scenario, fault_names: set[str]) -> None:
    """Every fault a scenario names must exist on this pump (400 otherwise)."""
    for step in scenario.steps:
        name = None
        if step.action == "fault":
            name = step.args["name"]
        elif step.action == "clear_fault":
            name = step.args
        if name is not None and name not in fault_names:
            raise bad_request(f"step {step.number}: this pump has no fault {name!r} "
                              f"(faults: {', '.join(sorted(fault_names))})")
