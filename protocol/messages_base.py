"""Shared pieces of the payload declarations: limits of the wire format, bounded text and
counted arrays, and the records (schedule step, alarm, log entry, drug-library entry) that
several messages carry. Every integer is big-endian; field names carry their units."""
from __future__ import annotations

from construct import (Construct, ExprValidator, Int8ub, Int16ub, Int32ub, Int64ub, PascalString,
                       PrefixedArray, Struct)

PROTOCOL_MINOR = 1  # this implementation speaks protocol 1.1 (frame version byte 1)
MAX_STEPS = 48
MAX_ALARMS = 16
MAX_DRUGS = 16
MAX_LOG_ENTRIES = 16
NONCE_BYTES = 16
PROOF_BYTES = 32
MAX_TEXT = {"model": 16, "serial_number": 16, "firmware_version": 16, "drug_name": 24,
            "detail": 48}


def truncate_utf8(text: str, max_bytes: int) -> str:
    """`text` cut to at most `max_bytes` UTF-8 bytes without splitting a character (for the
    bounded text fields: NAK detail, log detail, names)."""
    raw = text.encode("utf8")
    if len(raw) <= max_bytes:
        return text
    return raw[:max_bytes].decode("utf8", "ignore")


def _text(max_bytes: int) -> Construct:
    """UTF-8 string with a u8 length prefix, at most `max_bytes` encoded bytes."""
    return ExprValidator(PascalString(Int8ub, "utf8"),
                         lambda obj, ctx: len(obj.encode("utf8")) <= max_bytes)


def _array(max_items: int, item: Construct) -> Construct:
    """Array with a u8 count prefix, at most `max_items` items (both kept on the construct as
    `max_items` and `item`, for the derived fast codecs and the documentation checks)."""
    con = ExprValidator(PrefixedArray(Int8ub, item), lambda obj, ctx: len(obj) <= max_items)
    con.max_items = max_items  # type: ignore[attr-defined]
    con.item = item  # type: ignore[attr-defined]
    return con


EMPTY = Struct()

# --- shared pieces ---------------------------------------------------------------------------

ScheduleStep = Struct(
    "start_minute" / Int16ub * "minute of the day the step starts, 0..1439",
    "rate_nl_per_day" / Int32ub * "basal rate during the step, nL/day",
)

AlarmEntry = Struct(
    "alarm" / Int8ub * "Alarm id (bit index of active_alarms)",
    "priority" / Int8ub * "AlarmPriority: LOW=1, MEDIUM=2, HIGH=3",
    "raised_ms" / Int64ub * "pump time the alarm was raised, ms",
    "acknowledged" / Int8ub * "1 if acknowledged, else 0",
    "tone" / Int8ub * "Tone the alarm sounds (until acknowledged)",
    "repeat_ms" / Int32ub * "interval the tone repeats at, ms",
)

LogEntry10 = Struct(
    "index" / Int32ub * "entry index in the event log, 0-based, increasing",
    "time_ms" / Int64ub * "pump time of the event, ms",
    "kind" / Int16ub * "EventKind of the entry (OTHER=0xFFFF for kinds without a code)",
    "detail" / _text(MAX_TEXT["detail"]) * "short UTF-8 detail text, <= 48 bytes",
)
LogEntry = Struct(
    "index" / Int32ub * "entry index in the event log, 0-based, increasing",
    "time_ms" / Int64ub * "pump run-clock time of the event, ms",
    "kind" / Int16ub * "EventKind of the entry (OTHER=0xFFFF for kinds without a code)",
    "subject" / Int16ub * "what the entry is about; meaning per kind (section 10)",
    "value_a" / Int64ub * "first value; meaning and unit per kind (section 10)",
    "value_b" / Int64ub * "second value; meaning and unit per kind (section 10)",
    "value_c" / Int64ub * "third value; meaning and unit per kind (section 10)",
)

DrugLibraryEntry = Struct(
    "drug_name" / _text(MAX_TEXT["drug_name"]) * "drug library name, UTF-8 <= 24 bytes",
    "min_concentration_ug_per_ml" / Int32ub * "lowest concentration accepted, ug/mL",
    "max_concentration_ug_per_ml" / Int32ub * "highest concentration accepted, ug/mL",
    "soft_daily_limit_ug" / Int32ub * "soft daily dose limit, ug/day (ACK warns above it)",
    "hard_daily_limit_ug" / Int32ub * "hard daily dose limit, ug/day (refused above it)",
)

