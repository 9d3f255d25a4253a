"""The safety machine's plumbing: the pump on its loopback, sessions, one command and its checks.

:class:`MachineBase` starts a fresh pump for every example (a new state file, the profile and the
limits loaded once per process), opens sessions over the host link (clean, or seen through a
fault injector), sends one command at a time and checks what any command promises: a refused or
unsent command changes nothing, no command executes twice, a patient session executes nothing
reserved to clinicians. The rules (:mod:`host_tools.safety.rules_therapy`,
:mod:`host_tools.safety.rules_faults`, :mod:`host_tools.safety.rules_attacks`) and the invariants
after every step (:mod:`host_tools.safety.checks`) build on it.
"""
from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
from typing import Any, Callable

from hypothesis.stateful import RuleBasedStateMachine

from firmware_sim import ManualClock, Profile
from hal.faults import FaultPlan
from host_tools.client import PumpClient
from host_tools.errors import ConnectionFailed, ProtocolViolation, Refused, ResponseTimeout
from protocol import AuthLimiter, NakCode, Role

from . import draws, stats
from .device_profiles import device_profile
from .links import SessionLink
from .loopback import LoopbackPump
from .oracle import DAY_MS, Limits, Oracle, Violation

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


@functools.lru_cache(maxsize=None)
def _profile(name: str) -> Profile:
    """A device profile or a variant of one (:mod:`host_tools.safety.device_profiles`), loaded
    once per process (profiles are immutable)."""
    return device_profile(name)


def _alarm_name(a: Any) -> str:
    return getattr(a, "name", str(a))


@functools.lru_cache(maxsize=None)
def _limits(name: str) -> Limits:
    """The oracle's numbers of a profile, derived once per process."""
    return Limits.from_profile(_profile(name))


class MachineBase(RuleBasedStateMachine):
    """See the module documentation. Subclasses set FAULTS (link faults allowed), PROFILE
    (a device profile name) and FORCE."""

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
        self.lim = _limits(self.PROFILE)
        self.oracle = Oracle(self.lim)
        self.draws = draws.for_profile(self.PROFILE)  # strategies built once per profile
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
        self.window_events: list[tuple[str, int]] = []  # dose-window log entries (kind, ms)
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
            # the loopback answers before the request's write returns: an answer not there at
            # once was lost, and waiting longer for it only costs wall time
            self.client = PumpClient(self.link, role=role, key=key,
                                     timeout_s=0.01 if faulty else 2.0, retries=retries)
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
        if self.lim.windows:
            self.window_events += [(_window_log_kind(e), e.time_ms) for e in evs
                                   if _window_log_kind(e)]
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

    def _truth(self) -> Any:
        with self.vp.device.lock:
            return self.vp.pump.truth()



def _window_log_kind(ev: Any) -> str | None:
    """The kind of a dose-window log entry as the oracle names it (None: not one)."""
    if ev.kind in ("DOSE_WINDOW_LIMIT", "DOSE_WINDOW_END"):
        return ev.kind
    if ev.kind == "BOLUS_END" and ev.details.get("outcome") == "DOSE_WINDOW_LIMIT":
        return "BOLUS_END DOSE_WINDOW_LIMIT"
    return None


def _diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return ", ".join(f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in keys)[:600] or "no difference"
