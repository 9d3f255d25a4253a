"""The core every part of the pump model shares: constants, the event log, commits, rejections,
state transitions, alarms, and the read-only properties.

The pump is one facade (:class:`firmware_sim.pump.Pump`) assembled from mixins, one per seam
(therapy, boluses, refill, delivery, limit windows, power, persistence), all built on
:class:`PumpCore`. Only the facade is public.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from transitions import MachineError

from ..alarms import AlarmSet
from ..clock import Clock
from ..enums import Alarm, RejectCode, TherapyState, Tone
from ..errors import Rejected
from ..profile import DAY_MS, Profile
from ..schedule import CompiledSchedule, Schedule, validate_schedule
from ..statemachine import TherapyMachine
from ..status import PatientBolusConfig
from ..storage import Event, Storage

log = logging.getLogger("firmware_sim.pump")

S = TherapyState
PG_PER_UG = 1_000_000
NL_PER_ML = 1_000_000
STATE_VERSION = 1
PERSIST = ("t_ms", "wall_offset_ms", "resume_infusing", "drug_name", "concentration_ug_per_ml",
           "low_threshold_nl", "reservoir_nl", "filled_nl", "delivered_nl", "withdrawn_nl",
           "withdrawn_reported_nl", "dose_pg", "basal_rem", "bolus", "path_old_nl",
           "path_old_conc", "bolus_history", "patient_cfg", "patient_history", "refill_phase",
           "refill_due_ms", "segments", "epoch", "past_epochs")
NULLABLE = frozenset({"refill_due_ms", "concentration_ug_per_ml", "filled_at_ms"})
# fields added since the first stored states: (default, allowed types) when a saved state lacks them
PERSIST_ADDED: dict[str, tuple[Any, tuple[type, ...]]] = {
    "filled_at_ms": (None, (int, type(None))),
    "safe_mode": (None, (str, type(None))),
    "eri_daily_volume_nl": (None, (int, type(None))),
    "dose_window": (None, (list, type(None))),
    "keep_open": (False, (bool,)),
    "rate_changes": ([], (list,)),
    "clinician_lockout_from_ms": (None, (int, type(None))),
}
PATIENT_KEYS = ("dose_ug", "duration_ms", "lockout_ms", "max_per_24h")
FOREVER = 1 << 80  # a run time beyond any pump's life (ms)


def is_int(v: object) -> bool:
    """True for an int that is not a bool."""
    return isinstance(v, int) and not isinstance(v, bool)


def first_reaching(f: Callable[[int], int], need: int, hi: int) -> int:
    """Smallest dt in [1, hi] with f(dt) >= need, for nondecreasing f with f(hi) >= need."""
    lo = 1
    while lo < hi:
        mid = (lo + hi) // 2
        if f(mid) >= need:
            hi = mid
        else:
            lo = mid + 1
    return lo


class PumpCore:
    """State and services shared by the pump's parts (see the module docstring). The attributes
    are declared here; :class:`~firmware_sim.pump.persistence.PersistenceMixin` gives them values."""

    storage: Storage
    clock: Clock
    profile: Profile
    machine: TherapyMachine
    alarms: AlarmSet
    t_ms: int
    wall_offset_ms: int
    resume_infusing: bool
    drug_name: str | None
    concentration_ug_per_ml: int | None
    _schedule: Schedule | None
    compiled: CompiledSchedule | None
    low_threshold_nl: int
    reservoir_nl: int
    filled_nl: int
    delivered_nl: int
    delivered_at_refill_nl: int  # delivered_nl when the last refill completed
    delivered_at_midnight_nl: int  # delivered_nl at the last wall-clock midnight
    withdrawn_nl: int
    dose_pg: int
    basal_rem: int
    bolus: dict[str, int] | None
    path_old_nl: int
    path_old_conc: int
    bolus_history: list[list[int]]
    patient_cfg: dict[str, int] | None
    patient_history: list[int]
    refill_phase: str | None
    refill_due_ms: int | None
    segments: int
    battery_start_ms: int
    filled_at_ms: int | None
    safe_mode: str | None
    eri_daily_volume_nl: int | None  # the daily volume the ERI reserve was computed for
    dose_window: list[int] | None
    keep_open: bool
    rate_changes: list[int]  # run ms of the counted schedule changes still in the period
    clinician_lockout_from_ms: int | None  # start of the last clinician bolus, if it starts lockouts
    _pending: list[tuple[int, str, dict[str, Any]]]
    _subscribers: list[Callable[[Event], None]]
    _committed_t_ms: int

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

    def _reject(self, code: RejectCode, field: str, reason: str,
                retry_after_ms: int = 0) -> Rejected:
        log.warning("rejected %s (%s): %s", code.value, field, reason)
        return Rejected(code, field, reason, retry_after_ms)

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

    def annunciation(self, alarm: Alarm) -> tuple[Tone, int]:
        """How ``alarm`` sounds: (tone, repeat interval ms), from the profile's [alarms]."""
        p = self.profile
        if alarm.name in p.two_tone_alarms:
            return Tone.TWO_TONE_3S, p.two_tone_repeat_ms
        return Tone.SINGLE_TONE_1S, p.single_tone_repeat_ms

    def _raise_alarm(self, alarm: Alarm, **details: Any) -> None:
        if self.alarms.raise_(alarm, self.t_ms):
            tone, repeat = self.annunciation(alarm)
            self._event("ALARM_RAISED", alarm=alarm.name, priority=alarm.priority.name,
                        tone=tone.name, repeat_ms=repeat, **details)

    def _clear_alarm(self, alarm: Alarm) -> None:
        if self.alarms.clear(alarm):
            self._event("ALARM_CLEARED", alarm=alarm.name)

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

    def _compile(self, schedule: Schedule) -> CompiledSchedule:
        """The compiled form of a validated ``schedule`` (the current one reused when equal)."""
        if self.compiled is not None and schedule == self._schedule:
            return self.compiled
        return CompiledSchedule(schedule)

    def _validate_schedule(self, schedule: Schedule) -> None:
        try:
            validate_schedule(schedule, self.profile)
        except Rejected as e:
            log.warning("rejected %s (%s): %s", e.code.value, e.field, e.reason)
            raise

    def _operable(self, what: str) -> None:
        if self.state in (S.FAULT, S.END_OF_SERVICE):
            raise self._reject(RejectCode.INVALID_STATE, "", f"{what} not allowed in {self.state.name}")

    def _patient_volume(self, dose_ug: int, conc: int | None) -> int:
        return dose_ug * PG_PER_UG // conc if conc else 0
