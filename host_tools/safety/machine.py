"""The whole-stack safety machine: PumpClient -> faulty virtual link -> Device -> Pump -> SQLite.

A hypothesis ``RuleBasedStateMachine`` sends random commands in clinician and patient sessions
(and with wrong keys), injects link faults, raw attacks (replays, forged tags, unauthenticated and
malformed frames), moves the pump's clock (forward, to the edges of lockouts, boluses and alarm
thresholds, by months and years) and the wall clock (backwards and forwards with SET_CLOCK),
refills, stalls the motor and cuts the power. After every step it checks every safety invariant
of REQUIREMENTS.md against the oracle of :mod:`host_tools.safety.oracle` (see
:meth:`SafetyMachine.check`).

``make_machine(faults=..., name=...)`` returns a machine class (``only=`` focuses it on a few
rules, for the planted-bug hunts); the tests run it with hypothesis's state-machine runner.
Counters of examples, steps, commands, states and alarms go to :mod:`host_tools.safety.stats`.

One host link serves a whole example; each session sees it through its own fault injector and
records its frames (for replays). A command's outcome is "ok", "refused" or, when the answer was
lost for good, decided from the pump's event log after a fresh round trip.
"""
from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
from typing import Any, Callable

from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, precondition,
                                 rule)

from firmware_sim import ManualClock, Profile, load_profile
from hal.base import Link
from hal.faults import FaultInjector, FaultPlan
from host_tools import strategies as ips
from host_tools.client import PumpClient
from host_tools.errors import (AuthenticationFailed, ConnectionFailed, ProtocolViolation,
                               Refused, ResponseTimeout)
from protocol import (FAULT_WIRE, AuthLimiter, FaultKind, FrameKind, MessageType as MT, NakCode,
                      Role, crc16, encode_frame)

from . import stats
from .loopback import LoopbackPump
from .oracle import (DAY_MS, DELIVERING, MEASURE_WITHDRAWN, MINUTE_MS, PG_PER_UG, Limits, Oracle,
                     Violation)

HOUR_MS = 3_600_000
YEAR_MS = 365 * DAY_MS
ALARMS = ("LOW_RESERVOIR", "EMPTY_RESERVOIR", "REFILL_DUE", "BATTERY_ERI", "END_OF_SERVICE",
          "MOTOR_STALL", "MEMORY_ERROR", "REFILL_DISCREPANCY", "REDUCED_BATTERY")
CLINICIAN_ONLY = {"set_drug", "set_schedule", "set_limits", "start", "stop", "clinician_bolus",
                  "priming_bolus", "cancel_bolus", "refill_begin", "refill_withdrawn",
                  "refill_complete", "set_clock", "inject_fault"}
# Events that mark the execution of one command: each may appear at most once per command.
MARKERS = {"set_drug": ("PROGRAM",), "set_schedule": ("PROGRAM",),
           "set_limits": ("THRESHOLD", "PATIENT_BOLUS_CONFIG"),
           "clinician_bolus": ("BOLUS_START",), "priming_bolus": ("BOLUS_START",),
           "patient_bolus": ("PATIENT_BOLUS_GRANTED+PATIENT_BOLUS_DENIED",),
           "cancel_bolus": ("BOLUS_END",), "refill_begin": ("REFILL_BEGIN",),
           "refill_withdrawn": ("REFILL_WITHDRAWN",),
           "refill_complete": ("REFILL_COMPLETE", "REFILL_WITHDRAWN"),
           "ack_alarm": ("ALARM_ACK",), "set_clock": ("CLOCK_SET",)}


class SessionLink(Link):
    """The host end as one session's client sees it: the example's one host link, seen
    through an optional FaultInjector, recording the frames written (for replay attacks).

    Closing it leaves the shared host link open (the pump keeps its link across sessions).
    Reads wait at most 10 ms at a time, so a client's reader thread stops at once on close.
    """

    def __init__(self, base: Link, plan: FaultPlan | None = None, keep: int = 32) -> None:
        super().__init__(f"session+{base.name}", timeout=base.timeout)
        self.base = base
        self.faults = FaultInjector(_Shared(base), plan) if plan is not None and plan.active \
            else None
        self.keep = keep
        self.sent: list[bytes] = []

    def _timeout_changed(self, timeout: float | None) -> None:
        pass

    def _read_hook(self, n: int, timeout: float | None) -> bytes:
        wait = 0.01 if timeout is None else min(timeout, 0.01)
        inner = self.faults if self.faults is not None else self.base
        inner.timeout = wait
        return inner.read(n)

    def _write_hook(self, data: bytes) -> None:
        self.sent.append(data)
        del self.sent[:-self.keep]
        (self.faults if self.faults is not None else self.base).write(data)

    def write_clean(self, data: bytes) -> None:
        """Write bytes past the fault injector (raw attacks must arrive as written)."""
        self.base.write(data)


class _Shared(Link):
    """A view of a link that does not close it."""

    def __init__(self, inner: Link) -> None:
        super().__init__(inner.name, timeout=inner.timeout)
        self.inner = inner

    def _timeout_changed(self, timeout: float | None) -> None:
        self.inner.timeout = timeout

    def _read_hook(self, n: int, timeout: float | None) -> bytes:
        return self.inner.read(n)

    def _write_hook(self, data: bytes) -> None:
        self.inner.write(data)


@functools.lru_cache(maxsize=None)
def _profile(name: str) -> Profile:
    """A device profile, loaded once per process (profiles are immutable)."""
    return load_profile(name)


def _alarm_name(a: Any) -> str:
    return getattr(a, "name", str(a))


