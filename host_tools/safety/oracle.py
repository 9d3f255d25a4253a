"""An independent reference of what the pump may have done: the safety suite's oracle.

The oracle is written from REQUIREMENTS.md, PROTOCOL.md and the documented command semantics, not
from the model's code: it keeps its own copy of the therapy (schedule, boluses, reservoir,
alarms, patient-bolus history) and integrates delivery with its own arithmetic:

* basal volume since the last reset (start, refill completion, reservoir empty) is
  ``floor(integral of rate over wall time / day)``, the integral computed in closed form from
  prefix sums of the day's steps;
* a bolus of V nL over D ms has delivered ``V * elapsed // D``;
* the reservoir empties at the first ms the delivered volume reaches it; the low-reservoir
  alarm is due at the first ms the reservoir is at or below the threshold; the battery alarms
  at the first ms the documented consumption reaches the ERI / end-of-service charge.

It is *exact* while the therapy is one it models exactly. A bridge bolus (a refill that changed
the concentration) is only bounded: the oracle then marks itself inexact, checks upper bounds,
and re-anchors on the pump once the bridge is over (see :meth:`Oracle.resync`).

Every ``on_*`` method is told what the pump answered; it raises :class:`Violation` when the
answer is impossible (an invalid program accepted, a lockout ignored...), then follows the
pump's decision. Units: nL, ug, ug/mL, nL/day, ms, pg (= nL x ug/mL).
"""
from __future__ import annotations
from .oracle_parts import (DAY_MS, DELIVERING, EPOCH_WEEKDAY, EVERY_DAY, LATCHED_BY_ACK,
                           MEASURE_WITHDRAWN, MINUTE_MS, NL_PER_ML, PG_PER_UG, Bolus, DayPlan,
                           Limits, Violation, WeekPlan, schedule_defect)
from .oracle_time import OracleTime
from .truth import MECHANISM, OracleTruth


