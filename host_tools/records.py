"""Typed values PumpClient returns: one frozen dataclass per protocol answer, integer units.

Field names carry their units (``_nl``, ``_ug``, ``_ms``, ``_ug_per_ml``, ``_nl_per_day``).
Every ``*_ms`` time is on the pump's run clock except ``wall_ms`` (time of day, ms since
1970-01-01 pump local time); ``Status.to_wall`` converts. Wire sentinels become None (``step_index`` 0xFF, a zero
``bolus_end_ms`` / ``refill_due_ms``). ``to_json()`` gives a JSON-ready dict with enums by name.
"""
from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any, Mapping

from protocol.enums import (Alarm, AlarmPriority, BolusKind, DenialReason, TherapyState, Tone,
                            Weekday)


def _enum(cls: type[enum.IntEnum], value: int) -> Any:
    """The enum member for a wire value, or the raw int when this client does not know it."""
    try:
        return cls(value)
    except ValueError:
        return int(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return value.to_json() if hasattr(value, "to_json") else dataclasses.asdict(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    return value


class _Record:
    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict: enums by name, tuples as lists."""
        return {f.name: _jsonable(getattr(self, f.name))
                for f in dataclasses.fields(self)}  # type: ignore[arg-type]


def alarms_in(mask: int) -> tuple[Any, ...]:
    """The alarms whose bits are set in a u16 ``active_alarms`` mask (unknown bits as ints)."""
    return tuple(_enum(Alarm, bit) for bit in range(16) if mask >> bit & 1)


@dataclass(frozen=True)
class Identity(_Record):
    """What the pump says it is (IDENTITY)."""

    model: str
    serial_number: str
    firmware_version: str
    protocol_version: int
    reservoir_capacity_nl: int
    weekday_plans: bool
    protocol_minor: int = 0  # 0: a protocol 1.0 pump (its IDENTITY has no minor version)

    @classmethod
    def from_fields(cls, f: Mapping[str, Any]) -> "Identity":
        """From decoded IDENTITY fields (1.0 or 1.1 layout)."""
        return cls(f["model"], f["serial_number"], f["firmware_version"], f["protocol_version"],
                   f["reservoir_capacity_nl"], bool(f["weekday_plans"]),
                   f.get("protocol_minor", 0))


@dataclass(frozen=True)
class Status(_Record):
    """The pump status (STATUS / STATUS_PUSH); times in pump clock ms."""

    state: TherapyState
    time_ms: int
    wall_ms: int
    reservoir_nl: int
    reservoir_capacity_nl: int
    step_index: int | None
    step_start_minute: int
    rate_nl_per_day: int
    bolus_kind: BolusKind
    bolus_remaining_nl: int
    bolus_end_ms: int | None
    active_alarms: tuple[Alarm, ...]
    alarm_mask: int
    battery_percent: int
    refill_due_ms: int | None
    # Protocol 1.1 delivery counters (None from a 1.0 pump), PROTOCOL.md "Delivered volume".
    delivered_nl: int | None = None
    delivered_since_refill_nl: int | None = None
    delivered_today_nl: int | None = None
    basal_carry: int | None = None
    # The run clock's drift against real time (ppm, + = fast) and what it has accumulated (ms);
    # None from a pump that does not report it (protocol 1.0).
    clock_drift_ppm: int | None = None
    clock_drift_ms: int | None = None

    @classmethod
    def from_fields(cls, f: Mapping[str, Any]) -> "Status":
        """From decoded STATUS / STATUS_PUSH fields (1.0 or 1.1 layout)."""
        return cls(_enum(TherapyState, f["state"]), f["time_ms"], f["wall_ms"], f["reservoir_nl"],
                   f["reservoir_capacity_nl"], None if f["step_index"] == 0xFF else f["step_index"],
                   f["step_start_minute"], f["rate_nl_per_day"], _enum(BolusKind, f["bolus_kind"]),
                   f["bolus_remaining_nl"], f["bolus_end_ms"] or None,
                   alarms_in(f["active_alarms"]), f["active_alarms"], f["battery_percent"],
                   f["refill_due_ms"] or None, f.get("delivered_nl"),
                   f.get("delivered_since_refill_nl"), f.get("delivered_today_nl"),
                   f.get("basal_carry"), f.get("clock_drift_ppm"), f.get("clock_drift_ms"))

    @property
    def wall_offset_ms(self) -> int:
        """wall clock - run clock (ms): add it to a run-clock time to get its wall time."""
        return self.wall_ms - self.time_ms

    def to_wall(self, run_ms: int | None) -> int | None:
        """The wall-clock time (ms since 1970-01-01, pump local time) of a run-clock time."""
        return None if run_ms is None else run_ms + self.wall_offset_ms


@dataclass(frozen=True)
class ClockReading(_Record):
    """The pump's two clocks: ``time_ms`` (run clock, monotonic, never set; every other *_ms
    time is on it) and ``wall_ms`` (time of day, ms since 1970-01-01 pump local time)."""

    time_ms: int
    wall_ms: int

    @property
    def wall_offset_ms(self) -> int:
        """wall clock - run clock (ms)."""
        return self.wall_ms - self.time_ms


@dataclass(frozen=True)
class Drug(_Record):
    """The programmed drug: library name and concentration (ug/mL)."""

    name: str
    concentration_ug_per_ml: int


@dataclass(frozen=True)
class Step(_Record):
    """One schedule step: from ``start_minute`` of the day, ``rate_nl_per_day``."""

    start_minute: int
    rate_nl_per_day: int


@dataclass(frozen=True)
class Schedule(_Record):
    """A plan: ``weekday`` (Weekday, EVERY_DAY for the default plan) and its steps."""

    weekday: Weekday
    steps: tuple[Step, ...]

    @classmethod
    def from_fields(cls, f: Mapping[str, Any]) -> "Schedule":
        """From decoded SCHEDULE fields."""
        return cls(_enum(Weekday, f["weekday"]),
                   tuple(Step(s["start_minute"], s["rate_nl_per_day"]) for s in f["steps"]))


@dataclass(frozen=True)
class Limits(_Record):
    """Patient-bolus settings and the low-reservoir threshold (LIMITS / SET_LIMITS)."""

    patient_bolus_dose_ug: int
    patient_bolus_duration_ms: int
    patient_lockout_ms: int
    patient_max_per_day: int
    low_reservoir_threshold_nl: int

    def fields(self) -> dict[str, int]:
        """The wire fields of SET_LIMITS."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class BolusStarted(_Record):
    """A bolus the pump started: kind, volume (nL) and its start and end (pump ms)."""

    kind: BolusKind
    volume_nl: int
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class PatientBolusResult(_Record):
    """Outcome of a patient bolus request; ``denial_reason`` is NONE when granted."""

    granted: bool
    denial_reason: DenialReason
    dose_ug: int
    volume_nl: int
    end_ms: int | None
    next_allowed_ms: int
    boluses_today: int

    @classmethod
    def from_fields(cls, f: Mapping[str, Any]) -> "PatientBolusResult":
        """From decoded PATIENT_BOLUS_RESULT fields."""
        return cls(bool(f["granted"]), _enum(DenialReason, f["denial_reason"]), f["dose_ug"],
                   f["volume_nl"], f["end_ms"] or None, f["next_allowed_ms"], f["boluses_today"])


@dataclass(frozen=True)
class RefillResult(_Record):
    """Outcome of a refill: reservoir after it, expected withdrawal, discrepancy flag, due date."""

    reservoir_nl: int
    expected_withdrawn_nl: int
    discrepancy: bool
    refill_due_ms: int | None


@dataclass(frozen=True)
class AlarmInfo(_Record):
    """An active alarm (ALARM_LIST entry)."""

    alarm: Alarm
    priority: AlarmPriority
    raised_ms: int
    acknowledged: bool
    tone: Tone = Tone.NONE  # how the alarm sounds
    repeat_ms: int = 0  # interval the tone repeats at


@dataclass(frozen=True)
class DrugLibraryEntry(_Record):
    """One drug the pump accepts (DRUG_LIBRARY): concentration range (ug/mL) and daily dose
    limits (ug/day): above the soft one the pump warns, above the hard one it refuses."""

    name: str
    min_concentration_ug_per_ml: int
    max_concentration_ug_per_ml: int
    soft_daily_limit_ug: int
    hard_daily_limit_ug: int

    @classmethod
    def from_fields(cls, f: Mapping[str, Any]) -> "DrugLibraryEntry":
        """From one decoded DRUG_LIBRARY entry."""
        return cls(f["drug_name"], f["min_concentration_ug_per_ml"],
                   f["max_concentration_ug_per_ml"], f["soft_daily_limit_ug"],
                   f["hard_daily_limit_ug"])


@dataclass(frozen=True)
class DeviceLimits(_Record):
    """The ranges the pump accepts (DEVICE_LIMITS), in wire units: rates nL/day, volumes nL,
    doses ug, durations ms of pump time. A programmer checks a program against these."""

    reservoir_capacity_nl: int
    min_rate_nl_per_day: int
    max_rate_nl_per_day: int
    max_steps_per_day: int
    step_resolution_minute: int
    clinician_bolus_min_duration_ms: int
    clinician_bolus_max_duration_ms: int
    priming_duration_ms: int
    dead_volume_nl: int
    patient_min_dose_ug: int
    patient_max_dose_ug: int
    patient_min_duration_ms: int
    patient_max_duration_ms: int
    patient_min_lockout_ms: int
    patient_max_lockout_ms: int
    patient_max_per_day: int
    low_threshold_min_nl: int
    low_threshold_max_nl: int
    low_threshold_default_nl: int
    discrepancy_min_nl: int
    discrepancy_percent: int
    # programming limits appended to DEVICE_LIMITS; None when the pump does not report them
    # (its first 72-byte layout): then they are unknown, and the pump checks for itself
    max_rate_changes_per_period: int | None = None  # 0 = no limit
    rate_changes_period_ms: int | None = None
    clinician_bolus_starts_lockout: bool | None = None
    patient_duration_step_ms: int | None = None
    patient_lockout_step_ms: int | None = None

    @classmethod
    def from_fields(cls, f: Mapping[str, Any]) -> "DeviceLimits":
        """From decoded DEVICE_LIMITS fields (either layout)."""
        kw = {k.name: f[k.name] for k in dataclasses.fields(cls) if k.name in f}
        if "clinician_bolus_starts_lockout" in kw:
            kw["clinician_bolus_starts_lockout"] = bool(kw["clinician_bolus_starts_lockout"])
        return cls(**kw)

    def discrepancy_limit_nl(self, expected_nl: int) -> int:
        """Largest |withdrawn - expected| (nL) that is not a refill discrepancy:
        max(discrepancy_min_nl, discrepancy_percent % of ``expected_nl``)."""
        return max(self.discrepancy_min_nl, expected_nl * self.discrepancy_percent // 100)


@dataclass(frozen=True)
class LogEntry(_Record):
    """One entry of the pump's event log. ``values`` are the typed record's named values
    (protocol 1.1, PROTOCOL.md section 10); ``detail`` is a one-line text for display (a 1.0
    pump's own text, or a summary of ``values``)."""

    index: int
    time_ms: int
    kind: int
    detail: str
    values: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class LogPage(_Record):
    """A page of the event log and the total number of entries in the log."""

    total_count: int
    entries: tuple[LogEntry, ...]


@dataclass(frozen=True)
class AlarmEvent(_Record):
    """Unsolicited ALARM_EVENT: an alarm raised (``raised``) or cleared at ``time_ms``."""

    alarm: Alarm
    raised: bool
    priority: AlarmPriority
    time_ms: int
    active_alarms: tuple[Alarm, ...]
    seq: int

    @classmethod
    def from_fields(cls, f: Mapping[str, Any], seq: int) -> "AlarmEvent":
        """From decoded ALARM_EVENT fields and the event frame's seq."""
        return cls(_enum(Alarm, f["alarm"]), bool(f["raised"]), _enum(AlarmPriority, f["priority"]),
                   f["time_ms"], alarms_in(f["active_alarms"]), seq)


@dataclass(frozen=True)
class StatusPush(_Record):
    """Unsolicited STATUS_PUSH: periodic telemetry carrying a full status."""

    status: Status
    seq: int


__all__ = ["AlarmEvent", "AlarmInfo", "BolusStarted", "DeviceLimits", "Drug", "DrugLibraryEntry",
           "Identity",
           "Limits", "LogEntry",
           "LogPage", "ClockReading", "PatientBolusResult", "RefillResult", "Schedule", "Status", "StatusPush",
           "Step", "alarms_in"]
