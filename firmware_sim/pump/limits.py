"""Dose limit windows: the rolling 24 h window over therapy epochs and boluses.

See "Daily limits" in :mod:`firmware_sim.pump.pump`: the pump remembers the epochs of the last
24 h (intervals of one schedule, concentration and wall offset) and bounds every 24 h window that
contains now by what they and the boluses of the last 24 h can have delivered, plus what a new
program would deliver until the window ends. Units: pg (nL x ug/mL), ms.
"""
from __future__ import annotations

from typing import Any

from ..enums import RejectCode
from ..profile import DAY_MS
from ..schedule import CompiledSchedule, Schedule
from .core import PG_PER_UG, PumpCore, S


class LimitsMixin(PumpCore):
    """The hard/soft daily limit checks over rolling 24 h windows."""

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
                self._sync_window()  # the drug, and so its dose window, may have changed
                return
            if ep[0] < self.t_ms and self._epoch_schedule is not None:
                self.past_epochs.append([ep[0], self.t_ms, ep[1], ep[2],
                                         self._epoch_schedule.to_dict()])
            self.epoch = None
        if want:
            self.epoch = [self.t_ms, self.wall_offset_ms, self._limit_conc(),
                          self.concentration_ug_per_ml or 0]
            self._epoch_schedule = self._schedule
        self._update_eri_reserve()
        self._sync_window()
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

    def _soft_warning(self, worst_pg: int) -> None:
        entry = self.profile.drug(self.drug_name or "")
        if entry and worst_pg > entry.soft_daily_limit_ug * PG_PER_UG:
            self._event("SOFT_LIMIT_WARNING", dose_ug=worst_pg // PG_PER_UG,
                        soft_daily_limit_ug=entry.soft_daily_limit_ug)
