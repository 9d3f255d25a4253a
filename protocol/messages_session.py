"""Payload declarations of identification and the session handshake (PROTOCOL.md section 9)."""
from __future__ import annotations

from construct import Bytes, Int8ub, Int32ub, Struct

from .messages_base import EMPTY, MAX_TEXT, NONCE_BYTES, PROOF_BYTES, _text

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

