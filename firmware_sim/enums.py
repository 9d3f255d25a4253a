"""Shared enumerations of the pump model.

Names and values are those of the project's conventions (the protocol encodes the same values).
"""
from __future__ import annotations

import enum


class TherapyState(enum.IntEnum):
    """Therapy state of the pump (u8 on the wire)."""

    STOPPED = 0
    INFUSING = 1
    BOLUS = 2
    REFILL = 3
    EMPTY = 4
    FAULT = 5  # motor stall
    END_OF_SERVICE = 6


class AlarmPriority(enum.IntEnum):
    """Alarm priority (u8)."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3


class Alarm(enum.IntEnum):
    """Alarm, valued by its bit index in the u16 alarm bitmask."""

    LOW_RESERVOIR = 0
    EMPTY_RESERVOIR = 1
    REFILL_DUE = 2
    BATTERY_ERI = 3
    END_OF_SERVICE = 4
    MOTOR_STALL = 5
    MEMORY_ERROR = 6
    REFILL_DISCREPANCY = 7
    REDUCED_BATTERY = 8  # reduced battery performance: minimum-rate safe mode

    @property
    def priority(self) -> AlarmPriority:
        """The alarm's fixed priority."""
        return ALARM_PRIORITY[self]

    @property
    def mask(self) -> int:
        """The alarm's bit in the u16 bitmask."""
        return 1 << int(self)


ALARM_PRIORITY: dict[Alarm, AlarmPriority] = {
    Alarm.LOW_RESERVOIR: AlarmPriority.MEDIUM,
    Alarm.EMPTY_RESERVOIR: AlarmPriority.HIGH,
    Alarm.REFILL_DUE: AlarmPriority.LOW,
    Alarm.BATTERY_ERI: AlarmPriority.MEDIUM,
    Alarm.END_OF_SERVICE: AlarmPriority.HIGH,
    Alarm.MOTOR_STALL: AlarmPriority.HIGH,
    Alarm.MEMORY_ERROR: AlarmPriority.HIGH,
    Alarm.REFILL_DISCREPANCY: AlarmPriority.MEDIUM,
    Alarm.REDUCED_BATTERY: AlarmPriority.HIGH,
}


class Tone(enum.IntEnum):
    """How an alarm sounds (u8): a one-second single tone or a three-second two-tone alarm."""

    NONE = 0
    SINGLE_TONE_1S = 1
    TWO_TONE_3S = 2


class BolusKind(enum.IntEnum):
    """Kind of the bolus in progress (u8)."""

    NONE = 0
    CLINICIAN = 1
    PATIENT = 2
    PRIMING = 3
    BRIDGE = 4


class Role(enum.IntEnum):
    """Who issues a command (u8)."""

    CLINICIAN = 1
    PATIENT = 2


class Weekday(enum.IntEnum):
    """Day of the week of a schedule plan; EVERY_DAY (0xFF) is the default plan."""

    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6
    EVERY_DAY = 0xFF


class DenialReason(enum.IntEnum):
    """Why a patient bolus request was denied (u8)."""

    LOCKOUT = 1
    DAILY_MAXIMUM = 2
    NOT_CONFIGURED = 3
    NOT_INFUSING = 4
    HARD_DAILY_LIMIT = 5
    BOLUS_ACTIVE = 6


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
    TIME_OUT_OF_RANGE = "TIME_OUT_OF_RANGE"
    ALARM_NOT_ACTIVE = "ALARM_NOT_ACTIVE"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    UNKNOWN_FAULT = "UNKNOWN_FAULT"
    FAULT_PARAM_OUT_OF_RANGE = "FAULT_PARAM_OUT_OF_RANGE"
    FAULT_NOT_ACTIVE = "FAULT_NOT_ACTIVE"
