"""Shared enumerations encoded by the protocol (values are wire values, u8 unless noted).

The pump model uses the same names and values (see CONVENTIONS); the protocol only carries them.
"""
from __future__ import annotations

import dataclasses
import enum


class MessageType(enum.IntEnum):
    """Message type byte of a frame (offset 12 of the header).

    Requests are 0x01-0x7F; the specific response of a request has the same low 7 bits with
    bit 7 set (e.g. GET_STATUS 0x10 -> STATUS 0x90). ACK/NAK (0xF0/0xF1) answer any request;
    0xE0-0xEF are unsolicited pump events.
    """

    IDENTIFY = 0x01
    SESSION_OPEN = 0x02
    SESSION_PROOF = 0x03
    SESSION_CLOSE = 0x04
    GET_STATUS = 0x10
    GET_DRUG = 0x11
    SET_DRUG = 0x12
    GET_SCHEDULE = 0x13
    SET_SCHEDULE = 0x14
    GET_LIMITS = 0x15
    SET_LIMITS = 0x16
    START_THERAPY = 0x20
    STOP_THERAPY = 0x21
    CLINICIAN_BOLUS = 0x22
    PATIENT_BOLUS = 0x23
    CANCEL_BOLUS = 0x24
    PRIMING_BOLUS = 0x25
    REFILL_BEGIN = 0x30
    REFILL_WITHDRAWN = 0x31
    REFILL_COMPLETE = 0x32
    GET_ALARMS = 0x40
    ACK_ALARM = 0x41
    READ_LOG = 0x42
    ALARM_TEST = 0x43
    GET_CLOCK = 0x50
    SET_CLOCK = 0x51
    SET_TELEMETRY = 0x52
    INJECT_FAULT = 0x5F

    IDENTITY = 0x81
    SESSION_CHALLENGE = 0x82
    SESSION_ACCEPTED = 0x83
    STATUS = 0x90
    DRUG = 0x91
    SCHEDULE = 0x93
    LIMITS = 0x95
    BOLUS_STARTED = 0xA2
    PATIENT_BOLUS_RESULT = 0xA3
    REFILL_RESULT = 0xB2
    ALARM_LIST = 0xC0
    LOG_PAGE = 0xC2
    CLOCK = 0xD0

    ALARM_EVENT = 0xE0
    STATUS_PUSH = 0xE1

    ACK = 0xF0
    NAK = 0xF1


class FrameKind(enum.IntEnum):
    """Bits 0-1 of the flags byte: what the frame is."""

    REQUEST = 0
    RESPONSE = 1
    EVENT = 2


class Flag(enum.IntFlag):
    """Flag bits of the frame header (bits 0-1 are the FrameKind)."""

    KIND_MASK = 0x03
    TAG = 0x04  # a 16-byte session authentication tag follows the payload


class TherapyState(enum.IntEnum):
    """Therapy state of the pump (status.state)."""

    STOPPED = 0
    INFUSING = 1
    BOLUS = 2
    REFILL = 3
    EMPTY = 4
    FAULT = 5
    END_OF_SERVICE = 6


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
    REDUCED_BATTERY = 8


class AlarmPriority(enum.IntEnum):
    """Alarm priority."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3


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
    """How an alarm sounds (AlarmEntry.tone)."""

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


class FaultKind(enum.IntEnum):
    """Fault injected by INJECT_FAULT (emulator only, clinician only)."""

    MOTOR_STALL = 1
    MEMORY_ERROR = 2
    BATTERY_ERI = 3
    END_OF_SERVICE = 4
    CLEAR_MOTOR_STALL = 5
    OVER_INFUSION = 6
    UNDER_INFUSION = 7
    OCCLUSION = 8
    LEAK = 9
    MRI_EXPOSURE = 10
    REDUCED_BATTERY = 11


class FaultAction(enum.IntEnum):
    """What INJECT_FAULT does with its fault (emulator only)."""

    RAISE = 0
    CLEAR = 1


@dataclasses.dataclass(frozen=True)
class FaultWire:
    """How INJECT_FAULT carries one fault: the emulated model's fault name and the name,
    unit, range and default of its one parameter (carried in ``value``; None: no parameter)."""

    model_name: str
    param: str | None = None
    unit: str = ""
    minimum: int = 0
    maximum: int = 0
    default: int = 0


# FaultKind -> the model's fault (BATTERY_ERI / END_OF_SERVICE drain the battery to that level;
# CLEAR_MOTOR_STALL is the older spelling of CLEAR MOTOR_STALL).
FAULT_WIRE: dict[FaultKind, FaultWire] = {
    FaultKind.MOTOR_STALL: FaultWire("motor_stall", "recover_after_ms", "ms", 0, 604_800_000, 0),
    FaultKind.MEMORY_ERROR: FaultWire("memory_error"),
    FaultKind.BATTERY_ERI: FaultWire("battery_eri"),
    FaultKind.END_OF_SERVICE: FaultWire("end_of_service"),
    FaultKind.CLEAR_MOTOR_STALL: FaultWire("motor_stall"),
    FaultKind.OVER_INFUSION: FaultWire("over_infusion", "permille", "0.1 %", 1, 1000, 145),
    FaultKind.UNDER_INFUSION: FaultWire("under_infusion", "permille", "0.1 %", 1, 1000, 145),
    FaultKind.OCCLUSION: FaultWire("occlusion", "blocked_percent", "%", 1, 100, 100),
    FaultKind.LEAK: FaultWire("leak", "lost_percent", "%", 1, 100, 100),
    FaultKind.MRI_EXPOSURE: FaultWire("mri_exposure", "duration_ms", "ms", 1, 86_400_000,
                                      1_800_000),
    FaultKind.REDUCED_BATTERY: FaultWire("reduced_battery"),
}


class EventKind(enum.IntEnum):
    """Event-log entry kind (LogEntry.kind, u16). Names are the pump's event-log kinds; a kind
    not listed here is sent as OTHER (0xFFFF) with its name at the start of the detail text."""

    STATE = 1
    ALARM_RAISED = 2
    ALARM_CLEARED = 3
    ALARM_ACK = 4
    BOLUS_START = 5
    BOLUS_END = 6
    PATIENT_BOLUS_GRANTED = 7
    PATIENT_BOLUS_DENIED = 8
    PATIENT_BOLUS_CONFIG = 9
    PROGRAM = 10
    SOFT_LIMIT_WARNING = 11
    THRESHOLD = 12
    REFILL_BEGIN = 13
    REFILL_WITHDRAWN = 14
    REFILL_COMPLETE = 15
    REFILL_DUE_DATE = 16
    CLOCK_SET = 17
    # 0x20..0x2F: the pump model's limits, power and annunciation
    BATTERY_FORECAST = 0x20
    SAFE_MODE = 0x21
    SAFE_MODE_END = 0x22
    ALARM_TEST = 0x23
    DOSE_WINDOW_LIMIT = 0x24
    DOSE_WINDOW_END = 0x25
    OTHER = 0xFFFF
