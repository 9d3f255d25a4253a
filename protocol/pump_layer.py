"""The pump's session layer: every session rule of PROTOCOL.md sections 4, 5 and 7, pure.

A device shell feeds each CRC-valid frame to :meth:`PumpSessionLayer.receive` with the time
(ms of a monotonic real-time clock) and the sender the link identifies (0 on a point-to-point
line). The layer answers what it can decide by itself (handshake, IDENTIFY through a callback,
NO_SESSION / BAD_TAG / STALE_SEQUENCE / FORBIDDEN_FOR_ROLE / malformed payload, the cached
answer of a retransmission) and otherwise hands back :class:`Execute`: the shell runs the
request on the model and calls :meth:`PumpSessionLayer.answer` or
:meth:`PumpSessionLayer.refuse`, which tag the answer and remember it for retransmissions.

No I/O, no clock reads, no threads: the shell owns those. Every refusal is reported to
``on_refusal(code, request_type, detail, authenticated)`` so the shell can log it.
"""
from __future__ import annotations

import collections
import dataclasses
import logging
from typing import Any, Callable, Mapping

from .backoff import AuthBackoff
from .enums import FrameKind, MessageType as MT, Role
from .errors import NakCode, ProtocolError
from .frame import Frame, encode_frame
from .messages import MAX_TEXT, PROTOCOL_MINOR, encode_payload, truncate_utf8
from .pending import Pending, PendingPool
from .session import PumpSession, Verdict

log = logging.getLogger(__name__)

RefusalHook = Callable[[NakCode, int, str, bool], None]
HANDSHAKE = (MT.SESSION_OPEN, MT.SESSION_PROOF)


@dataclasses.dataclass(frozen=True)
class Reply:
    """Send ``data`` (a complete frame) on the link; nothing is executed."""

    data: bytes
    retransmission: bool = False


@dataclasses.dataclass(frozen=True)
class Execute:
    """A fresh, authentic, permitted, well-formed request: run it, then answer it."""

    frame: Frame
    session: PumpSession


@dataclasses.dataclass
class LayerStats:
    """What the layer decided (counters only grow)."""

    naks: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    duplicates: int = 0  # retransmissions answered from a cache
    sessions: int = 0  # sessions established
    auth_failures: int = 0  # failed SESSION_OPEN / SESSION_PROOF
    ignored: int = 0  # frames that were not requests


def nak_fields(code: NakCode, request_type: int, detail: str,
               retry_after_ms: int = 0) -> dict[str, Any]:
    """NAK payload fields (detail cut to 48 UTF-8 bytes, retry_after_ms clamped to u32)."""
    return {"code": int(code), "request_type": request_type & 0xFF,
            "retry_after_ms": max(0, min(retry_after_ms, 0xFFFFFFFF)),
            "detail": truncate_utf8(detail, MAX_TEXT["detail"])}


def _minor_of(fields: Mapping[str, Any]) -> int:
    """The minor version both ends speak: the one the host declared, at most this pump's."""
    return min(int(fields.get("protocol_minor", 0)), PROTOCOL_MINOR)


