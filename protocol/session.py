"""Session handshake, per-frame tags and sequence numbers, for both ends of the link.

Handshake (all three frames untagged, header session_id 0)::

    host -> pump  SESSION_OPEN(role, host_nonce)
    pump -> host  SESSION_CHALLENGE(session_id, pump_nonce)
    host -> pump  SESSION_PROOF(session_id, proof = HMAC(K_role, "host-proof" || T))
    pump -> host  SESSION_ACCEPTED(pump_proof = HMAC(K_role, "pump-proof" || T))

    T = "intrapump/v1" || role (u8) || session_id (u32 BE) || host_nonce || pump_nonce
    session key = HMAC-SHA256(K_role, "session-key" || T)

Afterwards every frame of the session carries the session id in its header and a 16-byte tag
(see protocol.frame.compute_tag). Host request sequence numbers start at 1 and strictly
increase; a response echoes its request's seq. The pump remembers the last executed request
seq, its tag and its response: the same seq with the same tag is a retransmission and gets the
cached response without being executed again; any lower seq, or the same seq with another
tag, is STALE_SEQUENCE. Pump events have their own strictly increasing seq (from 1).

These classes hold no I/O and read no clock; they are pure state objects.
"""
from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import os
import struct
from typing import Any, Mapping

from .enums import FrameKind, MessageType, Role
from .errors import NakCode, ProtocolError
from .frame import Frame, compute_tag, encode_frame
from .messages import NONCE_BYTES, PROTOCOL_MINOR, encode_payload
from .permissions import is_allowed

log = logging.getLogger(__name__)

_LABEL = b"intrapump/v1"
MAX_SEQ = 0xFFFFFFFF


def transcript(role: int, session_id: int, host_nonce: bytes, pump_nonce: bytes) -> bytes:
    """The handshake transcript T bound by proofs and the session key."""
    return _LABEL + struct.pack(">BI", role, session_id) + host_nonce + pump_nonce


def _mac(key: bytes, label: bytes, data: bytes) -> bytes:
    return hmac.new(key, label + data, hashlib.sha256).digest()


def host_proof(key: bytes, t: bytes) -> bytes:
    """Proof the host sends: HMAC-SHA256(K_role, b"host-proof" || T)."""
    return _mac(key, b"host-proof", t)


def pump_proof(key: bytes, t: bytes) -> bytes:
    """Proof the pump answers with: HMAC-SHA256(K_role, b"pump-proof" || T)."""
    return _mac(key, b"pump-proof", t)


def session_key(key: bytes, t: bytes) -> bytes:
    """Per-session tag key: HMAC-SHA256(K_role, b"session-key" || T)."""
    return _mac(key, b"session-key", t)


class Verdict(enum.Enum):
    """Outcome of PumpSession.check_request for an authentic request."""

    NEW = "new"  # execute it, then call respond()
    RETRANSMIT = "retransmit"  # do not execute; send PumpSession.cached_response again


class _Tagging:
    session_id: int
    _key: bytes | None

    def compute_tag(self, auth_data: bytes) -> bytes:
        """16-byte tag of auth_data with the session key (session must be established)."""
        if self._key is None:
            raise ProtocolError(NakCode.NO_SESSION, "session not established")
        return compute_tag(self._key, auth_data)

    def verify_tag(self, frame: Frame) -> None:
        """Raise ProtocolError(NO_SESSION / BAD_TAG) unless `frame` is tagged by this session."""
        if self._key is None or frame.session_id != self.session_id:
            raise ProtocolError(NakCode.NO_SESSION, f"session 0x{frame.session_id:08X} unknown")
        if frame.tag is None:
            raise ProtocolError(NakCode.BAD_TAG, "tag missing")
        if not hmac.compare_digest(frame.tag, compute_tag(self._key, frame.auth_data)):
            raise ProtocolError(NakCode.BAD_TAG, "tag mismatch")

    @property
    def established(self) -> bool:
        """True once the handshake completed and frames can be tagged."""
        return self._key is not None


