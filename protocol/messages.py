"""One `construct` declaration per message payload, and the message registry.

Every payload is big-endian. Field names carry their units (`_nl`, `_ug`, `_ms`,
`_ug_per_ml`, `_nl_per_day`, `_minute`); the construct docstrings say the rest. The registry maps
each MessageType to a MessageSpec (its construct, kind, the responses a request may get), and
`decode_payload` / `encode_payload` are the only entry points the rest of the code needs.

Speed without giving up the declaration as the single source of truth: for flat fixed-size
payloads (FlatCodec) and for flat records in one counted array (ArrayCodec) a `struct` codec is
*derived from the declaration* at import time. Like construct's compiled parsers, struct does
not check lengths, so an untrusted payload reaches one only after its exact length has been
checked (fixed size; or head + 1 + count x record size, with count <= the array's maximum).
Every other payload (text fields, log entries) is parsed by the uncompiled declaration and must
be consumed exactly. Tests check the derived codecs against construct on valid and damaged
payloads. PROTOCOL.md documents every field; a test checks it against these declarations.
"""
from __future__ import annotations

import dataclasses
import io
import struct
import logging
from typing import Any, Mapping

from construct import (
    Bytes,
    Construct,
    FormatField,
    Renamed,
    ConstructError,
    ExprValidator,
    Int8ub,
    Int16ub,
    Int32ub,
    Int64ub,
    PascalString,
    PrefixedArray,
    Struct,
)

from .enums import MessageType as MT
from .errors import NakCode, ProtocolError

log = logging.getLogger(__name__)

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

# --- session / identification ----------------------------------------------------------------

Identify10 = EMPTY
Identify = Struct(
    "protocol_minor" / Int8ub * "highest minor version the host speaks (1 for 1.1)",
)
_IDENTITY_FIELDS = (
    "model" / _text(MAX_TEXT["model"]) * "model name, UTF-8 <= 16 bytes",
    "serial_number" / _text(MAX_TEXT["serial_number"]) * "serial number, UTF-8 <= 16 bytes",
    "firmware_version" / _text(MAX_TEXT["firmware_version"]) * "firmware version, UTF-8 <= 16 bytes",
    "protocol_version" / Int8ub * "protocol major version spoken (1)",
    "reservoir_capacity_nl" / Int32ub * "reservoir capacity, nL",
    "weekday_plans" / Int8ub * "1 if the model supports per-weekday schedules, else 0",
)
Identity10 = Struct(*_IDENTITY_FIELDS)
Identity = Struct(
    *_IDENTITY_FIELDS,
    "protocol_minor" / Int8ub * "minor version the pump speaks (1 for 1.1)",
)
SessionOpen10 = Struct(
    "role" / Int8ub * "Role: CLINICIAN=1, PATIENT=2",
    "host_nonce" / Bytes(NONCE_BYTES) * "16 random bytes chosen by the host",
)
SessionOpen = Struct(
    "role" / Int8ub * "Role: CLINICIAN=1, PATIENT=2",
    "host_nonce" / Bytes(NONCE_BYTES) * "16 random bytes chosen by the host",
    "protocol_minor" / Int8ub * "minor version of the session's layouts (1 for 1.1)",
)
SessionChallenge = Struct(
    "session_id" / Int32ub * "non-zero session id chosen by the pump",
    "pump_nonce" / Bytes(NONCE_BYTES) * "16 random bytes chosen by the pump",
)
SessionProof = Struct(
    "session_id" / Int32ub * "session id from the challenge",
    "proof" / Bytes(PROOF_BYTES) * "HMAC-SHA256(role key, 'host-proof' || T), T = transcript",
)
SessionAccepted = Struct(
    "pump_proof" / Bytes(PROOF_BYTES) * "HMAC-SHA256(role key, 'pump-proof' || T), T = transcript",
)
SessionClose = EMPTY

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
StatusPush = Status
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
    "retry_after_ms" / Int32ub * "back-off before retrying, ms (RATE_LIMITED/BUSY; else 0)",
    "detail" / _text(MAX_TEXT["detail"]) * "offending field name or reason, UTF-8 <= 48 bytes",
)


