"""Payload declarations of alarms, the event log, the clock, the test bench and the generic
ACK / NAK answers (PROTOCOL.md section 9)."""
from __future__ import annotations

from construct import Int8ub, Int16ub, Int32ub, Int64ub, Struct

from .messages_therapy import Status
from .messages_base import (EMPTY, MAX_ALARMS, MAX_LOG_ENTRIES, MAX_TEXT, AlarmEntry, LogEntry,
                            LogEntry10, _array, _text)

# --- alarms / log / clock / test bench -------------------------------------------------------

GetAlarms = EMPTY
AlarmList = Struct(
    "alarms" / _array(MAX_ALARMS, AlarmEntry) * "u8 count then the active alarms",
)
AckAlarm = Struct(
    "alarm" / Int8ub * "Alarm id to acknowledge",
)
AlarmTest = EMPTY
ReadLog = Struct(
    "start_index" / Int32ub * "index of the first entry wanted",
    "count" / Int8ub * "entries wanted, 1..16",
)
LogPage10 = Struct(
    "total_count" / Int32ub * "number of entries in the whole log",
    "entries" / _array(MAX_LOG_ENTRIES, LogEntry10) * "u8 count then up to 16 entries",
)
LogPage = Struct(
    "total_count" / Int32ub * "number of entries in the whole log",
    "entries" / _array(MAX_LOG_ENTRIES, LogEntry) * "u8 count then up to 16 typed entries",
)
GetClock = EMPTY
Clock = Struct(
    "time_ms" / Int64ub * "pump run clock, ms (monotonic; never set)",
    "wall_ms" / Int64ub * "pump wall (time-of-day) clock, ms since 1970-01-01 pump local time",
)
SetClock = Struct(
    "wall_ms" / Int64ub * "new wall (time-of-day) clock, ms since 1970-01-01 pump local time",
)
SetTelemetry = Struct(
    "interval_ms" / Int32ub * "STATUS_PUSH period, ms (0 = off)",
)
InjectFault = Struct(
    "fault" / Int8ub * "FaultKind (emulator only)",
    "action" / Int8ub * "FaultAction: RAISE=0, CLEAR=1",
    "value" / Int32ub * "the fault's parameter (see FaultKind); 0 for a fault without one",
)
AlarmEvent = Struct(
    "alarm" / Int8ub * "Alarm id",
    "raised" / Int8ub * "1 = raised, 0 = cleared",
    "priority" / Int8ub * "AlarmPriority",
    "time_ms" / Int64ub * "pump time of the change, ms",
    "active_alarms" / Int16ub * "bitmask of active alarms after the change",
)
StatusPush = Status  # the periodic telemetry has the layout of STATUS
Ack10 = Struct(
    "request_type" / Int8ub * "MessageType of the request acknowledged",
)
Ack = Struct(
    "request_type" / Int8ub * "MessageType of the request acknowledged",
    "warnings" / Int8ub * "AckWarning bits: 1 = SOFT_LIMIT (the program exceeds a soft limit)",
)
Nak = Struct(
    "code" / Int8ub * "NakCode",
    "request_type" / Int8ub * "MessageType of the request refused",
    "retry_after_ms" / Int32ub
    * "back-off before retrying, ms (RATE_LIMITED/BUSY/MAX_CHANGES_REACHED; else 0)",
    "detail" / _text(MAX_TEXT["detail"]) * "offending field name or reason, UTF-8 <= 48 bytes",
)