class HostSession(_Tagging):
    """Programmer-side session state: handshake, request seq numbers, response/event checks."""

    def __init__(self, role: Role, key: bytes, host_nonce: bytes | None = None,
                 protocol_minor: int = PROTOCOL_MINOR) -> None:
        self.role = Role(role)
        self.protocol_minor = protocol_minor  # 0: open a 1.0 session (a 1.0 pump)
        self._role_key = bytes(key)
        self.host_nonce = host_nonce if host_nonce is not None else os.urandom(NONCE_BYTES)
        if len(self.host_nonce) != NONCE_BYTES:
            raise ValueError(f"host_nonce must be {NONCE_BYTES} bytes")
        self.session_id = 0
        self.pump_nonce = b""
        self._transcript = b""
        self._key: bytes | None = None
        self.last_seq = 0
        self.last_event_seq = 0

    def open_fields(self) -> dict[str, Any]:
        """Fields of the SESSION_OPEN request."""
        fields: dict[str, Any] = {"role": int(self.role), "host_nonce": self.host_nonce}
        if self.protocol_minor:
            fields["protocol_minor"] = self.protocol_minor
        return fields

    def proof_fields(self, challenge: Mapping[str, Any]) -> dict[str, Any]:
        """Fields of SESSION_PROOF answering a SESSION_CHALLENGE's fields."""
        self.session_id = int(challenge["session_id"])
        self.pump_nonce = bytes(challenge["pump_nonce"])
        self._transcript = transcript(self.role, self.session_id, self.host_nonce, self.pump_nonce)
        return {"session_id": self.session_id, "proof": host_proof(self._role_key, self._transcript)}

    def accept(self, accepted: Mapping[str, Any]) -> None:
        """Check SESSION_ACCEPTED's pump proof; on success the session is established.

        Raises ProtocolError(AUTH_FAILED) if the pump does not know the role key.
        """
        if not self._transcript or not hmac.compare_digest(
                bytes(accepted["pump_proof"]), pump_proof(self._role_key, self._transcript)):
            log.warning("pump proof rejected for session 0x%08X", self.session_id)
            raise ProtocolError(NakCode.AUTH_FAILED, "pump_proof")
        self._key = session_key(self._role_key, self._transcript)

    def next_seq(self) -> int:
        """Next request sequence number (1, 2, ...); never reused within the session."""
        if self.last_seq >= MAX_SEQ:
            raise ProtocolError(NakCode.STALE_SEQUENCE, "sequence space exhausted; reopen session")
        self.last_seq += 1
        return self.last_seq

    def request(self, msg_type: int, fields: Mapping[str, Any] | None = None) -> tuple[int, bytes]:
        """(seq, frame bytes) of a new tagged request. Resend the same bytes to retransmit."""
        if not self.established:
            raise ProtocolError(NakCode.NO_SESSION, "session not established")
        seq = self.next_seq()
        return seq, encode_frame(msg_type, fields, seq, FrameKind.REQUEST, session=self)

    def check_response(self, frame: Frame, seq: int) -> None:
        """Raise unless `frame` is an authentic response of this session to request `seq`.

        An untagged NAK(NO_SESSION) from the pump (it lost the session, e.g. after a restart)
        raises ProtocolError(NO_SESSION) so the caller can reopen; an untagged NAK(BAD_TAG) (the
        pump could not authenticate the request) raises ProtocolError(BAD_TAG). Both are
        unauthenticated hints and change nothing here. Any other untagged answer raises BAD_TAG;
        a tagged frame of another session NO_SESSION; a wrong tag BAD_TAG; another seq
        STALE_SEQUENCE.
        """
        if (frame.tag is None and frame.msg_type == MessageType.NAK and frame.fields
                and frame.fields.get("code") in (NakCode.NO_SESSION, NakCode.BAD_TAG)):
            code = NakCode(frame.fields["code"])
            raise ProtocolError(code, "pump reports no session" if code is NakCode.NO_SESSION
                                else "pump could not authenticate the request")
        if frame.kind is not FrameKind.RESPONSE:
            raise ProtocolError(NakCode.INVALID_FIELD, "not a response frame")
        if frame.tag is None:
            raise ProtocolError(NakCode.BAD_TAG, "untagged answer inside a session")
        self.verify_tag(frame)
        if frame.seq != seq:
            raise ProtocolError(NakCode.STALE_SEQUENCE, f"response seq {frame.seq} != {seq}")

    def check_event(self, frame: Frame) -> None:
        """Raise unless `frame` is an authentic, fresh event (seq above the last one seen)."""
        if frame.kind is not FrameKind.EVENT:
            raise ProtocolError(NakCode.INVALID_FIELD, "not an event frame")
        self.verify_tag(frame)
        if frame.seq <= self.last_event_seq:
            raise ProtocolError(NakCode.STALE_SEQUENCE,
                                f"event seq {frame.seq} <= {self.last_event_seq}")
        self.last_event_seq = frame.seq