# --- registry --------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class MessageSpec:
    """Everything the codec knows about one message type."""

    msg_type: MT
    construct: Construct
    kind: str  # "request" | "response" | "event"
    responses: tuple[MT, ...]  # for requests: possible success responses (NAK always possible)
    summary: str
    fixed_size: int | None  # payload size in bytes when constant, else None


def _spec(t: MT, con: Construct, kind: str, summary: str, responses: tuple[MT, ...] = ()) -> MessageSpec:
    try:
        size: int | None = con.sizeof()
    except ConstructError:
        size = None
    return MessageSpec(t, con, kind, tuple(responses), summary, size)


_ACK = (MT.ACK,)
REGISTRY: dict[MT, MessageSpec] = {s.msg_type: s for s in [
    _spec(MT.IDENTIFY, Identify, "request", "ask model/serial/versions; no session needed", (MT.IDENTITY,)),
    _spec(MT.SESSION_OPEN, SessionOpen, "request", "start a session for a role", (MT.SESSION_CHALLENGE,)),
    _spec(MT.SESSION_PROOF, SessionProof, "request", "prove knowledge of the role key", (MT.SESSION_ACCEPTED,)),
    _spec(MT.SESSION_CLOSE, SessionClose, "request", "end the session", _ACK),
    _spec(MT.GET_STATUS, GetStatus, "request", "read the pump status", (MT.STATUS,)),
    _spec(MT.GET_DRUG, GetDrug, "request", "read drug and concentration", (MT.DRUG,)),
    _spec(MT.SET_DRUG, SetDrug, "request", "program drug and concentration", _ACK),
    _spec(MT.GET_SCHEDULE, GetSchedule, "request", "read a schedule plan", (MT.SCHEDULE,)),
    _spec(MT.SET_SCHEDULE, SetSchedule, "request", "program a schedule plan", _ACK),
    _spec(MT.GET_DRUG_LIBRARY, GetDrugLibrary, "request", "read the drug library", (MT.DRUG_LIBRARY,)),
    _spec(MT.GET_LIMITS, GetLimits, "request", "read patient-bolus limits and threshold", (MT.LIMITS,)),
    _spec(MT.SET_LIMITS, SetLimits, "request", "program patient-bolus limits and threshold", _ACK),
    _spec(MT.START_THERAPY, StartTherapy, "request", "start infusing the schedule", _ACK),
    _spec(MT.STOP_THERAPY, StopTherapy, "request", "stop the pump", _ACK),
    _spec(MT.CLINICIAN_BOLUS, ClinicianBolus, "request", "start a clinician bolus", (MT.BOLUS_STARTED,)),
    _spec(MT.PATIENT_BOLUS, PatientBolus, "request", "ask for a patient bolus", (MT.PATIENT_BOLUS_RESULT,)),
    _spec(MT.CANCEL_BOLUS, CancelBolus, "request", "cancel the active bolus", _ACK),
    _spec(MT.PRIMING_BOLUS, PrimingBolus, "request", "start a priming bolus", (MT.BOLUS_STARTED,)),
    _spec(MT.REFILL_BEGIN, RefillBegin, "request", "enter refill (delivery stops)", _ACK),
    _spec(MT.REFILL_WITHDRAWN, RefillWithdrawn, "request", "report the withdrawn volume", _ACK),
    _spec(MT.REFILL_COMPLETE, RefillComplete, "request", "finish the refill", (MT.REFILL_RESULT,)),
    _spec(MT.GET_ALARMS, GetAlarms, "request", "list active alarms", (MT.ALARM_LIST,)),
    _spec(MT.ACK_ALARM, AckAlarm, "request", "acknowledge an alarm", _ACK),
    _spec(MT.READ_LOG, ReadLog, "request", "read a page of the event log", (MT.LOG_PAGE,)),
    _spec(MT.ALARM_TEST, AlarmTest, "request", "sound both alarm tones once", _ACK),
    _spec(MT.GET_CLOCK, GetClock, "request", "read the pump clock", (MT.CLOCK,)),
    _spec(MT.SET_CLOCK, SetClock, "request", "set the pump clock", _ACK),
    _spec(MT.SET_TELEMETRY, SetTelemetry, "request", "enable/disable periodic STATUS_PUSH", _ACK),
    _spec(MT.INJECT_FAULT, InjectFault, "request", "EMULATOR ONLY: raise or clear a fault", _ACK),
    _spec(MT.IDENTITY, Identity, "response", "answer to IDENTIFY"),
    _spec(MT.SESSION_CHALLENGE, SessionChallenge, "response", "answer to SESSION_OPEN"),
    _spec(MT.SESSION_ACCEPTED, SessionAccepted, "response", "answer to a valid SESSION_PROOF"),
    _spec(MT.STATUS, Status, "response", "answer to GET_STATUS"),
    _spec(MT.DRUG, Drug, "response", "answer to GET_DRUG"),
    _spec(MT.SCHEDULE, Schedule, "response", "answer to GET_SCHEDULE"),
    _spec(MT.LIMITS, Limits, "response", "answer to GET_LIMITS"),
    _spec(MT.DRUG_LIBRARY, DrugLibrary, "response", "answer to GET_DRUG_LIBRARY"),
    _spec(MT.BOLUS_STARTED, BolusStarted, "response", "answer to CLINICIAN_BOLUS/PRIMING_BOLUS"),
    _spec(MT.PATIENT_BOLUS_RESULT, PatientBolusResult, "response", "answer to PATIENT_BOLUS"),
    _spec(MT.REFILL_RESULT, RefillResult, "response", "answer to REFILL_COMPLETE"),
    _spec(MT.ALARM_LIST, AlarmList, "response", "answer to GET_ALARMS"),
    _spec(MT.LOG_PAGE, LogPage, "response", "answer to READ_LOG"),
    _spec(MT.CLOCK, Clock, "response", "answer to GET_CLOCK"),
    _spec(MT.ALARM_EVENT, AlarmEvent, "event", "unsolicited: alarm raised or cleared"),
    _spec(MT.STATUS_PUSH, StatusPush, "event", "unsolicited: periodic status telemetry"),
    _spec(MT.ACK, Ack, "response", "generic success answer"),
    _spec(MT.NAK, Nak, "response", "refusal with NakCode and detail"),
]}

