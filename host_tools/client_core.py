"""The connection machinery of PumpClient over the host session layer
(:mod:`protocol.host_layer`): link and session lifecycle, the handshake (waiting out the pump's
authentication back-off), retransmission of a request byte for byte, and recovery after a lost
link or session (a new session, and the request sent again only when that cannot execute it
twice). No typed request lives here; :class:`host_tools.client.PumpClient` adds them.
"""
from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Self

import hal
from hal.base import Link
from hal.errors import LinkError, LinkOpenError
from protocol import messages as wire
from protocol.messages import PROTOCOL_MINOR
from protocol.decoder import StreamDecoder
from protocol.enums import MessageType as MT, Role
from protocol.errors import NakCode, ProtocolError
from protocol.frame import Frame, encode_frame
from protocol.keys import DEVELOPMENT_KEYS
from protocol.host_layer import Exchange, Recovery, Verdict, recovery
from protocol.session import HostSession

from host_tools.client_link import (MAX_BUSY_WAIT_S, READ_SLICE_S, VIOLATIONS, ClientStats,
                                    Event, LinkReader, Lost)
from host_tools.errors import (AuthenticationFailed, ConnectionFailed, OutcomeUnknown,
                               ProtocolViolation, PumpError, Refused, ResponseTimeout,
                               refusal_from_nak)
from host_tools.records import Identity

log = logging.getLogger("host_tools.client")


