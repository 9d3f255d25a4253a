"""Event-log and acknowledgement vocabulary shared by the pump model and the protocol."""
from __future__ import annotations

import enum


class EventKind(enum.IntEnum):
    """Event-log entry kind (LogEntry.kind, u16). Names are the pump's event-log kinds; a kind
    not listed here is sent as OTHER (0xFFFF)."""

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
    REFUSED = 18
    # 0x20..0x2F: the pump model's limits, power and annunciation
    BATTERY_FORECAST = 0x20
    SAFE_MODE = 0x21
    SAFE_MODE_END = 0x22
    ALARM_TEST = 0x23
    DOSE_WINDOW_LIMIT = 0x24
    DOSE_WINDOW_END = 0x25
    OTHER = 0xFFFF


class AckWarning(enum.IntFlag):
    """Bits of ACK.warnings (protocol 1.1): what an accepted request crossed."""

    NONE = 0
    SOFT_LIMIT = 0x01  # the program now in force exceeds the drug's soft daily limit