# Protocol 1.0 layouts of the messages that grew in 1.1 (new fields are only ever appended). A
# 1.1 pump answers a session opened with the 1.0 SESSION_OPEN in these layouts; a 1.1 host
# decodes them when a 1.0 pump sends them (the 1.1 fields are then absent from the dict).
LEGACY_1_0: dict[MT, Construct] = {
    MT.IDENTIFY: Identify10, MT.IDENTITY: Identity10, MT.SESSION_OPEN: SessionOpen10,
    MT.STATUS: Status10, MT.STATUS_PUSH: Status10, MT.ACK: Ack10, MT.LOG_PAGE: LogPage10,
}

# Requests whose 1.1 layout declares the sender's minor version: without it they are 1.0.
DECLARES_MINOR = frozenset({MT.IDENTIFY, MT.SESSION_OPEN})

# 1.1 fields a sender may leave out: they are encoded with these values.
OPTIONAL_1_1: dict[MT, dict[str, Any]] = {MT.ACK: {"warnings": 0}}


class FlatCodec:
    """struct.Struct codec derived from a flat, fixed-size Struct declaration.

    Built only from the construct declaration (its FormatField and fixed-length Bytes
    subcons), so the declaration stays the single source of truth; tests check it against
    construct's own parse/build. Only used on payloads whose length equals `size`.
    """

    def __init__(self, names: list[str], fmt: str, byte_fields: list[tuple[int, int]]) -> None:
        self.names = tuple(names)
        self.byte_fields = tuple(byte_fields)  # (index, exact length) of Bytes fields
        self.struct = struct.Struct(fmt)
        self.size = self.struct.size

    @classmethod
    def derive(cls, con: Construct) -> "FlatCodec | None":
        """A FlatCodec for `con`, or None when `con` is not a flat fixed-size Struct."""
        if not isinstance(con, Struct):
            return None
        return cls.from_subcons(con.subcons)

    @classmethod
    def from_subcons(cls, subcons: list[Construct]) -> "FlatCodec | None":
        """A FlatCodec for a sequence of named fields, or None unless all are flat/fixed."""
        names: list[str] = []
        byte_fields: list[tuple[int, int]] = []
        fmt = ">"
        for sc in subcons:
            inner = sc
            while isinstance(inner, Renamed):
                inner = inner.subcon
            if not sc.name:
                return None
            if isinstance(inner, FormatField) and inner.fmtstr[0] == ">":
                fmt += inner.fmtstr[1:]
            elif isinstance(inner, Bytes) and isinstance(inner.length, int):
                fmt += f"{inner.length}s"
                byte_fields.append((len(names), inner.length))
            else:
                return None
            names.append(sc.name)
        return cls(names, fmt, byte_fields)

    def parse(self, payload: bytes) -> dict[str, Any]:
        """Fields of a payload of exactly `size` bytes."""
        return dict(zip(self.names, self.struct.unpack(payload)))

    def build(self, fields: Mapping[str, Any]) -> bytes:
        """Payload from fields (KeyError for a missing field, struct.error for a bad value)."""
        values = [fields[n] for n in self.names]
        for index, length in self.byte_fields:  # struct would silently pad or cut
            value = values[index]
            if not isinstance(value, (bytes, bytearray)) or len(value) != length:
                raise ValueError(f"{self.names[index]}: need exactly {length} bytes")
        return self.struct.pack(*values)