class ClientCore(LinkReader):
    """The connection half of :class:`host_tools.client.PumpClient`: one pump, one role.

    ``url`` is a hal URL (``virtual://NAME``, ``/dev/pts/5``, ``tcp://HOST:PORT``, ...) or an open
    :class:`hal.Link` (not closed by the client). ``key`` is the role key (bytes); None uses the
    development key. ``timeout_s`` bounds the wait for each answer, ``retries`` the number of
    retransmissions after the first send. ``auth_wait_s`` bounds how long a handshake waits out
    the pump's authentication back-off (0: give up at the first RATE_LIMITED; the default 70 s
    covers the longest a key holder can be kept waiting on a shared line, PROTOCOL.md
    section 4).
    ``event_queue`` bounds the queue of unread events
    (the oldest are dropped and counted). Nothing is opened before :meth:`open` (or ``with``);
    a request on an unopened client opens it. ``link_options`` go to ``hal.open``.
    """

    def __init__(self, url: str | Link, role: Role | str = Role.CLINICIAN, key: bytes | None = None,
                 *, timeout_s: float = 0.5, retries: int = 3, event_queue: int = 1000,
                 auth_wait_s: float = 70.0, **link_options: Any) -> None:
        self.role = Role[role.upper()] if isinstance(role, str) else Role(role)
        self.key = bytes(key) if key is not None else DEVELOPMENT_KEYS[self.role]
        if timeout_s <= 0 or retries < 0:
            raise ValueError("timeout_s must be > 0 and retries >= 0")
        self.timeout_s = timeout_s
        self.retries = retries
        self.auth_wait_s = auth_wait_s
        self.stats = ClientStats()
        self._url = url if isinstance(url, str) else None
        self._given_link = None if isinstance(url, str) else url
        self._link_options = link_options
        self._link: Link | None = None
        self._session: HostSession | None = None
        self._identity: Identity | None = None
        self._request_lock = threading.RLock()
        self._responses: collections.deque[Frame] = collections.deque()
        self._cond = threading.Condition()
        self._reader: threading.Thread | None = None
        self._decoder = StreamDecoder()
        self._last_rx = 0.0
        self._stop = threading.Event()
        self._link_lost: str | None = None
        self._events: collections.deque[Event] = collections.deque(maxlen=event_queue)
        self._event_cond = threading.Condition()
        self._callbacks: list[Callable[[Event], None]] = []
        self._handshake_seq = int.from_bytes(os.urandom(4), "big")
        self._minor = PROTOCOL_MINOR  # minor version of the sessions opened (0 with a 1.0 pump)

    # ------------------------------------------------------------------ lifecycle
    @property
    def name(self) -> str:
        """The URL or link name this client talks through."""
        if self._url is not None:
            return self._url
        return self._given_link.name if self._given_link is not None else "?"

    @property
    def connected(self) -> bool:
        """True while a session is established over an open link."""
        return self._session is not None and self._session.established and self._link_lost is None

    @property
    def session_id(self) -> int:
        """The current session id (0 when none)."""
        return self._session.session_id if self._session is not None else 0

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Open the link (when given a URL) and a session. Raises ConnectionFailed or
        AuthenticationFailed; nothing stays open after a failure."""
        with self._request_lock:
            if self.connected:
                return
            try:
                self._open_link()
                self._handshake()
            except BaseException:
                self._teardown()
                raise

    def close(self) -> None:
        """Close the session (best effort, one short attempt) and the link if this client opened
        it; idempotent, never raises."""
        with self._request_lock:
            if self.connected:
                try:
                    self._exchange(MT.SESSION_CLOSE, None, timeout_s=min(self.timeout_s, 0.2),
                                   retries=0)
                except (PumpError, Lost) as exc:
                    log.debug("session close: %s", exc)
            self._teardown()

    def reconnect(self) -> None:
        """Drop the link and session and open both again (new session, new sequence space)."""
        with self._request_lock:
            self._teardown()
            self.stats.reconnects += 1
            self.open()

    def _open_link(self) -> None:
        self._link_lost = None
        if self._given_link is not None:
            if self._given_link.closed:
                raise ConnectionFailed(f"{self._given_link.name}: link is closed")
            self._link = self._given_link
        else:
            assert self._url is not None
            try:
                self._link = hal.open(self._url, **self._link_options)
            except LinkOpenError as exc:
                raise ConnectionFailed(str(exc)) from None
            except (OSError, ValueError) as exc:
                raise ConnectionFailed(f"could not open {self._url}: {exc}") from None
        self._link.timeout = READ_SLICE_S  # set once: on a serial port it is a termios call
        self._stop.clear()
        self._decoder = StreamDecoder()
        self._last_rx = time.monotonic()
        with self._cond:
            self._responses.clear()
        if self._callbacks:
            self.start_listener()

    def _teardown(self) -> None:
        self._session = None
        self._stop.set()
        link, self._link = self._link, None
        if link is not None and link is not self._given_link:
            try:
                link.close()
            except LinkError:
                pass
        reader, self._reader = self._reader, None
        if reader is not None and reader is not threading.current_thread():
            reader.join(timeout=2 * READ_SLICE_S + 1)

    # ------------------------------------------------------------------ request machinery
    def _handshake(self) -> None:
        """Open a session; a timed-out handshake is restarted from scratch (a pending pump
        session accepts one proof only, so a proof is never retransmitted)."""
        last: PumpError | None = None
        for _ in range(self.retries + 2):
            session = HostSession(self.role, self.key, protocol_minor=self._minor)
            # Handshake frames are not sequence-checked; a fresh seq per attempt tells a late
            # answer to an abandoned attempt apart from the answer to this one.
            self._handshake_seq = (self._handshake_seq + 2) & 0x7FFFFFFF or 2
            seq = self._handshake_seq
            try:
                challenge = self._raw_exchange(
                    encode_frame(MT.SESSION_OPEN, session.open_fields(), seq), seq,
                    MT.SESSION_OPEN, (MT.SESSION_CHALLENGE,), None, retries=0)
                accepted = self._prove(
                    encode_frame(MT.SESSION_PROOF, session.proof_fields(challenge), seq + 1),
                    seq + 1)
            except ResponseTimeout as exc:
                last = exc
                continue
            except Refused as exc:
                if exc.code == NakCode.MALFORMED_PAYLOAD and self._minor:
                    log.info("%s: a protocol 1.0 pump: opening a 1.0 session", self.name)
                    self._minor = 0  # a 1.0 pump knows only the 17-byte SESSION_OPEN
                    continue
                if exc.code in (NakCode.AUTH_FAILED, NakCode.RATE_LIMITED):
                    raise AuthenticationFailed(
                        f"{self.name}: the pump refused the {self.role.name.lower()} key "
                        f"({exc.code.name if isinstance(exc.code, NakCode) else exc.code}"
                        f"{', retry after %d ms' % exc.retry_after_ms if exc.retry_after_ms else ''})",
                        exc.retry_after_ms) from None
                raise ConnectionFailed(f"{self.name}: session refused: {exc}") from None
            except Lost as exc:
                raise ConnectionFailed(f"{self.name}: {exc}") from None
            try:
                session.accept(accepted)
            except ProtocolError:
                raise AuthenticationFailed(
                    f"{self.name}: the pump could not prove it knows the "
                    f"{self.role.name.lower()} key (wrong key, or not this pump)") from None
            self._session = session
            log.info("%s: %s session 0x%08X open", self.name, self.role.name.lower(),
                     session.session_id)
            return
        raise ConnectionFailed(f"{self.name}: no answer from a pump ({last})")

    def _prove(self, proof: bytes, seq: int) -> dict[str, Any]:
        """Send SESSION_PROOF; while the pump answers RATE_LIMITED (its back-off), keep the
        challenge and send the same proof again after ``retry_after_ms`` (at most 1 s apart),
        for up to ``auth_wait_s`` seconds (PROTOCOL.md section 4, "Authentication back-off")."""
        give_up = time.monotonic() + self.auth_wait_s
        first = True
        while True:
            try:
                return self._raw_exchange(proof, seq, MT.SESSION_PROOF, (MT.SESSION_ACCEPTED,),
                                          None, retries=0)
            except Refused as exc:
                wait = min(max(exc.retry_after_ms, 10) / 1000, 1.0)
                if exc.code != NakCode.RATE_LIMITED or time.monotonic() + wait > give_up:
                    raise
                log.log(logging.WARNING if first else logging.DEBUG,
                        "%s: the pump is backing off after wrong proofs; proving again "
                        "for up to %.0f s more", self.name,
                        give_up - time.monotonic())
                first = False
                time.sleep(wait)

    def _raw_exchange(self, frame_bytes: bytes, seq: int, request: MT,
                      expect: tuple[MT, ...], session: HostSession | None,
                      timeout_s: float | None = None, retries: int | None = None) -> dict[str, Any]:
        """Send ``frame_bytes`` and wait for its authentic answer, retransmitting the same bytes
        on timeout (the rules are :class:`protocol.host_layer.Exchange`'s). Returns the answer's
        fields; raises Refused (nak), ResponseTimeout, Lost, ProtocolViolation."""
        link = self._link
        if link is None:
            raise Lost("not connected", sent=False)
        timeout_ms = int(1000 * (self.timeout_s if timeout_s is None else timeout_s))
        exchange = Exchange(request, seq, session, self.retries if retries is None else retries)
        with self._cond:
            self._responses.clear()
        while True:
            if exchange.attempts:
                self.stats.retransmits += 1
                log.debug("%s: retransmitting %s seq %d (attempt %d)", self.name, request.name,
                          seq, exchange.attempts + 1)
            try:
                link.write(frame_bytes)
            except LinkError as exc:
                raise Lost(f"link lost while sending: {exc}", sent=exchange.attempts > 0) from None
            exchange.sent(_now_ms(), timeout_ms)
            frame = self._await_answer(exchange)
            if frame is not None:
                return self._answer_fields(frame, request, expect, session)
            if not exchange.on_timeout():
                break
        self.stats.timeouts += 1
        if exchange.only_untrusted_no_session:
            raise Lost("only unauthenticated NO_SESSION answers (the pump restarted, or a "
                        "forger is on the link)", sent=True)
        if exchange.invalid is not None or exchange.untrusted:
            what = exchange.invalid or ", ".join(f"untagged {c.name}" for c in exchange.untrusted)
            raise ProtocolViolation(f"{self.name}: no authentic answer to {request.name}: {what}")
        raise ResponseTimeout(f"{self.name}: no answer to {request.name} after "
                              f"{exchange.attempts} attempts of {timeout_ms / 1000:g} s",
                              exchange.attempts)

    def _await_answer(self, exchange: Exchange) -> Frame | None:
        """The authentic answer of ``exchange`` before its deadline, or None. Untrusted hints
        (untagged NO_SESSION / BAD_TAG), late and invalid frames are counted and skipped."""
        deadline = time.monotonic() + max(0, exchange.deadline_ms - _now_ms()) / 1000
        while True:
            frame = self._wait_response(deadline, sent=True)
            if frame is None:
                return None
            verdict, why = exchange.classify(frame)
            if verdict is Verdict.ANSWER:
                return frame
            if verdict is Verdict.LATE:
                self.stats.late_responses += 1
            elif verdict is Verdict.UNTRUSTED:
                self.stats.untrusted += 1
                log.info("%s: %s for seq %d is not authenticated: waiting for the real answer",
                         self.name, why, exchange.seq)
            else:
                self.stats.bad_frames += 1
                log.warning("%s: discarding answer: %s", self.name, why)

    def _answer_fields(self, frame: Frame, request: MT, expect: tuple[MT, ...],
                       session: HostSession | None) -> dict[str, Any]:
        """Fields of an authentic answer; Refused for a NAK, ProtocolViolation otherwise."""
        if frame.fields is None:
            self.stats.bad_frames += 1
            raise ProtocolViolation(f"{self.name}: {frame.name} seq {frame.seq}: {frame.error}")
        if frame.msg_type == MT.NAK:
            self.stats.naks += 1
            raise refusal_from_nak(frame.fields, request)
        if frame.msg_type not in expect:
            raise ProtocolViolation(
                f"{request.name} answered with {frame.name}, expected "
                f"{'/'.join(t.name for t in expect)}")
        return frame.fields

    def _wait_response(self, deadline: float, sent: bool) -> Frame | None:
        """The next response frame, or None at the deadline (the caller holds the request
        lock). Reads the link itself unless the listener thread does."""
        while True:
            with self._cond:
                if self._responses:
                    return self._responses.popleft()
                if self._link_lost is not None:
                    raise Lost(f"link lost: {self._link_lost}", sent=sent)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                if self.listening:
                    self._cond.wait(left)
                    continue
            link = self._link
            if link is None:
                raise Lost("not connected", sent=sent)
            try:
                self._read_once(link)
            except Lost:
                raise Lost(f"link lost: {self._link_lost}", sent=sent) from None

    def _exchange(self, request: MT, fields: Mapping[str, Any] | None,
                  expect: tuple[MT, ...] = (MT.ACK,), timeout_s: float | None = None,
                  retries: int | None = None) -> dict[str, Any]:
        """One request in the established session (the caller holds the request lock)."""
        session = self._session
        if session is None or not session.established:
            raise Lost("no session", sent=False)
        try:
            seq, frame_bytes = session.request(request, fields)
        except ProtocolError as exc:
            raise ValueError(f"{request.name}: {exc.detail or exc}") from None
        return self._raw_exchange(frame_bytes, seq, request, expect, session, timeout_s, retries)

    def request(self, request: MT, fields: Mapping[str, Any] | None = None,
                expect: tuple[MT, ...] | None = None) -> dict[str, Any]:
        """Send one request and return the answer's decoded fields (the typed methods use this).

        Opens the connection when needed; retries BUSY; reconnects after a lost session or link
        when that cannot execute the request twice. Raises a PumpError subclass, or ValueError
        for a field that cannot be encoded (nothing is sent then).
        """
        if expect is None:
            expect = wire.REGISTRY[request].responses or (MT.ACK,)
        with self._request_lock:
            self.stats.requests += 1
            if not self.connected:
                self._recover(None)
            busy_until = time.monotonic() + MAX_BUSY_WAIT_S
            reconnected = False
            while True:
                try:
                    return self._exchange(request, fields, expect)
                except Lost as lost:
                    if reconnected:
                        self._teardown()
                        raise ConnectionFailed(f"{self.name}: {lost}") from None
                    if recovery(request, lost.sent) is Recovery.READ_BACK:
                        self._reopen_quietly(lost)
                        raise OutcomeUnknown(
                            f"{self.name}: {lost}; {request.name} may or may not have been "
                            f"executed: read the pump's state (status, event log) before "
                            f"repeating it") from None
                    self._recover(lost)
                    reconnected = True
                except Refused as exc:
                    if exc.code in VIOLATIONS:
                        raise ProtocolViolation(f"{self.name}: {exc}", exc.code) from None
                    if exc.code == NakCode.BUSY and time.monotonic() < busy_until:
                        time.sleep(min(max(exc.retry_after_ms, 10) / 1000, MAX_BUSY_WAIT_S))
                        continue
                    raise

    def _reopen_quietly(self, cause: Lost) -> None:
        """Reopen the session after a request of unknown fate so that the caller can read the
        state; a failure here leaves the client closed (the next request reopens)."""
        try:
            self._recover(cause)
        except PumpError as exc:
            log.warning("%s: could not reopen the session: %s", self.name, exc)

    def _recover(self, cause: Lost | None) -> None:
        if cause is not None:
            log.warning("%s: %s; reconnecting", self.name, cause)
        if self._given_link is not None and self._link_lost is not None:
            raise ConnectionFailed(f"{self.name}: link lost: {self._link_lost}")
        if cause is not None:
            self.stats.reconnects += 1
        if self._link is not None and self._link_lost is None:
            self._session = None  # the link is fine: only the session is new
            try:
                self._handshake()
                return
            except BaseException:
                self._teardown()
                raise
        self._teardown()
        self.open()


def _now_ms() -> int:
    """Host monotonic time, ms (the exchange deadlines run on it)."""
    return int(time.monotonic() * 1000)
