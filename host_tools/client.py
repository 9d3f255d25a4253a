"""PumpClient: the programmer's library for talking to a pump over any hal link.

::

    from host_tools.client import PumpClient
    with PumpClient("virtual://pump1") as pump:            # clinician, development key
        print(pump.status().reservoir_nl)
        pump.set_schedule([Step(0, 400_000), Step(390, 600_000)])

What it promises:

* It opens the link (``hal.open(url, **link_options)``, or takes an open :class:`hal.Link`) and a
  session for ``role`` with ``key`` (default: the role's public development key). Closing it
  closes the session, and the link when it opened it.
* One typed method per protocol request; answers are the frozen dataclasses of
  :mod:`host_tools.records`, in integer units (nL, ug, ug/mL, nL/day, ms).
* A request that gets no answer within ``timeout_s`` is retransmitted byte for byte (same
  sequence number, same tag) up to ``retries`` times; the pump answers a retransmission from its
  response cache and never executes it twice. Then :class:`ResponseTimeout`.
* Every nak becomes an exception of :mod:`host_tools.errors` that names code, field and reason.
* If the pump lost the session (it restarted) or the link dropped, the client reconnects and opens
  a new session by itself, and sends the request again only when that cannot execute it twice
  (the request is idempotent, or it provably never reached the pump); otherwise it raises
  :class:`ConnectionFailed` saying the outcome is unknown.
* Unsolicited events (ALARM_EVENT, STATUS_PUSH) are checked (tag, fresh seq) and delivered to
  callbacks (:meth:`on_event`) and to a bounded queue (:meth:`next_event`, :meth:`events`).
* Thread-safe: requests from several threads are serialised (the protocol has one request in
  flight). The requesting thread reads its own answer (no thread hand-off, lowest latency);
  :meth:`start_listener` (implied by :meth:`on_event` and :meth:`next_event`) moves all reading
  to a daemon thread so that events are delivered while the client is otherwise idle.
"""
from __future__ import annotations

import collections
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import hal
from hal.base import Link
from hal.errors import LinkClosed, LinkError, LinkOpenError
from protocol import messages as wire
from protocol.messages import PROTOCOL_MINOR
from protocol.decoder import StreamDecoder
from protocol.enums import (FAULT_WIRE, Alarm, AlarmPriority, BolusKind, FaultAction, FaultKind,
                            FrameKind, MessageType as MT, Role, Tone, Weekday)
from protocol.errors import NakCode, ProtocolError
from protocol.frame import Frame, encode_frame
from protocol.keys import DEVELOPMENT_KEYS
from protocol.log_records import decode_record, describe_record
from protocol.host_layer import IDEMPOTENT, Exchange, Recovery, Verdict, recovery
from protocol.session import HostSession

from host_tools.errors import (AuthenticationFailed, ConnectionFailed, OutcomeUnknown,
                               ProtocolViolation, PumpError, Refused, ResponseTimeout,
                               refusal_from_nak)
from host_tools.records import (AlarmEvent, AlarmInfo, BolusStarted, ClockReading, Drug,
                                DrugLibraryEntry,
                                Identity, Limits, LogEntry, LogPage, PatientBolusResult, RefillResult, Schedule,
                                Status, StatusPush, Step, _enum)

log = logging.getLogger(__name__)

Event = AlarmEvent | StatusPush

# Naks that mean "this client broke the protocol" rather than "the pump refuses the command".
_VIOLATIONS = {NakCode.FRAMING, NakCode.UNSUPPORTED_VERSION, NakCode.UNKNOWN_MESSAGE_TYPE,
               NakCode.MALFORMED_PAYLOAD, NakCode.BAD_TAG, NakCode.STALE_SEQUENCE}
MAX_BUSY_WAIT_S = 2.0
READ_SLICE_S = 0.05  # longest single read: waiters notice deadlines and close() this often
IDLE_FLUSH_S = 0.25  # a partial frame older than this is given up


@dataclasses.dataclass
class ClientStats:
    """Counters of one client: requests, retransmissions, naks, reconnects, bad frames, events."""

    requests: int = 0
    retransmits: int = 0
    timeouts: int = 0
    naks: int = 0
    reconnects: int = 0
    bad_frames: int = 0
    late_responses: int = 0
    untrusted: int = 0  # untagged NO_SESSION / BAD_TAG answers inside a session (not trusted)
    events: int = 0
    events_dropped: int = 0


