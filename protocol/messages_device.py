"""Payload declarations of the device's programmable ranges (GET_DEVICE_LIMITS, PROTOCOL.md
section 9): what the pump accepts, so that a programmer checks a program against the pump it
talks to rather than against numbers of its own. Units in the field names."""
from __future__ import annotations

from construct import Int8ub, Int16ub, Int32ub, Struct

from .messages_base import EMPTY

GetDeviceLimits = EMPTY
_RANGES = (
    "reservoir_capacity_nl" / Int32ub * "reservoir capacity, nL (largest fill)",
    "min_rate_nl_per_day" / Int32ub * "lowest basal rate of a schedule step, nL/day",
    "max_rate_nl_per_day" / Int32ub * "highest rate of any delivery (basal + bolus), nL/day",
    "max_steps_per_day" / Int8ub * "most schedule steps in one plan",
    "step_resolution_minute" / Int8ub * "step start minutes are multiples of this, min",
    "clinician_bolus_min_duration_ms" / Int32ub * "shortest clinician bolus, ms",
    "clinician_bolus_max_duration_ms" / Int32ub * "longest clinician bolus, ms",
    "priming_duration_ms" / Int32ub * "duration of a priming bolus sent with duration 0, ms",
    "dead_volume_nl" / Int32ub * "catheter + tubing volume (priming default, bridge bolus), nL",
    "patient_min_dose_ug" / Int32ub * "smallest patient bolus dose (besides 0 = off), ug",
    "patient_max_dose_ug" / Int32ub * "largest patient bolus dose, ug",
    "patient_min_duration_ms" / Int32ub * "shortest patient bolus duration, ms",
    "patient_max_duration_ms" / Int32ub * "longest patient bolus duration, ms",
    "patient_min_lockout_ms" / Int32ub * "shortest patient lockout, ms",
    "patient_max_lockout_ms" / Int32ub * "longest patient lockout, ms",
    "patient_max_per_day" / Int8ub * "highest patient_max_per_day accepted",
    "low_threshold_min_nl" / Int32ub * "lowest low-reservoir threshold, nL",
    "low_threshold_max_nl" / Int32ub * "highest low-reservoir threshold, nL",
    "low_threshold_default_nl" / Int32ub * "low-reservoir threshold of a new pump, nL",
    "discrepancy_min_nl" / Int32ub * "refill discrepancy: smallest tolerance, nL",
    "discrepancy_percent" / Int8ub * "refill discrepancy: tolerance in % of the expected volume",
)
# The first layout (72 bytes): what a 1.0 session gets, and what the first 1.1 pumps sent.
DeviceLimits10 = Struct(*_RANGES)
DeviceLimits = Struct(
    *_RANGES,
    "max_rate_changes_per_period" / Int16ub * "schedule changes accepted per period (0 = no limit)",
    "rate_changes_period_ms" / Int32ub * "rolling period of that count, ms of pump time",
    "clinician_bolus_starts_lockout" / Int8ub * "1 = a clinician bolus also starts the lockout",
    "patient_duration_step_ms" / Int32ub * "patient bolus durations are multiples of this, ms",
    "patient_lockout_step_ms" / Int32ub * "patient lockouts are multiples of this, ms",
)