class SafetyMachine(RuleBasedStateMachine):
    """See the module documentation. Subclasses set FAULTS (link faults allowed)."""

    FAULTS = True
    PROFILE = "ip20"
    FORCE: frozenset[str] = frozenset()  # set-up forced: "patient", "start", "low fill"

    def __init__(self) -> None:
        super().__init__()
        stats.count("examples")
        shm = "/dev/shm"  # a RAM disk where there is one: commits without disk syncs
        self.tmp = tempfile.mkdtemp(prefix="ip-safety-",
                                    dir=shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None)
        self.clock = ManualClock(0)
        # failed proofs are part of the attacks: a back-off in real seconds would only slow the
        # machine down (the device's own tests cover the back-off)
        self.vp = LoopbackPump(profile=_profile(self.PROFILE), clock=self.clock,
                               state_path=os.path.join(self.tmp, "pump.db"),
                               auth_limiter=AuthLimiter(max_failures=1_000_000),
                               max_idle_s=0.01)
        self.lim = Limits.from_profile(self.vp.profile)
        self.oracle = Oracle(self.lim)
        self.role = Role.CLINICIAN
        self.plan: FaultPlan | None = None
        self.link: SessionLink | None = None
        self.client: PumpClient | None = None
        self.host = self.vp.host
        self.log_index = 0
        self.samples: list[tuple[int, int]] = []  # (run ms, delivered dose ug) of this drug
        self.sample_drug: str | None = None
        self.huge_jumps = 0
        self.failed_logins = 0
        self.prev = (0, 0)  # (run ms, delivered nL) at the last check
        self.raised_since_check: list[str] = []  # ALARM_RAISED logged since the last check
        self.session_checked = -1  # session of the last check (pushes are per session)
        self.inexact_steps = 0
        self._connect(Role.CLINICIAN, None)
        self._drain_events()

    # ------------------------------------------------------------------ plumbing
    def teardown(self) -> None:
        with contextlib.suppress(Exception):
            if self.client is not None:
                self.client.close()
        with contextlib.suppress(Exception):
            self.vp.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _connect(self, role: Role, plan: FaultPlan | None, key: bytes | None = None) -> None:
        """Start a new session for ``role`` over the host link seen through ``plan``; a link
        so faulty that no handshake gets through is replaced by a clean one."""
        if self.client is not None:
            self.client.close()
            self.client = None
        for attempt in range(6):
            if attempt == 5:
                plan = None
            self.link = SessionLink(self.host, plan)
            self.plan = plan
            faulty = plan is not None and plan.active
            # few retries on some faulty links, so that answers are lost for good now and then
            retries = 8  # with 1..8 retries and 15 % faults the machine still reports divergences
            self.client = PumpClient(self.link, role=role, key=key,
                                     timeout_s=0.05 if faulty else 2.0, retries=retries)
            self.role = role
            try:
                self.client.open()
                return
            except (ConnectionFailed, ResponseTimeout, ProtocolViolation):
                self.client.close()
                if plan is None or not plan.active:
                    raise

    def _read(self) -> tuple[Any, dict[str, Any], int]:
        """(status, snapshot, event count) of the pump, read under the device lock."""
        with self.vp.device.lock:
            p = self.vp.pump
            return p.status(), p.snapshot(), p.storage.event_count()

    def _status(self) -> Any:
        """The pump's status (the model's own), read under the device lock."""
        with self.vp.device.lock:
            return self.vp.pump.status()

    def _snapshot(self) -> dict[str, Any]:
        """The pump's whole state (what a refused command must leave unchanged)."""
        with self.vp.device.lock:
            return self.vp.pump.snapshot()

    def _drain_events(self) -> list[Any]:
        """The events logged since the last call; their indexes must be gapless."""
        with self.vp.device.lock:
            evs = self.vp.pump.read_events(self.log_index, 100_000)
        for i, ev in enumerate(evs):
            if ev.index != self.log_index + i:
                raise Violation(f"event log gap: expected index {self.log_index + i}, got {ev.index}")
        self.log_index += len(evs)
        self.raised_since_check += [str(e.details.get("alarm")) for e in evs
                                    if e.kind == "ALARM_RAISED"]
        return evs

    def _sync(self) -> None:
        """Make sure the device has handled every byte written so far (a fresh round trip)."""
        assert self.client is not None
        for attempt in range(6):
            try:
                if not self.client.connected:
                    self.client.open()
                self.client.limits()
                return
            except (ResponseTimeout, ConnectionFailed, ProtocolViolation):
                with contextlib.suppress(Exception):
                    self.client.reconnect()
        # a link this bad is not what the suite tests: fall back to a clean link
        self._connect(self.role if self.role is Role.CLINICIAN else Role.CLINICIAN, None)
        self.client.limits()

    # ------------------------------------------------------------------ commands
    def command(self, name: str, call: Callable[[PumpClient], Any]) -> tuple[str, Any, list[Any]]:
        """Send one command; returns (outcome, result, new events) where outcome is "ok",
        "refused" or "unknown" (then executed-or-not is read from the event log).

        A refused command must change nothing (snapshot and log unchanged); no command may
        log its marker event twice (executed at most once, whatever the link did).
        """
        assert self.client is not None
        stats.count(f"cmd.{name}")
        before = self._snapshot()
        outcome: str
        result: Any = None
        try:
            result = call(self.client)
            outcome = "ok"
        except Refused as exc:
            outcome, result = "refused", exc
        except ValueError as exc:  # the client would not encode it: nothing was sent
            outcome, result = "not sent", exc
        except (ResponseTimeout, ConnectionFailed, ProtocolViolation) as exc:
            if isinstance(exc, ProtocolViolation) and (self.plan is None or not self.plan.active):
                raise Violation(f"{name}: protocol violation on a clean link: {exc}") from exc
            outcome, result = "unknown", exc
            stats.count("outcome.unknown")
        if outcome == "unknown":
            self._sync()
        after = self._snapshot()
        evs = self._drain_events()
        # a refusal's own REFUSED log record is its only allowed trace (PROTOCOL.md section 7)
        evs = [e for e in evs if e.kind != "REFUSED"]
        kinds = [e.kind for e in evs]
        if outcome == "not sent":
            stats.count("check.SAF-7")
            if after != before or evs:
                raise Violation(f"{name} was never sent but the pump changed: {_diff(before, after)}")
            return "refused", result, evs
        if outcome == "refused":
            stats.count("check.SAF-7")
            if self.role is Role.PATIENT and name in CLINICIAN_ONLY and \
                    result.code != NakCode.FORBIDDEN_FOR_ROLE:
                raise Violation(f"{name} in a patient session refused with {result.code!r}, "
                                "not FORBIDDEN_FOR_ROLE")
            if after != before or evs:
                raise Violation(f"{name} was refused ({result}) but changed the pump: "
                                f"{_diff(before, after)} events {kinds}")
        elif self.role is Role.PATIENT and name in CLINICIAN_ONLY and (evs or after != before):
            raise Violation(f"{name} executed in a patient session: events {kinds}")
        stats.count("check.SAF-6")
        for marker in MARKERS.get(name, ()):
            n = sum(kinds.count(k) for k in marker.split("+"))
            if n > 1:
                raise Violation(f"{name} executed {n} times ({marker} x{n}): events {kinds}")
        if name == "patient_bolus" and outcome == "ok":
            stats.count("check.SAF-5")
            n = kinds.count("PATIENT_BOLUS_GRANTED") + kinds.count("PATIENT_BOLUS_DENIED")
            if n != 1:
                raise Violation(f"patient bolus answered but logged {n} times: {kinds}")
        return outcome, result, evs

    def executed(self, outcome: str, evs: list[Any]) -> bool:
        """Whether the command ran: answered with success, or (outcome unknown) it logged."""
        if outcome == "ok":
            return True
        if outcome == "refused":
            return False
        return bool(evs)

    def lost(self, outcome: str, evs: list[Any]) -> bool:
        """Whether the command's fate is "never reached the pump": its answer was lost for
        good and it logged nothing. It neither ran nor was refused, so the oracle's checks of
        a refusal (which hold only for an answer of the pump) do not apply."""
        return outcome == "unknown" and not evs

    def forbidden(self, name: str) -> bool:
        return self.role is Role.PATIENT and name in CLINICIAN_ONLY

    # ------------------------------------------------------------------ set-up
    @initialize(data=st.data())
    def program_and_fill(self, data: st.DataObject) -> None:
        """Most examples start from a programmed, filled and (usually) running pump."""
        if not self.FORCE and data.draw(st.integers(0, 9), label="blank pump") == 0:
            return
        if self.FAULTS and data.draw(st.booleans(), label="faulty link"):
            self._connect(Role.CLINICIAN, data.draw(ips.fault_plans(max_probability=0.08)))
        o = self.oracle
        drug, conc = data.draw(st.one_of(st.tuples(st.just("morphine"),
                                                   st.sampled_from([1_000, 10_000, 25_000])),
                                         ips.drugs(self.vp.profile)), label="drug")
        out, _, evs = self.command("set_drug", lambda c: c.set_drug(drug, conc))
        o.on_program(drug, conc, None, self.executed(out, evs))
        cap = max(self.lim.min_rate, self.lim.drugs[drug][3] * PG_PER_UG // conc)
        if data.draw(st.booleans(), label="room for boluses") or "patient" in self.FORCE:
            cap = max(self.lim.min_rate, cap // 2)
        steps = data.draw(ips.valid_steps(self.vp.profile, max_steps=4, max_daily_nl=cap),
                          label="steps")
        out, _, evs = self.command("set_schedule", lambda c: c.set_schedule(steps))
        o.on_program(None, None, steps, self.executed(out, evs))
        patient = data.draw(st.integers(0, 4), label="patient boluses")
        if "patient" in self.FORCE or patient >= 2:
            self._patient_limits(data)
        elif patient == 1:
            self.set_limits(data)
        self.refill_begin()
        self.refill_withdrawn(data)
        filled = data.draw(st.one_of(st.integers(1, 3 * self.lim.low_default_nl),
                                     st.integers(1, self.lim.capacity_nl)), label="fill")
        if "patient" in self.FORCE:
            filled = data.draw(st.integers(3 * self.lim.low_default_nl, self.lim.capacity_nl))
        if "low fill" in self.FORCE:
            filled = data.draw(st.integers(self.lim.low_default_nl + 1, 3 * self.lim.low_default_nl))
        out, _, evs = self.command("refill_complete", lambda c: c.refill_complete(0, filled, conc))
        o.on_refill_complete(0, filled, conc, self.executed(out, evs))
        if "start" in self.FORCE or data.draw(st.integers(0, 4), label="start") > 0:
            self.start()

    def _patient_limits(self, data: st.DataObject) -> None:
        """Patient boluses that fit the program: a small dose, a short lockout."""
        from host_tools.records import Limits as WireLimits
        o = self.oracle
        duration = data.draw(st.integers(1, 10)) * MINUTE_MS
        # a dose the pump can give within its duration (invariant 12) at this concentration
        room = self.lim.max_rate - (o.plan.max_rate if o.plan is not None else 0)
        top = max(1, min(20, room * duration // DAY_MS * (o.conc or 1) // PG_PER_UG))
        lim = WireLimits(patient_bolus_dose_ug=data.draw(st.integers(1, top)),
                         patient_bolus_duration_ms=duration,
                         patient_lockout_ms=data.draw(st.integers(15, 120)) * MINUTE_MS,
                         patient_max_per_day=data.draw(st.integers(2, 24)),
                         low_reservoir_threshold_nl=o.low)
        out, _, evs = self.command("set_limits", lambda c: c.set_limits(lim))
        o.on_limits(lim.patient_bolus_dose_ug, lim.patient_bolus_duration_ms,
                    lim.patient_lockout_ms, lim.patient_max_per_day, o.low, self.executed(out, evs))

    # ------------------------------------------------------------------ rules: programming
    @rule(data=st.data())
    def set_drug(self, data: st.DataObject) -> None:
        drug, conc = data.draw(st.one_of(
            ips.drugs(self.vp.profile, names=["morphine"]), ips.drugs(self.vp.profile),
            st.tuples(st.sampled_from(["morphine", "unobtainium", ""]), st.integers(0, 200_000))))
        out, _, evs = self.command("set_drug", lambda c: c.set_drug(drug, conc))
        if not self.forbidden("set_drug"):
            self.oracle.on_program(drug, conc, None, self.executed(out, evs))

    @rule(data=st.data())
    def set_schedule(self, data: st.DataObject) -> None:
        o = self.oracle
        if data.draw(st.booleans(), label="valid") or o.conc is None:
            cap = None
            if o.conc and o.drug:
                cap = max(self.lim.min_rate, o.lim.drugs[o.drug][3] * PG_PER_UG // o.conc)
            # drawn without the program's limit, then held to it: replayable draws
            steps = data.draw(ips.valid_steps(self.vp.profile, max_steps=6))
            near = data.draw(st.booleans(), label="near limit")
            if cap is not None:
                steps = [(m, min(cap, r * 40 if near else r)) for m, r in steps]
        else:
            over = data.draw(st.integers(0, 5), label="over the limit") == 0
            steps, _ = data.draw(ips.invalid_steps(self.vp.profile))
            if over and o.conc and o.drug:
                cap = o.lim.drugs[o.drug][3] * PG_PER_UG // o.conc
                if cap < self.lim.max_rate:
                    steps = [(0, cap + 1)]  # valid on its own, over the drug's hard limit
        weekday = data.draw(st.sampled_from([0xFF, 0xFF, 0xFF, 0, 1, 2, 3, 4, 5, 6]), label="weekday")
        if weekday != 0xFF and data.draw(st.integers(0, 3), label="remove") == 0:
            steps = []
        out, _, evs = self.command("set_schedule", lambda c: c.set_schedule(steps, weekday))
        if not self.forbidden("set_schedule"):
            self.oracle.on_program(None, None, steps, self.executed(out, evs), weekday)

    @rule(data=st.data())
    def set_limits(self, data: st.DataObject) -> None:
        L = self.lim
        settings = data.draw(st.one_of(
            ips.patient_settings(self.vp.profile),
            st.fixed_dictionaries({"patient_bolus_dose_ug": st.just(0),
                                   "patient_bolus_duration_ms": st.just(0),
                                   "patient_lockout_ms": st.just(0),
                                   "patient_max_per_day": st.just(0)}),
            st.fixed_dictionaries({"patient_bolus_dose_ug": st.integers(0, 10_000),
                                   "patient_bolus_duration_ms": st.integers(0, 2 * HOUR_MS),
                                   "patient_lockout_ms": st.integers(0, 2 * DAY_MS),
                                   "patient_max_per_day": st.integers(0, 255)})))
        threshold = data.draw(st.one_of(st.none().map(lambda _: self.oracle.low),
                                        st.integers(L.low_min_nl, L.low_max_nl),
                                        st.integers(0, 2 * L.low_max_nl)))
        from host_tools.records import Limits as WireLimits
        lim = WireLimits(low_reservoir_threshold_nl=threshold, **settings)
        out, _, evs = self.command("set_limits", lambda c: c.set_limits(lim))
        if not self.forbidden("set_limits"):
            self.oracle.on_limits(settings["patient_bolus_dose_ug"],
                                  settings["patient_bolus_duration_ms"],
                                  settings["patient_lockout_ms"], settings["patient_max_per_day"],
                                  threshold, self.executed(out, evs))

    # ------------------------------------------------------------------ rules: therapy
    @rule()
    def start(self) -> None:
        out, res, evs = self.command("start", lambda c: c.start())
        if not self.forbidden("start") and not self.lost(out, evs):
            code = getattr(getattr(res, "code", None), "name", None) if out == "refused" else None
            self.oracle.on_start(self.executed(out, evs), code)

    @rule()
    def stop(self) -> None:
        out, _, evs = self.command("stop", lambda c: c.stop())
        if not self.forbidden("stop") and not self.lost(out, evs):
            self.oracle.on_stop(self.executed(out, evs))

    @rule(data=st.data())
    def clinician_bolus(self, data: st.DataObject) -> None:
        o = self.oracle
        duration = data.draw(st.one_of(st.integers(self.lim.clin_min_ms, 2 * HOUR_MS),
                                       st.integers(0, 3 * DAY_MS)))
        by_dose = data.draw(st.booleans())
        if by_dose:
            dose = data.draw(st.integers(1, 3000))
            volume = o.patient_volume(dose)
            call = lambda c: c.clinician_bolus(duration, dose_ug=dose)  # noqa: E731
        else:
            near = max(1, o.reservoir + data.draw(st.integers(-2, 2)))  # state-independent draws
            volume = data.draw(st.one_of(st.integers(1, 50_000), st.just(near),
                                         st.integers(1, 2 * self.lim.capacity_nl)))
            call = lambda c: c.clinician_bolus(duration, volume_nl=volume)  # noqa: E731
        out, res, evs = self.command("clinician_bolus", call)
        if self.forbidden("clinician_bolus"):
            return
        ran = self.executed(out, evs)
        if ran and out == "ok" and res.volume_nl != volume:
            raise Violation(f"clinician bolus started {res.volume_nl} nL, asked for {volume} nL")
        o.on_bolus("CLINICIAN", volume, duration, ran)

    @rule(volume=st.integers(1, 400_000), minutes=st.integers(1, 120))
    def priming_bolus(self, volume: int, minutes: int) -> None:
        out, _, evs = self.command("priming_bolus",
                                   lambda c: c.priming_bolus(volume, minutes * MINUTE_MS))
        if not self.forbidden("priming_bolus"):
            self.oracle.on_bolus("PRIMING", volume, minutes * MINUTE_MS, self.executed(out, evs))

    @rule()
    def patient_bolus(self) -> None:
        out, res, evs = self.command("patient_bolus", lambda c: c.patient_bolus())
        if out == "ok":
            reason = None if res.granted else _alarm_name(res.denial_reason)
            stats.count(f"patient.{reason or 'GRANTED'}")
            self.oracle.on_patient_bolus(res.granted, reason, res.volume_nl)
        elif out == "unknown" and evs:
            ev = next(e for e in evs if e.kind.startswith("PATIENT_BOLUS_"))
            granted = ev.kind == "PATIENT_BOLUS_GRANTED"
            self.oracle.on_patient_bolus(granted, None if granted else ev.details["reason"],
                                         ev.details.get("volume_nl", 0))

    @precondition(lambda self: self.oracle.patient is not None and self.oracle.grants)
    @rule(which=st.sampled_from(["lockout", "lockout", "day"]), offset=st.sampled_from([-1, 0, 1]))
    def patient_bolus_at_edge(self, which: str, offset: int) -> None:
        """Ask for a patient bolus 1 ms before, at or 1 ms after the lockout (or the 24 h
        window of the oldest counted bolus) ends."""
        o = self.oracle
        assert o.patient is not None
        recent = [g for g in o.grants if g > o.t - DAY_MS] or o.grants
        edge = recent[-1] + o.patient["lockout_ms"] if which == "lockout" else recent[0] + DAY_MS
        if edge + offset > o.t:
            self._advance(edge + offset - o.t)
            # a step of its own: an inexact oracle (bridge bolus) takes the pump's state again
            # before the request is judged, as after every rule
            self.check()
        self.patient_bolus()

    @rule()
    def cancel_bolus(self) -> None:
        out, _, evs = self.command("cancel_bolus", lambda c: c.cancel_bolus())
        if not self.forbidden("cancel_bolus") and not self.lost(out, evs):
            self.oracle.on_cancel(self.executed(out, evs))

    # ------------------------------------------------------------------ rules: refill
    @rule()
    def refill_begin(self) -> None:
        out, _, evs = self.command("refill_begin", lambda c: c.refill_begin())
        if not self.forbidden("refill_begin"):
            self.oracle.on_refill_begin(self.executed(out, evs))

    def _withdrawn_volume(self, data: st.DataObject) -> int:
        r = self.oracle.reservoir
        off = data.draw(st.one_of(st.just(0), st.integers(-3_000_000, 3_000_000)), label="off")
        return data.draw(st.one_of(st.just(max(0, r + off)), st.just(MEASURE_WITHDRAWN),
                                   st.integers(0, 2 * self.lim.capacity_nl + 10)), label="withdrawn")

    @rule(data=st.data())
    def refill_withdrawn(self, data: st.DataObject) -> None:
        v = self._withdrawn_volume(data)
        out, _, evs = self.command("refill_withdrawn", lambda c: c.refill_withdrawn(v))
        if not self.forbidden("refill_withdrawn"):
            self.oracle.on_refill_withdrawn(v, self.executed(out, evs))

    @rule(data=st.data())
    def refill_complete(self, data: st.DataObject) -> None:
        o = self.oracle
        v = self._withdrawn_volume(data)
        filled = data.draw(st.one_of(st.integers(1, self.lim.capacity_nl),
                                     st.sampled_from([0, self.lim.capacity_nl,
                                                      self.lim.capacity_nl + 1]),
                                     st.integers(-5, 5).map(lambda d: o.low + d)), label="filled")
        conc = data.draw(st.one_of(st.none(), st.integers(0, 60_000)), label="conc")
        conc = o.conc or 10_000 if conc is None else conc
        out, _, evs = self.command("refill_complete", lambda c: c.refill_complete(v, filled, conc))
        if not self.forbidden("refill_complete"):
            o.on_refill_complete(v, filled, conc, self.executed(out, evs))

    @rule(data=st.data())
    def full_refill(self, data: st.DataObject) -> None:
        """The usual clinic visit: begin, report the withdrawal, fill (same drug and
        concentration most of the time), resume."""
        self.refill_begin()
        self.refill_withdrawn(data)
        o = self.oracle
        filled = max(1, min(self.lim.capacity_nl,
                            o.low - 1_000_000 + data.draw(st.integers(0, self.lim.capacity_nl))))
        conc = o.conc or 10_000
        if data.draw(st.integers(0, 4)) == 0:
            conc = data.draw(st.integers(500, 50_000))
        out, _, evs = self.command("refill_complete", lambda c: c.refill_complete(0, filled, conc))
        if not self.forbidden("refill_complete"):
            o.on_refill_complete(0, filled, conc, self.executed(out, evs))

    # ------------------------------------------------------------------ rules: alarms, faults
    @rule(alarm=st.sampled_from(ALARMS))
    def ack_alarm(self, alarm: str) -> None:
        from protocol import Alarm
        out, _, evs = self.command("ack_alarm", lambda c: c.ack_alarm(Alarm[alarm]))
        if not self.lost(out, evs):
            self.oracle.on_ack(alarm, self.executed(out, evs))

    @rule(kind=st.sampled_from([FaultKind.MOTOR_STALL, FaultKind.MOTOR_STALL,
                                FaultKind.MEMORY_ERROR, FaultKind.CLEAR_MOTOR_STALL,
                                FaultKind.CLEAR_MOTOR_STALL, FaultKind.BATTERY_ERI,
                                FaultKind.END_OF_SERVICE]))
    def inject_fault(self, kind: FaultKind) -> None:
        out, _, evs = self.command("inject_fault", lambda c: c.inject_fault(kind))
        if self.forbidden("inject_fault") or self.lost(out, evs):
            return
        ran = self.executed(out, evs)
        o = self.oracle
        if kind is FaultKind.MOTOR_STALL:
            o.on_stall(ran)
        elif kind is FaultKind.MEMORY_ERROR and ran:
            o.on_memory_error()
        elif kind is FaultKind.CLEAR_MOTOR_STALL:
            o.on_ack("MOTOR_STALL", ran)
        elif kind in (FaultKind.BATTERY_ERI, FaultKind.END_OF_SERVICE):
            o.on_battery_drain(kind is FaultKind.END_OF_SERVICE, ran)

    @rule(kind=st.sampled_from([FaultKind.OVER_INFUSION, FaultKind.UNDER_INFUSION,
                                FaultKind.OCCLUSION, FaultKind.LEAK]),
          value=st.one_of(st.sampled_from([1, 50, 100, 145, 1000]), st.integers(0, 1001)),
          clear=st.booleans())
    def mechanism_fault(self, kind: FaultKind, value: int, clear: bool) -> None:
        """Raise or clear a fault of the delivery mechanism (invariant 13 follows the truth)."""
        name = FAULT_WIRE[kind].model_name
        out, _, evs = self.command("inject_fault",
                                   lambda c: c.inject_fault(kind, value, clear=clear))
        if self.forbidden("inject_fault") or self.lost(out, evs):
            return
        self.oracle.on_mechanism_fault(name, value, clear, self.executed(out, evs))

    def _truth(self) -> Any:
        with self.vp.device.lock:
            return self.vp.pump.truth()

    def _check_truth(self) -> None:
        """Invariant 13: the pump's truth ledger is conserved, and equals the oracle's."""
        stats.count("check.SAF-13")
        tr = self._truth()
        o = self.oracle
        if tr.filled_nl != tr.patient_nl + tr.leaked_nl + tr.reservoir_nl + tr.withdrawn_nl \
                or min(tr.patient_nl, tr.leaked_nl, tr.reservoir_nl, tr.withdrawn_nl) < 0:
            raise Violation(f"truth not conserved: {tr}")
        if tr.filled_nl != o.filled:
            raise Violation(f"truth filled {tr.filled_nl} nL, the oracle counted {o.filled} nL")
        if not o.exact:
            return
        want = o.truth.now(o.delivered)
        got = (tr.reservoir_nl, tr.patient_nl, tr.leaked_nl)
        if got != want or tr.withdrawn_nl != o.truth.withdrawn:
            raise Violation(f"truth (reservoir, patient, leaked) {got}, withdrawn "
                            f"{tr.withdrawn_nl}; the oracle's {want}, {o.truth.withdrawn} "
                            f"(faults {o.truth.faults})")

    # ------------------------------------------------------------------ rules: time
    def _advance(self, delta: int) -> None:
        """Move the pump's clock by ``delta`` ms; check what may happen meanwhile."""
        stats.count("advance")
        st0 = self._status()
        self.vp.advance(delta)
        self.oracle.advance(self.clock.now_ms())
        st1 = self._status()
        if st1.time_ms != self.clock.now_ms():
            raise Violation(f"pump run clock {st1.time_ms} != clock {self.clock.now_ms()}")
        stats.count("check.SAF-3")
        if st0.state.name not in DELIVERING and st1.delivered_nl != st0.delivered_nl:
            raise Violation(f"{st1.delivered_nl - st0.delivered_nl} nL delivered while "
                            f"{st0.state.name}")
        due = st0.refill_due_ms
        if due is not None and st0.time_ms < due <= st1.time_ms and \
                not any(a.alarm.name == "REFILL_DUE" for a in st0.alarms):
            got = {a.alarm.name: a.raised_ms for a in st1.alarms}
            if got.get("REFILL_DUE") != due and st1.state.name != "END_OF_SERVICE":
                raise Violation(f"refill due at {due} but REFILL_DUE raised at "
                                f"{got.get('REFILL_DUE')}")
        self._drain_events()

    @rule(delta=st.one_of(st.integers(1, 10 * MINUTE_MS), st.integers(1, 6 * HOUR_MS),
                          st.integers(HOUR_MS, 2 * DAY_MS)))
    def advance(self, delta: int) -> None:
        self._advance(delta)

    @rule(days=st.integers(2, 60))
    def advance_days(self, days: int) -> None:
        self._advance(days * DAY_MS)

    @precondition(lambda self: self.huge_jumps < 1)
    @rule(years=st.integers(1, 8))
    def advance_years(self, years: int) -> None:
        self.huge_jumps += 1
        self._advance(years * YEAR_MS)

    @rule(data=st.data())
    def advance_to_edge(self, data: st.DataObject) -> None:
        """Move to just before, at or just after a moment where something must happen."""
        edges = self.edges()
        if not edges:
            self._advance(1)
            return
        target = _pick(data, sorted(edges)) + data.draw(st.sampled_from([-1, 0, 1]), label="offset")
        now = self.clock.now_ms()
        self._advance(max(1, target - now))

    def edges(self) -> set[int]:
        """Oracle moments: lockout and 24 h ends, bolus end, step boundary, threshold and
        empty crossings, refill due."""
        o = self.oracle
        now = o.t
        out: set[int] = set()
        if o.patient and o.grants:
            out.add(o.grants[-1] + o.patient["lockout_ms"])
            out.add(o.grants[0] + DAY_MS)
        if o.bolus is not None:
            out.add(o.bolus.end)
        if o.plan is not None:
            out.add(now + o.plan.boundaries(o.wall) - o.wall)
        if o.exact and o.state in DELIVERING:
            horizon = now + 400 * DAY_MS
            if o._given(horizon) >= o.reservoir > 0:
                out.add(o._first(o.reservoir, horizon))
            if o.reservoir > o.low and o._given(horizon) >= o.reservoir - o.low:
                out.add(o._first(o.reservoir - o.low, horizon))
        with self.vp.device.lock:
            due = self.vp.pump.refill_due_ms
        if due is not None:
            out.add(due)
        return {e for e in out if e > now + 1}

    @rule(data=st.data())
    def set_clock(self, data: st.DataObject) -> None:
        o = self.oracle
        wall = data.draw(st.one_of(
            st.integers(-2 * DAY_MS, 2 * DAY_MS).map(lambda d: max(0, o.wall + d)),  # back/forward
            st.integers(0, 60 * YEAR_MS)), label="wall")
        out, _, evs = self.command("set_clock", lambda c: c.set_clock(wall))
        if not self.forbidden("set_clock"):
            o.on_set_clock(wall, self.executed(out, evs))

    # ------------------------------------------------------------------ rules: sessions, links
    @rule(role=st.sampled_from([Role.CLINICIAN, Role.CLINICIAN, Role.PATIENT]),
          faulty=st.booleans(), plan=ips.fault_plans(max_probability=0.08))
    def new_session(self, role: Role, faulty: bool, plan: FaultPlan) -> None:
        """Open a new session (the old one ends), possibly over a faulty link."""
        if not self.FAULTS:
            faulty = False
        self._connect(role, plan if faulty else None)
        self.failed_logins = 0
        self._drain_events()

    @precondition(lambda self: self.failed_logins < 2)
    @rule(role=st.sampled_from([Role.CLINICIAN, Role.PATIENT]),
          key=st.binary(min_size=16, max_size=64))
    def wrong_key(self, role: Role, key: bytes) -> None:
        """A session with a wrong key is refused and changes nothing."""
        before = self._snapshot()
        if self.client is not None:
            self.client.close()
        link = SessionLink(self.host)
        client = PumpClient(link, role=role, key=key, timeout_s=2.0, retries=0)
        try:
            client.open()
        except AuthenticationFailed:
            pass
        else:
            raise Violation(f"a session with a wrong {role.name} key was accepted")
        finally:
            client.close()
        self.failed_logins += 1
        stats.count("check.SAF-7")
        after = self._snapshot()
        if after != before:
            raise Violation(f"a refused login changed the pump: {_diff(before, after)}")
        self._connect(self.role, None)  # a good login resets the back-off
        self.failed_logins = 0

    # ------------------------------------------------------------------ rules: raw attacks
    def _raw(self, frames: list[bytes]) -> None:
        """Write raw bytes on the session's link, then sync; the pump must not change."""
        assert self.link is not None
        stats.count("check.SAF-7")
        before = self._snapshot()
        for f in frames:
            self.link.write_clean(f)
        self._sync()
        after = self._snapshot()
        evs = [e for e in self._drain_events() if e.kind != "REFUSED"]  # refusals' own records
        if after != before or evs:
            raise Violation(f"raw frames changed the pump: {_diff(before, after)} "
                            f"events {[e.kind for e in evs]}")

    @precondition(lambda self: self.link is not None and len(self.link.sent) >= 3)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        """Replay an earlier request of this session: stale, answered from the cache at most."""
        stats.count("attack.replay")
        assert self.link is not None
        old = _pick(data, self.link.sent[:-1])
        self._raw([old])

    @precondition(lambda self: self.link is not None and self.link.sent)
    @rule(data=st.data())
    def retransmit_last(self, data: st.DataObject) -> None:
        """The last request again, byte for byte: answered from the cache, never re-executed."""
        stats.count("attack.retransmit")
        assert self.link is not None
        self._raw([self.link.sent[-1]] * data.draw(st.integers(1, 3)))

    @rule(which=st.sampled_from(["patient_bolus", "set_clock", "cancel_bolus", "stop"]),
          times=st.integers(1, 3), data=st.data())
    def command_then_retransmit(self, which: str, times: int, data: st.DataObject) -> None:
        """A command, then its very frame again (the link duplicated it, or the answer was
        lost and the programmer sent it again): answered from the cache, never re-executed."""
        if which == "set_clock":
            self.set_clock(data)
        else:
            getattr(self, which)()
        assert self.link is not None
        if self.link.sent:
            stats.count("attack.retransmit")
            self._raw([self.link.sent[-1]] * times)

    @precondition(lambda self: self.link is not None and self.link.sent)
    @rule(data=st.data())
    def forge(self, data: st.DataObject) -> None:
        """An earlier request with a changed byte and a recomputed CRC (so only the tag or
        the session can catch it), or with a bad CRC, or untagged."""
        stats.count("attack.forge")
        assert self.link is not None
        base = bytearray(_pick(data, self.link.sent))
        how = data.draw(st.sampled_from(["payload", "seq", "session", "crc", "untag"]))
        if how == "untag" and len(base) > 15:
            body = bytes(base[15:15 + int.from_bytes(base[13:15], "big")])
            frame = encode_frame(base[12], body, int.from_bytes(base[8:12], "big") + 1000,
                                 FrameKind.REQUEST)
        else:
            if how == "crc" or len(base) < 20:
                base[-1] ^= 0xFF
            else:
                i = {"payload": 15 + data.draw(st.integers(0, 1 << 16)) % (len(base) - 17),
                     "seq": data.draw(st.integers(8, 11)),
                     "session": data.draw(st.integers(4, 7))}[how]
                base[i] ^= 1 << data.draw(st.integers(0, 7))
                base[-2:] = crc16(bytes(base[:-2])).to_bytes(2, "big")
            frame = bytes(base)
        self._raw([frame])

    @rule(frame=ips.mutated_frames() | ips.request_frames())
    def garbage(self, frame: bytes) -> None:
        """Any damaged or untagged frame (and the bytes around it) changes nothing."""
        stats.count("attack.garbage")
        self._raw([frame])

    @precondition(lambda self: self.client is not None and self.client.connected)
    @rule(msg_type=st.sampled_from([MT.SET_DRUG, MT.SET_SCHEDULE, MT.CLINICIAN_BOLUS,
                                    MT.REFILL_COMPLETE, MT.SET_CLOCK, MT.SET_LIMITS,
                                    MT.INJECT_FAULT, MT.ACK_ALARM]),
          payload=st.binary(max_size=40))
    def malformed_in_session(self, msg_type: MT, payload: bytes) -> None:
        """A correctly tagged, fresh request whose payload does not parse: refused, nothing
        changes (the payload is only kept when it does not decode)."""
        from protocol import decode_payload, ProtocolError
        try:
            decode_payload(msg_type, payload)
            return  # it parses: not a malformed frame
        except ProtocolError:
            pass
        stats.count("attack.malformed")
        assert self.client is not None
        session = self.client._session  # the established session: fresh seq and a valid tag
        seq = session.last_seq + 1
        session.last_seq = seq
        self._raw([encode_frame(msg_type, payload, seq, FrameKind.REQUEST, session=session)])

    # ------------------------------------------------------------------ rules: reading back
    @rule()
    def read_back(self) -> None:
        """What the pump answers about its program is what was acknowledged (the oracle's)."""
        stats.count("cmd.read_back")
        o = self.oracle
        assert self.client is not None
        try:
            drug = self.client.drug()
            sched = self.client.schedule()
            limits = self.client.limits()
        except (ResponseTimeout, ConnectionFailed, ProtocolViolation):
            self._sync()
            return
        want_drug = (o.drug or "", o.conc or 0)
        if (drug.name, drug.concentration_ug_per_ml) != want_drug:
            raise Violation(f"GET_DRUG {drug} but {want_drug} was acknowledged")
        want = o.plan.plans if o.plan is not None else {}
        for wd in [0xFF] + list(range(7)):
            try:
                sched = self.client.schedule(wd) if wd != 0xFF else sched
            except (ResponseTimeout, ConnectionFailed, ProtocolViolation):
                self._sync()
                return
            steps = [(s.start_minute, s.rate_nl_per_day) for s in sched.steps]
            if steps != want.get(wd, []):
                raise Violation(f"GET_SCHEDULE({wd}) {steps} but {want.get(wd, [])} "
                                "was acknowledged")
        p = o.patient or {}
        want = (p.get("dose_ug", 0), p.get("duration_ms", 0), p.get("lockout_ms", 0),
                p.get("max_per_24h", 0), o.low)
        got = (limits.patient_bolus_dose_ug, limits.patient_bolus_duration_ms,
               limits.patient_lockout_ms, limits.patient_max_per_day,
               limits.low_reservoir_threshold_nl)
        if got != want:
            raise Violation(f"GET_LIMITS {got} but {want} was acknowledged")

    @rule(data=st.data())
    def read_log(self, data: st.DataObject) -> None:
        """A page of the log over the wire is the pump's log (indexes, count)."""
        stats.count("cmd.read_log")
        assert self.client is not None
        with self.vp.device.lock:
            total = self.vp.pump.storage.event_count()
        start = data.draw(st.integers(0, total + 2), label="start")
        try:
            page = self.client.read_log(start, data.draw(st.integers(1, 16), label="count"))
        except (ResponseTimeout, ConnectionFailed, ProtocolViolation):
            self._sync()
            return
        if page.total_count != total:
            raise Violation(f"READ_LOG total {page.total_count}, the log holds {total}")
        with self.vp.device.lock:
            evs = self.vp.pump.read_events(start, len(page.entries))
        if [e.index for e in page.entries] != [e.index for e in evs]:
            raise Violation(f"READ_LOG indexes {[e.index for e in page.entries]} != "
                            f"{[e.index for e in evs]}")

    @rule(interval=st.sampled_from([0, 0, 100, 250, 99, 86_400_001]))
    def set_telemetry(self, interval: int) -> None:
        """Telemetry settings never touch the pump's state."""
        self.command("set_telemetry", lambda c: c.set_telemetry(interval))

    # ------------------------------------------------------------------ rules: power loss
    @rule()
    def power_loss(self) -> None:
        """Restart from the state file: every acknowledged change and log entry survives."""
        stats.count("restart")
        stats.count("check.SAF-9")
        with self.vp.device.lock:
            before = self.vp.pump.snapshot()
            log_before = self.vp.pump.read_events(0, 1_000_000)
        self.vp.restart()
        with self.vp.device.lock:
            after = self.vp.pump.snapshot()
            log_after = self.vp.pump.read_events(0, 1_000_000)
        if after != before:
            raise Violation(f"restart changed the pump: {_diff(before, after)}")
        if log_after[:len(log_before)] != log_before:
            raise Violation("restart lost or changed event log entries")
        assert self.client is not None
        try:
            self.client.reconnect()
        except (ConnectionFailed, ResponseTimeout):
            self._connect(self.role, self.plan)
        self._drain_events()

    # ------------------------------------------------------------------ the checks
    @invariant()
    def check(self) -> None:
        """Every safety invariant that can be read off the pump now, against the oracle."""
        stats.count("steps")
        o = self.oracle
        st_ = self._status()
        snap = self._snapshot() if not o.exact else {}  # only an inexact step needs it
        stats.count(f"state.{st_.state.name}")
        for a in st_.alarms:
            stats.count(f"alarm.{a.alarm.name}")
        # 1. conservation, exactly, against the oracle's own account of what was filled
        stats.count("check.SAF-1")
        if st_.filled_nl != o.filled:
            raise Violation(f"filled {st_.filled_nl} nL, the oracle counted {o.filled} nL")
        if st_.filled_nl != st_.delivered_nl + st_.reservoir_nl + st_.withdrawn_nl:
            raise Violation(f"conservation: filled {st_.filled_nl} != delivered {st_.delivered_nl}"
                            f" + reservoir {st_.reservoir_nl} + withdrawn {st_.withdrawn_nl}")
        # 13. the truth ledger, with any mechanism fault in force
        self._check_truth()
        # 2. reservoir bounds
        stats.count("check.SAF-2")
        if not 0 <= st_.reservoir_nl <= self.lim.capacity_nl:
            raise Violation(f"reservoir {st_.reservoir_nl} nL out of [0, capacity]")
        # 12. no delivery faster than the profile's maximum rate, ever (floors of the basal
        # remainder and of the bolus volume allow 2 nL over the exact line)
        stats.count("check.SAF-12")
        t0, d0 = self.prev
        if st_.delivered_nl - d0 > self.lim.max_rate * (o.t - t0) // DAY_MS + 2:
            raise Violation(f"invariant 12: {st_.delivered_nl - d0} nL delivered in {o.t - t0} ms,"
                            f" above the maximum rate {self.lim.max_rate} nL/day")
        # 4. every 24 h window of delivered dose within the hard limit
        self._check_windows(st_)
        self._check_wire(st_)
        if not o.exact:
            self.inexact_steps += 1
            stats.count("steps.inexact")
            self._follow_inexact(st_, snap)
            return
        # 3, 8, 10, 11: the exact reference (state, volumes, alarms and their moments)
        stats.count("check.SAF-3")
        stats.count("check.SAF-8")
        stats.count("check.SAF-10")
        stats.count("check.SAF-11")
        problems = []
        if st_.state.name != o.state:
            problems.append(f"state {st_.state.name} != {o.state}")
        for what, got, want in (("reservoir", st_.reservoir_nl, o.reservoir),
                                ("delivered", st_.delivered_nl, o.delivered),
                                ("withdrawn", st_.withdrawn_nl, o.withdrawn)):
            if abs(got - want) > 1:
                problems.append(f"{what} {got} nL != oracle {want} nL")
        got_alarms = {a.alarm.name: (a.raised_ms, a.acked) for a in st_.alarms}
        # REFILL_DUE follows the pump's own promised date (checked in _advance): mirror it
        o.alarms.pop("REFILL_DUE", None)
        o.acked.discard("REFILL_DUE")
        if "REFILL_DUE" in got_alarms:
            o.alarms["REFILL_DUE"] = got_alarms["REFILL_DUE"][0]
            if got_alarms["REFILL_DUE"][1]:
                o.acked.add("REFILL_DUE")
        for name in set(got_alarms) | set(o.alarms):
            if name == "REFILL_DUE":
                continue  # checked at its promised moment in _advance
            if name not in got_alarms:
                problems.append(f"alarm {name} missing (due at {o.alarms[name]})")
            elif name not in o.alarms:
                problems.append(f"alarm {name} raised at {got_alarms[name][0]} unexpectedly")
            else:
                when = o.alarms[name]
                if when is not None and got_alarms[name][0] != when:
                    problems.append(f"alarm {name} raised at {got_alarms[name][0]}, due at {when}")
                if got_alarms[name][1] != (name in o.acked):
                    problems.append(f"alarm {name} acknowledged={got_alarms[name][1]}")
        if (st_.bolus is None) != (o.bolus is None):
            problems.append(f"bolus {st_.bolus} vs oracle {o.bolus}")
        if problems:
            raise Violation(f"at t={o.t} ms: " + "; ".join(problems))
        self.prev = (o.t, st_.delivered_nl)

    def _check_wire(self, st_: Any) -> None:
        """On a clean link: STATUS over the wire is the model's status, and every alarm the
        model raised since the last check was pushed to the session (ALARM_EVENT)."""
        if self.plan is not None and self.plan.active or self.client is None:
            self.raised_since_check = []
            self.session_checked = -1
            return
        try:
            ws = self.client.status()
        except (ResponseTimeout, ConnectionFailed, ProtocolViolation) as exc:
            raise Violation(f"GET_STATUS failed on a clean link: {exc}") from exc
        got = (ws.state.name, ws.time_ms, ws.wall_ms, ws.reservoir_nl, ws.alarm_mask)
        want = (st_.state.name, st_.time_ms, st_.wall_ms, st_.reservoir_nl, st_.alarm_mask)
        if got != want:
            raise Violation(f"STATUS on the wire {got} != the pump's {want}")
        pushed = [_alarm_name(ev.alarm) for ev in self.client.take_events()
                  if hasattr(ev, "alarm") and ev.raised]
        raised = self.raised_since_check
        self.raised_since_check = []
        stats.count("check.SAF-8")
        if self.session_checked == self.client.session_id and sorted(pushed) != sorted(raised):
            raise Violation(f"alarms raised {raised} but pushed {pushed}")
        self.session_checked = self.client.session_id

    def _follow_inexact(self, st_: Any, snap: dict[str, Any]) -> None:
        """During a bridge bolus: the oracle takes the pump's volumes (bounds were checked)."""
        o = self.oracle
        t0, d0 = self.prev
        ratio = -(-(o.conc or 1) // max(1, o.path_old_conc or 1))
        rate = o.plan.max_rate if o.plan is not None else 0
        bound = d0 + -(-rate * max(1, ratio) * (o.t - t0) // DAY_MS) + self.lim.dead_volume_nl + 2
        if st_.delivered_nl > bound:
            raise Violation(f"bridge: delivered {st_.delivered_nl - d0} nL in {o.t - t0} ms, "
                            f"bound {bound - d0} nL")
        self.prev = (o.t, st_.delivered_nl)
        bol = snap.get("bolus")
        o.alarms = {a.alarm.name: a.raised_ms for a in st_.alarms}
        o.acked = {a.alarm.name for a in st_.alarms if a.acked}
        o.resync(st_.reservoir_nl, st_.delivered_nl, st_.withdrawn_nl, st_.state.name,
                 snap["basal_rem"])
        tr = self._truth()
        o.truth.resync(tr.filled_nl, tr.reservoir_nl, tr.patient_nl, tr.leaked_nl,
                       tr.withdrawn_nl, st_.delivered_nl)
        if bol is not None and bol.get("kind") == 4:  # still bridging
            o.exact = False
            o.bridge_pending = True
        elif bol is not None:
            from .oracle import Bolus
            kinds = {1: "CLINICIAN", 2: "PATIENT", 3: "PRIMING"}
            o.bolus = Bolus(kinds.get(bol["kind"], "?"), bol["volume_nl"], bol["duration_ms"],
                            bol["start_ms"])
        else:
            o.bolus = None
        # a bridge interrupted (stop, refill) stays pending in the catheter
        o.bridge_pending = snap["path_old_nl"] > 0
        o.path_old_conc = snap["path_old_conc"]

    def _check_windows(self, st_: Any) -> None:
        o = self.oracle
        if o.drug != self.sample_drug:
            self.samples = []
            self.sample_drug = o.drug
        if o.drug is None:
            return
        t, dose = st_.time_ms, st_.delivered_dose_ug
        if self.samples and self.samples[-1][0] == t:
            self.samples[-1] = (t, dose)
        else:
            self.samples.append((t, dose))
        hard = o.lim.drugs[o.drug][3]
        stats.count("check.SAF-4")
        for t0, d0 in self.samples:
            if t - t0 <= DAY_MS and dose - d0 > hard + 1:
                raise Violation(f"{dose - d0} ug of {o.drug} delivered within {t - t0} ms "
                                f"(from {t0} to {t}): hard daily limit {hard} ug")
        self.samples = [s for s in self.samples if t - s[0] <= DAY_MS]


def _pick(data: st.DataObject, items: list[Any]) -> Any:
    """One of ``items``, drawn so that the draw does not depend on how many there are (their
    number can vary with the link's timing; hypothesis needs draws it can replay)."""
    return items[data.draw(st.integers(0, 1 << 16), label="index") % len(items)]


def _diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return ", ".join(f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in keys)[:600] or "no difference"


def make_machine(faults: bool = True, name: str = "SafetyMachine", *,
                 only: set[str] | None = None, force: set[str] = frozenset()) -> type[SafetyMachine]:
    """A machine class; ``faults`` allows faulty links (drops, corruption, duplicates...).

    ``only`` keeps just the named rules (a focused machine with the same oracle and checks, for
    hunting one kind of bug fast); ``force`` fixes parts of the set-up ("patient": patient
    boluses configured, "start": therapy running, "low fill": a fill just above the threshold).
    """
    attrs: dict[str, Any] = {"FAULTS": faults, "FORCE": frozenset(force)}
    if only is not None:
        for attr, value in vars(SafetyMachine).items():
            if getattr(value, "hypothesis_stateful_rule", None) is not None and attr not in only:
                attrs[attr] = _plain(value)  # still callable by other rules, no longer a rule
    return type(name, (SafetyMachine,), attrs)


def _plain(method: Callable[..., Any]) -> Callable[..., Any]:
    def call(self: SafetyMachine, *args: Any, **kwargs: Any) -> Any:
        return method(self, *args, **kwargs)
    return call
