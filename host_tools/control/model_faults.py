"""The pump model's faults as the control plane offers them: a catalog, raise, clear, active.

The model's own fault API (``Pump.fault_catalog()``, ``raise_fault``, ``clear_fault``,
``active_faults``) is used as it is, so whatever faults the model grows are listed without a
change here; this module adds the HTTP meaning of each refusal (404 unknown name, 400 bad
parameter, 409 refused in the pump's present state).

Every function is called with the device's lock held (the caller's job).
"""
from __future__ import annotations

from typing import Any

from firmware_sim import Pump, RejectCode, Rejected
from firmware_sim.pump.faults import FaultSpec

from .errors import ControlError, bad_request, conflict, not_found

# refusals about the pump's present state rather than the request's content
_STATE_REFUSALS = frozenset({RejectCode.INVALID_STATE, RejectCode.FAULT_NOT_ACTIVE})


def catalog(pump: Pump) -> tuple[FaultSpec, ...]:
    """Every fault the model offers."""
    return tuple(pump.fault_catalog())


def active(pump: Pump) -> dict[str, dict[str, int]]:
    """Faults in force: name -> parameters."""
    return {k: dict(v) for k, v in pump.active_faults().items()}


def find(pump: Pump, name: str) -> FaultSpec:
    """The fault called ``name`` (404 if the model has none)."""
    for fault in catalog(pump):
        if fault.name == name:
            return fault
    raise not_found(f"no model fault {name!r} (model faults: "
                    f"{', '.join(f.name for f in catalog(pump))})")


def check_params(fault: FaultSpec, params: Any) -> dict[str, int]:
    """``params`` checked against the fault's parameters: integers within range, no unknown
    names, defaults filled in (400 otherwise)."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise bad_request(f"{fault.name}: params must be an object of name: integer")
    known = {p.name: p for p in fault.params}
    for key in params:
        if key not in known:
            raise bad_request(f"{fault.name} has no parameter {key!r} (parameters: "
                              f"{', '.join(known) or 'none'})")
    out: dict[str, int] = {}
    for p in fault.params:
        value = params.get(p.name, p.default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_request(f"{fault.name}.{p.name} must be an integer ({p.unit}), "
                              f"got {value!r}")
        if not p.minimum <= value <= p.maximum:
            raise bad_request(f"{fault.name}.{p.name}={value} is outside "
                              f"{p.minimum}..{p.maximum} {p.unit}")
        out[p.name] = value
    return out


def _refused(name: str, exc: Rejected) -> ControlError:
    why = f"{name}: the pump refused ({exc.code.value}{', ' + exc.field if exc.field else ''}): " \
          f"{exc.reason}"
    return conflict(why) if exc.code in _STATE_REFUSALS else bad_request(why)


def raise_fault(pump: Pump, name: str, params: Any = None) -> dict[str, int]:
    """Raise model fault ``name`` with ``params``; the parameters in force. 404 unknown name,
    400 bad parameter, 409 when the pump refuses it in its present state."""
    fault = find(pump, name)
    values = check_params(fault, params)
    try:
        pump.raise_fault(name, **values)
    except Rejected as exc:
        raise _refused(name, exc) from None
    return values


def clear_fault(pump: Pump, name: str) -> None:
    """End model fault ``name``. 404 unknown, 409 not active or not reversible."""
    find(pump, name)
    if name not in active(pump):
        raise conflict(f"model fault {name!r} is not active")
    try:
        pump.clear_fault(name)
    except Rejected as exc:
        raise _refused(name, exc) from None
