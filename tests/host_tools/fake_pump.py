"""A tiny scripted pump for PumpClient unit tests: real sessions and tags, canned answers.

It serves the pump end of a virtual pair in a thread. Each request type has a handler returning
``(response_type, fields)`` or raising ProtocolError (answered as a NAK). ``drop_responses``
swallows the next N answers (the request is still executed once), to force retransmissions.
"""
from __future__ import annotations

import itertools
import threading
from collections import Counter
from typing import Any, Callable

import hal
from protocol import DEVELOPMENT_KEYS, MessageType as MT, PumpSession, Role, StreamDecoder
from protocol.enums import FrameKind
from protocol.errors import NakCode, ProtocolError
from protocol.frame import Frame, encode_frame
from protocol.session import Verdict
from tests.vectors.samples import SAMPLES

_names = itertools.count(1)
Handler = Callable[[dict[str, Any]], tuple[MT, dict[str, Any]]]


class FakePump:
    """Scripted pump on ``virtual://<unique name>``; ``url`` is the host-end URL."""

    def __init__(self, keys: dict[Role, bytes] | None = None) -> None:
        self.name = f"fake-pump-{threading.get_ident()}-{next(_names)}"
        self.url = f"virtual://{self.name}"
        self.keys = keys or DEVELOPMENT_KEYS
        self.link = hal.open(self.url, end="pump", timeout=0.05)
        self.session: PumpSession | None = None
        self.pending: PumpSession | None = None
        self.executed: Counter[MT] = Counter()
        self.executed_seqs: list[tuple[MT, int]] = []
        self.received: list[Frame] = []
        self.drop_responses = 0
        self.forge_before: NakCode | None = None  # an untagged NAK with this code precedes each answer
        self.forge_instead: NakCode | None = None  # ... or replaces each in-session answer
        self.silent = False  # answer nothing at all
        self.handlers: dict[MT, Handler] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    # -- scripting -------------------------------------------------------------------------------
    def on(self, request: MT, handler: Handler) -> None:
        """Answer ``request`` with ``handler(fields)``."""
        self.handlers[request] = handler

    def forget_session(self) -> None:
        """Simulate a restart: the session is gone (requests get NAK NO_SESSION untagged)."""
        self.session = None

    def send_event(self, msg_type: MT, fields: dict[str, Any]) -> None:
        """Push an unsolicited event in the current session."""
        assert self.session is not None
        self.link.write(self.session.event(msg_type, fields))

    def close(self) -> None:
        """Stop serving and close the pump end."""
        self._stop.set()
        self.link.close()
        self._thread.join(timeout=2)

    def __enter__(self) -> "FakePump":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- serving -------------------------------------------------------------------------------
    def _run(self) -> None:
        decoder = StreamDecoder()
        while not self._stop.is_set():
            try:
                data = self.link.read(4096)
            except hal.LinkClosed:
                if self._stop.is_set():
                    return
                # The host went away: serve the next one, as a device does.
                self.link.close()
                self.link = hal.open(self.url, end="pump", timeout=0.05)
                self.session = None
                decoder = StreamDecoder()
                continue
            for frame in decoder.feed(data):
                self.received.append(frame)
                if self.silent:
                    continue
                out = self._answer(frame)
                if out is None:
                    continue
                forged = self._forged(frame)
                if forged is not None:
                    self.link.write(forged)
                    if self.forge_instead is not None:
                        continue
                if self.drop_responses > 0:
                    self.drop_responses -= 1
                    continue
                try:
                    self.link.write(out)
                except hal.LinkClosed:
                    return

    def _forged(self, frame: Frame) -> bytes | None:
        """What a forger on the link sends for an in-session request: an untagged NAK with
        the request's seq (it cannot tag anything: it has no key)."""
        code = self.forge_instead or self.forge_before
        if code is None or frame.tag is None:
            return None
        fields = {"code": int(code), "request_type": frame.msg_type, "retry_after_ms": 0,
                  "detail": "forged"}
        return encode_frame(MT.NAK, fields, frame.seq, FrameKind.RESPONSE)

    def _nak(self, frame: Frame, exc: ProtocolError, session: PumpSession | None) -> bytes:
        fields = {"code": int(exc.code), "request_type": frame.msg_type,
                  "retry_after_ms": exc.retry_after_ms, "detail": exc.detail[:48]}
        if session is None:
            return encode_frame(MT.NAK, fields, frame.seq, FrameKind.RESPONSE)
        return session.respond(frame, MT.NAK, fields)

    def _answer(self, frame: Frame) -> bytes | None:
        msg = frame.msg_type
        try:
            if msg == MT.IDENTIFY:
                return encode_frame(MT.IDENTITY, SAMPLES[MT.IDENTITY], frame.seq, FrameKind.RESPONSE)
            if msg == MT.SESSION_OPEN:
                self.pending = PumpSession.open(frame.fields or {}, self.keys)
                return encode_frame(MT.SESSION_CHALLENGE, self.pending.challenge_fields(),
                                    frame.seq, FrameKind.RESPONSE)
            if msg == MT.SESSION_PROOF:
                if self.pending is None:
                    raise ProtocolError(NakCode.AUTH_FAILED, "no pending session")
                accepted = self.pending.verify_proof(frame.fields or {})
                self.session, self.pending = self.pending, None
                return encode_frame(MT.SESSION_ACCEPTED, accepted, frame.seq, FrameKind.RESPONSE)
        except ProtocolError as exc:
            return self._nak(frame, exc, None)
        session = self.session
        if session is None or frame.session_id != session.session_id:
            return self._nak(frame, ProtocolError(NakCode.NO_SESSION, "no session"), None)
        try:
            verdict = session.check_request(frame)
        except ProtocolError as exc:
            return self._nak(frame, exc, None if exc.code in (NakCode.NO_SESSION, NakCode.BAD_TAG)
                             else session)
        if verdict is Verdict.RETRANSMIT:
            return session.cached_response
        self.executed[MT(msg)] += 1
        self.executed_seqs.append((MT(msg), frame.seq))
        try:
            if msg == MT.SESSION_CLOSE:
                return session.respond(frame, MT.ACK, {"request_type": msg})
            handler = self.handlers.get(MT(msg))
            if handler is None:
                spec_responses = {MT.GET_STATUS: MT.STATUS, MT.GET_DRUG: MT.DRUG,
                                  MT.GET_LIMITS: MT.LIMITS, MT.GET_CLOCK: MT.CLOCK,
                                  MT.GET_ALARMS: MT.ALARM_LIST}
                if MT(msg) in spec_responses:
                    rtype = spec_responses[MT(msg)]
                    return session.respond(frame, rtype, SAMPLES[rtype])
                return session.respond(frame, MT.ACK, {"request_type": msg})
            rtype, fields = handler(frame.fields or {})
            return session.respond(frame, rtype, fields)
        except ProtocolError as exc:
            return self._nak(frame, exc, session)
