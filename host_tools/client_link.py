"""The reading side of PumpClient: frames from the link to the waiting request or to the
event queue and callbacks, read by the requesting thread or by a background listener.

Two modes. Without a listener thread, the thread waiting for a response reads the link itself,
holding the request lock: no thread hand-off on the request path. With a listener
(:meth:`LinkReader.start_listener`, implied by ``on_event`` and ``next_event``), one daemon
thread reads everything and the waiters wait on conditions. Events are checked (tag, fresh seq)
before anyone sees them.
"""
from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from hal.base import Link
from hal.errors import LinkError
from protocol.decoder import StreamDecoder
from protocol.enums import FrameKind, MessageType as MT
from protocol.errors import NakCode, ProtocolError
from protocol.frame import Frame
from protocol.session import HostSession

from host_tools.errors import ConnectionFailed
from host_tools.records import AlarmEvent, Status, StatusPush

log = logging.getLogger("host_tools.client")

Event = AlarmEvent | StatusPush

# Naks that mean "this client broke the protocol" rather than "the pump refuses the command".
VIOLATIONS = {NakCode.FRAMING, NakCode.UNSUPPORTED_VERSION, NakCode.UNKNOWN_MESSAGE_TYPE,
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


class Lost(Exception):
    """Internal: the link or the session went away during a request."""

    def __init__(self, message: str, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent  # True if the request may have reached the pump



class LinkReader:
    """Reads frames for a client: responses to the waiting request, events to the queue and
    callbacks. The attributes are set up by the client (:class:`host_tools.client_core.ClientCore`)."""

    name: str
    stats: ClientStats
    _link: Link | None
    _session: HostSession | None
    _request_lock: Any
    _responses: collections.deque[Frame]
    _cond: threading.Condition
    _reader: threading.Thread | None
    _decoder: StreamDecoder
    _last_rx: float
    _stop: threading.Event
    _link_lost: str | None
    _events: collections.deque[Event]
    _event_cond: threading.Condition
    _callbacks: list[Callable[[Event], None]]

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
        Raises Lost when the link went away."""
        try:
            data = link.read(4096)
        except (LinkError, OSError) as exc:
            if not self._stop.is_set():
                log.warning("%s: link lost: %s", link.name, exc)
            with self._cond:
                self._link_lost = str(exc) or "link closed"
                self._cond.notify_all()
            raise Lost(f"link lost: {self._link_lost}", sent=True) from None
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
            except Lost:
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

