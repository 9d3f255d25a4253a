"""One `construct` declaration per message payload, and the message registry.

Every payload is big-endian. Field names carry their units (`_nl`, `_ug`, `_ms`,
`_ug_per_ml`, `_nl_per_day`, `_minute`); the construct docstrings say the rest. The registry maps
each MessageType to a MessageSpec (its construct, kind, the responses a request may get), and
`decode_payload` / `encode_payload` are the only entry points the rest of the code needs.

The declarations live in one module per group (``messages_base``: shared records and limits;
``messages_session``, ``messages_therapy``, ``messages_service``) and are all re-exported here,
so ``protocol.messages.Status`` and friends stay where they always were. Fast `struct` codecs
derived from the declarations are in ``messages_codecs``; every other payload (text fields, log
entries) is parsed by the uncompiled declaration and must be consumed exactly. PROTOCOL.md
documents every field; a test checks it against these declarations.
"""
from __future__ import annotations

import dataclasses
import io
import logging
from typing import Any, Mapping

from construct import Construct, ConstructError, Struct

from .enums import MessageType as MT
from .errors import NakCode, ProtocolError
from .messages_base import (  # noqa: F401 - re-exported
    EMPTY, AlarmEntry, DrugLibraryEntry, LogEntry, LogEntry10, MAX_ALARMS, MAX_DRUGS,
    MAX_LOG_ENTRIES, MAX_STEPS, MAX_TEXT, NONCE_BYTES, PROOF_BYTES, PROTOCOL_MINOR,
    ScheduleStep, truncate_utf8)
from .messages_session import (  # noqa: F401 - re-exported
    Identify, Identify10, Identity, Identity10, SessionAccepted, SessionChallenge,
    SessionClose, SessionOpen, SessionOpen10, SessionProof)
from .messages_therapy import (  # noqa: F401 - re-exported
    BolusStarted, CancelBolus, ClinicianBolus, Drug, DrugLibrary, GetDrug, GetDrugLibrary,
    GetLimits, GetSchedule, GetStatus, Limits, PatientBolus, PatientBolusResult, PrimingBolus,
    RefillBegin, RefillComplete, RefillResult, RefillWithdrawn, Schedule, SetDrug, SetLimits,
    SetSchedule, StartTherapy, Status, Status10, StopTherapy)
from .messages_service import (  # noqa: F401 - re-exported
    Ack, Ack10, AckAlarm, AlarmEvent, AlarmList, AlarmTest, Clock, GetAlarms, GetClock,
    InjectFault, LogPage, LogPage10, Nak, ReadLog, SetClock, SetTelemetry, StatusPush)
from .messages_device import DeviceLimits, DeviceLimits10, GetDeviceLimits  # noqa: F401 - re-exported
from .messages_codecs import ArrayCodec, FlatCodec  # noqa: F401 - re-exported

log = logging.getLogger(__name__)


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
    _spec(MT.GET_DEVICE_LIMITS, GetDeviceLimits, "request", "read the device's programmable ranges",
          (MT.DEVICE_LIMITS,)),
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
    _spec(MT.DEVICE_LIMITS, DeviceLimits, "response", "answer to GET_DEVICE_LIMITS"),
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
    MT.DEVICE_LIMITS: DeviceLimits10,
}

# Requests whose 1.1 layout declares the sender's minor version: without it they are 1.0.
DECLARES_MINOR = frozenset({MT.IDENTIFY, MT.SESSION_OPEN})


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
# value came after its fault field, so {"fault": MOTOR_STALL} still builds the RAISE it meant;
# the ACK's warnings byte came with 1.1.
ENCODE_DEFAULTS: dict[MT, dict[str, Any]] = {MT.INJECT_FAULT: {"action": 0, "value": 0},
                                             MT.ACK: {"warnings": 0}}


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
            stream = io.BytesIO(payload)
            fields = to_plain(legacy.parse_stream(stream))
            exact = stream.tell() == len(payload)
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
    defaults = ENCODE_DEFAULTS.get(s.msg_type)
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