class PumpSessionLayer:
    """Pump end of the session layer (see the module documentation).

    ``keys`` maps Role -> key. ``identity`` returns the IDENTITY fields for an IDENTIFY request's
    fields. ``is_request`` tells whether a message type is a request this pump serves.
    """

    def __init__(self, keys: Mapping[Role, bytes], identity: Callable[[Mapping[str, Any]], dict[str, Any]],
                 is_request: Callable[[int], bool], *, backoff: AuthBackoff | None = None,
                 pool: PendingPool | None = None, on_refusal: RefusalHook | None = None,
                 stats: Any = None) -> None:
        self.keys = {Role(r): bytes(k) for r, k in keys.items()}
        self.identity = identity
        self.is_request = is_request
        self.backoff = backoff if backoff is not None else AuthBackoff()
        self.pool = pool if pool is not None else PendingPool()
        self.on_refusal = on_refusal
        self.stats = stats if stats is not None else LayerStats()
        self.session: PumpSession | None = None
        self._accepted_proof = b""
        self._accepted_reply = b""

    # ------------------------------------------------------------------ entry points
    def receive(self, frame: Frame, now_ms: int, sender: int = 0) -> Reply | Execute | None:
        """Decide what to do with one CRC-valid frame (None: ignore it, send nothing)."""
        if frame.kind is not FrameKind.REQUEST:
            self.stats.ignored += 1
            return None
        if frame.msg_type in HANDSHAKE or (frame.session_id == 0 and frame.tag is None):
            return self._unauthenticated(frame, now_ms, sender)
        return self._in_session(frame)

    def answer(self, frame: Frame, msg_type: int, fields: Mapping[str, Any] | None) -> bytes:
        """Tagged answer to an executed request, remembered for retransmissions. A request
        whose answer cannot be encoded is answered with NAK INTERNAL_ERROR instead."""
        sess = self._require_session(frame)
        try:
            data = sess.respond(frame, msg_type, fields, minor=sess.protocol_minor)
        except ProtocolError as exc:
            log.error("cannot encode the answer to %s: %s", frame.name, exc)
            return self.refuse(frame, NakCode.INTERNAL_ERROR, "response encoding")
        if msg_type == MT.ACK and frame.msg_type == MT.SESSION_CLOSE:
            log.info("session 0x%08X closed", sess.session_id)
            self.session = None
        return data

    def refuse(self, frame: Frame, code: NakCode, detail: str, retry_after_ms: int = 0) -> bytes:
        """Tagged NAK to an authentic, fresh request, remembered for retransmissions."""
        sess = self._require_session(frame)
        return sess.respond(frame, MT.NAK, self._nak(frame, code, detail, retry_after_ms, True))

    def event(self, msg_type: int, fields: Mapping[str, Any]) -> bytes | None:
        """Tagged event frame of the established session (None without a session)."""
        if self.session is None:
            return None
        return self.session.event(msg_type, fields, minor=self.session.protocol_minor)

    @property
    def protocol_minor(self) -> int:
        """Minor version of the established session (0 without one: 1.0 layouts)."""
        return self.session.protocol_minor if self.session is not None else 0

    def drop(self) -> None:
        """Forget the session and every pending handshake (a new host on the link)."""
        self.session = None
        self.pool.clear()

    @property
    def pending(self) -> int:
        """Number of pending handshakes."""
        return len(self.pool)

    # ------------------------------------------------------------------ refusals
    def _nak(self, frame: Frame, code: NakCode, detail: str, retry_after_ms: int,
             authenticated: bool) -> dict[str, Any]:
        self.stats.naks[code] += 1
        # the shell logs refusals (rate-limited: junk on the link must not flood the log)
        log.debug("refused %s seq=%d: %s %s", frame.name, frame.seq, code.name, detail)
        if self.on_refusal is not None:
            self.on_refusal(code, frame.msg_type, detail, authenticated)
        return nak_fields(code, frame.msg_type, detail, retry_after_ms)

    def _untagged_nak(self, frame: Frame, code: NakCode, detail: str,
                      retry_after_ms: int = 0) -> Reply:
        fields = self._nak(frame, code, detail, retry_after_ms, False)
        return Reply(encode_frame(MT.NAK, fields, frame.seq, FrameKind.RESPONSE))

    def _require_session(self, frame: Frame) -> PumpSession:
        if self.session is None or self.session.session_id != frame.session_id:
            raise ProtocolError(NakCode.NO_SESSION, "the session ended before the answer")
        return self.session

    # ------------------------------------------------------------------ no session
    def _unauthenticated(self, frame: Frame, now_ms: int, sender: int) -> Reply:
        mt = frame.msg_type
        if frame.error is not None and frame.error.code is NakCode.UNKNOWN_MESSAGE_TYPE:
            return self._untagged_nak(frame, NakCode.UNKNOWN_MESSAGE_TYPE, frame.error.detail)
        if mt not in (MT.IDENTIFY, MT.SESSION_OPEN, MT.SESSION_PROOF):
            return self._untagged_nak(frame, NakCode.NO_SESSION, f"{frame.name} needs a session")
        if frame.error is not None:
            return self._untagged_nak(frame, frame.error.code, frame.error.detail)
        assert frame.fields is not None
        if mt == MT.IDENTIFY:  # answered in the layout of the minor version the host sent
            minor = _minor_of(frame.fields)
            payload = encode_payload(MT.IDENTITY, self.identity(frame.fields), minor)
            return Reply(encode_frame(MT.IDENTITY, payload, frame.seq, FrameKind.RESPONSE))
        if mt == MT.SESSION_OPEN:
            return self._session_open(frame, now_ms, sender)
        return self._session_proof(frame, now_ms, sender)

    def _session_open(self, frame: Frame, now_ms: int, sender: int) -> Reply:
        """A challenge for anyone who asks (never refused because of failed proofs: the
        back-off applies to proofs); a byte-identical repeat gets the same challenge."""
        assert frame.fields is not None
        again = self.pool.find_open(frame.raw, now_ms)
        if again is not None:
            self.stats.duplicates += 1
            return Reply(again.answer, retransmission=True)
        try:
            session = PumpSession.open(frame.fields, self.keys)
        except ProtocolError as exc:  # a role without a key: nothing was guessed
            return self._untagged_nak(frame, exc.code, exc.detail, exc.retry_after_ms)
        session.protocol_minor = _minor_of(frame.fields)
        answer = encode_frame(MT.SESSION_CHALLENGE, session.challenge_fields(), frame.seq,
                              FrameKind.RESPONSE)
        self.pool.add(Pending(session, now_ms, sender, frame.raw, answer), now_ms)
        log.debug("session 0x%08X: challenge sent to %s", session.session_id, session.role.name)
        return Reply(answer)

    def _session_proof(self, frame: Frame, now_ms: int, sender: int) -> Reply:
        """Verify a proof under the back-off rules of :class:`AuthBackoff` (one verified
        attempt per challenge; RATE_LIMITED leaves the challenge valid)."""
        assert frame.fields is not None
        if self.session is not None and frame.raw == self._accepted_proof:
            self.stats.duplicates += 1
            return Reply(self._accepted_reply, retransmission=True)
        pending = self.pool.get(int(frame.fields.get("session_id", 0)), now_ms)
        if pending is None:  # no challenge, no key tried: refused, not a failed guess
            return self._untagged_nak(frame, NakCode.AUTH_FAILED, "session_id")
        account = (int(pending.session.role), sender)
        wait = self.backoff.may_verify(account, pending.issued_ms, now_ms)
        if wait:
            return self._untagged_nak(frame, NakCode.RATE_LIMITED, "authentication back-off",
                                      wait)
        self.pool.remove(pending)
        try:
            accepted = pending.session.verify_proof(frame.fields)
        except ProtocolError as exc:
            self.stats.auth_failures += 1
            self.backoff.failure(account, now_ms)
            return self._untagged_nak(frame, exc.code, exc.detail,
                                      self.backoff.retry_after_ms(account, now_ms))
        self.backoff.success(account)
        if self.session is not None:
            log.info("session 0x%08X replaced", self.session.session_id)
        self.session = pending.session
        self._accepted_proof = frame.raw
        self._accepted_reply = encode_frame(MT.SESSION_ACCEPTED, accepted, frame.seq,
                                            FrameKind.RESPONSE)
        self.stats.sessions += 1
        log.info("session 0x%08X established (%s)", self.session.session_id,
                 self.session.role.name)
        return Reply(self._accepted_reply)

    # ------------------------------------------------------------------ in session
    def _in_session(self, frame: Frame) -> Reply | Execute:
        sess = self.session
        if sess is None:
            return self._untagged_nak(frame, NakCode.NO_SESSION,
                                      f"session 0x{frame.session_id:08X} unknown")
        try:
            verdict = sess.check_request(frame)
        except ProtocolError as exc:
            return self._session_refusal(frame, sess, exc)
        if verdict is Verdict.RETRANSMIT:
            self.stats.duplicates += 1
            log.debug("retransmitted %s seq=%d answered from the cache", frame.name, frame.seq)
            assert sess.cached_response is not None
            return Reply(sess.cached_response, retransmission=True)
        if frame.error is not None:
            return Reply(self.refuse(frame, frame.error.code, frame.error.detail))
        return Execute(frame, sess)

    def _session_refusal(self, frame: Frame, sess: PumpSession, exc: ProtocolError) -> Reply:
        if exc.code is NakCode.STALE_SEQUENCE:  # authentic but not fresh: not remembered
            nak = self._nak(frame, exc.code, exc.detail, 0, True)
            return Reply(sess.respond(frame, MT.NAK, nak, remember=False))
        if exc.code is NakCode.FORBIDDEN_FOR_ROLE:  # authentic and fresh: remembered
            code, detail = exc.code, exc.detail
            if frame.error is not None and frame.error.code is NakCode.UNKNOWN_MESSAGE_TYPE:
                code, detail = frame.error.code, frame.error.detail
            elif not self.is_request(frame.msg_type):
                code, detail = NakCode.UNKNOWN_MESSAGE_TYPE, f"{frame.name} is not a request"
            return Reply(self.refuse(frame, code, detail))
        # NO_SESSION, BAD_TAG: nothing about the frame can be trusted, the answer is untagged
        return self._untagged_nak(frame, exc.code, exc.detail)