class Oracle(OracleTime):
    """The reference pump. ``t`` is the run clock (ms); all ``on_*`` act at ``t``."""

    def __init__(self, lim: Limits, t0: int = 0) -> None:
        self.lim = lim
        self.t = t0
        self.battery_start = t0
        self.wall_offset = 0
        self.state = "STOPPED"
        self.resume = False
        self.drug: str | None = None
        self.conc: int | None = None
        self.plan: WeekPlan | None = None
        self.low = lim.low_default_nl
        self.reservoir = 0
        self.filled = 0
        self.delivered = 0
        self.withdrawn = 0
        self.acc = 0  # basal integral since the last reset (nL/day x ms)
        self.bolus: Bolus | None = None
        self.bolus_history: list[list[int]] = []  # [start, end, pg]
        self.patient: dict[str, int] | None = None
        self.grants: list[int] = []
        self.refill_phase: str | None = None
        self.alarms: dict[str, int | None] = {}  # alarm -> raised run ms (None: time unknown)
        self.acked: set[str] = set()
        self.exact = True
        self.bridge_pending = False  # a concentration change still in the catheter
        self.path_old_conc = 0
        self.path_old_nl = 0  # old drug still in the catheter (drained by every nL delivered)
        self.notes: list[str] = []  # what the oracle could not follow exactly, for messages
        self.truth = OracleTruth()  # invariant 13: where the drug really is
        self.safe: str | None = None  # minimum-rate safe mode and why (REDUCED_BATTERY, ...)
        self.window: list[int] | None = None  # dose window: [start run ms, counted pg]
        self.keep_open = False  # a dose window's limit holds the pump at the keep-open rate
        self.keep_open_at = 0
        self.keep_open_limit = 0  # the window's limit (pg) when the fallback began
        self.keep_open_conc = 0  # highest concentration counted since (ug/mL)
        self.keep_open_count = 0  # the count (pg) when a command brought the fallback
        self.window_log: list[tuple[str, int]] = []  # predicted window log entries (kind, ms)

    # ------------------------------------------------------------------ programming
    def _program_defect(self, drug: str, conc: int, plan: WeekPlan | None) -> str | None:
        d = self.lim.drugs.get(drug.lower())
        if d is None:
            return f"unknown drug {drug!r}"
        if not d[0] <= conc <= d[1]:
            return f"concentration {conc} outside [{d[0]}, {d[1]}]"
        if plan is not None:
            hard = d[3] * PG_PER_UG
            basal = self.basal_window_pg(plan, conc)
            if basal > hard:
                return f"schedule gives {basal} pg/24 h > hard limit {hard} pg"
            p = self.patient
            if p is not None and self.patient_volume(p["dose_ug"], conc) >= 1:
                worst = basal + p["max_per_24h"] * p["dose_ug"] * PG_PER_UG
                if worst > hard:
                    return f"schedule + allotted patient boluses {worst} pg > hard {hard} pg"
        return None

    def on_program(self, drug: str | None, conc: int | None, steps: list[tuple[int, int]] | None,
                   accepted: bool, weekday: int = EVERY_DAY) -> None:
        """SET_DRUG (steps None) or SET_SCHEDULE (drug/conc None) of ``weekday``'s plan
        answered (no steps for a weekday: that weekday follows the every-day plan again)."""
        new_drug = self.drug if drug is None else drug
        new_conc = self.conc if conc is None else conc
        plan = self.plan
        if steps is not None:
            bad = schedule_defect(steps, self.lim)
            if weekday != EVERY_DAY and not steps:
                bad = None
            if accepted and bad:
                raise Violation(f"invalid schedule {steps} for weekday {weekday} accepted: {bad}")
            if bad or plan is None:
                plan = None
            else:
                plans = dict(plan.plans)
                if steps:
                    plans[weekday] = steps
                else:
                    plans.pop(weekday, None)
                plan = WeekPlan(plans)
        if not accepted:
            return
        if self.state not in ("STOPPED", "INFUSING", "EMPTY"):
            raise Violation(f"programming accepted in {self.state}")
        if new_drug is None or new_conc is None:
            raise Violation("a schedule accepted before any drug was programmed")
        if plan is None:  # SET_DRUG on a pump without a schedule: the keep-open minimum rate
            plan = WeekPlan({EVERY_DAY: [(0, self.lim.min_rate)]})
        bad = self._program_defect(new_drug, new_conc, plan)
        if bad:
            raise Violation(f"program {new_drug} {new_conc} ug/mL accepted: {bad} "
                            f"(schedule {plan.plans if plan else None})")
        if conc is not None and self.conc is not None and conc != self.conc:
            # a new concentration without a refill: the catheter content is unknown to the
            # oracle's dose accounting (volume accounting stays exact)
            self.notes.append("concentration reprogrammed")
        self.drug = new_drug.lower() if new_drug else None
        self.conc = new_conc
        self.plan = plan
        self.sync_window()

    def on_limits(self, dose_ug: int, duration_ms: int, lockout_ms: int, max_per_day: int,
                  threshold_nl: int, accepted: bool) -> None:
        """SET_LIMITS answered (dose 0 turns patient boluses off)."""
        L = self.lim
        if not accepted:
            return
        new_cfg = {"dose_ug": dose_ug, "duration_ms": duration_ms, "lockout_ms": lockout_ms,
                   "max_per_24h": max_per_day} if dose_ug else None
        if self.state == "END_OF_SERVICE" and threshold_nl != self.low:
            raise Violation("the low-reservoir threshold was changed at end of service")
        if self.state in ("FAULT", "END_OF_SERVICE") and dose_ug and new_cfg != self.patient:
            raise Violation(f"patient boluses configured in {self.state}")
        if not L.low_min_nl <= threshold_nl <= L.low_max_nl:
            raise Violation(f"threshold {threshold_nl} nL accepted outside [{L.low_min_nl}, {L.low_max_nl}]")
        if dose_ug:
            checks = ((dose_ug, L.p_min_dose, L.p_max_dose), (duration_ms, L.p_min_dur, L.p_max_dur),
                      (lockout_ms, L.p_min_lockout, L.p_max_lockout), (max_per_day, 1, L.p_max_per_day))
            for v, lo, hi in checks:
                if not lo <= v <= hi:
                    raise Violation(f"patient bolus setting {v} accepted outside [{lo}, {hi}]")
            if self.conc is None or self.plan is None:
                raise Violation("patient boluses configured without a program")
            if self.patient_volume(dose_ug) < 1:
                raise Violation(f"patient dose {dose_ug} ug (< 1 nL) accepted")
            worst = self.basal_window_pg() + max_per_day * dose_ug * PG_PER_UG
            top = self.plan.max_rate
            if self.patient_volume(dose_ug) * DAY_MS > (L.max_rate - top) * duration_ms:
                raise Violation(f"invariant 12: a patient bolus of {dose_ug} ug over "
                                f"{duration_ms} ms accepted above the maximum rate")
            if worst > self.hard_pg():
                raise Violation(f"patient boluses accepted: worst 24 h {worst} pg > hard {self.hard_pg()}")
            self.patient = {"dose_ug": dose_ug, "duration_ms": duration_ms,
                            "lockout_ms": lockout_ms, "max_per_24h": max_per_day}
        else:
            self.patient = None
        self.low = threshold_nl
        if self.reservoir <= self.low and self._delivering():
            self._raise("LOW_RESERVOIR", self.t)

    # ------------------------------------------------------------------ therapy
    def on_start(self, accepted: bool, code: str | None = None) -> None:
        """START answered (``code``: the refusal's NAK code name). The pump may refuse a start
        that would exceed the hard daily limit with what ran in the last 24 h."""
        if not accepted:
            if self.state == "STOPPED" and self.plan is not None and self.conc is not None \
                    and self.reservoir > 0 and code != "HARD_DAILY_LIMIT":
                raise Violation("start refused although STOPPED, programmed and filled")
            return
        if self.state != "STOPPED":
            raise Violation(f"start accepted in {self.state}")
        if self.plan is None or self.reservoir == 0:
            raise Violation("start accepted without a program or with an empty reservoir")
        self.resume = True
        self.acc = 0
        self.state = "INFUSING"
        if self.bridge_pending:
            self.exact = False
            self.state = "BOLUS"
        if self.reservoir <= self.low:
            self._raise("LOW_RESERVOIR", self.t)
        self.sync_window()

    def on_stop(self, accepted: bool) -> None:
        if not accepted:
            if self.state in DELIVERING:
                raise Violation(f"stop refused while {self.state}")
            return
        if self.state not in DELIVERING:
            raise Violation(f"stop accepted in {self.state}")
        if self.bolus is not None:
            self._finish_bolus()
        self.resume = False
        self.state = "STOPPED"
        self.sync_window()

    def check_bolus_accept(self, kind: str, volume: int, duration: int) -> None:
        """Raise Violation if a clinician/priming bolus of ``volume`` could not be accepted."""
        L = self.lim
        allowed = ("STOPPED",) if kind == "PRIMING" else ("STOPPED", "INFUSING")
        if self.state not in allowed:
            raise Violation(f"{kind} bolus accepted in {self.state}")
        if self.safe is not None:
            raise Violation(f"{kind} bolus accepted in the minimum-rate safe mode")
        if self.conc is None:
            raise Violation(f"{kind} bolus accepted without a drug")
        if not L.clin_min_ms <= duration <= L.clin_max_ms:
            raise Violation(f"{kind} bolus duration {duration} ms accepted")
        if volume < 1 or volume > self.reservoir:
            raise Violation(f"{kind} bolus of {volume} nL accepted with {self.reservoir} nL in the reservoir")
        if self.recent_bolus_pg() + volume * self._limit_conc() > self.hard_pg():
            raise Violation(f"{kind} bolus accepted: boluses alone exceed the hard daily limit")
        self.check_rate_ceiling(f"{kind} bolus", volume, duration)

    def check_rate_ceiling(self, what: str, volume: int, duration: int) -> None:
        """Invariant 12: a bolus of ``volume`` nL over ``duration`` ms on top of the schedule's
        highest step (when therapy runs) must not exceed the profile's maximum rate."""
        top = self.plan.max_rate if self.resume and self.plan is not None else 0
        if volume * DAY_MS > (self.lim.max_rate - top) * duration:
            raise Violation(f"invariant 12: {what} of {volume} nL over {duration} ms accepted on "
                            f"top of {top} nL/day (maximum {self.lim.max_rate} nL/day)")

    def on_bolus(self, kind: str, volume: int, duration: int, accepted: bool) -> None:
        """A clinician or priming bolus answered (volume resolved from the dose if needed)."""
        if not accepted:
            return
        self.check_bolus_accept(kind, volume, duration)
        self._start_bolus(kind, volume, duration)

    def on_patient_bolus(self, granted: bool, reason: str | None, volume: int) -> None:
        """PATIENT_BOLUS answered; the decision is checked in the documented order."""
        cfg = self.patient
        self.grants = [g for g in self.grants if g > self.t - DAY_MS]
        expect: str | None = None
        running = self.state == "INFUSING" or (self.state == "BOLUS" and self.resume)
        if cfg is None:
            expect = "NOT_CONFIGURED"
        elif not running or self.safe is not None:
            expect = "NOT_INFUSING"
        elif self.grants and self.t < self.grants[-1] + cfg["lockout_ms"]:
            expect = "LOCKOUT"
        elif len(self.grants) >= cfg["max_per_24h"]:
            expect = "DAILY_MAXIMUM"
        elif self.state == "BOLUS":
            expect = "BOLUS_ACTIVE"
        elif self.keep_open:  # a dose window's limit is reached (SAF-14)
            expect = "HARD_DAILY_LIMIT"
        else:
            vol = self.patient_volume(cfg["dose_ug"])
            total = self.basal_window_pg() + self.recent_bolus_pg() + vol * self._limit_conc()
            if total > self.hard_pg():
                expect = "HARD_DAILY_LIMIT"
        if granted and expect is not None:
            raise Violation(f"patient bolus granted at {self.t} although {expect} "
                            f"(grants {self.grants[-3:]}, config {cfg})")
        if not granted and reason != expect:
            if not (expect is None and reason == "HARD_DAILY_LIMIT" and not self.exact):
                raise Violation(f"patient bolus denied {reason} at {self.t}, expected "
                                f"{expect or 'a grant'} (grants {self.grants[-3:]}, config {cfg})")
        if not granted:
            return
        assert cfg is not None
        expected_vol = self.patient_volume(cfg["dose_ug"])
        if volume != expected_vol:
            raise Violation(f"patient bolus granted {volume} nL, the dose is {expected_vol} nL")
        self.grants.append(self.t)
        self._start_bolus("PATIENT", expected_vol, cfg["duration_ms"])

    def on_cancel(self, accepted: bool) -> None:
        if not accepted:
            if self.bolus is not None and self.exact:
                raise Violation("cancel refused while a bolus runs")
            return
        if self.bolus is None and self.exact:
            raise Violation("cancel accepted without a bolus")
        if self.bolus is not None:
            self._finish_bolus()
        elif self.state == "BOLUS":  # bridge (inexact)
            self.state = "INFUSING" if self.resume else "STOPPED"

    # ------------------------------------------------------------------ refill
    def on_refill_begin(self, accepted: bool) -> None:
        if not accepted:
            return
        if self.state not in ("STOPPED", "INFUSING", "BOLUS", "EMPTY"):
            raise Violation(f"refill accepted in {self.state}")
        if self.bolus is not None:
            self._finish_bolus()
        self.refill_phase = "begun"
        self.state = "REFILL"

    def discrepancy(self, measured: int, expected: int) -> bool:
        L = self.lim
        return abs(measured - expected) > max(L.discrepancy_min_nl,
                                              expected * L.discrepancy_percent // 100)

    def on_refill_withdrawn(self, measured: int, accepted: bool) -> None:
        if not accepted:
            return
        if self.state != "REFILL" or self.refill_phase != "begun":
            raise Violation(f"withdrawal accepted in {self.state}/{self.refill_phase}")
        drawn = self.truth.withdraw_all(self.delivered)
        if measured == MEASURE_WITHDRAWN:  # the emulator measured the truth for the clinician
            measured = drawn
        if self.discrepancy(measured, self.reservoir):
            self._raise("REFILL_DISCREPANCY", self.t)
        self.withdrawn += self.reservoir
        self.reservoir = 0
        self.refill_phase = "withdrawn"

    def on_refill_complete(self, measured: int, filled: int, conc: int, accepted: bool) -> None:
        if not accepted:
            return
        if self.state != "REFILL":
            raise Violation(f"refill completion accepted in {self.state}")
        if self.refill_phase != "withdrawn":  # the old drug is reported before a new fill
            raise Violation("refill completed before the withdrawal was reported")
        if not 1 <= filled <= self.lim.capacity_nl:
            raise Violation(f"fill of {filled} nL accepted (capacity {self.lim.capacity_nl})")
        if self.drug is None or self.plan is None:
            raise Violation("refill completed without a program")
        bad = self._program_defect(self.drug, conc, self.plan)
        if bad:
            raise Violation(f"refill at {conc} ug/mL accepted: {bad}")
        if conc != self.conc and self.delivered > 0:
            if not self.bridge_pending:
                self.path_old_conc = self.conc or 0
                self.path_old_nl = min(self.lim.dead_volume_nl, self.delivered)
            self.bridge_pending = True
        self.conc = conc
        self.reservoir = filled
        self.filled += filled
        self.truth.fill(filled, self.delivered)
        self.refill_phase = None
        for a in ("LOW_RESERVOIR", "EMPTY_RESERVOIR", "REFILL_DUE"):
            self._clear(a)
        self.acc = 0
        self.state = "INFUSING" if self.resume else "STOPPED"
        if self.resume and self.bridge_pending and self.path_old_conc != conc:
            self.exact = False
            self.state = "BOLUS"
        if self.reservoir <= self.low and self._delivering():
            self._raise("LOW_RESERVOIR", self.t)
        self.sync_window()

    # ------------------------------------------------------------------ alarms / faults / clock
    def on_ack(self, alarm: str, accepted: bool) -> None:
        if not accepted:
            if alarm in self.alarms:
                raise Violation(f"acknowledging active alarm {alarm} refused")
            return
        if alarm not in self.alarms:
            raise Violation(f"acknowledging inactive alarm {alarm} accepted")
        if alarm in LATCHED_BY_ACK:
            self._clear(alarm)
            if alarm == "MOTOR_STALL" and self.state == "FAULT":
                self.state = "STOPPED"
            if alarm == "MEMORY_ERROR" and self.safe == "MEMORY_ERROR":
                self.safe = None
                self.acc = 0
        else:
            self.acked.add(alarm)

    def on_stall(self, accepted: bool) -> None:
        if not accepted:
            if self.state not in ("FAULT", "END_OF_SERVICE"):
                raise Violation(f"motor stall injection refused in {self.state}")
            return
        if self.state in ("FAULT", "END_OF_SERVICE"):
            raise Violation(f"motor stall injected in {self.state}")
        if self.bolus is not None:
            self._finish_bolus()
        self.resume = False
        self.refill_phase = None if self.state != "REFILL" else self.refill_phase
        self._raise("MOTOR_STALL", self.t)
        self.state = "FAULT"
        self.sync_window()

    def on_memory_error(self) -> None:
        if self.bolus is not None:
            self._finish_bolus()
        if self.state == "INFUSING" and self.resume and self.plan is not None:
            self._raise("MEMORY_ERROR", self.t)  # therapy runs on at the minimum rate
            self._enter_safe("MEMORY_ERROR")
            return
        if self.state not in ("FAULT", "END_OF_SERVICE"):
            self.resume = False
            self.state = "STOPPED"
        self._raise("MEMORY_ERROR", self.t)
        self.sync_window()

    def on_battery_drain(self, end_of_service: bool, accepted: bool) -> None:
        """INJECT_FAULT BATTERY_ERI / END_OF_SERVICE: the battery drains at once to that level
        (as if the pump had idled longer); refused when it is already that low."""
        L = self.lim
        level = L.battery_capacity_uah * DAY_MS * NL_PER_ML if end_of_service \
            else self._eri_level_x()
        missing = level - self._battery_used_x(self.t, self.delivered)
        if not accepted:
            if missing > 0 and self.state != "END_OF_SERVICE":
                raise Violation(f"battery drain refused with {missing} units of charge left")
            return
        if missing <= 0:
            raise Violation("battery drain accepted although the battery is already that low")
        idle = L.battery_idle_uah_per_day * NL_PER_ML
        self.battery_start -= -(-missing // idle)
        self._raise("BATTERY_ERI", self.t)
        if end_of_service:
            self._battery_event("END_OF_SERVICE")

    def on_mechanism_fault(self, name: str, value: int, clear: bool, accepted: bool) -> None:
        """INJECT_FAULT of a mechanism fault (over/under-infusion, occlusion, leak): a raise
        with a value in range, or a clear of a fault in force, is accepted in every state and
        changes only the truth; anything else is refused and changes nothing."""
        lo, hi = (1, 1000) if MECHANISM[name][0] == "permille" else (1, 100)
        valid = name in self.truth.faults if clear else lo <= value <= hi
        if accepted != valid:
            raise Violation(f"{'clear' if clear else 'raise'} {name} {value} "
                            f"{'accepted' if accepted else 'refused'} (in force: "
                            f"{sorted(self.truth.faults)})")
        if accepted:
            self.truth.set_fault(name, None if clear else value, self.delivered)

    def on_set_clock(self, wall: int, accepted: bool) -> None:
        if not accepted:
            return
        if wall < 0:
            raise Violation(f"clock set to {wall} accepted")
        self.wall_offset = wall - self.t

    # ------------------------------------------------------------------ re-anchoring
    def resync(self, reservoir: int, delivered: int, withdrawn: int, state: str,
               basal_rem: int) -> None:
        """After an inexact stretch (bridge bolus), take the pump's volumes as the new anchor.

        Conservation is still checked against the oracle's own ``filled``; exactness resumes.
        """
        self.reservoir, self.delivered, self.withdrawn = reservoir, delivered, withdrawn
        self.state = state
        self.acc = basal_rem
        self.bridge_pending = False
        self.exact = True
        self.notes.append(f"resynced at {self.t}")


__all__ = ["Bolus", "DAY_MS", "DELIVERING", "DayPlan", "EPOCH_WEEKDAY", "EVERY_DAY",
           "LATCHED_BY_ACK", "Limits", "MEASURE_WITHDRAWN", "MINUTE_MS", "NL_PER_ML",
           "Oracle", "PG_PER_UG", "Violation", "WeekPlan", "schedule_defect"]
