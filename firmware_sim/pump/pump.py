"""The pump facade: one class, :class:`Pump`, assembled from the model's parts.

The parts, one module each: :mod:`.core` (event log, commits, rejections, transitions, alarms),
:mod:`.persistence`, :mod:`.therapy` (program, limits, start/stop), :mod:`.boluses`,
:mod:`.refill`, :mod:`.delivery` (run clock, integration, next event), :mod:`.limits` (rolling
dose windows) and :mod:`.power` (battery).

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

Memory error and reduced battery: the minimum-rate safe mode
-------------------------------------------------------------
A memory error while therapy runs does not stop delivery: the pump falls back to the profile's
minimum rate (0.048 mL/day on the shipped profiles), as real pumps do, because an abrupt stop of
intrathecal baclofen or opioids causes withdrawal, which can be life-threatening, while the
minimum rate keeps the catheter open and gives almost no drug. No bolus runs in safe mode
(clinician and priming boluses are refused INVALID_STATE, patient requests denied NOT_INFUSING).
Acknowledging MEMORY_ERROR (after the clinician has checked the program) ends the safe mode. A
memory error with no therapy running (or a store unreadable at power-up) leaves the pump
STOPPED. Reduced battery performance (the battery's charge below the profile's
``reduced_battery_percent``) raises REDUCED_BATTERY and enters the same safe mode for good.

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

from typing import Any, Callable

from ..alarms import CLEARED_BY_ACK
from ..clock import Clock, ManualClock
from ..enums import Alarm, BolusKind, RejectCode, Tone
from ..profile import Profile
from ..status import AlarmStatus, BolusStatus, PumpStatus
from ..storage import Event, Storage
from .boluses import BolusMixin
from .ceiling import RateCeilingMixin
from .windows import DoseWindowMixin
from .core import PG_PER_UG, S, log
from .delivery import DeliveryMixin
from .fault_api import FaultsMixin
from .limits import LimitsMixin
from .persistence import PersistenceMixin
from .power import PowerMixin
from .rate_changes import RateChangeMixin
from .refill import RefillMixin
from .reporting import ReportingMixin
from .therapy import TherapyMixin


class Pump(TherapyMixin, BolusMixin, RefillMixin, DeliveryMixin, LimitsMixin, PowerMixin,
           RateCeilingMixin, DoseWindowMixin, ReportingMixin, PersistenceMixin, FaultsMixin,
           RateChangeMixin):
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
            if alarm is Alarm.MOTOR_STALL:
                # the stall is over whatever the state (the battery may have ended meanwhile)
                self._faults_on_stall_ack()
                if self.state is S.FAULT:
                    self._trigger("clear_fault")
            if alarm is Alarm.MEMORY_ERROR:
                self._leave_safe_mode("MEMORY_ERROR")
        else:
            entry.acked = True
        self._commit()

    def alarm_test(self) -> tuple[Tone, ...]:
        """Sound both annunciations once (two-tone, then single tone) so a clinician can check
        the patient hears them; logged as ALARM_TEST. Allowed in every state; changes nothing
        else. Returns the tones played."""
        tones = (Tone.TWO_TONE_3S, Tone.SINGLE_TONE_1S)
        self._event("ALARM_TEST", tones=",".join(t.name for t in tones))
        self._commit()
        return tones

    def inject_motor_stall(self) -> None:
        """Fault injection: the motor stalls for good (``raise_fault("motor_stall")``).
        Delivery stops (bolus cancelled), state FAULT, MOTOR_STALL alarm. Rejection:
        INVALID_STATE (already FAULT or at end of service)."""
        self.raise_fault("motor_stall")

    def inject_memory_error(self, reason: str = "injected") -> None:
        """Fault injection: memory error. MEMORY_ERROR alarm; a running therapy falls back to
        the minimum-rate safe mode until the alarm is acknowledged (a bolus is cancelled);
        otherwise therapy is STOPPED (see "Memory error" in the module documentation)."""
        self._memory_error(reason)
        self._commit()

    def _memory_error(self, reason: str) -> None:
        if self.bolus is not None:
            self._finish_bolus("MEMORY_ERROR")
        if self.state is S.INFUSING and self.resume_infusing and self.compiled is not None:
            self._raise_alarm(Alarm.MEMORY_ERROR, reason=reason)
            self._enter_safe_mode("MEMORY_ERROR")
            return
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

    def status(self) -> PumpStatus:
        """A frozen snapshot of the pump now."""
        p = self.profile
        step = None
        rate = 0
        if self.compiled is not None:
            step, sched_rate, _ = self.compiled.lookup(self.wall_ms)
            if self.state in (S.INFUSING, S.BOLUS) and self.resume_infusing:
                rate = sched_rate if self.safe_mode is None else p.min_rate_nl_per_day
                if self.keep_open and self.safe_mode is None:
                    rate = p.keep_open_nl_per_day
                if self.bolus is not None and self.bolus["kind"] == BolusKind.BRIDGE:
                    rate = self._bridge_rate(rate, self.bolus["num"], self.bolus["den"])
        bs = None
        if self.bolus is not None:
            b = self.bolus
            d = self._bolus_delivered(b)
            bs = BolusStatus(BolusKind(b["kind"]), b["volume_nl"], d, b["volume_nl"] - d,
                             b["start_ms"], self._bolus_end_ms(b))
        used = self.battery_used_uah()
        remaining = p.battery_capacity_uah - used
        return PumpStatus(
            state=self.state, time_ms=self.t_ms, wall_ms=self.wall_ms,
            reservoir_nl=self.reservoir_nl, capacity_nl=p.reservoir_capacity_nl,
            low_threshold_nl=self.low_threshold_nl, step_index=step, rate_nl_per_day=rate,
            bolus=bs,
            alarms=tuple(AlarmStatus(a, a.priority, e.raised_ms, e.acked, *self.annunciation(a))
                         for a, e in sorted(self.alarms.active.items())),
            alarm_mask=self.alarms.bitmask(),
            battery_remaining_uah=remaining,
            battery_percent=remaining * 100 // p.battery_capacity_uah,
            refill_due_ms=self.refill_due_ms, filled_nl=self.filled_nl,
            delivered_nl=self.delivered_nl, withdrawn_nl=self.withdrawn_nl,
            delivered_dose_ug=self.dose_pg // PG_PER_UG, drug_name=self.drug_name,
            concentration_ug_per_ml=self.concentration_ug_per_ml,
            event_count=self.storage.event_count() + len(self._pending),
            annunciation=max((self.annunciation(a)[0] for a, e in self.alarms.active.items()
                              if not e.acked), default=Tone.NONE),
            safe_mode=self.safe_mode, keep_open=self.keep_open,
            clock_drift_ppm=p.clock_drift_ppm,
            clock_drift_ms=self.t_ms * p.clock_drift_ppm // 1_000_000)


__all__ = ["Pump"]
