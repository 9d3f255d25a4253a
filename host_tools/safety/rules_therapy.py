"""The safety machine's rules of programming, therapy and refill: each sends one command and
tells the oracle what the pump answered (the oracle raises Violation on an impossible answer)."""
from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import initialize, precondition, rule

from protocol import Role

from . import draws, stats
from .base import MachineBase, _alarm_name

WEEKDAYS = st.sampled_from((0xFF, 0xFF, 0xFF, 0, 1, 2, 3, 4, 5, 6))
from .oracle import DAY_MS, MEASURE_WITHDRAWN, MINUTE_MS, PG_PER_UG, Violation


class TherapyRules(MachineBase):
    """Set-up (program and fill), programming, therapy, boluses and refills."""

    @initialize(data=st.data())
    def program_and_fill(self, data: st.DataObject) -> None:
        """Most examples start from a programmed, filled and (usually) running pump."""
        if not self.FORCE and data.draw(st.integers(0, 9), label="blank pump") == 0:
            return
        if self.FAULTS and data.draw(st.booleans(), label="faulty link"):
            self._connect(Role.CLINICIAN, data.draw(draws.FAULT_PLANS))
        o = self.oracle
        drug, conc = data.draw(self.draws.first_drug, label="drug")
        out, _, evs = self.command("set_drug", lambda c: c.set_drug(drug, conc))
        o.on_program(drug, conc, None, self.executed(out, evs))
        cap = max(self.lim.min_rate, self.lim.drugs[drug][3] * PG_PER_UG // conc)
        if data.draw(st.booleans(), label="room for boluses") or "patient" in self.FORCE:
            cap = max(self.lim.min_rate, cap // 2)
        steps = data.draw(self.draws.first_steps(cap), label="steps")
        out, _, evs = self.command("set_schedule", lambda c: c.set_schedule(steps))
        o.on_program(None, None, steps, self.executed(out, evs))
        patient = data.draw(st.integers(0, 4), label="patient boluses")
        if "patient" in self.FORCE or patient >= 2:
            self._patient_limits(data)
        elif patient == 1:
            self.set_limits(data)
        self.refill_begin()
        self.refill_withdrawn(data)
        filled = data.draw(self.draws.first_fill, label="fill")
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
        drug, conc = data.draw(self.draws.any_drug)
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
            steps = data.draw(self.draws.steps)
            near = data.draw(st.booleans(), label="near limit")
            if cap is not None:
                steps = [(m, min(cap, r * 40 if near else r)) for m, r in steps]
        else:
            over = data.draw(st.integers(0, 5), label="over the limit") == 0
            steps, _ = data.draw(self.draws.invalid_steps)
            if over and o.conc and o.drug:
                cap = o.lim.drugs[o.drug][3] * PG_PER_UG // o.conc
                if cap < self.lim.max_rate:
                    steps = [(0, cap + 1)]  # valid on its own, over the drug's hard limit
        weekday = data.draw(WEEKDAYS, label="weekday")
        if weekday != 0xFF and data.draw(st.integers(0, 3), label="remove") == 0:
            steps = []
        out, _, evs = self.command("set_schedule", lambda c: c.set_schedule(steps, weekday))
        if not self.forbidden("set_schedule"):
            self.oracle.on_program(None, None, steps, self.executed(out, evs), weekday)

    @rule(data=st.data())
    def set_limits(self, data: st.DataObject) -> None:
        settings = data.draw(self.draws.patient_settings)
        threshold = draws.choose(data, self.oracle.low, self.draws.threshold_in_range,
                                 self.draws.threshold_any)
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
        duration = data.draw(self.draws.clinician_duration)
        by_dose = data.draw(st.booleans())
        if by_dose:
            dose = data.draw(st.integers(1, 3000))
            volume = o.patient_volume(dose)
            call = lambda c: c.clinician_bolus(duration, dose_ug=dose)  # noqa: E731
        else:
            near = max(1, o.reservoir + data.draw(st.integers(-2, 2)))  # state-independent draws
            volume = draws.choose(data, self.draws.bolus_volume, near,
                                  self.draws.huge_bolus_volume)
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
        off = data.draw(draws.WITHDRAWN_OFFSET, label="off")
        return draws.choose(data, max(0, r + off), MEASURE_WITHDRAWN, self.draws.withdrawn,
                            label="withdrawn")

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
        which = data.draw(draws.THREE, label="filled (option)")  # any, an edge, near the threshold
        if which == 2:
            filled = o.low + data.draw(draws.NEAR, label="filled")
        else:
            filled = data.draw((self.draws.fill, self.draws.fill_edge)[which], label="filled")
        conc = data.draw(draws.REFILL_CONC, label="conc")
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