class PumpSession(_Tagging):
    """Pump-side session state: challenge, proof check, request freshness, response cache."""

    def __init__(self, role: Role, key: bytes, host_nonce: bytes,
                 session_id: int | None = None, pump_nonce: bytes | None = None) -> None:
        self.role = Role(role)
        self._role_key = bytes(key)
        if len(host_nonce) != NONCE_BYTES:
            raise ProtocolError(NakCode.MALFORMED_PAYLOAD, "host_nonce")
        self.host_nonce = bytes(host_nonce)
        if session_id is None:
            session_id = 0
            while session_id == 0:
                session_id = int.from_bytes(os.urandom(4), "big")
        if not 0 < session_id <= 0xFFFFFFFF:
            raise ValueError("session_id must be a non-zero u32")
        self.session_id = session_id
        self.pump_nonce = pump_nonce if pump_nonce is not None else os.urandom(NONCE_BYTES)
        self._transcript = transcript(self.role, session_id, self.host_nonce, self.pump_nonce)
        self._key: bytes | None = None
        self.last_seq = 0
        self._last_tag: bytes | None = None
        self.cached_response: bytes | None = None
        self.last_event_seq = 0
        self.protocol_minor = 0  # minor version the host declared in SESSION_OPEN

    @classmethod
    def open(cls, fields: Mapping[str, Any], keys: Mapping[Role, bytes],
             session_id: int | None = None, pump_nonce: bytes | None = None) -> "PumpSession":
        """Pending session for a SESSION_OPEN's fields; AUTH_FAILED if the role has no key."""
        try:
            role = Role(fields["role"])
            key = keys[role]
        except (ValueError, KeyError):
            log.warning("session open refused: role %r has no key", fields.get("role"))
            raise ProtocolError(NakCode.AUTH_FAILED, "role") from None
        return cls(role, key, fields["host_nonce"], session_id, pump_nonce)

    def challenge_fields(self) -> dict[str, Any]:
        """Fields of the SESSION_CHALLENGE response."""
        return {"session_id": self.session_id, "pump_nonce": self.pump_nonce}

    def verify_proof(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Check SESSION_PROOF; return SESSION_ACCEPTED fields. Raises AUTH_FAILED.

        A pending session accepts one proof attempt only: after a failure it stays unusable.
        """
        if self._key is not None or self._role_key == b"":
            raise ProtocolError(NakCode.AUTH_FAILED, "proof already used")
        ok = fields.get("session_id") == self.session_id and hmac.compare_digest(
            bytes(fields.get("proof", b"")), host_proof(self._role_key, self._transcript))
        if not ok:
            self._role_key = b""  # burn the pending session
            log.warning("session 0x%08X: proof rejected", self.session_id)
            raise ProtocolError(NakCode.AUTH_FAILED, "proof")
        self._key = session_key(self._role_key, self._transcript)
        return {"pump_proof": pump_proof(self._role_key, self._transcript)}

    def check_request(self, frame: Frame) -> Verdict:
        """Classify an incoming request of this session; nothing is executed here.

        Raises ProtocolError: NO_SESSION (wrong/unestablished session), BAD_TAG,
        STALE_SEQUENCE (lower seq, or same seq with a different tag), FORBIDDEN_FOR_ROLE
        (checked after freshness, so a forbidden request is answered once and cached by
        respond()). Returns RETRANSMIT when the request repeats the last executed one: send
        `cached_response` and do not execute.
        """
        self.verify_tag(frame)
        if frame.kind is not FrameKind.REQUEST:
            raise ProtocolError(NakCode.INVALID_FIELD, "not a request frame")
        if frame.seq == self.last_seq and frame.seq != 0:
            if self._last_tag is not None and hmac.compare_digest(frame.tag or b"", self._last_tag):
                return Verdict.RETRANSMIT
            raise ProtocolError(NakCode.STALE_SEQUENCE, f"seq {frame.seq} reused")
        if frame.seq <= self.last_seq:
            log.warning("session 0x%08X: stale seq %d <= %d", self.session_id, frame.seq,
                        self.last_seq)
            raise ProtocolError(NakCode.STALE_SEQUENCE, f"seq {frame.seq} <= {self.last_seq}")
        if not is_allowed(self.role, frame.msg_type):
            raise ProtocolError(NakCode.FORBIDDEN_FOR_ROLE,
                                f"{frame.name} not allowed for {self.role.name}")
        return Verdict.NEW

    def respond(self, request: Frame, msg_type: int, fields: Mapping[str, Any] | None = None,
                remember: bool = True, minor: int = PROTOCOL_MINOR) -> bytes:
        """Tagged response to `request` (same seq). With `remember` (the default, for every
        request that passed check_request's freshness check, executed or refused by the
        model/permissions) the request seq becomes the last executed one and the response is
        cached for retransmissions. Use remember=False only for refusals of frames that were
        not fresh (STALE_SEQUENCE). ``minor`` selects the payload layouts (0 = protocol 1.0)."""
        out = encode_frame(msg_type, encode_payload(msg_type, fields, minor), request.seq,
                           FrameKind.RESPONSE, session=self)
        if remember and request.seq > self.last_seq:
            self.last_seq = request.seq
            self._last_tag = request.tag
            self.cached_response = out
        return out

    def event(self, msg_type: int, fields: Mapping[str, Any] | None = None,
              minor: int = PROTOCOL_MINOR) -> bytes:
        """Tagged unsolicited event frame with the next event seq (1, 2, ...)."""
        payload = encode_payload(msg_type, fields, minor)
        self.last_event_seq += 1
        return encode_frame(msg_type, payload, self.last_event_seq, FrameKind.EVENT, session=self)


class AuthLimiter:
    """Back-off after repeated authentication failures (pure; the caller passes time_ms).

    After `max_failures` failures within `window_ms`, `check` raises
    ProtocolError(RATE_LIMITED, retry_after_ms=...) until `backoff_ms` has passed.
    """

    def __init__(self, max_failures: int = 3, window_ms: int = 60_000,
                 backoff_ms: int = 30_000) -> None:
        self.max_failures = max_failures
        self.window_ms = window_ms
        self.backoff_ms = backoff_ms
        self._failures: list[int] = []
        self._blocked_until = 0

    def check(self, now_ms: int) -> None:
        """Raise RATE_LIMITED while backing off."""
        if now_ms < self._blocked_until:
            raise ProtocolError(NakCode.RATE_LIMITED, "authentication back-off",
                                retry_after_ms=self._blocked_until - now_ms)

    def failure(self, now_ms: int) -> None:
        """Record a failed authentication at now_ms."""
        self._failures = [t for t in self._failures if now_ms - t < self.window_ms] + [now_ms]
        if len(self._failures) >= self.max_failures:
            self._blocked_until = now_ms + self.backoff_ms
            self._failures.clear()
            log.warning("authentication back-off until %d ms", self._blocked_until)

    def success(self) -> None:
        """Forget past failures."""
        self._failures.clear()
