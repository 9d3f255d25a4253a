"""Enumerations encoded by the protocol (values are wire values, u8 unless noted).

The enumerations the pump model shares (therapy state, alarms, bolus kinds, roles, weekdays,
denial reasons, event-log kinds, ACK warnings) are declared once in :mod:`vocabulary` and
re-exported here; the frame- and message-level ones are the protocol's own.
"""
from __future__ import annotations

import dataclasses
import enum

from vocabulary import (ALARM_PRIORITY, AckWarning, Alarm, AlarmPriority, BolusKind,
                        DenialReason, EventKind, Role, TherapyState, Tone, Weekday)

__all__ = ["ALARM_PRIORITY", "AckWarning", "Alarm", "AlarmPriority", "BolusKind",
           "DenialReason", "EventKind", "FaultKind", "Flag", "FrameKind", "MessageType", "Role",
           "TherapyState", "Tone", "Weekday"]


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
    GET_DRUG_LIBRARY = 0x17
    GET_DEVICE_LIMITS = 0x18
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
    DRUG_LIBRARY = 0x97
    DEVICE_LIMITS = 0x98
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
    FaultKind.END_OF_SERVICE: FaultWire("battery_end_of_service"),
    FaultKind.CLEAR_MOTOR_STALL: FaultWire("motor_stall"),
    FaultKind.OVER_INFUSION: FaultWire("over_infusion", "permille", "0.1 %", 1, 1000, 145),
    FaultKind.UNDER_INFUSION: FaultWire("under_infusion", "permille", "0.1 %", 1, 1000, 145),
    FaultKind.OCCLUSION: FaultWire("occlusion", "blocked_percent", "%", 1, 100, 100),
    FaultKind.LEAK: FaultWire("leak", "lost_percent", "%", 1, 100, 100),
    FaultKind.MRI_EXPOSURE: FaultWire("mri_exposure", "duration_ms", "ms", 1, 86_400_000,
                                      1_800_000),
    FaultKind.REDUCED_BATTERY: FaultWire("reduced_battery"),
}

