"""Human-readable and JSON views of frames (frame logs, sniffers)."""
from __future__ import annotations

import enum
from typing import Any

from .enums import (Alarm, AlarmPriority, BolusKind, DenialReason, EventKind, FaultAction, FaultKind,
                    MessageType, Role, TherapyState, Weekday)
from .errors import NakCode
from .frame import Frame

# Field name -> enum used to show its value by name.
ENUM_FIELDS: dict[str, type[enum.IntEnum]] = {
    "state": TherapyState, "bolus_kind": BolusKind, "role": Role, "weekday": Weekday,
    "alarm": Alarm, "priority": AlarmPriority, "denial_reason": DenialReason,
    "fault": FaultKind, "action": FaultAction,
    "code": NakCode, "request_type": MessageType, "kind": EventKind,
}


def _jsonable(name: str, value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {k: _jsonable(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(name, v) for v in value]
    return value


def _named(name: str, value: Any) -> str:
    enum_cls = ENUM_FIELDS.get(name)
    if enum_cls is not None and isinstance(value, int):
        try:
            return enum_cls(value).name
        except ValueError:
            return str(value)
    if name == "active_alarms" and isinstance(value, int):
        names = [a.name for a in Alarm if value >> a.value & 1]
        return "|".join(names) if names else "none"
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return "{" + " ".join(f"{k}={_named(k, v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_named(name, v) for v in value) + "]"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def frame_fields(frame: Frame) -> dict[str, Any]:
    """JSON-serialisable dict of a frame: header, payload/tag hex, decoded fields or error."""
    return {
        "version": frame.version,
        "kind": frame.kind.name,
        "flags": frame.flags,
        "session_id": frame.session_id,
        "seq": frame.seq,
        "msg_type": frame.msg_type,
        "name": frame.name,
        "payload_hex": frame.payload.hex(),
        "tag_hex": frame.tag.hex() if frame.tag is not None else None,
        "fields": _jsonable("", frame.fields) if frame.fields is not None else None,
        "error": None if frame.error is None else
        {"code": frame.error.code.name, "detail": frame.error.detail},
    }


def describe(frame: Frame) -> str:
    """One line: kind, name, seq, session, tag, then the fields with enum names, e.g.
    ``RSP STATUS seq=7 sid=0x0000002a tag state=INFUSING time_ms=... active_alarms=none``."""
    kind = {0: "REQ", 1: "RSP", 2: "EVT"}[int(frame.kind)]
    head = f"{kind} {frame.name} seq={frame.seq}"
    if frame.session_id:
        head += f" sid=0x{frame.session_id:08x}"
    if frame.tag is not None:
        head += " tag"
    if frame.error is not None:
        return f"{head} !{frame.error.code.name}: {frame.error.detail} payload={frame.payload.hex()}"
    fields = frame.fields or {}
    if not fields:
        return head
    return head + " " + " ".join(f"{k}={_named(k, v)}" for k, v in fields.items())