class ArrayCodec:
    """struct codec for a Struct of flat fields followed by one u8-counted array of flat records
    (SET_SCHEDULE, SCHEDULE, ALARM_LIST), derived from the construct declaration.

    Parsing checks the count against the array's maximum and the payload length against
    head + 1 + count x record size exactly before unpacking anything; tests check it against
    construct's own parse/build on valid and on damaged payloads.
    """

    def __init__(self, msg_type: MT, head: FlatCodec, name: str, item: FlatCodec,
                 max_items: int) -> None:
        self.msg_type = msg_type
        self.head = head
        self.name = name
        self.item = item
        self.max_items = max_items

    @classmethod
    def derive(cls, msg_type: MT, con: Construct) -> "ArrayCodec | None":
        """An ArrayCodec for `con`, or None when `con` does not have that shape."""
        if not isinstance(con, Struct) or not con.subcons:
            return None
        last = con.subcons[-1]
        inner = last
        while isinstance(inner, Renamed):
            inner = inner.subcon
        max_items = getattr(inner, "max_items", None) if isinstance(inner, ExprValidator) else None
        if max_items is None or not last.name:
            return None
        head = FlatCodec.from_subcons(con.subcons[:-1])
        item = FlatCodec.derive(inner.item)
        if head is None or item is None or item.byte_fields or item.size == 0:
            return None
        return cls(msg_type, head, last.name, item, max_items)

    def parse(self, payload: bytes) -> dict[str, Any]:
        """Fields of `payload`; ProtocolError(MALFORMED_PAYLOAD / TOO_MANY_STEPS) if not exact."""
        h = self.head.size
        if len(payload) <= h:
            raise ProtocolError(NakCode.MALFORMED_PAYLOAD,
                                f"{self.msg_type.name}: length {len(payload)} < {h + 1}")
        count = payload[h]
        if count > self.max_items:
            code = NakCode.TOO_MANY_STEPS if self.name == "steps" else NakCode.MALFORMED_PAYLOAD
            raise ProtocolError(code, f"{self.name}: {count} > {self.max_items}")
        expected = h + 1 + count * self.item.size
        if len(payload) != expected:
            raise ProtocolError(NakCode.MALFORMED_PAYLOAD,
                                f"{self.msg_type.name}: length {len(payload)} != {expected}")
        fields = self.head.parse(payload[:h]) if h else {}
        names = self.item.names
        fields[self.name] = [dict(zip(names, values))
                             for values in self.item.struct.iter_unpack(payload[h + 1:])]
        return fields

    def build(self, fields: Mapping[str, Any]) -> bytes:
        """Payload from fields (KeyError / ValueError / struct.error for bad input)."""
        items = fields[self.name]
        if len(items) > self.max_items:
            raise ValueError(f"{self.name}: {len(items)} items > {self.max_items}")
        pack = self.item.struct.pack
        names = self.item.names
        head = self.head.build(fields) if self.head.size else b""
        return b"".join([head, bytes([len(items)])]
                        + [pack(*[it[n] for n in names]) for it in items])


