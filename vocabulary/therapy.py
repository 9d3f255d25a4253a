"""Therapy enumerations shared by the pump model and the protocol (values are wire values)."""
from __future__ import annotations

import enum


class TherapyState(enum.IntEnum):
    """Therapy state of the pump (status.state)."""

    STOPPED = 0
    INFUSING = 1
    BOLUS = 2
    REFILL = 3
    EMPTY = 4
    FAULT = 5
    END_OF_SERVICE = 6


class AlarmPriority(enum.IntEnum):
    """Alarm priority."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3


class Alarm(enum.IntEnum):
    """Alarm id; also its bit index in the u16 `active_alarms` bitmask."""

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
    """Kind of the active bolus."""

    NONE = 0
    CLINICIAN = 1
    PATIENT = 2
    PRIMING = 3
    BRIDGE = 4


class Role(enum.IntEnum):
    """Session role; each role has its own per-device key."""

    CLINICIAN = 1
    PATIENT = 2


class Weekday(enum.IntEnum):
    """Schedule plan selector; EVERY_DAY (0xFF) is the default plan."""

    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6
    EVERY_DAY = 0xFF


class DenialReason(enum.IntEnum):
    """Why a patient bolus was denied (0 = granted)."""

    NONE = 0
    LOCKOUT = 1
    DAILY_MAXIMUM = 2
    NOT_CONFIGURED = 3
    NOT_INFUSING = 4
    HARD_DAILY_LIMIT = 5
    BOLUS_ACTIVE = 6


# The order in which the pump checks the denial reasons: when several apply, the first one of
# this tuple is reported (PROTOCOL.md, PATIENT_BOLUS). Time-based reasons (LOCKOUT,
# DAILY_MAXIMUM) come before BOLUS_ACTIVE so that next_allowed_ms is always meaningful.
DENIAL_PRECEDENCE: tuple[DenialReason, ...] = (
    DenialReason.NOT_CONFIGURED,
    DenialReason.NOT_INFUSING,
    DenialReason.LOCKOUT,
    DenialReason.DAILY_MAXIMUM,
    DenialReason.BOLUS_ACTIVE,
    DenialReason.HARD_DAILY_LIMIT,
)
