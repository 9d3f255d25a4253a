"""The invariants the safety machine checks after every step (REQUIREMENTS.md, SAF-1..14)."""
from __future__ import annotations

from typing import Any

from hypothesis.stateful import invariant

from host_tools.errors import ConnectionFailed, ProtocolViolation, ResponseTimeout

from . import stats
from .base import _alarm_name
from .checks_windows import WindowChecks
from .oracle import DAY_MS, Bolus, Violation


class Checks(WindowChecks):
    """:meth:`check`, the invariant run after every step, and its parts."""

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
        # 14. every dose window of a windowed drug within its limit, then the keep-open rate
        self._check_dose_window(st_)
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
        self._check_exact(st_)
        self.prev = (o.t, st_.delivered_nl)

    def _check_exact(self, st_: Any) -> None:
        """Invariants 3, 8, 10, 11 against the exact reference: state, volumes, alarms and the
        moments they were raised."""
        o = self.oracle
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
            kinds = {1: "CLINICIAN", 2: "PATIENT", 3: "PRIMING"}
            o.bolus = Bolus(kinds.get(bol["kind"], "?"), bol["volume_nl"], bol["duration_ms"],
                            bol["start_ms"])
        else:
            o.bolus = None
        # a bridge interrupted (stop, refill) stays pending in the catheter
        o.bridge_pending = snap["path_old_nl"] > 0
        o.path_old_conc = snap["path_old_conc"]
        o.path_old_nl = snap["path_old_nl"]

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
