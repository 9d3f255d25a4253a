"""The pump model: therapy state machine, schedule, boluses, reservoir, alarms, battery.

Time
----
The pump has a monotonic *run clock* (``time_ms``), advanced only by :meth:`Pump.advance_to`
(or :meth:`Pump.tick`, which reads the pump's :class:`~firmware_sim.clock.Clock`). Delivery is
integrated on the run clock, event to event, never per second: a segment ends at the next step
boundary, bolus end, low-reservoir / empty crossing, bridge end, refill-due date, battery ERI /
end-of-service threshold or the target time. Inside a segment the basal volume is
``(rate_nl_per_day * elapsed_ms + remainder) // 86_400_000`` with the remainder carried, so the
total delivered is ``floor(sum(rate * ms) / day)`` however the time is split. A bolus of V nL over
D ms has delivered exactly ``V * elapsed // D`` nL. Threshold crossings are found by bisection on
these exact integer functions, so an alarm is raised at the first ms its condition holds.

The *wall clock* (``wall_ms = time_ms + wall_offset_ms``) only selects the schedule step (time of
day, weekday). :meth:`Pump.set_time` changes the offset and logs CLOCK_SET: no run-clock ms is
integrated twice or skipped, so no dose is given twice or skipped; after the jump the rate in force
is the one the schedule has at the new time of day.

Units: nL, ug, ug/mL, nL/day, ms. Doses are computed exactly as nL x ug/mL = pg.

Bridge bolus model
------------------
After a refill that changes the concentration from c_old to c_new, the fluid path (catheter and
pump tubing, the profile's ``dead_volume_nl``) still holds drug at c_old. When therapy resumes,
the pump runs a BRIDGE bolus: the basal schedule continues at rate x c_new // c_old (so the dose
rate the patient receives equals the new program's) until the dead volume has been pushed out,
then plain INFUSING resumes. The dose of every nL leaving the catheter is counted at the
concentration it actually has (c_old for the first dead-volume nL).

Daily limits
------------
A schedule is rejected (HARD_DAILY_LIMIT) when its largest 24 h window dose (over the weekly
pattern, any alignment) exceeds the drug's hard daily limit; above the soft limit it is accepted
with a SOFT_LIMIT_WARNING event. A bolus (clinician, patient, priming) is refused when the largest
24 h basal window + every bolus ending in the last 24 h + the new bolus would exceed the hard
limit; this bounds every 24 h window of delivery.

A 24 h window can straddle a change of program: the end of one schedule's high-rate hours
followed by another's. The pump therefore remembers the *epochs* of the last 24 h (intervals
during which therapy ran one schedule at one concentration and one wall-clock offset). While an
epoch younger than 24 h exists, every check (program, refill, patient allotment, bolus, start,
set_time) bounds each window that contains now by what the past epochs can have delivered since
the window's start plus what the new program delivers until its end, evaluated at every
breakpoint of those piecewise-linear functions. A change that would let any 24 h window exceed
the hard limit is rejected with HARD_DAILY_LIMIT, including a clock jump that would repeat
high-rate hours.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Callable, Mapping

from transitions import MachineError

from .alarms import CLEARED_BY_ACK, AlarmSet
from .clock import Clock, ManualClock
from .enums import Alarm, BolusKind, DenialReason, RejectCode, TherapyState, Weekday
from .errors import Rejected
from .profile import DAY_MS, Profile
from .schedule import CompiledSchedule, Schedule, validate_schedule
from .statemachine import TherapyMachine
from .status import (AlarmStatus, BolusStatus, PatientBolusConfig, PatientBolusResult,
                     PumpStatus)
from .storage import Event, Storage

log = logging.getLogger(__name__)

S = TherapyState
PG_PER_UG = 1_000_000
NL_PER_ML = 1_000_000
STATE_VERSION = 1
_PERSIST = ("t_ms", "wall_offset_ms", "resume_infusing", "drug_name", "concentration_ug_per_ml",
            "low_threshold_nl", "reservoir_nl", "filled_nl", "delivered_nl", "withdrawn_nl",
            "withdrawn_reported_nl", "dose_pg", "basal_rem", "bolus", "path_old_nl",
            "path_old_conc", "bolus_history", "patient_cfg", "patient_history", "refill_phase",
            "refill_due_ms", "segments", "epoch", "past_epochs")


_NULLABLE = frozenset({"refill_due_ms", "concentration_ug_per_ml"})
_PATIENT_KEYS = ("dose_ug", "duration_ms", "lockout_ms", "max_per_24h")


_FOREVER = 1 << 80  # a run time beyond any pump's life (ms)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _first_reaching(f: Callable[[int], int], need: int, hi: int) -> int:
    """Smallest dt in [1, hi] with f(dt) >= need, for nondecreasing f with f(hi) >= need."""
    lo = 1
    while lo < hi:
        mid = (lo + hi) // 2
        if f(mid) >= need:
            hi = mid
        else:
            lo = mid + 1
    return lo


class Pump:
    """An implantable intrathecal pump.

    ``Pump(profile, storage=None, clock=None)``: with a storage holding a saved pump, the pump
    continues exactly where it was (the saved profile wins); a corrupt store gives a fresh
    STOPPED pump with the MEMORY_ERROR alarm. Every public mutating call commits its change
    (state + events) to the storage before returning, then calls the subscribers with the new
    events. Commands act at the current run time; call :meth:`tick` / :meth:`advance_to` first.

    Read-only state for callers (change it only through the commands): ``state``, ``time_ms``
    (run clock, also ``t_ms``), ``wall_ms``, ``profile``, ``schedule``, ``drug_name``,
    ``concentration_ug_per_ml`` (ug/mL), ``reservoir_nl``, ``low_threshold_nl``,
    ``refill_due_ms`` (run ms or None), ``refill_stage``, ``patient_bolus_config``,
    ``patient_boluses_24h``, ``active_alarms``, ``alarm_mask``; :meth:`status` reads them all
    at once and :meth:`next_event_ms` says when the next event is due.
    """

    def __init__(self, profile: Profile, storage: Storage | None = None,
                 clock: Clock | None = None) -> None:
        self.storage = storage if storage is not None else Storage(":memory:")
        self.clock: Clock = clock if clock is not None else ManualClock(0)
        self._subscribers: list[Callable[[Event], None]] = []
        self._battery_cache: tuple[Any, tuple[int, int, int, int]] | None = None
        self._pending: list[tuple[int, str, dict[str, Any]]] = []
        self._profile_json: tuple[Any, str] = (None, "")
        self._schedule_json: tuple[Any, str] = (object(), "")
        self.profile = profile
        saved = None if self.storage.fault else self.storage.load_state()
        fault = self.storage.fault
        if saved is not None:
            try:
                self._restore(saved)
            # any failure of a restore means the memory cannot be trusted: safe state, no crash
            except Exception as e:  # noqa: BLE001
                fault = f"saved state unreadable: {type(e).__name__}: {e}"
                log.error(fault)
                self.profile = profile
                self._fresh()
        else:
            self._fresh()
        self._committed_t_ms = self.t_ms
        if fault:
            self._memory_error(fault)
        if saved is None or fault:
            self._commit()

    # ------------------------------------------------------------------ construction / persist
    def _fresh(self) -> None:
        p = self.profile
        self.machine = TherapyMachine()
        self.alarms = AlarmSet()
        self.t_ms = self.clock.now_ms()
        self.wall_offset_ms = 0
        self.resume_infusing = False
        self.drug_name: str | None = None
        self.concentration_ug_per_ml: int | None = None
        self._schedule: Schedule | None = None
        self.compiled: CompiledSchedule | None = None
        self.low_threshold_nl = p.low_threshold_default_nl
        self.reservoir_nl = 0
        self.filled_nl = 0
        self.delivered_nl = 0
        self.withdrawn_nl = 0
        self.withdrawn_reported_nl = 0
        self.dose_pg = 0
        self.basal_rem = 0
        self.bolus: dict[str, int] | None = None
        self.path_old_nl = 0
        self.path_old_conc = 0
        self.bolus_history: list[list[int]] = []
        self.patient_cfg: dict[str, int] | None = None
        self.patient_history: list[int] = []
        self.refill_phase: str | None = None
        self.refill_due_ms: int | None = None
        self.segments = 0
        self.battery_start_ms = self.t_ms
        # therapy epochs (see "Daily limits"): the open one [since_ms, offset_ms, limit conc,
        # conc] or None, and the closed ones of the last 24 h [start, end, offset, conc, schedule]
        self.epoch: list[int] | None = None
        self.past_epochs: list[list[Any]] = []
        self._epoch_schedule: Schedule | None = None
        self._epoch_compiled: dict[int, tuple[Any, CompiledSchedule]] = {}

    def _dynamic_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in _PERSIST}
        d["version"] = STATE_VERSION
        d["state"] = self.machine.state
        d["alarms"] = self.alarms.to_list()
        d["battery_start_ms"] = self.battery_start_ms
        return d

    def _to_dict(self) -> dict[str, Any]:
        d = self._dynamic_dict()
        d["schedule"] = self._schedule.to_dict() if self._schedule else None
        d["profile"] = self.profile.to_dict()
        return d

    def _state_json(self) -> str:
        """The persisted state as JSON text, equal to ``json.dumps(self._to_dict())`` once parsed.

        The profile and the schedule change rarely; their JSON is cached and spliced in, so a
        commit encodes only the few fields that move.
        """
        if self._profile_json[0] is not self.profile:
            self._profile_json = (self.profile, json.dumps(self.profile.to_dict()))
        if self._schedule_json[0] is not self._schedule:
            self._schedule_json = (self._schedule, json.dumps(
                self._schedule.to_dict() if self._schedule else None))
        head = json.dumps(self._dynamic_dict())
        return (f'{head[:-1]}, "schedule": {self._schedule_json[1]}, '
                f'"profile": {self._profile_json[1]}}}')

    def _restore(self, d: dict[str, Any]) -> None:
        if d.get("version") != STATE_VERSION:
            raise ValueError(f"state version {d.get('version')!r}")
        self.profile = Profile.from_dict(d["profile"])
        for k in _PERSIST:
            v = d[k]
            if k.endswith(("_ms", "_nl", "_pg", "_rem", "segments", "_per_ml")) \
                    and not (v is None and k in _NULLABLE) and not _is_int(v):
                raise TypeError(f"{k} is not an integer")
            setattr(self, k, v)
        self.battery_start_ms = int(d["battery_start_ms"])
        self.machine = TherapyMachine(S[d["state"]])
        self.alarms = AlarmSet.from_list(d["alarms"])
        self._schedule = Schedule.from_dict(d["schedule"]) if d["schedule"] else None
        self.compiled = CompiledSchedule(self._schedule) if self._schedule else None
        self._epoch_schedule = self._schedule
        self._epoch_compiled = {}
        self._check_restored()

    def _check_restored(self) -> None:
        """Raise ValueError unless the restored state is one the model can reach."""
        p = self.profile
        if not 0 <= self.reservoir_nl <= p.reservoir_capacity_nl:
            raise ValueError("reservoir out of range")
        if min(self.filled_nl, self.delivered_nl, self.withdrawn_nl, self.dose_pg,
               self.path_old_nl, self.withdrawn_reported_nl, self.t_ms) < 0:
            raise ValueError("negative counter")
        if self.filled_nl != self.delivered_nl + self.reservoir_nl + self.withdrawn_nl:
            raise ValueError("volumes do not balance")
        if not 0 <= self.basal_rem < DAY_MS:
            raise ValueError("basal remainder out of range")
        if not p.low_threshold_min_nl <= self.low_threshold_nl <= p.low_threshold_max_nl:
            raise ValueError("low threshold out of range")
        if self.drug_name is not None or self.concentration_ug_per_ml is not None:
            self._validate_drug(self.drug_name, self.concentration_ug_per_ml)  # type: ignore
        if self._schedule is not None:
            validate_schedule(self._schedule, p)
        if (self._schedule is None) != (self.drug_name is None):
            raise ValueError("program half stored")
        if self.refill_phase not in (None, "begun", "withdrawn"):
            raise ValueError("refill phase")
        if not isinstance(self.resume_infusing, bool):
            raise ValueError("resume flag")
        bol = self.bolus
        if (bol is not None) != (self.state is S.BOLUS):
            raise ValueError("bolus does not match the state")
        if bol is not None:
            kind = BolusKind(bol["kind"])
            keys = ("volume_nl", "start_ms") + (("num", "den") if kind is BolusKind.BRIDGE
                                                 else ("duration_ms",))
            if kind is BolusKind.NONE or not all(_is_int(bol[k]) and bol[k] >= 0 for k in keys) \
                    or (bol.get("duration_ms", 1) < 1) or (bol.get("den", 1) < 1):
                raise ValueError("bolus")
        if not isinstance(self.bolus_history, list) or not all(
                isinstance(h, list) and len(h) == 4 and all(map(_is_int, h))
                for h in self.bolus_history):
            raise ValueError("bolus history")
        if not isinstance(self.patient_history, list) or \
                not all(map(_is_int, self.patient_history)):
            raise ValueError("patient history")
        ep = self.epoch
        if ep is not None and (not isinstance(ep, list) or len(ep) != 4
                               or not all(map(_is_int, ep)) or self._schedule is None):
            raise ValueError("therapy epoch")
        if not isinstance(self.past_epochs, list):
            raise ValueError("past epochs")
        for e in self.past_epochs:
            if not isinstance(e, list) or len(e) != 5 or not all(map(_is_int, e[:4])) \
                    or e[3] < 0 or e[0] > e[1]:
                raise ValueError("past epoch")
            validate_schedule(Schedule.from_dict(e[4]), p)
        cfg = self.patient_cfg
        if cfg is not None and (not isinstance(cfg, dict) or sorted(cfg) != sorted(_PATIENT_KEYS)
                                or not all(_is_int(cfg[k]) and cfg[k] > 0 for k in cfg)):
            raise ValueError("patient bolus configuration")

    def _event(self, kind: str, **details: Any) -> None:
        self._pending.append((self.t_ms, kind, details))

    def _commit(self) -> None:
        events = self.storage.commit(self._state_json(), self._pending)
        self._pending = []
        self._committed_t_ms = self.t_ms
        for ev in events:
            for cb in list(self._subscribers):
                try:
                    cb(ev)
                except Exception:  # a subscriber must not break the pump
                    log.exception("event subscriber failed")

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for every event once committed; returns an unsubscribe."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def read_events(self, start_index: int = 0, count: int = 100) -> list[Event]:
        """A page of the event log (index, time_ms, kind, details)."""
        return self.storage.read_events(start_index, count)

    # ------------------------------------------------------------------ helpers
    @property
    def state(self) -> TherapyState:
        """Current therapy state."""
        return self.machine.therapy_state

    @property
    def wall_ms(self) -> int:
        """Wall (time-of-day) clock in ms."""
        return self.t_ms + self.wall_offset_ms

    @property
    def time_ms(self) -> int:
        """Run clock in ms (the same as ``t_ms``): moved only by advance_to / tick."""
        return self.t_ms

    @property
    def schedule(self) -> Schedule | None:
        """The programmed schedule (None before the first program); replace it with
        :meth:`set_schedule`, :meth:`program_therapy` or :meth:`refill_complete`."""
        return self._schedule

    @property
    def patient_bolus_config(self) -> PatientBolusConfig | None:
        """The patient bolus setting (dose ug, duration ms, lockout ms, maximum per 24 h), or
        None when patient boluses are off. A copy: change it with
        :meth:`configure_patient_bolus` / :meth:`disable_patient_bolus`."""
        cfg = self.patient_cfg
        return None if cfg is None else PatientBolusConfig(**cfg)

    @property
    def patient_boluses_24h(self) -> int:
        """Number of patient boluses granted in the last 24 h of run time (started after
        ``time_ms - 24 h``), the count the daily maximum applies to."""
        since = self.t_ms - DAY_MS
        return sum(1 for s in self.patient_history if s > since)

    @property
    def refill_stage(self) -> str | None:
        """Where a refill stands: ``"begun"`` (REFILL entered, the withdrawn volume not yet
        reported), ``"withdrawn"`` (reported, waiting for the fill), or None (no refill)."""
        return self.refill_phase

    @property
    def active_alarms(self) -> frozenset[Alarm]:
        """The alarms active now (acknowledged or not); details in :meth:`status`."""
        return frozenset(self.alarms.active)

    @property
    def alarm_mask(self) -> int:
        """The active alarms as the u16 bitmask (bit ``int(alarm)`` set per active alarm)."""
        return self.alarms.bitmask()

    def _reject(self, code: RejectCode, field: str, reason: str) -> Rejected:
        log.warning("rejected %s (%s): %s", code.value, field, reason)
        return Rejected(code, field, reason)

    def _require_state(self, trigger: str, what: str) -> None:
        if not self.machine.can(trigger):
            if self.state is S.BOLUS and trigger == "begin_bolus":
                raise self._reject(RejectCode.BOLUS_ACTIVE, "", f"{what}: a bolus is in progress")
            raise self._reject(RejectCode.INVALID_STATE, "", f"{what} not allowed in {self.state.name}")

    def _trigger(self, name: str) -> None:
        old = self.machine.state
        try:
            self.machine.fire(name)
        except MachineError as e:  # pragma: no cover - callers check first
            raise self._reject(RejectCode.INVALID_STATE, "", str(e)) from None
        if self.machine.state != old:
            self._event("STATE", old=old, new=self.machine.state, trigger=name)

    def _raise_alarm(self, alarm: Alarm, **details: Any) -> None:
        if self.alarms.raise_(alarm, self.t_ms):
            self._event("ALARM_RAISED", alarm=alarm.name, priority=alarm.priority.name, **details)

    def _clear_alarm(self, alarm: Alarm) -> None:
        if self.alarms.clear(alarm):
            self._event("ALARM_CLEARED", alarm=alarm.name)

    def _limit_conc(self) -> int:
        c = self.concentration_ug_per_ml or 0
        if self.path_old_nl > 0:
            c = max(c, self.path_old_conc)
        return c

    def _hard_limit_pg(self) -> int:
        entry = self.profile.drug(self.drug_name or "")
        return entry.hard_daily_limit_ug * PG_PER_UG if entry else 0

    def _basal_window_pg(self, compiled: CompiledSchedule | None, conc: int) -> int:
        if compiled is None:
            return 0
        return -(-compiled.max_window_x_day_ms // DAY_MS) * conc

    def _window_pg(self, compiled: CompiledSchedule | None, conc: int, offset_ms: int,
                   running: bool, extra_pg: int = 0, boluses: bool = True) -> int:
        """Upper bound (pg) of the dose in any 24 h window containing now, when from now on the
        pump runs ``compiled`` at ``conc`` with wall offset ``offset_ms`` (if ``running``), after
        what the epochs of the last 24 h can have delivered, with the boluses of the last 24 h
        (unless not ``boluses``) and ``extra_pg`` given now."""
        t = self.t_ms
        lo = t - DAY_MS
        eps: list[tuple[int, int, int, int, CompiledSchedule]] = []
        for a, e, off, c, sd in self.past_epochs:
            if e > lo:
                eps.append((a, e, off, c, self._compiled_from(sd)))
        ep = self.epoch
        if ep is not None and ep[0] < t and self.compiled is not None:
            eps.append((ep[0], t, ep[1], ep[2], self.compiled))
        history = self.bolus_history if boluses else []
        recent = self._recent_bolus_pg() if boluses else 0
        if not running:
            compiled = None
        if not eps or (len(eps) == 1 and eps[0][0] <= lo and eps[0][1] == t
                       and compiled is eps[0][4] and conc <= eps[0][3]
                       and offset_ms == eps[0][2]):
            # one program for the whole window: its own largest window bounds it
            return self._basal_window_pg(compiled, conc) + recent + extra_pg

        def bound(s: int) -> int:
            v = sum(b[2] for b in history if b[1] > s)
            for a, e, off, c, cs in eps:
                a = max(a, s)
                if e > a:
                    v += -(-cs.integral_x_day_ms(a + off, e + off) // DAY_MS) * c
            if compiled is not None:
                v += -(-compiled.integral_x_day_ms(t + offset_ms, s + DAY_MS + offset_ms)
                       // DAY_MS) * conc
            return v

        cands = {lo, t}
        for a, e, off, _, cs in eps:
            a = max(a, lo)
            cands.update((a, e))
            cands.update(b - off for b in cs.boundaries(a + off, e + off))
        if compiled is not None:
            cands.update(b - offset_ms - DAY_MS
                         for b in compiled.boundaries(t + offset_ms, t + offset_ms + DAY_MS))
        cands.update(b[1] - 1 for b in history)
        return max(bound(s) for s in cands if lo <= s <= t) + extra_pg

    def _compiled_from(self, sched: dict[str, Any]) -> CompiledSchedule:
        key = id(sched)
        hit = self._epoch_compiled.get(key)
        if hit is None or hit[0] is not sched:
            hit = (sched, CompiledSchedule(Schedule.from_dict(sched)))
            self._epoch_compiled[key] = hit
        return hit[1]

    def _sync_epoch(self) -> None:
        """Close the open therapy epoch when therapy stopped or its schedule, concentration or
        wall offset changed, and open the next one; forget epochs older than 24 h."""
        want = self.resume_infusing and self.compiled is not None \
            and self.state is not S.END_OF_SERVICE
        ep = self.epoch
        if ep is not None:
            if want and self._epoch_schedule == self._schedule and ep[1] == self.wall_offset_ms \
                    and ep[3] == self.concentration_ug_per_ml and ep[2] >= self._limit_conc():
                return
            if ep[0] < self.t_ms and self._epoch_schedule is not None:
                self.past_epochs.append([ep[0], self.t_ms, ep[1], ep[2],
                                         self._epoch_schedule.to_dict()])
            self.epoch = None
        if want:
            self.epoch = [self.t_ms, self.wall_offset_ms, self._limit_conc(),
                          self.concentration_ug_per_ml or 0]
            self._epoch_schedule = self._schedule
        since = self.t_ms - DAY_MS
        self.past_epochs = [e for e in self.past_epochs if e[1] > since]
        kept = {id(e[4]) for e in self.past_epochs}
        self._epoch_compiled = {k: v for k, v in self._epoch_compiled.items() if k in kept}

    def _recent_bolus_pg(self) -> int:
        since = self.t_ms - DAY_MS
        return sum(b[2] for b in self.bolus_history if b[1] > since)

    def _prune_history(self) -> None:
        since = self.t_ms - DAY_MS
        self.bolus_history = [b for b in self.bolus_history if b[1] > since]
        self.patient_history = [s for s in self.patient_history if s > since]

    def _bolus_fits_limit(self, volume_nl: int) -> bool:
        conc = self._limit_conc()
        total = self._window_pg(self.compiled, conc, self.wall_offset_ms, self.resume_infusing,
                                volume_nl * conc)
        return total <= self._hard_limit_pg()

    # ------------------------------------------------------------------ time
    def tick(self, *, commit: bool = True) -> None:
        """Advance to the pump clock's now (no-op if the clock is behind the run time);
        ``commit`` as for :meth:`advance_to`."""
        now = self.clock.now_ms()
        if now > self.t_ms:
            self.advance_to(now, commit=commit)

    def advance_to(self, t_ms: int, *, commit: bool = True) -> None:
        """Run the pump until run time ``t_ms`` (>= current), event to event, then commit.

        With ``commit=False`` a run that logged nothing (only time passed: delivery integrated,
        no alarm, no state change) is kept in memory and stored by the next commit (any
        command, :meth:`checkpoint`, or a run that logs); a run that logs is committed at once.
        A power loss then loses only unlogged run time, never an acknowledged change or a log
        entry (nothing was acknowledged since the last commit)."""
        if t_ms < self.t_ms:
            raise ValueError(f"advance_to({t_ms}) is before the pump's run time {self.t_ms}")
        while self.t_ms < t_ms:
            self._segment(t_ms)
        if commit or self._pending:
            self._commit()

    @property
    def uncommitted_ms(self) -> int:
        """Run time (ms) advanced since the state was last committed (0: all stored)."""
        return self.t_ms - self._committed_t_ms

    def checkpoint(self) -> None:
        """Commit the state now if run time passed since the last commit (logs nothing)."""
        if self.t_ms != self._committed_t_ms or self._pending:
            self._commit()

    def next_event_ms(self, until_ms: int | None = None) -> int | None:
        """Run time (ms) of the first event :meth:`advance_to` would log from now on: the first
        instant after :attr:`time_ms` at which an alarm is raised or the state changes (bolus
        or bridge end, low-reservoir and empty crossings, refill-due date, battery ERI and end
        of service). Step boundaries change the rate and log nothing: they are integrated over,
        exactly as :meth:`advance_to` does. None when nothing is logged up to ``until_ms``
        (inclusive; None: ever). Pure and cheap (no copy, no storage): crossings are found by
        bisection on the exact integer delivery functions over the whole horizon."""
        t0 = self.t_ms
        target = _FOREVER if until_ms is None else until_ms
        if target <= t0:
            return None
        bol = self.bolus
        if (bol is not None and bol["kind"] == BolusKind.BRIDGE) or self._would_log(
                t0, self.reservoir_nl, self.delivered_nl, self.path_old_nl):
            return self._next_event_walk(target)
        return self._next_event_direct(target)

    def _would_log(self, t: int, reservoir_nl: int, delivered_nl: int, path_old_nl: int) -> bool:
        """Whether :meth:`_after_segment` logs anything at run time ``t`` with these moving
        quantities (the other state as it is now)."""
        st = self.machine.state
        delivering = st == "INFUSING" or st == "BOLUS"
        alarms = self.alarms
        if delivering and (reservoir_nl == 0 or (reservoir_nl <= self.low_threshold_nl
                                                 and Alarm.LOW_RESERVOIR not in alarms)):
            return True
        bol = self.bolus
        if bol is not None and st == "BOLUS":
            if bol["kind"] == BolusKind.BRIDGE:
                if path_old_nl == 0:
                    return True
            elif t >= bol["start_ms"] + bol["duration_ms"]:
                return True
        due = self.refill_due_ms
        if due is not None and t >= due and Alarm.REFILL_DUE not in alarms:
            return True
        idle, motor, eri, eos = self._battery_consts()
        used = idle * (t - self.battery_start_ms) + motor * delivered_nl
        return (used >= eri and Alarm.BATTERY_ERI not in alarms) or \
            (used >= eos and Alarm.END_OF_SERVICE not in alarms)

    def _next_event_walk(self, target: int) -> int | None:
        """:meth:`next_event_ms` segment by segment, as :meth:`advance_to` runs (a bridge bolus,
        whose rate is rounded per step, or a condition already true now)."""
        t, res, deliv, rem, path = (self.t_ms, self.reservoir_nl, self.delivered_nl,
                                    self.basal_rem, self.path_old_nl)
        while t < target:
            dt, vol, rem = self._plan_segment(t, target, res, deliv, rem, path)
            vol = min(vol, res)
            res -= vol
            deliv += vol
            path -= min(vol, path)
            t += dt
            if self._would_log(t, res, deliv, path):
                return t
        return None

    def _next_event_direct(self, target: int) -> int | None:
        """:meth:`next_event_ms` without a bridge bolus and with no condition true now: the
        volume delivered in the first x ms is ``(integral of the schedule + remainder) // day``
        plus the bolus's ``V x elapsed // D``, however the time is split into segments, so each
        crossing is one bisection over the horizon."""
        t0 = self.t_ms
        st = self.machine.state
        delivering = st == "INFUSING" or st == "BOLUS"
        compiled = self.compiled if delivering and self.resume_infusing else None
        bol = self.bolus if delivering else None
        hi = target - t0  # the horizon, ms after now
        event = False  # whether something is logged at t0 + hi
        bV = bD = e0 = b0 = 0
        if bol is not None:
            bV, bD = bol["volume_nl"], bol["duration_ms"]
            e0 = t0 - bol["start_ms"]
            b0 = bV * e0 // bD
            if bD - e0 <= hi:
                hi, event = bD - e0, True
        due = self.refill_due_ms
        if due is not None and due - t0 <= hi and Alarm.REFILL_DUE not in self.alarms:
            hi, event = due - t0, True
        wall0 = t0 + self.wall_offset_ms
        rem = self.basal_rem

        def delivered(x: int) -> int:
            """Volume delivered in the first x ms from now (exact, nondecreasing)."""
            v = 0
            if compiled is not None:
                v = (compiled.integral_x_day_ms(wall0, wall0 + x) + rem) // DAY_MS
            if bD:
                v += bV * (e0 + x) // bD - b0
            return v

        crossings: list[tuple[Callable[[int], int], int]] = []
        if delivering:
            crossings.append((delivered, self.reservoir_nl))
            if Alarm.LOW_RESERVOIR not in self.alarms:
                crossings.append((delivered, self.reservoir_nl - self.low_threshold_nl))
        idle = 0
        if Alarm.END_OF_SERVICE not in self.alarms:
            idle, motor, eri, eos = self._battery_consts()
            base = idle * (t0 - self.battery_start_ms) + motor * self.delivered_nl
            need = (eri if Alarm.BATTERY_ERI not in self.alarms else eos) - base
            if delivering:
                crossings.append((lambda x: idle * x + motor * delivered(x), need))
            else:
                crossings.append((lambda x: idle * x, need))
            if idle and hi >= _FOREVER - t0:
                hi = -(-need // idle)  # idle drain alone reaches the level by then
        if hi >= _FOREVER - t0 and delivering:
            # no end in sight but the reservoir: double until it would be empty
            x = 1
            while delivered(x) < self.reservoir_nl and x < _FOREVER:
                x *= 2
            hi = min(x, hi)
        if hi >= _FOREVER - t0:
            return None
        for fn, need in crossings:
            if fn(hi) >= need:
                hi, event = _first_reaching(fn, need, hi), True
        return t0 + hi if event else None

    def _battery_consts(self) -> tuple[int, int, int, int]:
        """(idle, motor, ERI level, end-of-service level) in uAh x DAY_MS x 1e6 units, so
        ``idle x ms + motor x nL`` is the exact charge used."""
        p = self.profile
        c = self._battery_cache
        if c is None or c[0] is not p:
            scale = DAY_MS * NL_PER_ML
            c = (p, (p.battery_idle_uah_per_day * NL_PER_ML, p.battery_motor_uah_per_ml * DAY_MS,
                     (p.battery_capacity_uah - p.battery_eri_reserve_uah) * scale,
                     p.battery_capacity_uah * scale))
            self._battery_cache = c
        return c[1]

    def _segment(self, target: int) -> None:
        dt, vol, rem = self._plan_segment(self.t_ms, target, self.reservoir_nl,
                                          self.delivered_nl, self.basal_rem, self.path_old_nl)
        if vol:
            if vol >= self.reservoir_nl:
                vol = self.reservoir_nl
            self.reservoir_nl -= vol
            self.delivered_nl += vol
            old = min(vol, self.path_old_nl)
            if old:
                self.path_old_nl -= old
                self.dose_pg += old * self.path_old_conc
            self.dose_pg += (vol - old) * (self.concentration_ug_per_ml or 0)
        self.basal_rem = rem
        self.t_ms += dt
        self.segments += 1
        self._after_segment()

    def _plan_segment(self, t: int, target: int, reservoir_nl: int, delivered_nl: int,
                      rem: int, path_old_nl: int) -> tuple[int, int, int]:
        """The next segment from run time ``t`` (at most to ``target``) with the given moving
        quantities and the pump's other state: (duration ms >= 1, volume nL before the reservoir
        cap, basal remainder after it). Pure: changes nothing."""
        st = self.machine.state
        end = target
        rate = 0
        bol = self.bolus
        bridge = bol is not None and bol["kind"] == BolusKind.BRIDGE
        delivering = st == "INFUSING" or st == "BOLUS"
        if delivering and self.resume_infusing and self.compiled is not None:
            off = self.wall_offset_ms
            _, rate, nxt = self.compiled.lookup(t + off)
            if nxt - off < end:
                end = nxt - off
            if bridge:
                rate = rate * bol["num"] // bol["den"]  # type: ignore[index]
        bV = bD = e0 = b0 = 0
        if delivering and bol is not None and not bridge:
            bV, bD = bol["volume_nl"], bol["duration_ms"]
            e0 = t - bol["start_ms"]
            b0 = bV * e0 // bD
            bend = bol["start_ms"] + bD
            if bend < end:
                end = bend
        due = self.refill_due_ms
        if due is not None and t < due < end and Alarm.REFILL_DUE not in self.alarms:
            end = due
        dt = end - t

        def f(x: int) -> int:
            """Volume delivered in the first x ms of the segment (nondecreasing, exact)."""
            v = (rate * x + rem) // DAY_MS
            if bD:
                v += bV * (e0 + x) // bD - b0
            return v

        vol = 0
        if delivering:
            vol = (rate * dt + rem) // DAY_MS + (bV * (e0 + dt) // bD - b0 if bD else 0)
            res = reservoir_nl
            if vol >= res:
                dt = _first_reaching(f, res, dt)
                vol = f(dt)
            low = res - self.low_threshold_nl
            if low > 0 and vol >= low and Alarm.LOW_RESERVOIR not in self.alarms:
                dt = _first_reaching(f, low, dt)
                vol = f(dt)
            if bridge and vol >= path_old_nl:
                dt = _first_reaching(f, path_old_nl, dt)
                vol = f(dt)
        if Alarm.END_OF_SERVICE not in self.alarms:
            idle, motor, eri, eos = self._battery_consts()
            base = idle * (t - self.battery_start_ms) + motor * delivered_nl
            for level in (eri, eos):
                need = level - base
                if 0 < need <= idle * dt + motor * vol:
                    dt = _first_reaching(lambda x: idle * x + motor * f(x), need, dt)
                    vol = f(dt) if delivering else 0
        return dt, vol, ((rate * dt + rem) % DAY_MS if delivering else rem)

    def _after_segment(self) -> None:
        """Raise alarms and change state for every condition true at the new run time."""
        t = self.t_ms
        bol = self.bolus
        st = self.machine.state
        if (st == "INFUSING" or st == "BOLUS") and self.reservoir_nl == 0:
            self.basal_rem = 0
            if bol is not None:
                # straight to EMPTY: a single bolus from STOPPED must not pass through STOPPED
                self._finish_bolus("EMPTY", transition=False)
            self._raise_alarm(Alarm.LOW_RESERVOIR, reservoir_nl=0)
            self._raise_alarm(Alarm.EMPTY_RESERVOIR)
            self._trigger("run_dry")
        elif self.reservoir_nl <= self.low_threshold_nl and Alarm.LOW_RESERVOIR not in self.alarms \
                and st in ("INFUSING", "BOLUS"):
            self._raise_alarm(Alarm.LOW_RESERVOIR, reservoir_nl=self.reservoir_nl)
        bol = self.bolus
        if bol is not None and self.machine.state == "BOLUS":
            if bol["kind"] == BolusKind.BRIDGE:
                if self.path_old_nl == 0:
                    self._finish_bolus("COMPLETE")
            elif t >= bol["start_ms"] + bol["duration_ms"]:
                self._finish_bolus("COMPLETE")
        due = self.refill_due_ms
        if due is not None and t >= due and Alarm.REFILL_DUE not in self.alarms:
            self._raise_alarm(Alarm.REFILL_DUE)
        self._check_battery()

    def _check_battery(self) -> None:
        idle, motor, eri, eos = self._battery_consts()
        used = idle * (self.t_ms - self.battery_start_ms) + motor * self.delivered_nl
        if used >= eri and Alarm.BATTERY_ERI not in self.alarms:
            self._raise_alarm(Alarm.BATTERY_ERI)
        if used >= eos and Alarm.END_OF_SERVICE not in self.alarms:
            if self.bolus is not None:
                self._finish_bolus("END_OF_SERVICE")
            self._raise_alarm(Alarm.END_OF_SERVICE)
            self.resume_infusing = False
            self.refill_due_ms = None
            self._trigger("end_service")
            self._sync_epoch()

    def battery_used_uah(self) -> int:
        """Battery charge used so far (uAh, floor)."""
        p = self.profile
        used = (p.battery_idle_uah_per_day * NL_PER_ML * (self.t_ms - self.battery_start_ms)
                + p.battery_motor_uah_per_ml * DAY_MS * self.delivered_nl)
        return min(used // (DAY_MS * NL_PER_ML), p.battery_capacity_uah)

    # ------------------------------------------------------------------ bolus bookkeeping
    def _bolus_delivered(self, bol: dict[str, int]) -> int:
        if bol["kind"] == BolusKind.BRIDGE:
            return bol["volume_nl"] - self.path_old_nl
        e = min(self.t_ms - bol["start_ms"], bol["duration_ms"])
        return bol["volume_nl"] * e // bol["duration_ms"]

    def _start_bolus(self, kind: BolusKind, volume_nl: int, duration_ms: int) -> None:
        self.bolus = {"kind": int(kind), "volume_nl": volume_nl, "duration_ms": duration_ms,
                      "start_ms": self.t_ms}
        self.bolus_history.append([self.t_ms, self.t_ms + duration_ms,
                                   volume_nl * self._limit_conc(), int(kind)])
        self._trigger("begin_bolus")
        self._event("BOLUS_START", bolus_kind=kind.name, volume_nl=volume_nl,
                    duration_ms=duration_ms, end_ms=self.t_ms + duration_ms)
        if self.reservoir_nl <= self.low_threshold_nl:  # delivering from now on
            self._raise_alarm(Alarm.LOW_RESERVOIR, reservoir_nl=self.reservoir_nl)

    def _finish_bolus(self, outcome: str, transition: bool = True) -> None:
        bol = self.bolus
        assert bol is not None
        delivered = self._bolus_delivered(bol)
        kind = BolusKind(bol["kind"])
        if kind != BolusKind.BRIDGE:
            # the history entry ends now (the window check counts it until 24 h after its end)
            for h in reversed(self.bolus_history):
                if h[0] == bol["start_ms"] and h[3] == bol["kind"]:
                    h[1] = self.t_ms
                    break
        self.bolus = None
        self._event("BOLUS_END", bolus_kind=kind.name, delivered_nl=delivered, outcome=outcome)
        if transition and self.machine.state == "BOLUS":
            self.machine.resume_flag = self.resume_infusing
            self._trigger("end_bolus")

    # ------------------------------------------------------------------ programming
    def _validate_drug(self, drug_name: str, conc: int) -> None:
        entry = self.profile.drug(drug_name) if isinstance(drug_name, str) else None
        if entry is None:
            raise self._reject(RejectCode.UNKNOWN_DRUG, "drug_name",
                               f"{drug_name!r} is not in the drug library")
        if not isinstance(conc, int) or not (entry.min_concentration_ug_per_ml <= conc
                                             <= entry.max_concentration_ug_per_ml):
            raise self._reject(RejectCode.CONCENTRATION_OUT_OF_RANGE, "concentration_ug_per_ml",
                               f"{conc} ug/mL outside [{entry.min_concentration_ug_per_ml}, "
                               f"{entry.max_concentration_ug_per_ml}] for {entry.name}")

    def _check_program_limits(self, drug_name: str, conc: int, compiled: CompiledSchedule,
                              patient_cfg: dict[str, int] | None) -> int:
        """Raise HARD_DAILY_LIMIT; return the worst 24 h dose (pg) incl. allotted boluses."""
        entry = self.profile.drug(drug_name)
        assert entry is not None
        # the program is checked as if it ran from now on, after what ran in the last 24 h
        basal = self._window_pg(compiled, conc, self.wall_offset_ms, True, boluses=False)
        with_boluses = basal if not self.bolus_history else \
            self._window_pg(compiled, conc, self.wall_offset_ms, True)
        # windows that start later hold the new program alone: its own largest 24 h window
        own = self._basal_window_pg(compiled, conc)
        basal, with_boluses = max(basal, own), max(with_boluses, own)
        if with_boluses > entry.hard_daily_limit_ug * PG_PER_UG:
            raise self._reject(RejectCode.HARD_DAILY_LIMIT, "schedule",
                               f"up to {with_boluses // PG_PER_UG} ug per 24 h (with the boluses "
                               f"of the last 24 h) exceeds the hard limit "
                               f"{entry.hard_daily_limit_ug} ug of {entry.name}")
        worst = basal
        if patient_cfg is not None:
            worst += patient_cfg["max_per_24h"] * patient_cfg["dose_ug"] * PG_PER_UG
            if worst > entry.hard_daily_limit_ug * PG_PER_UG:
                raise self._reject(RejectCode.HARD_DAILY_LIMIT, "patient_bolus",
                                   f"schedule plus allotted patient boluses, up to "
                                   f"{worst // PG_PER_UG} ug per 24 h, exceeds the hard limit "
                                   f"{entry.hard_daily_limit_ug} ug of {entry.name}")
        return worst

    def _compile(self, schedule: Schedule) -> CompiledSchedule:
        """The compiled form of a validated ``schedule`` (the current one reused when equal)."""
        if self.compiled is not None and schedule == self._schedule:
            return self.compiled
        return CompiledSchedule(schedule)

    def _soft_warning(self, worst_pg: int) -> None:
        entry = self.profile.drug(self.drug_name or "")
        if entry and worst_pg > entry.soft_daily_limit_ug * PG_PER_UG:
            self._event("SOFT_LIMIT_WARNING", dose_ug=worst_pg // PG_PER_UG,
                        soft_daily_limit_ug=entry.soft_daily_limit_ug)

    def _validate_schedule(self, schedule: Schedule) -> None:
        try:
            validate_schedule(schedule, self.profile)
        except Rejected as e:
            log.warning("rejected %s (%s): %s", e.code.value, e.field, e.reason)
            raise

    def _operable(self, what: str) -> None:
        if self.state in (S.FAULT, S.END_OF_SERVICE):
            raise self._reject(RejectCode.INVALID_STATE, "", f"{what} not allowed in {self.state.name}")

    def program_therapy(self, drug_name: str, concentration_ug_per_ml: int,
                        schedule: Schedule) -> None:
        """Program the drug in the reservoir (name, ug/mL) and its schedule, validated together.

        Allowed in STOPPED, INFUSING, EMPTY (not during a bolus, refill, fault or end of service);
        a running therapy continues with the new schedule. Rejections: UNKNOWN_DRUG,
        CONCENTRATION_OUT_OF_RANGE, schedule codes (see :mod:`firmware_sim.schedule`),
        HARD_DAILY_LIMIT, INVALID_STATE, BOLUS_ACTIVE.
        """
        if self.state is S.BOLUS:
            raise self._reject(RejectCode.BOLUS_ACTIVE, "", "a bolus is in progress")
        if self.state not in (S.STOPPED, S.INFUSING, S.EMPTY):
            raise self._reject(RejectCode.INVALID_STATE, "",
                               f"programming not allowed in {self.state.name}")
        self._validate_drug(drug_name, concentration_ug_per_ml)
        self._validate_schedule(schedule)
        compiled = self._compile(schedule)
        drug_name = self.profile.drug(drug_name).name  # type: ignore[union-attr]
        pcfg = self.patient_cfg if self.patient_cfg else None
        if pcfg is not None and self._patient_volume(pcfg["dose_ug"], concentration_ug_per_ml) < 1:
            pcfg = None
        worst = self._check_program_limits(drug_name, concentration_ug_per_ml, compiled, pcfg)
        self.drug_name = drug_name
        self.concentration_ug_per_ml = concentration_ug_per_ml
        self._schedule, self.compiled = schedule, compiled
        self._event("PROGRAM", drug_name=drug_name,
                    concentration_ug_per_ml=concentration_ug_per_ml, schedule=schedule.to_dict(),
                    daily_volume_nl=compiled.week_volume_x_day_ms // (7 * DAY_MS))
        self._soft_warning(worst)
        self._recompute_refill_due()
        self._sync_epoch()
        self._commit()

    def set_schedule(self, schedule: Schedule) -> None:
        """Replace the schedule, keeping drug and concentration (same rules as program_therapy;
        NO_PROGRAM if no drug was programmed)."""
        if self.drug_name is None or self.concentration_ug_per_ml is None:
            raise self._reject(RejectCode.NO_PROGRAM, "drug_name", "no drug programmed")
        self.program_therapy(self.drug_name, self.concentration_ug_per_ml, schedule)

    def set_low_reservoir_threshold(self, threshold_nl: int) -> None:
        """Set the low-reservoir alarm threshold (profile range, default 0.5-5 mL) in nL.

        If the reservoir is already at or below it while delivering, the alarm is raised now.
        Rejection: THRESHOLD_OUT_OF_RANGE; INVALID_STATE at end of service."""
        self._check_threshold(threshold_nl)
        self.low_threshold_nl = threshold_nl
        self._event("THRESHOLD", low_threshold_nl=threshold_nl)
        if self.reservoir_nl <= threshold_nl and self.state in (S.INFUSING, S.BOLUS):
            self._raise_alarm(Alarm.LOW_RESERVOIR, reservoir_nl=self.reservoir_nl)
        self._recompute_refill_due()
        self._commit()

    def _check_threshold(self, threshold_nl: int) -> None:
        p = self.profile
        if self.state is S.END_OF_SERVICE:
            raise self._reject(RejectCode.INVALID_STATE, "", "end of service")
        if not _is_int(threshold_nl) or not (p.low_threshold_min_nl <= threshold_nl
                                             <= p.low_threshold_max_nl):
            raise self._reject(RejectCode.THRESHOLD_OUT_OF_RANGE, "threshold_nl",
                               f"{threshold_nl} nL outside [{p.low_threshold_min_nl}, "
                               f"{p.low_threshold_max_nl}]")

    def validate_limits(self, *, threshold_nl: int | None = None,
                        patient_bolus: Mapping[str, int] | None = None) -> None:
        """Raise the :class:`Rejected` that ``configure_patient_bolus(**patient_bolus)`` and
        then ``set_low_reservoir_threshold(threshold_nl)`` would raise (each only when given),
        in that order; change nothing. Lets a caller apply both or neither."""
        if patient_bolus is not None:
            missing = sorted(set(_PATIENT_KEYS) - set(patient_bolus))
            if missing or len(patient_bolus) != len(_PATIENT_KEYS):
                raise self._reject(RejectCode.INVALID_ARGUMENT, "patient_bolus",
                                   f"expected exactly {', '.join(_PATIENT_KEYS)}")
            self._check_patient_bolus(**patient_bolus)
        if threshold_nl is not None:
            self._check_threshold(threshold_nl)

    def _patient_volume(self, dose_ug: int, conc: int | None) -> int:
        return dose_ug * PG_PER_UG // conc if conc else 0

    def configure_patient_bolus(self, dose_ug: int, duration_ms: int, lockout_ms: int,
                                max_per_24h: int) -> None:
        """Allow patient-activated boluses of ``dose_ug`` over ``duration_ms``, at least
        ``lockout_ms`` apart (start to start), at most ``max_per_24h`` in any 24 h.

        Needs a programmed drug (NO_PROGRAM). Rejections: DOSE_OUT_OF_RANGE,
        DURATION_OUT_OF_RANGE, LOCKOUT_OUT_OF_RANGE, MAX_PER_DAY_OUT_OF_RANGE, HARD_DAILY_LIMIT
        (schedule's worst 24 h + max_per_24h x dose above the drug's hard limit)."""
        cfg, worst = self._check_patient_bolus(dose_ug, duration_ms, lockout_ms, max_per_24h)
        self.patient_cfg = cfg
        self._event("PATIENT_BOLUS_CONFIG", **cfg)
        self._soft_warning(worst)
        self._recompute_refill_due()
        self._commit()

    def _check_patient_bolus(self, dose_ug: int, duration_ms: int, lockout_ms: int,
                             max_per_24h: int) -> tuple[dict[str, int], int]:
        """Validate a patient bolus setting: (the setting, worst 24 h dose in pg) or Rejected."""
        p = self.profile
        self._operable("configuring patient boluses")
        if self.drug_name is None or self.compiled is None:
            raise self._reject(RejectCode.NO_PROGRAM, "drug_name", "no drug programmed")
        checks = (("dose_ug", dose_ug, p.patient_min_dose_ug, p.patient_max_dose_ug,
                   RejectCode.DOSE_OUT_OF_RANGE),
                  ("duration_ms", duration_ms, p.patient_min_duration_ms, p.patient_max_duration_ms,
                   RejectCode.DURATION_OUT_OF_RANGE),
                  ("lockout_ms", lockout_ms, p.patient_min_lockout_ms, p.patient_max_lockout_ms,
                   RejectCode.LOCKOUT_OUT_OF_RANGE),
                  ("max_per_24h", max_per_24h, 1, p.patient_max_per_24h,
                   RejectCode.MAX_PER_DAY_OUT_OF_RANGE))
        for field, v, lo, hi, code in checks:
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise self._reject(code, field, f"{v!r} outside [{lo}, {hi}]")
        if self._patient_volume(dose_ug, self.concentration_ug_per_ml) < 1:
            raise self._reject(RejectCode.DOSE_OUT_OF_RANGE, "dose_ug",
                               "dose is less than 1 nL at this concentration")
        cfg = {"dose_ug": dose_ug, "duration_ms": duration_ms, "lockout_ms": lockout_ms,
               "max_per_24h": max_per_24h}
        assert self.concentration_ug_per_ml is not None
        worst = self._check_program_limits(self.drug_name, self.concentration_ug_per_ml,
                                           self.compiled, cfg)
        return cfg, worst

    def disable_patient_bolus(self) -> None:
        """Turn patient boluses off (requests are then denied NOT_CONFIGURED)."""
        self.patient_cfg = None
        self._event("PATIENT_BOLUS_CONFIG", enabled=False)
        self._recompute_refill_due()
        self._commit()

    def _recompute_refill_due(self) -> None:
        if Alarm.REFILL_DUE in self.alarms:
            return
        if not self.resume_infusing or self.compiled is None:
            self.refill_due_ms = None
            return
        per_week = self.compiled.week_volume_x_day_ms  # nL x ms/day summed over 7 days
        if self.patient_cfg:
            per_week += 7 * DAY_MS * self.patient_cfg["max_per_24h"] * self._patient_volume(
                self.patient_cfg["dose_ug"], self.concentration_ug_per_ml)
        margin = self.reservoir_nl - self.low_threshold_nl
        due = self.t_ms + max(0, -(-margin * 7 * DAY_MS * DAY_MS // per_week))
        if due != self.refill_due_ms:
            self.refill_due_ms = due
            self._event("REFILL_DUE_DATE", refill_due_ms=due)
        if due <= self.t_ms:
            self._raise_alarm(Alarm.REFILL_DUE)

    # ------------------------------------------------------------------ start / stop
    def start(self) -> None:
        """Start (resume) the programmed therapy: STOPPED -> INFUSING (or BOLUS/BRIDGE when the
        catheter still holds a previous concentration). Rejections: INVALID_STATE, NO_PROGRAM,
        RESERVOIR_EMPTY, HARD_DAILY_LIMIT (with what ran and the boluses given in the last 24 h,
        starting now would let a 24 h window exceed the drug's hard limit)."""
        self._require_state("start", "start")
        if self.compiled is None:
            raise self._reject(RejectCode.NO_PROGRAM, "schedule", "no therapy programmed")
        if self.reservoir_nl == 0:
            raise self._reject(RejectCode.RESERVOIR_EMPTY, "reservoir_nl", "reservoir is empty")
        if self._window_pg(self.compiled, self._limit_conc(), self.wall_offset_ms, True) \
                > self._hard_limit_pg():
            raise self._reject(RejectCode.HARD_DAILY_LIMIT, "schedule",
                               "starting now would exceed the drug's hard daily limit within "
                               "24 h of the therapy that ran before")
        self.resume_infusing = True
        self.basal_rem = 0
        if self.path_old_nl > 0 and self.path_old_conc != self.concentration_ug_per_ml:
            self._start_bridge()
        else:
            self._trigger("start")
        self._recompute_refill_due()
        if self.reservoir_nl <= self.low_threshold_nl:
            self._raise_alarm(Alarm.LOW_RESERVOIR, reservoir_nl=self.reservoir_nl)
        self._sync_epoch()
        self._commit()

    def stop(self) -> None:
        """Stop therapy (cancels a bolus): INFUSING/BOLUS -> STOPPED. Rejection: INVALID_STATE."""
        self._require_state("stop", "stop")
        if self.bolus is not None:
            self._finish_bolus("CANCELLED")
        self.resume_infusing = False
        if self.machine.state != "STOPPED":
            self._trigger("stop")
        self.refill_due_ms = None
        self._sync_epoch()
        self._commit()

    def _start_bridge(self) -> None:
        assert self.concentration_ug_per_ml
        self.bolus = {"kind": int(BolusKind.BRIDGE), "volume_nl": self.path_old_nl,
                      "num": self.concentration_ug_per_ml, "den": self.path_old_conc,
                      "start_ms": self.t_ms}
        if self.machine.state != "REFILL":  # from REFILL, finish_refill goes to BOLUS itself
            self._trigger("begin_bolus")
        self._event("BOLUS_START", bolus_kind="BRIDGE", volume_nl=self.path_old_nl,
                    old_concentration_ug_per_ml=self.path_old_conc,
                    concentration_ug_per_ml=self.concentration_ug_per_ml)

    # ------------------------------------------------------------------ boluses
    def _check_bolus_common(self, volume_nl: int, duration_ms: int, dmin: int, dmax: int) -> None:
        if not isinstance(duration_ms, int) or not dmin <= duration_ms <= dmax:
            raise self._reject(RejectCode.DURATION_OUT_OF_RANGE, "duration_ms",
                               f"{duration_ms!r} outside [{dmin}, {dmax}] ms")
        if volume_nl < 1:
            raise self._reject(RejectCode.VOLUME_OUT_OF_RANGE, "volume_nl", "volume below 1 nL")
        if volume_nl > self.reservoir_nl:
            raise self._reject(RejectCode.INSUFFICIENT_RESERVOIR, "volume_nl",
                               f"{volume_nl} nL requested, {self.reservoir_nl} nL in the reservoir")
        if not self._bolus_fits_limit(volume_nl):
            raise self._reject(RejectCode.HARD_DAILY_LIMIT, "volume_nl",
                               "the bolus would exceed the drug's hard daily limit over 24 h")

    def start_clinician_bolus(self, duration_ms: int, volume_nl: int | None = None,
                              dose_ug: int | None = None) -> None:
        """Give ``volume_nl`` (or ``dose_ug`` at the current concentration, floor to nL) over
        ``duration_ms`` on top of the running schedule. From STOPPED it is a single bolus, after
        which the pump is STOPPED again; from INFUSING it returns to INFUSING.

        Rejections: BOLUS_ACTIVE, INVALID_STATE, NO_PROGRAM, INVALID_ARGUMENT (not exactly one of
        volume/dose), DURATION_OUT_OF_RANGE, VOLUME_OUT_OF_RANGE, DOSE_OUT_OF_RANGE,
        INSUFFICIENT_RESERVOIR, HARD_DAILY_LIMIT."""
        self._require_state("begin_bolus", "clinician bolus")
        if self.concentration_ug_per_ml is None:
            raise self._reject(RejectCode.NO_PROGRAM, "drug_name", "no drug programmed")
        if (volume_nl is None) == (dose_ug is None):
            raise self._reject(RejectCode.INVALID_ARGUMENT, "volume_nl",
                               "give exactly one of volume_nl and dose_ug")
        if dose_ug is not None:
            if not isinstance(dose_ug, int) or dose_ug < 1:
                raise self._reject(RejectCode.DOSE_OUT_OF_RANGE, "dose_ug", f"{dose_ug!r} < 1 ug")
            volume_nl = self._patient_volume(dose_ug, self.concentration_ug_per_ml)
        if not isinstance(volume_nl, int):
            raise self._reject(RejectCode.VOLUME_OUT_OF_RANGE, "volume_nl", "not an integer")
        p = self.profile
        self._check_bolus_common(volume_nl, duration_ms, p.clinician_bolus_min_duration_ms,
                                 p.clinician_bolus_max_duration_ms)
        self._start_bolus(BolusKind.CLINICIAN, volume_nl, duration_ms)
        self._commit()

    def start_priming_bolus(self, volume_nl: int | None = None,
                            duration_ms: int | None = None) -> None:
        """Fill the catheter and pump tubing (default: the profile's dead volume over its priming
        duration). Only while STOPPED (after implant, before therapy); returns to STOPPED.
        Rejections as for a clinician bolus."""
        if self.state is not S.STOPPED:
            raise self._reject(RejectCode.INVALID_STATE, "", "priming only while STOPPED")
        if self.concentration_ug_per_ml is None:
            raise self._reject(RejectCode.NO_PROGRAM, "drug_name", "no drug programmed")
        p = self.profile
        v = p.dead_volume_nl if volume_nl is None else volume_nl
        d = p.priming_duration_ms if duration_ms is None else duration_ms
        if not isinstance(v, int):
            raise self._reject(RejectCode.VOLUME_OUT_OF_RANGE, "volume_nl", "not an integer")
        self._check_bolus_common(v, d, 1, p.clinician_bolus_max_duration_ms)
        self._start_bolus(BolusKind.PRIMING, v, d)
        self._commit()

    def stop_bolus(self) -> None:
        """Cancel the bolus in progress (back to INFUSING or STOPPED). Rejection: NO_BOLUS."""
        if self.bolus is None:
            raise self._reject(RejectCode.NO_BOLUS, "", "no bolus in progress")
        self._finish_bolus("CANCELLED")
        self._commit()

    def request_patient_bolus(self) -> PatientBolusResult:
        """A patient asks for a bolus now. Granted, or denied with a :class:`DenialReason`
        (checked in this order: NOT_CONFIGURED, NOT_INFUSING, BOLUS_ACTIVE, LOCKOUT,
        DAILY_MAXIMUM, HARD_DAILY_LIMIT). Every request is logged (PATIENT_BOLUS_GRANTED or
        PATIENT_BOLUS_DENIED with the reason) and committed. Insufficient reservoir is
        NOT_INFUSING's sibling: the bolus runs until the reservoir empties."""
        self._prune_history()
        cfg = self.patient_cfg
        reason: DenialReason | None = None
        next_ok: int | None = None
        vol = self._patient_volume(cfg["dose_ug"], self.concentration_ug_per_ml) if cfg else 0
        if cfg is None:
            reason = DenialReason.NOT_CONFIGURED
        elif self.state is S.BOLUS:
            reason = DenialReason.BOLUS_ACTIVE
        elif self.state is not S.INFUSING:
            reason = DenialReason.NOT_INFUSING
        elif self.patient_history and self.t_ms < self.patient_history[-1] + cfg["lockout_ms"]:
            reason = DenialReason.LOCKOUT
            next_ok = self.patient_history[-1] + cfg["lockout_ms"]
        elif len(self.patient_history) >= cfg["max_per_24h"]:
            reason = DenialReason.DAILY_MAXIMUM
            next_ok = self.patient_history[-cfg["max_per_24h"]] + DAY_MS
        elif not self._bolus_fits_limit(vol):
            reason = DenialReason.HARD_DAILY_LIMIT
        if reason is not None:
            self._event("PATIENT_BOLUS_DENIED", reason=reason.name, reason_code=int(reason))
            log.info("patient bolus denied: %s", reason.name)
            self._commit()
            return PatientBolusResult(False, reason, 0, next_ok)
        assert cfg is not None
        self.patient_history.append(self.t_ms)
        self._event("PATIENT_BOLUS_GRANTED", dose_ug=cfg["dose_ug"], volume_nl=vol)
        self._start_bolus(BolusKind.PATIENT, vol, cfg["duration_ms"])
        self._commit()
        return PatientBolusResult(True, None, vol, self.t_ms + cfg["lockout_ms"])

    # ------------------------------------------------------------------ refill
    def refill_begin(self) -> None:
        """Suspend delivery for a refill (a bolus in progress is cancelled): STOPPED, INFUSING,
        BOLUS or EMPTY -> REFILL. Rejection: INVALID_STATE."""
        self._require_state("begin_refill", "refill")
        was_running = self.resume_infusing
        if self.bolus is not None:
            self._finish_bolus("CANCELLED")
        self.resume_infusing = was_running
        self.refill_phase = "begun"
        self._trigger("begin_refill")
        self._event("REFILL_BEGIN", reservoir_nl=self.reservoir_nl)
        self._commit()

    def refill_withdrawn(self, withdrawn_nl: int) -> bool:
        """The clinician withdrew ``withdrawn_nl`` (measured) from the reservoir; the model's
        reservoir (``expected``) is emptied and counted as withdrawn. Returns True and raises
        REFILL_DISCREPANCY when |measured - expected| > max(profile minimum, percent x expected).
        Rejections: INVALID_STATE (not in REFILL), ALREADY_WITHDRAWN, VOLUME_OUT_OF_RANGE."""
        self._check_withdrawn(withdrawn_nl)
        p = self.profile
        expected = self.reservoir_nl
        tol = max(p.discrepancy_min_nl, expected * p.discrepancy_percent // 100)
        discrepancy = abs(withdrawn_nl - expected) > tol
        self.withdrawn_nl += expected
        self.withdrawn_reported_nl += withdrawn_nl
        self.reservoir_nl = 0
        self.refill_phase = "withdrawn"
        self._event("REFILL_WITHDRAWN", withdrawn_nl=withdrawn_nl, expected_nl=expected,
                    tolerance_nl=tol)
        if discrepancy:
            self._raise_alarm(Alarm.REFILL_DISCREPANCY, withdrawn_nl=withdrawn_nl,
                              expected_nl=expected)
        self._commit()
        return discrepancy

    def _check_withdrawn(self, withdrawn_nl: int) -> None:
        if self.state is not S.REFILL:
            raise self._reject(RejectCode.INVALID_STATE, "", "no refill in progress")
        if self.refill_phase != "begun":
            raise self._reject(RejectCode.ALREADY_WITHDRAWN, "", "reservoir already withdrawn")
        if not isinstance(withdrawn_nl, int) or not 0 <= withdrawn_nl <= \
                2 * self.profile.reservoir_capacity_nl:
            raise self._reject(RejectCode.VOLUME_OUT_OF_RANGE, "withdrawn_nl",
                               f"{withdrawn_nl!r} nL is not a plausible withdrawn volume")

    def validate_refill_complete(self, filled_nl: int, concentration_ug_per_ml: int,
                                 schedule: Schedule | None = None, *,
                                 withdrawn_nl: int | None = None) -> None:
        """Raise the :class:`Rejected` that :meth:`refill_complete` would raise, preceded by
        ``refill_withdrawn(withdrawn_nl)`` when ``withdrawn_nl`` is given; change nothing.
        Lets a caller report the withdrawal and complete the refill together, or neither."""
        if withdrawn_nl is not None:
            self._check_withdrawn(withdrawn_nl)
        self._check_refill_complete(filled_nl, concentration_ug_per_ml, schedule,
                                    withdrawn=withdrawn_nl is not None)

    def _check_refill_complete(self, filled_nl: int, concentration_ug_per_ml: int,
                               schedule: Schedule | None, withdrawn: bool = False
                               ) -> tuple[Schedule, CompiledSchedule, int]:
        """Validate a refill completion ((schedule, compiled, worst 24 h pg) or Rejected);
        ``withdrawn``: as if the withdrawal were reported first."""
        if self.state is not S.REFILL:
            raise self._reject(RejectCode.INVALID_STATE, "", "no refill in progress")
        if self.drug_name is None or self.compiled is None:
            raise self._reject(RejectCode.NO_PROGRAM, "drug_name", "program the drug first")
        if self.refill_phase != "withdrawn" and not (withdrawn and self.refill_phase == "begun"):
            raise self._reject(RejectCode.WITHDRAW_REQUIRED, "",
                               "withdraw and report the reservoir content first")
        if not isinstance(filled_nl, int) or filled_nl < 1:
            raise self._reject(RejectCode.VOLUME_OUT_OF_RANGE, "filled_nl", f"{filled_nl!r} < 1 nL")
        if filled_nl > self.profile.reservoir_capacity_nl:
            raise self._reject(RejectCode.RESERVOIR_OVERFLOW, "filled_nl",
                               f"{filled_nl} nL exceeds the {self.profile.reservoir_capacity_nl} nL "
                               "reservoir")
        self._validate_drug(self.drug_name, concentration_ug_per_ml)
        sched = schedule if schedule is not None else self._schedule
        assert sched is not None
        self._validate_schedule(sched)
        compiled = self._compile(sched)
        pcfg = self.patient_cfg
        if pcfg is not None and self._patient_volume(pcfg["dose_ug"], concentration_ug_per_ml) < 1:
            raise self._reject(RejectCode.DOSE_OUT_OF_RANGE, "concentration_ug_per_ml",
                               "the patient bolus dose would be under 1 nL")
        worst = self._check_program_limits(self.drug_name, concentration_ug_per_ml, compiled, pcfg)
        return sched, compiled, worst

    def refill_complete(self, filled_nl: int, concentration_ug_per_ml: int,
                        schedule: Schedule | None = None) -> None:
        """The reservoir was filled with ``filled_nl`` of the programmed drug at
        ``concentration_ug_per_ml``; optionally with a new schedule in the same step. Clears
        LOW_RESERVOIR, EMPTY_RESERVOIR and REFILL_DUE; resumes the previous therapy (INFUSING, or
        a BRIDGE bolus if the concentration changed) or STOPPED.

        Rejections: INVALID_STATE, NO_PROGRAM, WITHDRAW_REQUIRED, VOLUME_OUT_OF_RANGE,
        RESERVOIR_OVERFLOW, CONCENTRATION_OUT_OF_RANGE, schedule codes, HARD_DAILY_LIMIT."""
        sched, compiled, worst = self._check_refill_complete(filled_nl, concentration_ug_per_ml,
                                                             schedule)
        assert self.drug_name is not None
        old_conc = self.concentration_ug_per_ml
        assert old_conc is not None
        self._schedule, self.compiled = sched, compiled
        self.concentration_ug_per_ml = concentration_ug_per_ml
        self.reservoir_nl = filled_nl
        self.filled_nl += filled_nl
        self.refill_phase = None
        if old_conc != concentration_ug_per_ml and self.delivered_nl > 0:
            if self.path_old_nl == 0:
                self.path_old_conc = old_conc
                self.path_old_nl = min(self.profile.dead_volume_nl, self.delivered_nl)
        self._event("REFILL_COMPLETE", filled_nl=filled_nl,
                    concentration_ug_per_ml=concentration_ug_per_ml,
                    old_concentration_ug_per_ml=old_conc)
        self._soft_warning(worst)
        for a in (Alarm.LOW_RESERVOIR, Alarm.EMPTY_RESERVOIR, Alarm.REFILL_DUE):
            self._clear_alarm(a)
        self.basal_rem = 0
        self.refill_due_ms = None
        bridge = self.resume_infusing and self.path_old_nl > 0 and \
            self.path_old_conc != concentration_ug_per_ml
        self.machine.bridge_flag = bridge
        self.machine.resume_flag = self.resume_infusing
        if bridge:
            self._start_bridge()
        self._trigger("finish_refill")
        if self.reservoir_nl <= self.low_threshold_nl and self.state in (S.INFUSING, S.BOLUS):
            self._raise_alarm(Alarm.LOW_RESERVOIR, reservoir_nl=self.reservoir_nl)
        self._recompute_refill_due()
        self._sync_epoch()
        self._commit()

    # ------------------------------------------------------------------ alarms / faults / clock
    def acknowledge_alarm(self, alarm: Alarm) -> None:
        """Acknowledge ``alarm`` (see :mod:`firmware_sim.alarms` for what each latch does).
        MOTOR_STALL's acknowledgement takes the pump from FAULT to STOPPED.
        Rejection: ALARM_NOT_ACTIVE."""
        alarm = Alarm(alarm)
        entry = self.alarms.active.get(alarm)
        if entry is None:
            raise self._reject(RejectCode.ALARM_NOT_ACTIVE, "alarm", f"{alarm.name} is not active")
        self._event("ALARM_ACK", alarm=alarm.name)
        if alarm in CLEARED_BY_ACK:
            self._clear_alarm(alarm)
            if alarm is Alarm.MOTOR_STALL and self.state is S.FAULT:
                self._trigger("clear_fault")
        else:
            entry.acked = True
        self._commit()

    def inject_motor_stall(self) -> None:
        """Fault injection: the motor stalls. Delivery stops (bolus cancelled), state FAULT,
        MOTOR_STALL alarm. Rejection: INVALID_STATE (already FAULT or at end of service)."""
        self._require_state("stall", "motor stall")
        if self.bolus is not None:
            self._finish_bolus("MOTOR_STALL")
        self.resume_infusing = False
        self.refill_due_ms = None
        self.refill_phase = None if self.state is not S.REFILL else self.refill_phase
        self._raise_alarm(Alarm.MOTOR_STALL)
        self._trigger("stall")
        self._sync_epoch()
        self._commit()

    def inject_memory_error(self, reason: str = "injected") -> None:
        """Fault injection: memory error. MEMORY_ERROR alarm, therapy STOPPED, no delivery."""
        self._memory_error(reason)
        self._commit()

    def inject_battery_drain(self, end_of_service: bool = False) -> None:
        """Fault injection: the battery drains at once to its elective replacement indicator (or
        to end of service, which stops delivery for good); alarms and state follow exactly as if
        it had run down. Rejection: INVALID_STATE if the battery is already that low."""
        p = self.profile
        level = p.battery_capacity_uah - (0 if end_of_service else p.battery_eri_reserve_uah)
        idle = p.battery_idle_uah_per_day * NL_PER_ML
        used = idle * (self.t_ms - self.battery_start_ms) \
            + p.battery_motor_uah_per_ml * DAY_MS * self.delivered_nl
        missing = level * DAY_MS * NL_PER_ML - used
        if missing <= 0 or idle == 0:
            raise self._reject(RejectCode.INVALID_STATE, "", "the battery is already that low")
        self.battery_start_ms -= -(-missing // idle)  # as if the pump had idled that much longer
        self._event("BATTERY_DRAIN", end_of_service=end_of_service)
        self._check_battery()
        self._commit()

    def _memory_error(self, reason: str) -> None:
        if self.bolus is not None:
            self._finish_bolus("MEMORY_ERROR")
        if self.machine.can("memory_fault"):
            self.resume_infusing = False
            self.refill_due_ms = None
            self._trigger("memory_fault")
        self._raise_alarm(Alarm.MEMORY_ERROR, reason=reason)
        self._sync_epoch()

    def set_time(self, wall_ms: int) -> None:
        """Set the wall (time-of-day) clock to ``wall_ms``. The run clock is untouched: nothing
        already delivered is delivered again and no interval is skipped; the schedule follows the
        new time of day from now on. Logged as CLOCK_SET (old/new wall ms, delta).
        Rejections: TIME_OUT_OF_RANGE (negative, not an integer); HARD_DAILY_LIMIT while therapy
        runs, when the new time of day would bring high-rate hours so close to those just
        delivered that a 24 h window would exceed the drug's hard limit (stop therapy, set the
        clock, start again once the window allows it)."""
        if not isinstance(wall_ms, int) or wall_ms < 0:
            raise self._reject(RejectCode.TIME_OUT_OF_RANGE, "wall_ms", f"{wall_ms!r} < 0")
        old = self.wall_ms
        offset = wall_ms - self.t_ms
        if self.resume_infusing and offset != self.wall_offset_ms and self._window_pg(
                self.compiled, self._limit_conc(), offset, True) > self._hard_limit_pg():
            raise self._reject(RejectCode.HARD_DAILY_LIMIT, "wall_ms",
                               "the new time of day would repeat doses beyond the drug's hard "
                               "daily limit within 24 h; stop therapy first")
        self.wall_offset_ms = offset
        self._event("CLOCK_SET", old_wall_ms=old, new_wall_ms=wall_ms, delta_ms=wall_ms - old)
        self._sync_epoch()
        self._commit()

    # ------------------------------------------------------------------ status
    def status(self) -> PumpStatus:
        """A frozen snapshot of the pump now."""
        p = self.profile
        step = None
        rate = 0
        if self.compiled is not None:
            step, sched_rate, _ = self.compiled.lookup(self.wall_ms)
            if self.state in (S.INFUSING, S.BOLUS) and self.resume_infusing:
                rate = sched_rate
                if self.bolus is not None and self.bolus["kind"] == BolusKind.BRIDGE:
                    rate = rate * self.bolus["num"] // self.bolus["den"]
        bs = None
        if self.bolus is not None:
            b = self.bolus
            d = self._bolus_delivered(b)
            bridge = b["kind"] == BolusKind.BRIDGE
            bs = BolusStatus(BolusKind(b["kind"]), b["volume_nl"], d, b["volume_nl"] - d,
                             b["start_ms"], None if bridge else b["start_ms"] + b["duration_ms"])
        used = self.battery_used_uah()
        remaining = p.battery_capacity_uah - used
        return PumpStatus(
            state=self.state, time_ms=self.t_ms, wall_ms=self.wall_ms,
            reservoir_nl=self.reservoir_nl, capacity_nl=p.reservoir_capacity_nl,
            low_threshold_nl=self.low_threshold_nl, step_index=step, rate_nl_per_day=rate,
            bolus=bs,
            alarms=tuple(AlarmStatus(a, a.priority, e.raised_ms, e.acked)
                         for a, e in sorted(self.alarms.active.items())),
            alarm_mask=self.alarms.bitmask(),
            battery_remaining_uah=remaining,
            battery_percent=remaining * 100 // p.battery_capacity_uah,
            refill_due_ms=self.refill_due_ms, filled_nl=self.filled_nl,
            delivered_nl=self.delivered_nl, withdrawn_nl=self.withdrawn_nl,
            delivered_dose_ug=self.dose_pg // PG_PER_UG, drug_name=self.drug_name,
            concentration_ug_per_ml=self.concentration_ug_per_ml,
            event_count=self.storage.event_count() + len(self._pending))

    def snapshot(self) -> dict[str, Any]:
        """The full persisted state (JSON-friendly); ``Pump.from_snapshot`` rebuilds a copy."""
        return self._to_dict()

    @classmethod
    def from_snapshot(cls, snap: dict[str, Any], clock: Clock | None = None) -> "Pump":
        """A new in-memory pump continuing from ``snap``, with a SQLite store of its own (for
        tests and tools; the validate_* methods and :meth:`next_event_ms` need no copy)."""
        st = Storage(":memory:")
        st.commit(snap)
        return cls(Profile.from_dict(snap["profile"]), st, clock)


__all__ = ["Pump"]