# Fast codecs: flat fixed-size payloads (their length is checked before use) and flat records
# in one counted array (count and exact length checked before use); the rest are parsed by the
# uncompiled declaration.
FLAT: dict[MT, FlatCodec] = {}
ARRAY: dict[MT, ArrayCodec] = {}
for _t, _s in REGISTRY.items():
    _c = FlatCodec.derive(_s.construct)
    if _c is not None and _c.size > 0:
        FLAT[_t] = _c
    elif _c is None:
        _a = ArrayCodec.derive(_t, _s.construct)
        if _a is not None:
            ARRAY[_t] = _a
_EMPTY_FIELDS: dict[str, Any] = {}


# Fields a sender may leave out when encoding (the value sent then): INJECT_FAULT's action and
# value came after its fault field, so {"fault": MOTOR_STALL} still builds the RAISE it meant.
ENCODE_DEFAULTS: dict[MT, dict[str, Any]] = {MT.INJECT_FAULT: {"action": 0, "value": 0}}


def spec(msg_type: int) -> MessageSpec:
    """The MessageSpec of `msg_type`; ProtocolError(UNKNOWN_MESSAGE_TYPE) if unknown."""
    try:
        return REGISTRY[MT(msg_type)]
    except (ValueError, KeyError):
        raise ProtocolError(NakCode.UNKNOWN_MESSAGE_TYPE, f"type 0x{msg_type:02X}") from None


def to_plain(obj: Any) -> Any:
    """Container/ListContainer -> plain dict/list, dropping construct's private `_` keys."""
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, list):
        return [to_plain(v) for v in obj]
    return obj


def _check_semantics(msg_type: MT, fields: Mapping[str, Any]) -> None:
    """Wire-level limits that have a specific NakCode rather than MALFORMED_PAYLOAD."""
    if msg_type in (MT.SET_SCHEDULE, MT.SCHEDULE) and len(fields["steps"]) > MAX_STEPS:
        raise ProtocolError(NakCode.TOO_MANY_STEPS, f"steps: {len(fields['steps'])} > {MAX_STEPS}")


def decode_any_version(msg_type: int, payload: bytes) -> dict[str, Any]:
    """Parse `payload` in the current (1.1) layout or, for the messages that grew in 1.1, in
    the 1.0 layout (LEGACY_1_0; the 1.1 fields are then absent from the dict). This is what a
    receiver applies to a frame: the other end may speak 1.0 (PROTOCOL.md section 16).
    Raises ProtocolError like decode_payload."""
    try:
        return decode_payload(msg_type, payload)
    except ProtocolError as exc:
        legacy = LEGACY_1_0.get(msg_type) if exc.code is NakCode.MALFORMED_PAYLOAD else None
        if legacy is None:
            raise
        try:
            fields = to_plain(legacy.parse(payload))
            exact = len(legacy.build(fields)) == len(payload)
        except Exception:  # noqa: BLE001 - any parse error: not the 1.0 layout either
            exact = False
        if exact:
            return fields
        raise


