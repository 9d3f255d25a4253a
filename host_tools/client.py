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

import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from protocol import messages as wire
from protocol.enums import (FAULT_WIRE, Alarm, AlarmPriority, BolusKind, FaultAction, FaultKind,
                            MessageType as MT, Tone, Weekday)
from protocol.errors import NakCode
from protocol.frame import encode_frame
from protocol.host_layer import IDEMPOTENT
from protocol.log_records import decode_record, describe_record

from host_tools.client_core import ClientCore
from host_tools.client_link import ClientStats, Event, Lost
from host_tools.errors import ConnectionFailed, Refused
from host_tools.records import (AlarmInfo, BolusStarted, ClockReading, DeviceLimits, Drug,
                                DrugLibraryEntry, Identity, Limits, LogEntry, LogPage,
                                PatientBolusResult, RefillResult, Schedule, Status, Step, _enum)

log = logging.getLogger(__name__)


class PumpClient(ClientCore):
    """A connection to one pump for one role, with a typed method for every request; see the
    module documentation. Its arguments (``url``, ``role``, ``key``, ``timeout_s``,
    ``retries``, ``event_queue``, ``auth_wait_s``, ``link_options``) and the connection's life
    (open, close, reconnect, events) are :class:`~host_tools.client_core.ClientCore`'s.
    """

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
            except Lost as exc:
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

    def device_limits(self) -> DeviceLimits:
        """The ranges the pump accepts (rates, steps, reservoir, boluses, lockout, threshold,
        refill tolerance), as it reports them (GET_DEVICE_LIMITS, protocol 1.1). A pump that
        lacks the request (1.0) refuses it: ProtocolViolation (UNKNOWN_MESSAGE_TYPE)."""
        return DeviceLimits.from_fields(self.request(MT.GET_DEVICE_LIMITS))

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
