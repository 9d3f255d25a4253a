"""The virtual pump's device loop: link bytes -> frames -> session checks -> model -> responses.

Order of checks for every CRC-valid frame (the decoder drops everything else):

1. Not a request (a response or event sent to the pump): ignored, counted.
2. Handshake (SESSION_OPEN, SESSION_PROOF) and untagged frames with session id 0: only
   IDENTIFY, SESSION_OPEN and SESSION_PROOF are served; anything else gets an untagged
   NAK(NO_SESSION). Wrong proofs spend a budget of verdicts per role and sender
   (RATE_LIMITED with retry_after_ms when it is spent).
3. Tagged frames (PROTOCOL.md section 7): session id and tag (untagged NAK NO_SESSION /
   BAD_TAG: nothing about the frame can be trusted, so the answer carries no tag), then the
   retransmission cache (same seq and same tag as the last answered request: the cached answer
   is sent again, byte for byte, and nothing is executed), then freshness (a lower seq, or the
   same seq with another tag: tagged NAK STALE_SEQUENCE, not remembered), then the role (tagged
   NAK FORBIDDEN_FOR_ROLE, remembered), then the payload (NAK MALFORMED_PAYLOAD /
   UNKNOWN_MESSAGE_TYPE / TOO_MANY_STEPS, remembered), then the model.

Those session rules live in the pure :class:`protocol.pump_layer.PumpSessionLayer`; this module
is the I/O shell around it (link, threads, real-time clock) and the bridge to the model; its
serving loop (reads, reconnects, driving without a thread) is :mod:`firmware_sim.device.serving`.

The model commits every accepted change to its storage before its method returns, and the
response is written only afterwards: a power loss after an ACK never loses the change.

The model is advanced with its clock (``pump.tick()``) before every executed request and
whenever the next model event is due (``Pump.next_event_ms``), so alarms are raised and pushed
as ALARM_EVENT frames at their time without any request, also in time-warped runs. An advance
that logs something is committed at once; one during which only time passed (delivery
integrated, nothing logged, nothing acknowledged) is committed with the next change or at the
latest ``max_idle_s`` real seconds later (a checkpoint), so reads cost no storage write and a
power loss loses at most that much unlogged run time, as with an idle pump.
"""
from __future__ import annotations

import collections
import logging
import sqlite3
import threading
import time
from types import TracebackType
from typing import Any, Callable, Mapping

import hal
from firmware_sim.enums import Alarm
from firmware_sim.errors import Rejected
from firmware_sim.pump import Pump
from firmware_sim.storage import Event
from protocol import (DEVELOPMENT_KEYS, AuthLimiter, Frame, NakCode,
                      ProtocolError, Role, StreamDecoder, describe, parse_frame)
from protocol import MessageType as MT
from protocol.backoff import AuthBackoff
from protocol.pump_layer import Execute, PumpSessionLayer, Reply

from .auth import backoff_for
from .codes import nak_code, nak_detail, wire_field
from .handlers import Dispatcher, Refusal
from .refusal_log import RefusalLog
from .recovery import raise_memory_error, reload_committed
from .refusals import RefusalRecords
from .serving import LinkServing
from .stats import DeviceStats

log = logging.getLogger(__name__)
frame_log = logging.getLogger("firmware_sim.device.frames")

DEFAULT_SERIAL = "IP-000001"
MIN_TELEMETRY_MS = 100
MAX_TELEMETRY_MS = 86_400_000


def next_event_ms(pump: Pump, until_ms: int) -> int | None:
    """Run time (ms) of the first event the model will log after its run time and at most at
    ``until_ms``; None if none (:meth:`Pump.next_event_ms`, kept here for callers)."""
    return pump.next_event_ms(until_ms)


