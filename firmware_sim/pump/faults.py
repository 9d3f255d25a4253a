"""The faults the pump model can suffer on command: a catalog of named, documented faults.

Each fault has a snake_case name, a description of what it does to the pump and integer
parameters with units, ranges and defaults. :func:`check_fault` validates a request to raise one
(unknown name, unknown parameter, out-of-range value: a :class:`~firmware_sim.errors.Rejected`
naming the field); :func:`mechanism_effect` turns the faults in force into the numbers the
delivery mechanism and the truth ledger use.

Mechanism faults change the truth only (the pump does not know: real pumps have no occlusion or
flow sensor); the refill withdrawal reveals them. Motor stall, MRI exposure, reduced battery and
memory error change what the pump does and are logged and alarmed by the pump.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ..enums import RejectCode
from ..errors import Rejected
from ..mechanism import PPM, VALVE, MechanismSpec

MINUTE_MS = 60_000
WEEK_MS = 7 * 86_400_000


@dataclass(frozen=True)
class FaultParam:
    """One integer parameter of a fault: its name, unit, accepted range and default."""

    name: str
    unit: str
    minimum: int
    maximum: int
    default: int
    description: str


@dataclass(frozen=True)
class FaultSpec:
    """One named, documented fault the model can raise."""

    name: str
    description: str
    params: tuple[FaultParam, ...]


OVER_INFUSION = "over_infusion"
UNDER_INFUSION = "under_infusion"
OCCLUSION = "occlusion"
LEAK = "leak"
MOTOR_STALL = "motor_stall"
MRI_EXPOSURE = "mri_exposure"
REDUCED_BATTERY = "reduced_battery"
MEMORY_ERROR = "memory_error"
BATTERY_ERI = "battery_eri"
BATTERY_END_OF_SERVICE = "battery_end_of_service"

_PERMILLE = "0.1 %"

CATALOG: tuple[FaultSpec, ...] = (
    FaultSpec(OVER_INFUSION,
              "the mechanism moves more than commanded: its systematic error becomes "
              "+permille/10 % (replacing the profile's); the pump does not know",
              (FaultParam("permille", _PERMILLE, 1, 1000, 145,
                          "excess volume per commanded volume, 0.1 % (145 = +14.5 %)"),)),
    FaultSpec(UNDER_INFUSION,
              "the mechanism moves less than commanded: its systematic error becomes "
              "-permille/10 % (replacing the profile's); the pump does not know",
              (FaultParam("permille", _PERMILLE, 1, 1000, 145,
                          "missing volume per commanded volume, 0.1 % (1000 = nothing moves)"),)),
    FaultSpec(OCCLUSION,
              "the catheter is blocked: drug stops reaching the patient and the reservoir "
              "stops draining by that share; the pump has no occlusion sensor and does not know",
              (FaultParam("blocked_percent", "%", 1, 100, 100,
                          "share of the flow blocked (100 = total occlusion)"),)),
    FaultSpec(LEAK,
              "the catheter leaks or is disconnected: drug leaves the reservoir but that share "
              "does not reach the intrathecal space; the pump does not know",
              (FaultParam("lost_percent", "%", 1, 100, 100,
                          "share of the drained volume lost (100 = disconnection)"),)),
    FaultSpec(MOTOR_STALL,
              "the motor (a valve-gated pump: its valve drive) stalls: delivery stops, the "
              "MOTOR_STALL alarm sounds; a transient stall recovers by itself after "
              "recover_after_ms (logged), a permanent one is latched until cleared (replaced)",
              (FaultParam("recover_after_ms", "ms", 0, WEEK_MS, 0,
                          "time until the motor turns again by itself (0 = permanent)"),)),
    FaultSpec(MRI_EXPOSURE,
              "the pump is in an MRI field for duration_ms: a motor-driven pump stalls and "
              "resumes after it; a valve-gated pump's valves open and the reservoir flows "
              "freely into the patient (the reason such pumps are emptied before a scan)",
              (FaultParam("duration_ms", "ms", 1, 86_400_000, 30 * MINUTE_MS,
                          "time spent in the field"),)),
    FaultSpec(REDUCED_BATTERY,
              "the battery's performance drops: REDUCED_BATTERY alarm and the minimum-rate "
              "safe mode (0.048 mL/day on ip20/ip40, no boluses) until cleared",
              ()),
    FaultSpec(MEMORY_ERROR,
              "the pump's memory fails its check: MEMORY_ERROR alarm and the pump's documented "
              "memory-error behaviour",
              ()),
    FaultSpec(BATTERY_ERI,
              "the battery drains at once to its elective replacement indicator (the pump keeps "
              "running); cannot be undone",
              ()),
    FaultSpec(BATTERY_END_OF_SERVICE,
              "the battery drains at once to end of service: delivery stops for good; cannot be "
              "undone",
              ()),
)
IRREVERSIBLE = frozenset({BATTERY_ERI, BATTERY_END_OF_SERVICE})
BY_NAME: dict[str, FaultSpec] = {f.name: f for f in CATALOG}
MECHANISM_FAULTS = frozenset({OVER_INFUSION, UNDER_INFUSION, OCCLUSION, LEAK})


def fault_spec(name: object) -> FaultSpec:
    """The catalog entry of ``name``; Rejected(UNKNOWN_FAULT, "fault") when there is none."""
    spec = BY_NAME.get(name) if isinstance(name, str) else None
    if spec is None:
        raise Rejected(RejectCode.UNKNOWN_FAULT, "fault",
                       f"{name!r} is not a fault of this model (known: "
                       f"{', '.join(BY_NAME)})")
    return spec


def check_fault(name: object, params: Mapping[str, object]) -> dict[str, int]:
    """The parameters in force if fault ``name`` is raised with ``params`` (defaults filled in).

    Raises Rejected: UNKNOWN_FAULT (field ``fault``), INVALID_ARGUMENT (a parameter the fault
    does not have), FAULT_PARAM_OUT_OF_RANGE (field = the parameter, not an integer in range)."""
    spec = fault_spec(name)
    known = {p.name for p in spec.params}
    for key in params:
        if key not in known:
            raise Rejected(RejectCode.INVALID_ARGUMENT, str(key),
                           f"{spec.name} has no parameter {key!r} (parameters: "
                           f"{', '.join(sorted(known)) or 'none'})")
    out: dict[str, int] = {}
    for p in spec.params:
        v = params.get(p.name, p.default)
        if not isinstance(v, int) or isinstance(v, bool) or not p.minimum <= v <= p.maximum:
            raise Rejected(RejectCode.FAULT_PARAM_OUT_OF_RANGE, p.name,
                           f"{v!r} {p.unit} outside [{p.minimum}, {p.maximum}] for {spec.name}")
        out[p.name] = v
    return out


@dataclass(frozen=True)
class MechanismEffect:
    """What the faults in force do to fluid: ``gain_ppm`` scales every stroke (1e6 = nominal),
    ``blocked_ppm`` of the moved volume stays in the reservoir (occlusion), ``lost_ppm`` of the
    drained volume does not reach the patient (leak), and ``free_flow_nl_per_min`` drains the
    reservoir into the patient regardless of the mechanism (a valve-gated pump in an MRI field)."""

    gain_ppm: int = PPM
    blocked_ppm: int = 0
    lost_ppm: int = 0
    free_flow_nl_per_min: int = 0

    @property
    def drain_gain_ppm(self) -> int:
        """Volume that leaves the reservoir per commanded volume (ppm)."""
        return self.gain_ppm * (PPM - self.blocked_ppm) // PPM


def mechanism_effect(spec: MechanismSpec, active: Mapping[str, Mapping[str, int]],
                     in_mri: bool = False) -> MechanismEffect:
    """The effect of the faults ``active`` (name -> parameters) on a mechanism ``spec``;
    ``in_mri``: an MRI exposure is in force now."""
    systematic = spec.systematic_error_ppm if spec.error_model else 0
    if OVER_INFUSION in active or UNDER_INFUSION in active:
        systematic = 1000 * (active.get(OVER_INFUSION, {}).get("permille", 0)
                             - active.get(UNDER_INFUSION, {}).get("permille", 0))
    gain = max(0, PPM + systematic)
    blocked = 10_000 * active[OCCLUSION]["blocked_percent"] if OCCLUSION in active else 0
    lost = 10_000 * active[LEAK]["lost_percent"] if LEAK in active else 0
    free = 0
    if in_mri and spec.kind == VALVE:
        gain, free = 0, spec.mri_free_flow_nl_per_min  # the open valves bypass the strokes
    return MechanismEffect(gain, blocked, lost, free)


__all__ = ["FaultParam", "FaultSpec", "CATALOG", "BY_NAME", "MECHANISM_FAULTS", "MechanismEffect",
           "check_fault", "fault_spec", "mechanism_effect", "OVER_INFUSION", "UNDER_INFUSION",
           "OCCLUSION", "LEAK", "MOTOR_STALL", "MRI_EXPOSURE", "REDUCED_BATTERY", "MEMORY_ERROR",
           "BATTERY_ERI", "BATTERY_END_OF_SERVICE", "IRREVERSIBLE"]
