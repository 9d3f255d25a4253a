"""intrapump programming/telemetry protocol: messages, frames, stream decoder, sessions.

Pure bytes-in/messages-out code; imports neither hal, firmware_sim nor host_tools.
See PROTOCOL.md at the repository root for the wire format.
"""
from __future__ import annotations

from . import messages
from .decoder import StreamDecoder
from .describe import describe, frame_fields
from .enums import (ALARM_PRIORITY, FAULT_WIRE, Alarm, AlarmPriority, BolusKind, DenialReason,
                    EventKind, FaultAction, FaultKind, FaultWire, Flag, FrameKind, MessageType, Role, TherapyState, Weekday)
from .errors import NAK_DESCRIPTIONS, DecoderError, NakCode, ProtocolError
from .frame import (MAX_FRAME, MAX_PAYLOAD, PROTOCOL_VERSION, SYNC, TAG_BYTES, DecoderStats, Frame,
                    compute_tag, crc16, decode, encode_frame, parse_frame)
from .keys import DEVELOPMENT_KEYS, KeyFileError, dump_keys, generate_keys, load_keys, parse_keys
from .messages import REGISTRY, MessageSpec, decode_payload, encode_payload, truncate_utf8
from .permissions import NO_SESSION_REQUESTS, ROLE_PERMISSIONS, is_allowed
from .session import AuthLimiter, HostSession, PumpSession, Verdict

__all__ = [
    "ALARM_PRIORITY", "Alarm", "AlarmPriority", "AuthLimiter", "BolusKind", "DEVELOPMENT_KEYS",
    "DecoderError", "DecoderStats", "DenialReason", "EventKind", "FAULT_WIRE", "FaultAction",
    "FaultKind", "FaultWire", "Flag", "Frame", "FrameKind",
    "HostSession", "KeyFileError", "MAX_FRAME", "MAX_PAYLOAD", "MessageSpec", "MessageType",
    "NAK_DESCRIPTIONS", "NO_SESSION_REQUESTS", "NakCode", "PROTOCOL_VERSION", "ProtocolError",
    "PumpSession", "REGISTRY", "ROLE_PERMISSIONS", "Role", "SYNC", "StreamDecoder", "TAG_BYTES",
    "TherapyState", "Verdict", "Weekday", "compute_tag", "crc16", "decode", "decode_payload",
    "describe", "dump_keys", "encode_frame", "encode_payload", "frame_fields", "generate_keys",
    "is_allowed", "load_keys", "messages", "parse_frame", "parse_keys", "truncate_utf8",
]