def decode_payload(msg_type: int, payload: bytes) -> dict[str, Any]:
    """Parse `payload` of `msg_type` (current layout) into a plain dict of fields.

    The whole payload must be consumed exactly. Raises ProtocolError with
    UNKNOWN_MESSAGE_TYPE, MALFORMED_PAYLOAD (detail names the problem) or TOO_MANY_STEPS.
    Never raises anything else.
    """
    s = REGISTRY.get(msg_type) or spec(msg_type)
    size = s.fixed_size
    if size is not None:
        if len(payload) != size:
            raise ProtocolError(NakCode.MALFORMED_PAYLOAD,
                                f"{s.msg_type.name}: length {len(payload)} != {size}")
        if size == 0:
            return {}
        codec = FLAT.get(s.msg_type)
        if codec is not None:
            return codec.parse(payload)
        return to_plain(s.construct.parse(payload))
    array = ARRAY.get(s.msg_type)
    if array is not None:
        return array.parse(payload)
    stream = io.BytesIO(payload)
    try:
        obj = s.construct.parse_stream(stream)
    except (ConstructError, UnicodeDecodeError, ValueError) as exc:
        if payload and s.msg_type in (MT.SET_SCHEDULE, MT.SCHEDULE) and len(payload) > 1 \
                and payload[1] > MAX_STEPS:
            raise ProtocolError(NakCode.TOO_MANY_STEPS, f"steps: {payload[1]} > {MAX_STEPS}") from None
        raise ProtocolError(NakCode.MALFORMED_PAYLOAD,
                            f"{s.msg_type.name}: {type(exc).__name__}") from None
    if stream.tell() != len(payload):
        raise ProtocolError(NakCode.MALFORMED_PAYLOAD,
                            f"{s.msg_type.name}: {len(payload) - stream.tell()} trailing bytes")
    fields = to_plain(obj)
    _check_semantics(s.msg_type, fields)
    return fields


def encode_payload(msg_type: int, fields: Mapping[str, Any] | None = None,
                   minor: int = PROTOCOL_MINOR) -> bytes:
    """Build the payload of `msg_type` from `fields` (dict or Container; None = no fields), in
    the layout of protocol 1.`minor` (0 = the 1.0 layout of LEGACY_1_0, which ignores the 1.1
    fields).

    Raises ProtocolError(UNKNOWN_MESSAGE_TYPE) or ProtocolError(INVALID_FIELD, detail) when a
    field is missing, out of its wire range or too long; nothing is returned in that case.
    """
    s = REGISTRY.get(msg_type) or spec(msg_type)
    if s.msg_type in DECLARES_MINOR and "protocol_minor" not in (fields or {}):
        minor = 0  # a request without its minor version is the 1.0 request
    if minor == 0 and s.msg_type in LEGACY_1_0:
        legacy = LEGACY_1_0[s.msg_type]
        try:
            return legacy.build(dict(fields or {}))
        except Exception as exc:  # noqa: BLE001 - any build error is a bad field value
            raise ProtocolError(NakCode.INVALID_FIELD, f"{s.msg_type.name}: {exc}"[:200]) from None
    if s.fixed_size == 0:
        return b""
    if fields is None:
        raise ProtocolError(NakCode.INVALID_FIELD, f"{s.msg_type.name}: fields required")
    for defaults in (ENCODE_DEFAULTS.get(s.msg_type), OPTIONAL_1_1.get(s.msg_type)):
        if defaults is not None:
            fields = {**defaults, **fields}
    try:
        codec = FLAT.get(s.msg_type) or ARRAY.get(s.msg_type)
        if codec is not None:
            return codec.build(fields)
        return s.construct.build(fields)
    except KeyError as exc:
        raise ProtocolError(NakCode.INVALID_FIELD, f"{s.msg_type.name}: missing {exc.args[0]}") from None
    except Exception as exc:  # construct/struct/encoding errors all mean a bad field value
        log.debug("encode %s failed: %r", s.msg_type.name, exc)
        raise ProtocolError(NakCode.INVALID_FIELD, f"{s.msg_type.name}: {exc}"[:200]) from None


def field_names(con: Construct) -> list[str]:
    """Names of the fields of a Struct construct, nested structs included (depth-first)."""
    out: list[str] = []

    def walk(c: Construct) -> None:
        if isinstance(c, Struct):
            for sc in c.subcons:
                if sc.name:
                    out.append(sc.name)
                walk(sc)
        elif getattr(c, "subcons", None) is not None:  # e.g. PrefixedArray's count/items
            for sc in c.subcons:
                walk(sc)
        elif getattr(c, "subcon", None) is not None:
            walk(c.subcon)

    walk(con)
    return out
