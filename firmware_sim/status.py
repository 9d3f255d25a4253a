"""Frozen snapshots returned by the pump (status, patient bolus setting and outcome)."""
from __future__ import annotations

from dataclasses import dataclass

from .enums import Alarm, AlarmPriority, BolusKind, DenialReason, TherapyState, Tone


@dataclass(frozen=True)
class AlarmStatus:
    """An active alarm, its priority, raise time (pump run ms) and acknowledgement, and how it
    sounds: ``tone`` repeated every ``repeat_ms`` until acknowledged (the profile's table)."""

    alarm: Alarm
    priority: AlarmPriority
    raised_ms: int
    acked: bool
    tone: Tone = Tone.NONE
    repeat_ms: int = 0


@dataclass(frozen=True)
class BolusStatus:
    """The bolus in progress; ``end_ms`` is None for a bridge bolus (ends on volume)."""

    kind: BolusKind
    volume_nl: int
    delivered_nl: int
    remaining_nl: int
    start_ms: int
    end_ms: int | None


@dataclass(frozen=True)
class PumpStatus:
    """Everything a programmer reads from the pump at ``time_ms`` (pump run clock) /
    ``wall_ms`` (time of day clock)."""

    state: TherapyState
    time_ms: int
    wall_ms: int
    reservoir_nl: int
    capacity_nl: int
    low_threshold_nl: int
    step_index: int | None
    rate_nl_per_day: int
    bolus: BolusStatus | None
    alarms: tuple[AlarmStatus, ...]
    alarm_mask: int
    battery_remaining_uah: int
    battery_percent: int
    refill_due_ms: int | None
    filled_nl: int
    delivered_nl: int
    withdrawn_nl: int
    delivered_dose_ug: int
    drug_name: str | None
    concentration_ug_per_ml: int | None
    event_count: int
    annunciation: Tone = Tone.NONE  # what sounds now: the loudest unacknowledged alarm's tone
    safe_mode: str | None = None  # why the pump runs at the minimum rate (None: it does not)
    keep_open: bool = False  # a dose window's limit holds the pump at its keep-open rate
    clock_drift_ppm: int = 0  # the profile's run-clock drift against real time
    clock_drift_ms: int = 0  # drift the run clock has accumulated since it started (ms)


@dataclass(frozen=True)
class PatientBolusConfig:
    """The patient bolus setting: ``dose_ug`` over ``duration_ms``, at least ``lockout_ms``
    apart (start to start), at most ``max_per_24h`` in any 24 h."""

    dose_ug: int
    duration_ms: int
    lockout_ms: int
    max_per_24h: int


@dataclass(frozen=True)
class PatientBolusResult:
    """Outcome of a patient bolus request: granted, or denied with ``reason``."""

    granted: bool
    reason: DenialReason | None = None
    volume_nl: int = 0
    next_allowed_ms: int | None = None