class Device(LinkServing):
    """A pump model served over a link (see the module documentation for the rules).

    ``keys`` maps Role -> key bytes (default: the public development keys, with a warning).
    ``reopen`` (optional) returns a new link when the current one is closed by its peer (a
    virtual pair's host left); without it the loop ends on a closed link. ``auth_limiter``
    (an :class:`AuthBackoff`, or an :class:`AuthLimiter` whose numbers configure one) defaults
    to :class:`AuthBackoff`. ``sender`` identifies this device's host in the back-off
    accounts. ``max_idle_s`` bounds the time between model clock
    advances of an idle device (real seconds).
    """

    def __init__(self, pump: Pump, link: hal.Link, keys: Mapping[Role, bytes] | None = None, *,
                 serial_number: str = DEFAULT_SERIAL, log_frames: bool = False,
                 reopen: Callable[[], hal.Link] | None = None,
                 auth_limiter: AuthLimiter | AuthBackoff | None = None, sender: int = 0, max_idle_s: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if keys is None:
            log.warning("using the DEVELOPMENT KEYS: they are public and NOT secret; "
                        "provision per-device keys for anything but development")
            keys = DEVELOPMENT_KEYS
        self.pump = pump
        self.link = link
        self.keys: dict[Role, bytes] = {Role(r): bytes(k) for r, k in keys.items()}
        self.serial_number = serial_number
        self.log_frames = log_frames
        self.reopen = reopen
        self.max_idle_s = max_idle_s
        self.sender = sender
        self.refusal_records = RefusalRecords(lambda *a: self.pump.log_refusal(*a))
        self._mono = monotonic
        self.lock = threading.RLock()
        self.decoder = StreamDecoder()
        self.refusals = RefusalLog(log, monotonic=monotonic)
        self.stats = DeviceStats(decoder=self.decoder.stats)
        self.dispatcher = Dispatcher(pump, serial_number)
        self.layer = PumpSessionLayer(self.keys, self.dispatcher.identity_fields,
                                      self._is_request_type, backoff=backoff_for(auth_limiter, pump.profile),
                                      on_refusal=self._on_refusal, stats=self.stats)
        self._telemetry_ms = 0
        self._next_push = 0.0
        self._next_tick = 0.0
        self._last_rx = 0.0
        self._outbox: collections.deque[tuple[MT, dict[str, Any]]] = collections.deque()
        self._alarm_mask = pump.alarm_mask
        self._next_checkpoint = 0.0
        self._connections = getattr(link, "connections", None)
        self._stop = threading.Event()
        self._final_commit = True
        self._thread: threading.Thread | None = None
        self._unsubscribe = pump.subscribe(self._on_event)
        log.info("pump %s (%s) ready on %s", serial_number, pump.profile.name, link.name)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "Device":
        """Serve in a daemon thread until :meth:`stop`; returns self."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self.serve_forever, args=(self._stop,),
                                        name=f"pump-device {self.link.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0, *, commit: bool = True, close_link: bool = False) -> None:
        """Stop the serving thread (within a read timeout, at most 0.25 s; at once with
        ``close_link``, which also closes the link). With ``commit`` the model is advanced to its
        clock's now and committed a last time (without: a simulated power loss, only what was
        already committed survives)."""
        self._final_commit = commit
        self._stop.set()
        if close_link:
            self.link.close()  # wakes a read blocked in the serving thread
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
        self._thread = None

    def close(self) -> None:
        """Stop serving and detach from the pump (the caller owns the link and the pump)."""
        self.stop()
        try:
            self._unsubscribe()
        except ValueError:
            pass

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def session(self) -> Any:
        """The established session (a :class:`protocol.PumpSession`), or None."""
        return self.layer.session

    @property
    def limiter(self) -> AuthBackoff:
        """The authentication back-off (per role and sender)."""
        return self.layer.backoff

    def _new_host(self, why: str) -> None:
        with self.lock:
            self.stats.reconnects += 1
            self.decoder.reset()
            if self.layer.session is not None or self.layer.pending:
                log.info("%s: session dropped", why)
            self.layer.drop()
            self._telemetry_ms = 0

    # ------------------------------------------------------------------ time
    def poll(self) -> float:
        """Advance the model if due, push pending events and telemetry; return the seconds
        until the device next needs to run (the caller may wait that long for bytes)."""
        with self.lock:
            self.refusals.flush()
            now = self._mono()
            if now >= self._next_tick:
                self._tick()
                self._next_tick = now + self._until_next_event()
            if self._telemetry_ms and self.session is not None and now >= self._next_push:
                self._tick()
                self._push(MT.STATUS_PUSH, self.dispatcher.status_fields())
                self._next_push = max(self._next_push + self._telemetry_ms / 1000, now)
            self._flush_events()
            self.refusal_records.flush(now)
            wait = self._next_tick - now
            if self._telemetry_ms and self.session is not None:
                wait = min(wait, self._next_push - now)
            return max(0.0, wait)

    def run_pending(self) -> None:
        """Advance the model to its clock's now and push what that raised, at once."""
        with self.lock:
            self._tick(commit=True)
            self._next_tick = self._mono() + self._until_next_event()
            self._flush_events()

    def _tick(self, commit: bool = False) -> None:
        """Advance the model to its clock's now. What it logs is committed at once; time-only
        progress with ``commit`` or when the checkpoint is due (see the module documentation)."""
        pump = self.pump
        try:
            pump.tick(commit=commit)
            self.stats.ticks += 1
            if pump.uncommitted_ms:
                now = self._mono()
                if now >= self._next_checkpoint:
                    pump.checkpoint()
                    self._next_checkpoint = now + self.max_idle_s
        except Exception:  # noqa: BLE001 - the device keeps serving; the model logged it
            log.exception("advancing the pump failed")

    def _until_next_event(self) -> float:
        """Real seconds until the next model event (bounded by max_idle_s)."""
        warp = getattr(self.pump.clock, "warp", None)
        if not warp:
            return self.max_idle_s
        horizon = int(self.max_idle_s * warp * 1000)
        try:
            t = self.pump.next_event_ms(self.pump.time_ms + horizon)
        except Exception:  # noqa: BLE001 - a failed look-ahead only costs a later wake-up
            log.exception("look-ahead failed")
            return self.max_idle_s
        if t is None:
            return self.max_idle_s
        ahead = t - self.pump.clock.now_ms() + 1  # +1 ms: the scaled clock rounds down
        return max(0.0, min(self.max_idle_s, ahead / warp / 1000))

    # ------------------------------------------------------------------ events
    def _on_event(self, ev: Event) -> None:
        """Pump subscriber: remember what to push (called where the pump committed)."""
        self.dispatcher.on_event(ev)
        self._next_tick = 0.0  # whatever changed may bring the next model event closer
        if ev.kind not in ("ALARM_RAISED", "ALARM_CLEARED"):
            return
        try:
            alarm = Alarm[str(ev.details.get("alarm"))]
        except KeyError:
            return
        raised = ev.kind == "ALARM_RAISED"
        if raised:
            self._alarm_mask |= alarm.mask
        else:
            self._alarm_mask &= ~alarm.mask
        level = logging.WARNING if raised else logging.INFO
        log.log(level, "alarm %s %s at pump time %d ms", alarm.name,
                "raised" if raised else "cleared", ev.time_ms)
        self._outbox.append((MT.ALARM_EVENT, {
            "alarm": int(alarm), "raised": int(raised), "priority": int(alarm.priority),
            "time_ms": max(0, ev.time_ms),
            "active_alarms": self._alarm_mask}))

    def _flush_events(self) -> None:
        while self._outbox:
            msg_type, fields = self._outbox.popleft()
            if self.session is not None:
                self._push(msg_type, fields)

    def _push(self, msg_type: MT, fields: dict[str, Any]) -> None:
        try:
            data = self.layer.event(msg_type, fields)
        except ProtocolError as exc:
            log.error("cannot encode %s: %s", msg_type.name, exc)
            return
        if data is not None and self._send(data):
            self.stats.events += 1

    # ------------------------------------------------------------------ frames
    def handle_bytes(self, data: bytes) -> None:
        """Feed raw bytes from the link; answers go to the link."""
        with self.lock:
            for frame in self.decoder.feed(data):
                self._handle_frame_safely(frame)
            self._flush_events()

    def _send(self, data: bytes) -> bool:
        if self.log_frames:
            try:
                frame_log.info("tx %s", describe(parse_frame(data)))
            except ProtocolError:
                frame_log.info("tx %s", data.hex())
        try:
            self.link.write(data)
            return True
        except hal.LinkError as exc:
            self.stats.write_errors += 1
            log.warning("write to %s failed: %s", self.link.name, exc)
            return False

    def _respond(self, frame: Frame, data: bytes) -> None:
        if self._send(data):
            self.stats.responses += 1

    def _on_refusal(self, code: NakCode, request_type: int, detail: str,
                    authenticated: bool) -> None:
        """Every refusal goes to the event log (:mod:`firmware_sim.device.refusals`) and to the
        rate-limited process log (:mod:`firmware_sim.device.refusal_log`)."""
        role = None
        if authenticated:
            role = int(self.layer.session.role) if self.layer.session is not None else 0
        self.refusal_records.refused(code, request_type, role, self._mono())
        self.refusals.record(code.name, f"refused type 0x{request_type & 0xFF:02X}: "
                                        f"{code.name} {detail}")

    def _handle_frame_safely(self, frame: Frame) -> None:
        try:
            self._handle_frame(frame)
        except Exception:  # noqa: BLE001 - a bug must not stop the pump from serving
            log.exception("internal error while handling %s seq=%d", frame.name, frame.seq)
            self.stats.naks[NakCode.INTERNAL_ERROR] += 1

    def _handle_frame(self, frame: Frame) -> None:
        self.stats.frames += 1
        if self.log_frames:
            frame_log.info("rx %s", describe(frame))
        decision = self.layer.receive(frame, self._now_ms(), self.sender)
        if decision is None:
            self.refusals.record(f"ignored {frame.kind.name}", f"ignored {frame.kind.name} frame "
                                 f"{frame.name} seq={frame.seq}", logging.INFO)
            return
        self.stats.requests += 1
        if isinstance(decision, Reply):
            answer = decision.data[12]
            if decision.retransmission:
                self.refusals.record("retransmission", f"{frame.name} seq={frame.seq} answered "
                                     "again from the cache", logging.INFO)
            elif answer == MT.SESSION_CHALLENGE:
                self.refusals.record("unproven SESSION_OPEN", f"challenge sent for "
                                     f"{frame.name} seq={frame.seq}", logging.INFO)
            elif answer == MT.SESSION_ACCEPTED:
                self._vouch()
            if not decision.retransmission and answer != MT.NAK:
                self.stats.executed += 1
            self._respond(frame, decision.data)
            return
        assert isinstance(decision, Execute)
        self._vouch()
        outcome = self._execute(frame, decision.session)
        if outcome[0] == MT.NAK:
            data = self.layer.refuse(frame, *outcome[1:])
        else:
            data = self.layer.answer(frame, outcome[0], outcome[1])
        self._respond(frame, data)
        if self.layer.session is None:
            self._telemetry_ms = 0

    def _vouch(self) -> None:
        """The host proved a key: a link that serves one host at a time keeps it (hal.tcp)."""
        getattr(self.link, "vouch", lambda: None)()

    def _now_ms(self) -> int:
        return int(self._mono() * 1000)

    @staticmethod
    def _is_request_type(msg_type: int) -> bool:
        try:
            return MT(msg_type) in Dispatcher.REQUESTS
        except ValueError:
            return False

    def _execute(self, frame: Frame, sess: Any) -> tuple[Any, ...]:
        """Run one fresh, authentic, permitted, well-formed request: (answer type, fields) on
        success, (NAK, code, detail[, retry_after_ms]) on refusal."""
        mt = MT(frame.msg_type)
        fields = frame.fields or {}
        self._tick()  # the model acts at the pump's now
        self.dispatcher.begin_request()
        try:
            if mt == MT.SESSION_CLOSE:
                result: tuple[Any, ...] = (MT.ACK, self.dispatcher.ack_fields(mt))
            elif mt == MT.SET_TELEMETRY:
                result = self._set_telemetry(fields)
            else:
                handler = self.dispatcher.table.get(mt)
                if handler is None:
                    raise Refusal(NakCode.UNKNOWN_MESSAGE_TYPE, f"{mt.name} is not a request")
                result = handler(fields)
        except Rejected as exc:
            code = nak_code(exc.code)
            field = wire_field(mt, exc.field)
            log.info("model refused %s: %s %s (%s)", mt.name, exc.code.value, field, exc.reason)
            return MT.NAK, code, nak_detail(code, field, exc.reason), exc.retry_after_ms
        except Refusal as exc:
            return MT.NAK, exc.code, exc.detail
        except ProtocolError as exc:
            return MT.NAK, exc.code, exc.detail
        except sqlite3.Error as exc:
            log.error("storage failed during %s: %s", mt.name, exc)
            self._storage_failed(str(exc))
            return MT.NAK, NakCode.STORAGE_ERROR, str(exc)
        except Exception as exc:  # noqa: BLE001 - never let one request stop the pump
            log.exception("internal error during %s", mt.name)
            return MT.NAK, NakCode.INTERNAL_ERROR, type(exc).__name__
        self.stats.executed += 1
        self._next_tick = 0.0  # the model may have a new next event: look again
        log.info("%s seq=%d by %s: %s", mt.name, frame.seq, sess.role.name, result[0].name)
        return result

    def _storage_failed(self, why: str) -> None:
        """The store refused a commit: go back to the last committed state with the memory
        alarm (:mod:`firmware_sim.device.recovery`), which is pushed to the host as usual."""
        pump = reload_committed(self.pump)
        if pump is not self.pump:
            self._unsubscribe()
            self.pump = self.dispatcher.pump = pump
            self._unsubscribe = pump.subscribe(self._on_event)
            self._alarm_mask = pump.alarm_mask
        raise_memory_error(pump, why)

    def _set_telemetry(self, fields: dict[str, Any]) -> tuple[MT, dict[str, Any]]:
        interval = fields["interval_ms"]
        if interval and not MIN_TELEMETRY_MS <= interval <= MAX_TELEMETRY_MS:
            raise Refusal(NakCode.INVALID_FIELD, "interval_ms")
        self._telemetry_ms = interval
        self._next_push = self._mono() + interval / 1000
        log.info("status telemetry %s", f"every {interval} ms" if interval else "off")
        return MT.ACK, self.dispatcher.ack_fields(MT.SET_TELEMETRY)
