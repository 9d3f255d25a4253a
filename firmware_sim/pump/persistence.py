"""Persistence of the pump model: the fresh state, the saved JSON form, and its restoration.

Every field that moves is listed in ``PERSIST``; a restore checks that the saved state is one the
model can reach (balanced volumes, integer counters, a schedule that validates) and raises
otherwise, so a corrupt store gives a safe, fresh pump (see :class:`~firmware_sim.pump.Pump`).
"""
from __future__ import annotations

import json
from typing import Any, Self

from ..alarms import AlarmSet
from ..clock import Clock
from ..enums import BolusKind
from ..profile import DAY_MS, Profile
from ..schedule import CompiledSchedule, Schedule, validate_schedule
from ..statemachine import TherapyMachine
from ..storage import Storage, to_json
from .core import PERSIST as _PERSIST, NULLABLE as _NULLABLE, PATIENT_KEYS as _PATIENT_KEYS
from .core import PERSIST_ADDED, STATE_VERSION, PumpCore, S, is_int as _is_int
from .fault_state import FaultState
from .ledger import TruthLedger


class PersistenceMixin(PumpCore):
    """Builds, saves and restores the pump's state (the JSON form stored by :class:`Storage`)."""

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
        self.delivered_at_refill_nl = 0
        self.delivered_at_midnight_nl = 0
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
        for k, (default, _) in PERSIST_ADDED.items():
            setattr(self, k, list(default) if isinstance(default, list) else default)
        # therapy epochs (see "Daily limits"): the open one [since_ms, offset_ms, limit conc,
        # conc] or None, and the closed ones of the last 24 h [start, end, offset, conc, schedule]
        self.epoch: list[int] | None = None
        self.past_epochs: list[list[Any]] = []
        self._epoch_schedule: Schedule | None = None
        self._epoch_compiled: dict[int, tuple[Any, CompiledSchedule]] = {}
        self.faults = FaultState(p.mechanism)

    def _dynamic_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in _PERSIST}
        d["version"] = STATE_VERSION
        d["state"] = self.machine.state
        d["alarms"] = self.alarms.to_list()
        d["battery_start_ms"] = self.battery_start_ms
        d["faults"] = self.faults.to_dict()
        d["delivery_marks"] = [self.delivered_at_refill_nl, self.delivered_at_midnight_nl]
        for k in PERSIST_ADDED:
            d[k] = getattr(self, k)
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
        head = to_json(self._dynamic_dict())
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
        # the marks of the delivered counters (a state stored before they existed: all counted)
        marks = d.get("delivery_marks", [0, 0])
        if not (isinstance(marks, list) and len(marks) == 2 and all(map(_is_int, marks))):
            raise ValueError("delivery marks")
        self.delivered_at_refill_nl, self.delivered_at_midnight_nl = marks
        for k, (default, types) in PERSIST_ADDED.items():
            v = d.get(k, list(default) if isinstance(default, list) else default)
            if not isinstance(v, types) or (isinstance(v, bool) and bool not in types):
                raise TypeError(f"{k} has the wrong type")
            setattr(self, k, v)
        self.machine = TherapyMachine(S[d["state"]])
        self.alarms = AlarmSet.from_list(d["alarms"])
        self._schedule = Schedule.from_dict(d["schedule"]) if d["schedule"] else None
        self.compiled = CompiledSchedule(self._schedule) if self._schedule else None
        self._epoch_schedule = self._schedule
        self._epoch_compiled = {}
        self.faults = self._restore_faults(d.get("faults"))
        self._check_restored()

    def _restore_faults(self, d: dict[str, Any] | None) -> FaultState:
        """The stored faults and truth ledger; a state saved before the ledger existed gets
        one equal to the belief (no mechanism fault was possible then)."""
        if d is not None:
            return FaultState.from_dict(self.profile.mechanism, d)
        fs = FaultState(self.profile.mechanism)
        fs.ledger = TruthLedger(fs.ledger.spec, self.filled_nl, self.reservoir_nl,
                                self.delivered_nl, 0, self.withdrawn_nl, self.delivered_nl,
                                self.t_ms)
        fs.refresh(self.delivered_nl, self.t_ms)
        return fs

    def _check_restored(self) -> None:
        """Raise ValueError unless the restored state is one the model can reach."""
        p = self.profile
        _check_clock_and_integers(self._dynamic_dict())
        if not 0 <= self.reservoir_nl <= p.reservoir_capacity_nl:
            raise ValueError("reservoir out of range")
        if min(self.filled_nl, self.delivered_nl, self.withdrawn_nl, self.dose_pg,
               self.path_old_nl, self.withdrawn_reported_nl, self.t_ms) < 0:
            raise ValueError("negative counter")
        if self.filled_nl != self.delivered_nl + self.reservoir_nl + self.withdrawn_nl:
            raise ValueError("volumes do not balance")
        if self.faults.ledger.filled_nl != self.filled_nl \
                or self.faults.ledger.anchor_commanded_nl > self.delivered_nl:
            raise ValueError("the truth ledger does not match the pump")
        if not 0 <= self.basal_rem < DAY_MS:
            raise ValueError("basal remainder out of range")
        if not 0 <= self.delivered_at_refill_nl <= self.delivered_nl \
                or not 0 <= self.delivered_at_midnight_nl <= self.delivered_nl:
            raise ValueError("delivery marks out of range")
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
        self._check_restored_histories()

    def _check_restored_histories(self) -> None:
        """Raise ValueError unless the restored bolus, history, epoch and patient-bolus records
        are well formed and match the state."""
        p = self.profile
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
        if not all(_is_int(c) and 0 <= c <= self.t_ms for c in self.rate_changes) \
                or self.rate_changes != sorted(self.rate_changes):
            raise ValueError("rate change times")
        lock = self.clinician_lockout_from_ms
        if lock is not None and not (_is_int(lock) and 0 <= lock <= self.t_ms):
            raise ValueError("clinician lockout start")
        cfg = self.patient_cfg
        if cfg is not None and (not isinstance(cfg, dict) or sorted(cfg) != sorted(_PATIENT_KEYS)
                                or not all(_is_int(cfg[k]) and cfg[k] > 0 for k in cfg)):
            raise ValueError("patient bolus configuration")

    def snapshot(self) -> dict[str, Any]:
        """The full persisted state (JSON-friendly); ``Pump.from_snapshot`` rebuilds a copy."""
        return self._to_dict()

    @classmethod
    def from_snapshot(cls, snap: dict[str, Any], clock: Clock | None = None) -> Self:
        """A new in-memory pump continuing from ``snap``, with a SQLite store of its own (for
        tests and tools; the validate_* methods and :meth:`next_event_ms` need no copy)."""
        st = Storage(":memory:")
        st.commit(snap)
        return cls(Profile.from_dict(snap["profile"]), st, clock)


MAX_CLOCK_MS = 253_402_300_799_999
"""Latest time the pump can hold, run or wall clock: the end of the year 9999 in ms (the wire
refuses later wall times too). A stored clock beyond it is a corrupt memory, not a pump to run."""
MAX_STORED_INT = (1 << 63) - 1
"""Largest magnitude of any stored integer: what the wire's 64-bit fields can carry."""


def _check_clock_and_integers(d: dict[str, Any]) -> None:
    """Raise ValueError for a run clock or wall clock outside 0..MAX_CLOCK_MS, or any integer in
    the persisted state (at any depth) beyond 64 bits (``d`` as from ``_dynamic_dict``)."""
    t, offset = d["t_ms"], d["wall_offset_ms"]
    if not (_is_int(t) and _is_int(offset) and 0 <= t <= MAX_CLOCK_MS
            and 0 <= t + offset <= MAX_CLOCK_MS):
        raise ValueError(f"clock out of range (run {t!r} ms, wall offset {offset!r} ms)")
    stack: list[Any] = [d]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
        elif _is_int(v) and abs(v) > MAX_STORED_INT:
            raise ValueError(f"stored integer {v} beyond 64 bits")
