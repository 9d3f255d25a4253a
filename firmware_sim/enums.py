"""Enumerations of the pump model.

The shared ones (therapy state, alarms, bolus kinds, roles, weekdays, denial reasons) are
declared once in :mod:`vocabulary` and re-exported here so existing imports keep working;
:class:`RejectCode` is the model's own.
"""
from __future__ import annotations

import enum

from vocabulary import (ALARM_PRIORITY, DENIAL_PRECEDENCE, Alarm, AlarmPriority, BolusKind,
                        DenialReason, EventKind, Role, TherapyState, Tone, Weekday)

__all__ = ["ALARM_PRIORITY", "DENIAL_PRECEDENCE", "Alarm", "AlarmPriority", "BolusKind",
           "DenialReason", "EventKind", "RejectCode", "Role", "TherapyState", "Tone", "Weekday"]


class RejectCode(str, enum.Enum):
    """Why a program or command was rejected (``Rejected.code``); the protocol's nak codes share
    these names."""

    RATE_OUT_OF_RANGE = "RATE_OUT_OF_RANGE"
    STEP_ORDER = "STEP_ORDER"
    TOO_MANY_STEPS = "TOO_MANY_STEPS"
    NO_STEPS = "NO_STEPS"
    MINUTE_OUT_OF_RANGE = "MINUTE_OUT_OF_RANGE"
    NO_DEFAULT_PLAN = "NO_DEFAULT_PLAN"
    CONCENTRATION_OUT_OF_RANGE = "CONCENTRATION_OUT_OF_RANGE"
    HARD_DAILY_LIMIT = "HARD_DAILY_LIMIT"
    UNKNOWN_DRUG = "UNKNOWN_DRUG"
    NO_PROGRAM = "NO_PROGRAM"
    INVALID_STATE = "INVALID_STATE"
    BOLUS_ACTIVE = "BOLUS_ACTIVE"
    NO_BOLUS = "NO_BOLUS"
    RESERVOIR_OVERFLOW = "RESERVOIR_OVERFLOW"
    RESERVOIR_EMPTY = "RESERVOIR_EMPTY"
    INSUFFICIENT_RESERVOIR = "INSUFFICIENT_RESERVOIR"
    VOLUME_OUT_OF_RANGE = "VOLUME_OUT_OF_RANGE"
    DOSE_OUT_OF_RANGE = "DOSE_OUT_OF_RANGE"
    THRESHOLD_OUT_OF_RANGE = "THRESHOLD_OUT_OF_RANGE"
    DURATION_OUT_OF_RANGE = "DURATION_OUT_OF_RANGE"
    LOCKOUT_OUT_OF_RANGE = "LOCKOUT_OUT_OF_RANGE"
    MAX_PER_DAY_OUT_OF_RANGE = "MAX_PER_DAY_OUT_OF_RANGE"
    WITHDRAW_REQUIRED = "WITHDRAW_REQUIRED"
    ALREADY_WITHDRAWN = "ALREADY_WITHDRAWN"
    MAX_CHANGES_REACHED = "MAX_CHANGES_REACHED"
    TIME_OUT_OF_RANGE = "TIME_OUT_OF_RANGE"
    ALARM_NOT_ACTIVE = "ALARM_NOT_ACTIVE"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    UNKNOWN_FAULT = "UNKNOWN_FAULT"
    FAULT_PARAM_OUT_OF_RANGE = "FAULT_PARAM_OUT_OF_RANGE"
    FAULT_NOT_ACTIVE = "FAULT_NOT_ACTIVE"