class _Lost(Exception):
    """Internal: the link or the session went away during a request."""

    def __init__(self, message: str, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent  # True if the request may have reached the pump


class PumpClient:
    """A connection to one pump for one role; see the module documentation.

    ``url`` is a hal URL (``virtual://NAME``, ``/dev/pts/5``, ``tcp://HOST:PORT``, ...) or an open
    :class:`hal.Link` (not closed by the client). ``key`` is the role key (bytes); None uses the
    development key. ``timeout_s`` bounds the wait for each answer, ``retries`` the number of
    retransmissions after the first send. ``auth_wait_s`` bounds how long a handshake waits out
    the pump's authentication back-off (0: give up at the first RATE_LIMITED).
    ``event_queue`` bounds the queue of unread events
    (the oldest are dropped and counted). Nothing is opened before :meth:`open` (or ``with``);
    a request on an unopened client opens it. ``link_options`` go to ``hal.open``.
    """

    def __init__(self, url: str | Link, role: Role | str = Role.CLINICIAN, key: bytes | None = None,
                 *, timeout_s: float = 0.5, retries: int = 3, event_queue: int = 1000,
                 auth_wait_s: float = 10.0, **link_options: Any) -> None:
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

    def __enter__(self) -> "PumpClient":
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
                except (PumpError, _Lost) as exc:
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

    # ------------------------------------------------------------------ reading
    # Two modes. Without a listener thread, the thread waiting for a response reads the link
    # itself, holding the request lock: no thread hand-off on the request path. With a
    # listener (start_listener, on_event, next_event), one daemon thread reads everything and
    # the waiters wait on conditions.
    @property
    def listening(self) -> bool:
        """True while the background listener thread reads the link."""
        return self._reader is not None and self._reader.is_alive()

    def start_listener(self) -> None:
        """Read the link in a background thread from now on, so that callbacks registered with
        :meth:`on_event` run as events arrive even while nobody waits on the client."""
        with self._request_lock:
            if self.listening or self._link is None:
                return
            self._reader = threading.Thread(target=self._read_loop, args=(self._link,),
                                            name=f"pumpclient-listener {self.name}", daemon=True)
            self._reader.start()

    def _read_once(self, link: Link) -> None:
        """One read (at most READ_SLICE_S); frames go to the response queue or the events.
        Raises _Lost when the link went away."""
        try:
            data = link.read(4096)
        except (LinkError, OSError) as exc:
            if not self._stop.is_set():
                log.warning("%s: link lost: %s", link.name, exc)
            with self._cond:
                self._link_lost = str(exc) or "link closed"
                self._cond.notify_all()
            raise _Lost(f"link lost: {self._link_lost}", sent=True) from None
        if data:
            self._last_rx = time.monotonic()
            frames = self._decoder.feed(data)
        elif self._decoder.pending and time.monotonic() - self._last_rx > IDLE_FLUSH_S:
            frames = self._decoder.flush()  # give up a frame cut off mid-way
        else:
            return
        for frame in frames:
            self._dispatch(frame)

    def _read_loop(self, link: Link) -> None:
        while not self._stop.is_set():
            try:
                self._read_once(link)
            except _Lost:
                return

    def _dispatch(self, frame: Frame) -> None:
        kind = frame.flags & 0x03
        if kind == FrameKind.EVENT:
            self._on_event_frame(frame)
        elif kind == FrameKind.RESPONSE:
            with self._cond:
                self._responses.append(frame)
                self._cond.notify_all()
        else:
            self.stats.bad_frames += 1
            log.debug("ignoring %s frame %s", frame.kind.name, frame.name)

    def _on_event_frame(self, frame: Frame) -> None:
        session = self._session
        if session is None or not session.established:
            self.stats.bad_frames += 1
            return
        try:
            session.check_event(frame)
            if frame.fields is None:
                raise ProtocolError(NakCode.MALFORMED_PAYLOAD, str(frame.error))
            if frame.msg_type == MT.ALARM_EVENT:
                event: Event = AlarmEvent.from_fields(frame.fields, frame.seq)
            elif frame.msg_type == MT.STATUS_PUSH:
                event = StatusPush(Status.from_fields(frame.fields), frame.seq)
            else:
                raise ProtocolError(NakCode.UNKNOWN_MESSAGE_TYPE, frame.name)
        except (ProtocolError, KeyError, TypeError) as exc:
            self.stats.bad_frames += 1
            log.warning("event frame %s seq %d discarded: %s", frame.name, frame.seq, exc)
            return
        self.stats.events += 1
        with self._event_cond:
            if len(self._events) == self._events.maxlen:
                self.stats.events_dropped += 1
            self._events.append(event)
            self._event_cond.notify_all()
        for callback in list(self._callbacks):
            try:
                callback(event)
            except Exception:  # noqa: BLE001 - a broken callback must not stop the reader
                log.exception("event callback failed")

    # ------------------------------------------------------------------ events
    def on_event(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for every valid event, from the listener thread (started
        here if needed); returns an unsubscribe function."""
        self._callbacks.append(callback)
        self.start_listener()
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    def next_event(self, timeout: float | None = None) -> Event | None:
        """The oldest unread event, waiting up to ``timeout`` seconds (None: forever); None on
        timeout. Starts the listener thread if needed (events arrive while nobody requests)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self.listening and self._link is not None:
            self.start_listener()
        with self._event_cond:
            while not self._events:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                if self._link_lost is not None and not self._events:
                    raise ConnectionFailed(f"{self.name}: link lost: {self._link_lost}")
                self._event_cond.wait(READ_SLICE_S if left is None else min(left, READ_SLICE_S))
            return self._events.popleft()

    def take_events(self) -> list[Event]:
        """The events received so far and not yet taken, oldest first (the queue is emptied);
        never waits and never starts the listener thread: without it, events arrive with the
        bytes each request reads."""
        with self._event_cond:
            events = list(self._events)
            self._events.clear()
        return events

    def events(self, timeout: float | None = None) -> Iterator[Event]:
        """Iterate over events as they arrive; stops after ``timeout`` seconds without one."""
        while True:
            event = self.next_event(timeout)
            if event is None:
                return
            yield event

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
            except _Lost as exc:
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
        while True:
            try:
                return self._raw_exchange(proof, seq, MT.SESSION_PROOF, (MT.SESSION_ACCEPTED,),
                                          None, retries=0)
            except Refused as exc:
                wait = min(max(exc.retry_after_ms, 10) / 1000, 1.0)
                if exc.code != NakCode.RATE_LIMITED or time.monotonic() + wait > give_up:
                    raise
                log.info("%s: pump backing off; proving again in %.2f s", self.name, wait)
                time.sleep(wait)

    def _raw_exchange(self, frame_bytes: bytes, seq: int, request: MT,
                      expect: tuple[MT, ...], session: HostSession | None,
                      timeout_s: float | None = None, retries: int | None = None) -> dict[str, Any]:
        """Send ``frame_bytes`` and wait for its authentic answer, retransmitting the same bytes
        on timeout (the rules are :class:`protocol.host_layer.Exchange`'s). Returns the answer's
        fields; raises Refused (nak), ResponseTimeout, _Lost, ProtocolViolation."""
        link = self._link
        if link is None:
            raise _Lost("not connected", sent=False)
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
                raise _Lost(f"link lost while sending: {exc}", sent=exchange.attempts > 0) from None
            exchange.sent(_now_ms(), timeout_ms)
            frame = self._await_answer(exchange)
            if frame is not None:
                return self._answer_fields(frame, request, expect, session)
            if not exchange.on_timeout():
                break
        self.stats.timeouts += 1
        if exchange.only_untrusted_no_session:
            raise _Lost("only unauthenticated NO_SESSION answers (the pump restarted, or a "
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
                    raise _Lost(f"link lost: {self._link_lost}", sent=sent)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                if self.listening:
                    self._cond.wait(left)
                    continue
            link = self._link
            if link is None:
                raise _Lost("not connected", sent=sent)
            try:
                self._read_once(link)
            except _Lost:
                raise _Lost(f"link lost: {self._link_lost}", sent=sent) from None

    def _exchange(self, request: MT, fields: Mapping[str, Any] | None,
                  expect: tuple[MT, ...] = (MT.ACK,), timeout_s: float | None = None,
                  retries: int | None = None) -> dict[str, Any]:
        """One request in the established session (the caller holds the request lock)."""
        session = self._session
        if session is None or not session.established:
            raise _Lost("no session", sent=False)
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
                except _Lost as lost:
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
                    if exc.code in _VIOLATIONS:
                        raise ProtocolViolation(f"{self.name}: {exc}", exc.code) from None
                    if exc.code == NakCode.BUSY and time.monotonic() < busy_until:
                        time.sleep(min(max(exc.retry_after_ms, 10) / 1000, MAX_BUSY_WAIT_S))
                        continue
                    raise

    def _reopen_quietly(self, cause: _Lost) -> None:
        """Reopen the session after a request of unknown fate so that the caller can read the
        state; a failure here leaves the client closed (the next request reopens)."""
        try:
            self._recover(cause)
        except PumpError as exc:
            log.warning("%s: could not reopen the session: %s", self.name, exc)

    def _recover(self, cause: _Lost | None) -> None:
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

    # ------------------------------------------------------------------ typed requests
    def identify(self) -> Identity:
        """Model, serial number, versions, reservoir capacity (nL), weekday-plan support."""
        with self._request_lock:
            if not self.connected:
                self._recover(None)
            try:
                fields = self._identify(self._minor)
            except Refused as exc:
                if exc.code != NakCode.MALFORMED_PAYLOAD or not self._minor:
                    raise
                fields = self._identify(0)  # a 1.0 pump knows only the empty IDENTIFY
            except _Lost as exc:
                raise ConnectionFailed(f"{self.name}: {exc}") from None
        self._identity = Identity.from_fields(fields)
        return self._identity

    def _identify(self, minor: int) -> dict[str, Any]:
        request = encode_frame(MT.IDENTIFY, {"protocol_minor": minor} if minor else None)
        return self._raw_exchange(request, 0, MT.IDENTIFY, (MT.IDENTITY,), None)

    @property
    def identity(self) -> Identity:
        """The pump's identity (asked once, then remembered)."""
        return self._identity if self._identity is not None else self.identify()

    def status(self) -> Status:
        """The pump status now."""
        return Status.from_fields(self.request(MT.GET_STATUS))

    def drug(self) -> Drug:
        """The programmed drug and concentration (ug/mL)."""
        f = self.request(MT.GET_DRUG)
        return Drug(f["drug_name"], f["concentration_ug_per_ml"])

    def set_drug(self, name: str, concentration_ug_per_ml: int) -> None:
        """Program the drug (library name) and its concentration (ug/mL)."""
        self.request(MT.SET_DRUG, {"drug_name": name,
                                   "concentration_ug_per_ml": _uint(concentration_ug_per_ml,
                                                                    "concentration_ug_per_ml")})

    def drug_library(self) -> tuple[DrugLibraryEntry, ...]:
        """Every drug the pump accepts, with its concentration range and daily limits
        (protocol 1.1; a 1.0 pump refuses GET_DRUG_LIBRARY: ProtocolViolation)."""
        return tuple(DrugLibraryEntry.from_fields(e)
                     for e in self.request(MT.GET_DRUG_LIBRARY)["drugs"])

    def drug_entry(self, name: str) -> DrugLibraryEntry | None:
        """The library entry of drug ``name`` (matched case-insensitively, as the pump
        does), or None when the pump does not list it."""
        return next((d for d in self.drug_library() if d.name.lower() == name.lower()), None)

    def schedule(self, weekday: Weekday | int = Weekday.EVERY_DAY) -> Schedule:
        """A schedule plan: the every-day plan by default, or one weekday's."""
        return Schedule.from_fields(self.request(MT.GET_SCHEDULE, {"weekday": int(weekday)}))

    def set_schedule(self, steps: Iterable[Step | tuple[int, int] | Any],
                     weekday: Weekday | int = Weekday.EVERY_DAY) -> None:
        """Program a plan. ``steps`` are :class:`Step`, ``(start_minute, rate_nl_per_day)``
        tuples or anything with those two attributes (schedule_file.ScheduleStep)."""
        wire_steps = []
        for s in steps:
            start, rate = (s if isinstance(s, tuple) else (s.start_minute, s.rate_nl_per_day))
            wire_steps.append({"start_minute": _uint(start, "start_minute"),
                               "rate_nl_per_day": _uint(rate, "rate_nl_per_day")})
        self.request(MT.SET_SCHEDULE, {"weekday": int(weekday), "steps": wire_steps})

    def limits(self) -> Limits:
        """Patient-bolus settings and low-reservoir threshold."""
        return Limits(**self.request(MT.GET_LIMITS))

    def set_limits(self, limits: Limits | None = None, **changes: int) -> Limits:
        """Program limits: a whole :class:`Limits`, or only some fields (the others are read
        from the pump first). Returns what was sent."""
        if limits is None:
            limits = self.limits()
        if changes:
            limits = dataclasses.replace(limits, **changes)
        self.request(MT.SET_LIMITS, {k: _uint(v, k) for k, v in limits.fields().items()})
        return limits

    def start(self) -> None:
        """Start (resume) the programmed therapy."""
        self.request(MT.START_THERAPY)

    def stop(self) -> None:
        """Stop the pump (an active bolus is cancelled)."""
        self.request(MT.STOP_THERAPY)

    def clinician_bolus(self, duration_ms: int, *, volume_nl: int | None = None,
                        dose_ug: int | None = None) -> BolusStarted:
        """Start a clinician bolus of ``volume_nl`` or ``dose_ug`` (exactly one) over
        ``duration_ms``."""
        if (volume_nl is None) == (dose_ug is None):
            raise ValueError("give exactly one of volume_nl and dose_ug")
        f = self.request(MT.CLINICIAN_BOLUS, {
            "volume_nl": _uint(volume_nl or 0, "volume_nl"), "dose_ug": _uint(dose_ug or 0, "dose_ug"),
            "duration_ms": _uint(duration_ms, "duration_ms")})
        return _bolus_started(f)

    def patient_bolus(self) -> PatientBolusResult:
        """Ask for a patient bolus; granted or denied with a reason (a denial is an answer,
        not an exception)."""
        return PatientBolusResult.from_fields(self.request(MT.PATIENT_BOLUS))

    def cancel_bolus(self) -> None:
        """Cancel the active bolus."""
        self.request(MT.CANCEL_BOLUS)

    def priming_bolus(self, volume_nl: int, duration_ms: int) -> BolusStarted:
        """Start a priming bolus (catheter and tubing) of ``volume_nl`` over ``duration_ms``."""
        return _bolus_started(self.request(MT.PRIMING_BOLUS, {
            "volume_nl": _uint(volume_nl, "volume_nl"), "duration_ms": _uint(duration_ms, "duration_ms")}))

    def refill_begin(self) -> None:
        """Enter refill (delivery stops)."""
        self.request(MT.REFILL_BEGIN)

    def refill_withdrawn(self, withdrawn_nl: int) -> None:
        """Report the volume withdrawn from the reservoir (nL)."""
        self.request(MT.REFILL_WITHDRAWN, {"withdrawn_nl": _uint(withdrawn_nl, "withdrawn_nl")})

    def refill_complete(self, withdrawn_nl: int, filled_nl: int,
                        concentration_ug_per_ml: int) -> RefillResult:
        """Finish the refill: withdrawn and filled volumes (nL), the new concentration."""
        f = self.request(MT.REFILL_COMPLETE, {
            "withdrawn_nl": _uint(withdrawn_nl, "withdrawn_nl"), "filled_nl": _uint(filled_nl, "filled_nl"),
            "concentration_ug_per_ml": _uint(concentration_ug_per_ml, "concentration_ug_per_ml")})
        return RefillResult(f["reservoir_nl"], f["expected_withdrawn_nl"], bool(f["discrepancy"]),
                            f["refill_due_ms"] or None)

    def alarms(self) -> list[AlarmInfo]:
        """The active alarms."""
        return [AlarmInfo(_enum(Alarm, a["alarm"]), _enum(AlarmPriority, a["priority"]),
                          a["raised_ms"], bool(a["acknowledged"]), _enum(Tone, a["tone"]),
                          a["repeat_ms"])
                for a in self.request(MT.GET_ALARMS)["alarms"]]

    def alarm_test(self) -> None:
        """Sound both alarm tones once on the pump (clinician; logged as ALARM_TEST)."""
        self.request(MT.ALARM_TEST)

    def ack_alarm(self, alarm: int) -> None:
        """Acknowledge an alarm (Alarm or its id)."""
        self.request(MT.ACK_ALARM, {"alarm": _uint(int(alarm), "alarm")})

    def read_log(self, start_index: int = 0, count: int = wire.MAX_LOG_ENTRIES) -> LogPage:
        """One page (at most 16 entries) of the event log from ``start_index``."""
        f = self.request(MT.READ_LOG, {"start_index": _uint(start_index, "start_index"),
                                       "count": max(1, min(int(count), wire.MAX_LOG_ENTRIES))})
        return LogPage(f["total_count"], tuple(_log_entry(e) for e in f["entries"]))

    def iter_log(self, start_index: int = 0, end_index: int | None = None,
                 progress: Callable[[int, int], None] | None = None) -> Iterator[LogEntry]:
        """Every log entry from ``start_index`` up to ``end_index`` (default: the end), page by
        page; ``progress(done, total)`` is called after each page."""
        index = start_index
        while True:
            page = self.read_log(index, wire.MAX_LOG_ENTRIES)
            end = page.total_count if end_index is None else min(end_index, page.total_count)
            for entry in page.entries:
                if entry.index >= end:
                    break
                yield entry
            if progress is not None:
                progress(min(index + len(page.entries), end) - start_index, max(0, end - start_index))
            if not page.entries or index + len(page.entries) >= end:
                return
            index = page.entries[-1].index + 1

    def clock(self) -> ClockReading:
        """The pump's run clock and wall (time-of-day) clock, ms."""
        f = self.request(MT.GET_CLOCK)
        return ClockReading(f["time_ms"], f["wall_ms"])

    def set_clock(self, wall_ms: int) -> None:
        """Set the wall (time-of-day) clock, ms since 1970-01-01 pump local time (the run clock
        never jumps)."""
        self.request(MT.SET_CLOCK, {"wall_ms": _uint(wall_ms, "wall_ms", 64)})

    def set_telemetry(self, interval_ms: int) -> None:
        """Ask for a STATUS_PUSH every ``interval_ms`` (0 turns it off)."""
        self.request(MT.SET_TELEMETRY, {"interval_ms": _uint(interval_ms, "interval_ms")})

    def inject_fault(self, fault: FaultKind | int | str, value: int | None = None, *,
                     clear: bool = False) -> None:
        """Emulator only: raise (or with ``clear``, end) a fault while the pump runs.

        ``fault``: a FaultKind, its number, or the model's fault name (``"over_infusion"``,
        ``"occlusion"``, ``"motor_stall"``...). ``value``: the fault's one parameter in its
        unit (PROTOCOL.md, INJECT_FAULT: permille for over/under-infusion, % for occlusion and
        leak, ms for a stall's recovery and an MRI exposure); None = its default. ValueError for
        an unknown name or a value outside the wire range; the pump refuses what it cannot do."""
        kind = _fault_kind(fault)
        if value is None:
            wire = FAULT_WIRE.get(kind) if isinstance(kind, FaultKind) else None
            value = wire.default if wire is not None and not clear else 0
        self.request(MT.INJECT_FAULT, {"fault": _uint(int(kind), "fault", 8),
                                       "action": int(FaultAction.CLEAR if clear
                                                     else FaultAction.RAISE),
                                       "value": _uint(value, "value")})


def _log_entry(e: Mapping[str, Any]) -> LogEntry:
    """A LogEntry from a 1.1 typed entry (named values) or a 1.0 entry (its detail text)."""
    if "detail" in e:
        return LogEntry(e["index"], e["time_ms"], e["kind"], e["detail"])
    return LogEntry(e["index"], e["time_ms"], e["kind"], describe_record(e["kind"], e),
                    decode_record(e["kind"], e))


def _now_ms() -> int:
    return int(time.monotonic() * 1000)


def _uint(value: Any, name: str, bits: int = 32) -> int:
    """Check an integer wire value before anything is sent (ValueError names the field)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not 0 <= value < 1 << bits:
        raise ValueError(f"{name} = {value} is outside 0..{(1 << bits) - 1}")
    return value


def _fault_kind(fault: FaultKind | int | str) -> FaultKind | int:
    """The FaultKind of a kind, number or model fault name (ValueError for an unknown name)."""
    if isinstance(fault, str):
        for kind, wire in FAULT_WIRE.items():
            if wire.model_name == fault and kind is not FaultKind.CLEAR_MOTOR_STALL:
                return kind
        raise ValueError(f"unknown fault {fault!r} (known: "
                         f"{', '.join(sorted({w.model_name for w in FAULT_WIRE.values()}))})")
    return fault


def _bolus_started(f: Mapping[str, Any]) -> BolusStarted:
    return BolusStarted(_enum(BolusKind, f["bolus_kind"]), f["volume_nl"], f["start_ms"], f["end_ms"])


__all__ = ["ClientStats", "Event", "IDEMPOTENT", "PumpClient"]
