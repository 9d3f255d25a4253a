"""The pump model's faults as the control plane offers them: a catalog, raise, clear, active.

A model with ``Pump.fault_catalog()`` / ``raise_fault`` / ``clear_fault`` / ``active_faults``
is used as it is, so whatever faults the model grows are listed without a change here. A model
without them gets a fallback table over its ``inject_*`` methods (motor stall, memory error,
battery drained to ERI or to end of service); those faults end the way the pump ends them
(acknowledging the alarm), and a drained battery cannot be undone short of a reset.

Every function is called with the device's lock held (the caller's job).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from firmware_sim import Alarm, Pump, Rejected

from .errors import ControlError, bad_request, conflict, not_found


@dataclass(frozen=True)
class Param:
    """One integer parameter of a fault, with its unit and inclusive range."""

    name: str
    unit: str
    minimum: int
    maximum: int
    default: int
    description: str


@dataclass(frozen=True)
class Fault:
    """A named fault: what it does and its parameters."""

    name: str
    description: str
    params: tuple[Param, ...] = ()


@dataclass(frozen=True)
class _Fallback:
    fault: Fault
    alarm: Alarm
    raise_: Callable[[Pump], None]
    clear: Callable[[Pump], None] | None


def _ack(alarm: Alarm) -> Callable[[Pump], None]:
    def clear(pump: Pump) -> None:
        pump.acknowledge_alarm(alarm)
    return clear


FALLBACK = {f.fault.name: f for f in (
    _Fallback(Fault("motor_stall", "the motor stalls: delivery stops, the pump goes to FAULT "
                    "and the critical alarm sounds; cleared as the clinician clears it "
                    "(acknowledging MOTOR_STALL)"),
              Alarm.MOTOR_STALL, lambda p: p.inject_motor_stall(), _ack(Alarm.MOTOR_STALL)),
    _Fallback(Fault("memory_error", "the memory fails its check: therapy stops with the "
                    "MEMORY_ERROR alarm; cleared by acknowledging the alarm"),
              Alarm.MEMORY_ERROR, lambda p: p.inject_memory_error("raised by the control API"),
              _ack(Alarm.MEMORY_ERROR)),
    _Fallback(Fault("battery_eri", "the battery drains at once to its elective replacement "
                    "indicator (the pump keeps running); not reversible"),
              Alarm.BATTERY_ERI, lambda p: p.inject_battery_drain(end_of_service=False), None),
    _Fallback(Fault("battery_end_of_service", "the battery drains at once to end of service: "
                    "delivery stops for good; not reversible"),
              Alarm.END_OF_SERVICE, lambda p: p.inject_battery_drain(end_of_service=True), None),
)}


def has_catalog(pump: Pump) -> bool:
    """True when the model offers its own fault catalog."""
    return callable(getattr(pump, "fault_catalog", None))


def _as_fault(spec: Any) -> Fault:
    params = tuple(Param(p.name, p.unit, int(p.minimum), int(p.maximum), int(p.default),
                         p.description) for p in getattr(spec, "params", ()))
    return Fault(spec.name, spec.description, params)


def catalog(pump: Pump) -> tuple[Fault, ...]:
    """Every fault the model offers (its own catalog, else the fallback table)."""
    if has_catalog(pump):
        return tuple(_as_fault(s) for s in pump.fault_catalog())  # type: ignore[attr-defined]
    return tuple(f.fault for f in FALLBACK.values())


def active(pump: Pump) -> dict[str, dict[str, int]]:
    """Faults in force: name -> parameters."""
    if has_catalog(pump):
        return {k: dict(v) for k, v in pump.active_faults().items()}  # type: ignore[attr-defined]
    alarms = pump.active_alarms
    return {name: {} for name, f in FALLBACK.items() if f.alarm in alarms}


def find(pump: Pump, name: str) -> Fault:
    """The fault called ``name`` (404 if the model has none)."""
    for fault in catalog(pump):
        if fault.name == name:
            return fault
    raise not_found(f"no model fault {name!r} (model faults: "
                    f"{', '.join(f.name for f in catalog(pump))})")


def check_params(fault: Fault, params: Any) -> dict[str, int]:
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
    return bad_request(why) if exc.field else conflict(why)


def raise_fault(pump: Pump, name: str, params: Any = None) -> dict[str, int]:
    """Raise model fault ``name`` with ``params``; the parameters in force. 404 unknown name,
    400 bad parameter, 409 when the pump refuses it in its present state."""
    fault = find(pump, name)
    values = check_params(fault, params)
    try:
        if has_catalog(pump):
            pump.raise_fault(name, **values)  # type: ignore[attr-defined]
        else:
            FALLBACK[name].raise_(pump)
    except Rejected as exc:
        raise _refused(name, exc) from None
    return values


def clear_fault(pump: Pump, name: str) -> None:
    """End model fault ``name``. 404 unknown, 409 not active or not reversible."""
    find(pump, name)
    if name not in active(pump):
        raise conflict(f"model fault {name!r} is not active")
    try:
        if has_catalog(pump):
            pump.clear_fault(name)  # type: ignore[attr-defined]
            return
        clear = FALLBACK[name].clear
        if clear is None:
            raise conflict(f"{name} cannot be undone on a running pump; reset it "
                           "(POST /api/reset) to start with a fresh battery")
        clear(pump)
    except Rejected as exc:
        raise _refused(name, exc) from None
