"""The link's faults as the control plane offers them, switched on the running link's
:class:`hal.FaultInjector` (what the pump sends, by default).

Names: ``link_drop``, ``link_corrupt``, ``link_duplicate``, ``link_delay``, ``link_fragment``
(each with a ``probability`` in [0, 1]; delay also ``delay_ms``, fragment ``max_fragments``) and
``link_silent`` (the pump answers nothing at all).
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from hal import FaultInjector, FaultPlan, FaultSpecError

from .errors import bad_request, conflict, not_found

PREFIX = "link_"


def _p(name: str, unit: str, lo: float, hi: float, default: float, text: str) -> dict[str, Any]:
    return {"name": name, "unit": unit, "minimum": lo, "maximum": hi, "default": default,
            "description": text}


_PROB = "chance per chunk (per byte for corrupt), 0..1"
LINK_FAULTS: dict[str, dict[str, Any]] = {
    "link_drop": {"description": "chunks the pump sends are lost",
                  "params": [_p("probability", "1", 0, 1, 0.05, _PROB)]},
    "link_corrupt": {"description": "bytes the pump sends get one bit flipped",
                     "params": [_p("probability", "1", 0, 1, 0.001, _PROB)]},
    "link_duplicate": {"description": "chunks the pump sends arrive twice",
                       "params": [_p("probability", "1", 0, 1, 0.05, _PROB)]},
    "link_delay": {"description": "chunks the pump sends are held back",
                   "params": [_p("probability", "1", 0, 1, 0.5, _PROB),
                              _p("delay_ms", "ms", 0, 60_000, 200, "how long a chunk is held")]},
    "link_fragment": {"description": "chunks the pump sends are split into pieces",
                      "params": [_p("probability", "1", 0, 1, 0.5, _PROB),
                                 _p("max_fragments", "pieces", 2, 64, 4, "at most this many")]},
    "link_silent": {"description": "the pump answers nothing at all", "params": []},
}


def catalog() -> list[dict[str, Any]]:
    """Every link fault: name, description, params (with ranges and defaults)."""
    return [{"name": name, "kind": "link", **spec} for name, spec in LINK_FAULTS.items()]


def active(injector: FaultInjector | None) -> dict[str, dict[str, Any]]:
    """Link faults in force: name -> parameters."""
    if injector is None:
        return {}
    plan = injector.plan
    out: dict[str, dict[str, Any]] = {}
    for name in LINK_FAULTS:
        key = name[len(PREFIX):]
        if key == "silent":
            if plan.silent:
                out[name] = {}
            continue
        value = getattr(plan, key)
        if value:
            params: dict[str, Any] = {"probability": value}
            if key == "delay":
                params["delay_ms"] = plan.delay_ms
            if key == "fragment":
                params["max_fragments"] = plan.max_fragments
            out[name] = params
    return out


def _changes(name: str, params: Any) -> dict[str, Any]:
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise bad_request(f"{name}: params must be an object")
    spec = {p["name"]: p for p in LINK_FAULTS[name]["params"]}
    for key in params:
        if key not in spec:
            raise bad_request(f"{name} has no parameter {key!r} (parameters: "
                              f"{', '.join(spec) or 'none'})")
    key = name[len(PREFIX):]
    if key == "silent":
        return {"silent": True}
    changes: dict[str, Any] = {}
    for pname, p in spec.items():
        value = params.get(pname, p["default"])
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad_request(f"{name}.{pname} must be a number, got {value!r}")
        if not p["minimum"] <= value <= p["maximum"]:
            raise bad_request(f"{name}.{pname}={value} is outside {p['minimum']}..{p['maximum']}")
        if pname == "probability":
            changes[key] = float(value)
        elif isinstance(value, float) and not value.is_integer():
            raise bad_request(f"{name}.{pname} must be a whole number, got {value!r}")
        else:
            changes[pname] = int(value)
    return changes


def _injector(injector: FaultInjector | None) -> FaultInjector:
    if injector is None:
        raise conflict("this pump's link has no fault injector")
    return injector


def raise_fault(injector: FaultInjector | None, name: str, params: Any = None) -> dict[str, Any]:
    """Switch link fault ``name`` on with ``params``; the parameters now in force."""
    if name not in LINK_FAULTS:
        raise not_found(f"no link fault {name!r} (link faults: {', '.join(LINK_FAULTS)})")
    changes = _changes(name, params)
    try:
        _injector(injector).update(**changes)
    except FaultSpecError as exc:
        raise bad_request(f"{name}: {exc}") from None
    return active(injector).get(name, {})


def clear_fault(injector: FaultInjector | None, name: str) -> None:
    """Switch link fault ``name`` off (409 if it is not on)."""
    if name not in LINK_FAULTS:
        raise not_found(f"no link fault {name!r} (link faults: {', '.join(LINK_FAULTS)})")
    if name not in active(injector):
        raise conflict(f"link fault {name!r} is not active")
    _injector(injector).clear(name[len(PREFIX):])


def set_plan(injector: FaultInjector | None, spec: Any) -> FaultPlan:
    """Replace the whole plan: ``spec`` is a "drop=0.01,seed=7" string or an object of the
    same keys (400 on any bad key or value, nothing changed)."""
    from hal import parse_fault_spec
    try:
        if isinstance(spec, str):
            plan = parse_fault_spec(spec)
        elif isinstance(spec, dict):
            plan = FaultPlan.from_mapping({str(k): str(v).lower() if isinstance(v, bool)
                                           else str(v) for k, v in spec.items()})
        else:
            raise bad_request("a link fault plan is a string or an object")
    except FaultSpecError as exc:
        raise bad_request(f"link fault plan: {exc}") from None
    return _injector(injector).set_plan(plan)


def describe(injector: FaultInjector | None) -> dict[str, Any] | None:
    """The plan and the counters of the injector (None without one)."""
    if injector is None:
        return None
    return {"plan": asdict(injector.plan), "stats": asdict(injector.stats)}
