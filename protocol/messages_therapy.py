"""Payload declarations of status, drug, schedule, limits, therapy and refill messages
(PROTOCOL.md section 9); units in the field names."""
from __future__ import annotations

from construct import Int8ub, Int16ub, Int32sb, Int32ub, Int64sb, Int64ub, Struct

from .messages_base import (EMPTY, MAX_DRUGS, MAX_STEPS, MAX_TEXT, DrugLibraryEntry, ScheduleStep,
                            _array, _text)

# --- status / drug / schedule / limits -------------------------------------------------------

GetStatus = EMPTY
_STATUS_FIELDS = (
    "state" / Int8ub * "TherapyState",
    "time_ms" / Int64ub * "pump run clock, ms (monotonic; every other *_ms time is on it)",
    "wall_ms" / Int64ub * "pump wall (time-of-day) clock, ms since 1970-01-01 pump local time",
    "reservoir_nl" / Int32ub * "drug volume in the reservoir, nL",
    "reservoir_capacity_nl" / Int32ub * "reservoir capacity, nL",
    "step_index" / Int8ub * "index of the current schedule step, 0xFF = none",
    "step_start_minute" / Int16ub * "start minute of the current step, 0..1439",
    "rate_nl_per_day" / Int32ub * "basal rate being delivered now, nL/day (0 when not infusing)",
    "bolus_kind" / Int8ub * "BolusKind of the active bolus (NONE=0)",
    "bolus_remaining_nl" / Int32ub * "volume still to deliver in the active bolus, nL",
    "bolus_end_ms" / Int64ub * "pump time the active bolus ends, ms (0 = no bolus)",
    "active_alarms" / Int16ub * "bitmask of active alarms, bit i = Alarm i",
    "battery_percent" / Int8ub * "remaining battery, 0..100 %",
    "refill_due_ms" / Int64ub * "pump time the refill is due, ms (0 = not computable)",
)
Status10 = Struct(*_STATUS_FIELDS)
Status = Struct(
    *_STATUS_FIELDS,
    "delivered_nl" / Int64ub * "volume delivered since manufacture, whole nL",
    "delivered_since_refill_nl" / Int64ub * "volume delivered since the last REFILL_COMPLETE, nL",
    "delivered_today_nl" / Int64ub * "volume delivered since the last wall-clock midnight, nL",
    "basal_carry" / Int32ub * "basal integration carry, nL x ms / day units, < 86,400,000",
    "clock_drift_ppm" / Int32sb * "run clock's drift against real time, ppm (signed, + = fast)",
    "clock_drift_ms" / Int64sb * "drift the run clock has accumulated since it started, ms (signed)",
)
GetDrugLibrary = EMPTY
DrugLibrary = Struct(
    "drugs" / _array(MAX_DRUGS, DrugLibraryEntry) * "u8 count then the library entries",
)
GetDrug = EMPTY
Drug = Struct(
    "drug_name" / _text(MAX_TEXT["drug_name"]) * "drug library name, UTF-8 <= 24 bytes",
    "concentration_ug_per_ml" / Int32ub * "drug concentration, ug/mL",
)
SetDrug = Drug
GetSchedule = Struct(
    "weekday" / Int8ub * "Weekday 0..6 (MONDAY..SUNDAY) or 0xFF = every-day plan",
)
Schedule = Struct(
    "weekday" / Int8ub * "Weekday 0..6 or 0xFF = every-day plan",
    "steps" / _array(MAX_STEPS, ScheduleStep) * "u8 count then up to 48 steps",
)
SetSchedule = Schedule
GetLimits = EMPTY
Limits = Struct(
    "patient_bolus_dose_ug" / Int32ub * "dose of one patient bolus, ug (0 = patient bolus off)",
    "patient_bolus_duration_ms" / Int32ub * "duration of one patient bolus, ms",
    "patient_lockout_ms" / Int32ub * "minimum time between patient boluses, ms",
    "patient_max_per_day" / Int8ub * "maximum patient boluses in any 24 h",
    "low_reservoir_threshold_nl" / Int32ub * "low-reservoir alarm threshold, nL",
)
SetLimits = Limits

# --- therapy ---------------------------------------------------------------------------------

StartTherapy = EMPTY
StopTherapy = EMPTY
ClinicianBolus = Struct(
    "volume_nl" / Int32ub * "bolus volume, nL (0 = use dose_ug)",
    "dose_ug" / Int32ub * "bolus dose, ug (0 = use volume_nl); exactly one is non-zero",
    "duration_ms" / Int32ub * "bolus duration, ms",
)
PatientBolus = EMPTY
PatientBolusResult = Struct(
    "granted" / Int8ub * "1 = granted, 0 = denied",
    "denial_reason" / Int8ub * "DenialReason (NONE=0 when granted)",
    "dose_ug" / Int32ub * "dose granted, ug (0 when denied)",
    "volume_nl" / Int32ub * "volume granted, nL (0 when denied)",
    "end_ms" / Int64ub * "pump time the bolus ends, ms (0 when denied)",
    "next_allowed_ms" / Int64ub * "earliest pump time of the next allowed patient bolus, ms",
    "boluses_today" / Int8ub * "patient boluses granted in the last 24 h",
)
CancelBolus = EMPTY
PrimingBolus = Struct(
    "volume_nl" / Int32ub * "priming volume (catheter + tubing), nL",
    "duration_ms" / Int32ub * "priming duration, ms",
)
BolusStarted = Struct(
    "bolus_kind" / Int8ub * "BolusKind started",
    "volume_nl" / Int32ub * "bolus volume, nL",
    "start_ms" / Int64ub * "pump time the bolus started, ms",
    "end_ms" / Int64ub * "pump time the bolus ends, ms",
)

# --- refill ----------------------------------------------------------------------------------

RefillBegin = EMPTY
RefillWithdrawn = Struct(
    "withdrawn_nl" / Int32ub * "volume withdrawn from the reservoir, nL",
)
RefillComplete = Struct(
    "withdrawn_nl" / Int32ub * "volume withdrawn from the reservoir, nL",
    "filled_nl" / Int32ub * "volume filled into the reservoir, nL",
    "concentration_ug_per_ml" / Int32ub * "concentration of the new drug, ug/mL",
)
RefillResult = Struct(
    "reservoir_nl" / Int32ub * "reservoir volume after the refill, nL",
    "expected_withdrawn_nl" / Int32ub * "volume the pump expected to be withdrawn, nL",
    "discrepancy" / Int8ub * "1 if the REFILL_DISCREPANCY alarm was raised, else 0",
    "refill_due_ms" / Int64ub * "next refill-due pump time, ms (0 = not computable)",
)

