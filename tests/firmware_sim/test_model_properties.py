"""Property tests of the pump model: a hypothesis state machine drives random programs, boluses,
patient requests, refills, clock advances, clock jumps and restarts from storage, and checks
the safety invariants of the design (1-5, 8, 10, 11) after every step against an independent
oracle.

Run deeper with ``HYPOTHESIS_PROFILE=deep``.
"""
from __future__ import annotations

import os
import shutil
import tempfile

from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from firmware_sim import (Alarm, BolusKind, DenialReason, Plan, Pump, Rejected, Schedule, Step,
                          Storage, TherapyState, Weekday, load_profile)

DAY_MS = 86_400_000
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
ML = 1_000_000
PG_PER_UG = 1_000_000
EPOCH_WEEKDAY = 3  # wall ms 0 is a Thursday (1970-01-01)
S = TherapyState
NOT_DELIVERING = {S.STOPPED, S.REFILL, S.FAULT, S.END_OF_SERVICE, S.EMPTY}
CONCS = (5_000, 10_000, 20_000)


def wall_integral(schedule: Schedule, a: int, b: int) -> int:
    """Integral of the schedule's rate over wall [a, b), in nL/day x ms, computed from the plans
    directly (not with the model's compiled schedule)."""
    total = 0
    t = a
    while t < b:
        day = t // DAY_MS
        wd = Weekday((day + EPOCH_WEEKDAY) % 7)
        plan = schedule.plans.get(wd) or schedule.plans[Weekday.EVERY_DAY]
        tod = t - day * DAY_MS
        rate, nxt = plan.steps[0].rate_nl_per_day, DAY_MS
        for i, s in enumerate(plan.steps):
            if s.start_minute * MINUTE_MS <= tod:
                rate = s.rate_nl_per_day
                nxt = plan.steps[i + 1].start_minute * MINUTE_MS if i + 1 < len(plan.steps) \
                    else DAY_MS
        e = min(b, day * DAY_MS + nxt)
        total += rate * (e - t)
        t = e
    return total


@st.composite
def plans(draw: st.DrawFn, max_rate: int) -> Plan:
    n = draw(st.integers(1, 6))
    minutes = sorted(draw(st.sets(st.integers(1, 1439), min_size=n - 1, max_size=n - 1)))
    rates = draw(st.lists(st.integers(48_000, max_rate), min_size=n, max_size=n))
    return Plan(tuple(Step(m, r) for m, r in zip([0, *minutes], rates)))


@st.composite
def schedules(draw: st.DrawFn, max_rate: int = 2_500_000) -> Schedule:
    plan_map = {Weekday.EVERY_DAY: draw(plans(max_rate))}
    for wd in draw(st.sets(st.sampled_from(list(Weekday)[:7]), max_size=2)):
        plan_map[wd] = draw(plans(max_rate))
    return Schedule(plan_map)


class PumpModel(RuleBasedStateMachine):
    """Drives one pump stored in a file; the oracle fields say what the pump may do."""

    def __init__(self) -> None:
        super().__init__()
        # a RAM-backed directory where there is one: the store syncs every commit to disk
        ram = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        self.dir = tempfile.mkdtemp(prefix="intrapump-prop-", dir=ram)
        self.path = os.path.join(self.dir, "pump.db")
        self.profile = load_profile("ip20")
        self.pump = Pump(self.profile, Storage(self.path))
        self.hard_pg = self.profile.drug("morphine").hard_daily_limit_ug * PG_PER_UG
        # oracle
        self.running = False  # therapy on (start accepted, not stopped/faulted since)
        self.schedule: Schedule | None = None
        self.filled = 0
        self.allowed_nl = 0  # upper bound of the volume the pump may have delivered
        self.grants: list[int] = []  # run times of granted patient boluses
        self.patient_cfg: dict[str, int] | None = None
        self.dose_samples: list[tuple[int, int]] = [(0, 0)]
        self.last_delivered = 0

    def teardown(self) -> None:
        self.pump.storage.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ------------------------------------------------------------------ helpers
    def now(self):
        return self.pump.status()

    def rejected(self, call, *args, **kwargs) -> bool:
        """Run a command; a refusal must leave the pump unchanged."""
        before = self.pump.snapshot()
        n = self.now().event_count
        try:
            call(*args, **kwargs)
        except Rejected as e:
            note(f"rejected {e}")
            assert self.pump.snapshot() == before
            assert self.now().event_count == n
            return True
        return False

    def accrue_bolus(self) -> None:
        b = self.now().bolus
        assert b is not None
        self.allowed_nl += b.volume_nl

    # ------------------------------------------------------------------ setup
    @initialize(sched=schedules(), fill=st.one_of(st.integers(1, 3 * ML), st.integers(1, 20 * ML)),
                conc=st.sampled_from(CONCS), start=st.integers(0, 4),
                patient=st.none() | st.tuples(st.integers(50, 1_000), st.integers(1, 60),
                                              st.integers(15, 240), st.integers(1, 6)))
    def setup(self, sched: Schedule, fill: int, conc: int, start: int,
              patient: tuple[int, int, int, int] | None) -> None:
        if self.rejected(self.pump.program_therapy, "morphine", conc, sched):
            sched = Schedule.constant(ML)
            self.pump.program_therapy("morphine", conc, sched)
        self.schedule = sched
        self.pump.refill_begin()
        self.pump.refill_withdrawn(0)
        self.pump.refill_complete(fill, conc)
        self.filled += fill
        if start:
            self.pump.start()
            self.running = True
        if patient is not None:
            dose, minutes, lockout_min, max_per = patient
            self.configure_patient(dose, minutes * MINUTE_MS, lockout_min * MINUTE_MS, max_per)

    # ------------------------------------------------------------------ therapy rules
    @rule(sched=schedules(max_rate=3_200_000))
    def reprogram(self, sched: Schedule) -> None:
        if not self.rejected(self.pump.set_schedule, sched):
            self.schedule = sched

    @rule()
    def start(self) -> None:
        if not self.rejected(self.pump.start):
            self.running = True
            if self.now().bolus is not None:  # a bridge starts with the therapy
                assert self.now().bolus.kind is BolusKind.BRIDGE

    @rule(dice=st.integers(0, 3))
    def stop(self, dice: int) -> None:
        if dice == 0 and not self.rejected(self.pump.stop):
            self.running = False
            assert self.now().state is S.STOPPED

    @rule(threshold=st.integers(400_000, 5_100_000))
    def set_threshold(self, threshold: int) -> None:
        self.rejected(self.pump.set_low_reservoir_threshold, threshold)

    # ------------------------------------------------------------------ boluses
    @rule(volume=st.integers(0, 600_000), duration=st.integers(30_000, 3 * HOUR_MS),
          by_dose=st.booleans())
    def clinician_bolus(self, volume: int, duration: int, by_dose: bool) -> None:
        kw = {"dose_ug": volume // 100} if by_dose else {"volume_nl": volume}
        if not self.rejected(self.pump.start_clinician_bolus, duration_ms=duration, **kw):
            self.accrue_bolus()

    @rule()
    def priming(self) -> None:
        if not self.rejected(self.pump.start_priming_bolus):
            self.accrue_bolus()

    @rule()
    def stop_bolus(self) -> None:
        self.rejected(self.pump.stop_bolus)

    @rule(dose=st.integers(50, 2_000), duration=st.integers(MINUTE_MS, HOUR_MS),
          lockout=st.integers(15 * MINUTE_MS, 6 * HOUR_MS), max_per=st.integers(1, 6))
    def configure_patient(self, dose: int, duration: int, lockout: int, max_per: int) -> None:
        cfg = dict(dose_ug=dose, duration_ms=duration, lockout_ms=lockout, max_per_24h=max_per)
        if not self.rejected(self.pump.configure_patient_bolus, **cfg):
            self.patient_cfg = cfg

    @rule()
    def disable_patient(self) -> None:
        self.pump.disable_patient_bolus()
        self.patient_cfg = None

    @rule(gaps=st.lists(st.integers(0, 4 * HOUR_MS), min_size=1, max_size=4))
    def patient_requests(self, gaps: list[int]) -> None:
        for gap in gaps:
            if gap:
                self._advance(gap)
            self.patient_request()

    def patient_request(self) -> None:
        before = self.now()
        n = before.event_count
        now = before.time_ms
        cfg = self.patient_cfg
        expected: DenialReason | None = None
        # PROTOCOL.md's precedence: NOT_CONFIGURED, NOT_INFUSING, LOCKOUT, DAILY_MAXIMUM,
        # BOLUS_ACTIVE (a bolus over a running schedule still counts as infusing).
        schedule_running = before.state is S.INFUSING or (
            before.state is S.BOLUS and self.pump.resume_infusing)
        if cfg is None:
            expected = DenialReason.NOT_CONFIGURED
        elif not schedule_running:
            expected = DenialReason.NOT_INFUSING
        elif self.grants and now < self.grants[-1] + cfg["lockout_ms"]:
            expected = DenialReason.LOCKOUT
        elif len([g for g in self.grants if g > now - DAY_MS]) >= cfg["max_per_24h"]:
            expected = DenialReason.DAILY_MAXIMUM
        elif before.state is S.BOLUS:
            expected = DenialReason.BOLUS_ACTIVE
        r = self.pump.request_patient_bolus()
        evs = self.pump.read_events(n, 100)
        if r.granted:
            assert expected is None, f"granted, expected {expected}"
            assert evs[0].kind == "PATIENT_BOLUS_GRANTED"
            self.grants.append(now)
            self.accrue_bolus()
        else:
            if expected is None:  # the only reason the oracle does not compute
                assert r.reason is DenialReason.HARD_DAILY_LIMIT
            else:
                assert r.reason is expected
            assert [e.kind for e in evs] == ["PATIENT_BOLUS_DENIED"]
            assert evs[0].details["reason"] == r.reason.name
            assert self.pump.snapshot()["reservoir_nl"] == before.reservoir_nl

    # ------------------------------------------------------------------ refill
    @rule(error=st.integers(-3 * ML, 3 * ML), fill=st.integers(1, 20 * ML),
          conc=st.sampled_from(CONCS))
    def refill(self, error: int, fill: int, conc: int) -> None:
        """The whole workflow in one step (the separate steps below allow restarts and clock
        advances in the middle of a refill)."""
        if self.rejected(self.pump.refill_begin):
            return
        self.refill_withdrawn(error)
        self.refill_complete(fill, conc)

    @rule()
    def refill_begin(self) -> None:
        self.rejected(self.pump.refill_begin)

    @rule(error=st.integers(-3 * ML, 3 * ML))
    def refill_withdrawn(self, error: int) -> None:
        expected = self.now().reservoir_nl
        measured = max(0, expected + error)
        before_alarm = Alarm.REFILL_DISCREPANCY in {a.alarm for a in self.now().alarms}
        try:
            discrepancy = self.pump.refill_withdrawn(measured)
        except Rejected:
            return
        tol = max(2 * ML, expected * 20 // 100)
        assert discrepancy is (abs(measured - expected) > tol)
        active = Alarm.REFILL_DISCREPANCY in {a.alarm for a in self.now().alarms}
        assert active is (discrepancy or before_alarm)
        assert self.now().reservoir_nl == 0

    @rule(fill=st.integers(-1, 21 * ML), conc=st.sampled_from(CONCS))
    def refill_complete(self, fill: int, conc: int) -> None:
        if not self.rejected(self.pump.refill_complete, fill, conc):
            self.filled += fill
            assert fill <= self.profile.reservoir_capacity_nl
            if self.now().bolus is not None:
                assert self.now().bolus.kind is BolusKind.BRIDGE

    # ------------------------------------------------------------------ faults, alarms
    @rule(dice=st.integers(0, 5))
    def motor_stall(self, dice: int) -> None:
        if dice == 0 and not self.rejected(self.pump.inject_motor_stall):
            self.running = False
            assert self.now().state is S.FAULT

    @rule(dice=st.integers(0, 5))
    def memory_error(self, dice: int) -> None:
        if dice:
            return
        self.pump.inject_memory_error("property test")
        self.running = False
        assert self.now().state not in (S.INFUSING, S.BOLUS)

    @precondition(lambda self: self.pump.status().alarms)
    @rule(data=st.data())
    def acknowledge(self, data: st.DataObject) -> None:
        active = [a.alarm for a in self.now().alarms]
        alarm = data.draw(st.sampled_from(active))
        self.pump.acknowledge_alarm(alarm)
        after = {a.alarm: a.acked for a in self.now().alarms}
        if alarm in (Alarm.MOTOR_STALL, Alarm.MEMORY_ERROR, Alarm.REFILL_DISCREPANCY):
            assert alarm not in after
        else:
            assert after[alarm] is True

    # ------------------------------------------------------------------ time
    def _advance(self, dt: int) -> None:
        pump = self.pump
        before = self.now()
        snap = pump.snapshot()
        t0, t1 = before.time_ms, before.time_ms + dt
        offset = before.wall_ms - before.time_ms
        pump.advance_to(t1)
        after = self.now()
        delta = after.delivered_nl - before.delivered_nl
        assert after.time_ms == t1
        # invariant 3: nothing delivered while stopped, empty, in refill, faulted, at end
        if before.state in NOT_DELIVERING:
            assert delta == 0, f"{delta} nL delivered in {before.state.name}"
        # oracle upper bound (invariant 4): the schedule while running, plus accepted boluses
        if self.running and self.schedule is not None:
            integral = wall_integral(self.schedule, t0 + offset, t1 + offset)
            if before.bolus is not None and before.bolus.kind is BolusKind.BRIDGE:
                # the bridge may end during the advance: bound by the larger of the two rates
                num, den = snap["bolus"]["num"], snap["bolus"]["den"]
                integral = -(-integral * max(num, den) // den)
            self.allowed_nl += -(-integral // DAY_MS)
        # invariant 10 (and 11 after clock jumps): plain infusion delivers the integral to 1 nL
        if before.state is S.INFUSING and before.bolus is None and after.state is S.INFUSING:
            assert self.schedule is not None
            integral = wall_integral(self.schedule, t0 + offset, t1 + offset)
            assert integral // DAY_MS <= delta <= integral // DAY_MS + 1, \
                (delta, integral / DAY_MS)
        # invariant 8: each new alarm was raised at the first ms its condition held
        new = {a.alarm: a.raised_ms for a in after.alarms}
        old = {a.alarm for a in before.alarms}
        for alarm in (Alarm.LOW_RESERVOIR, Alarm.EMPTY_RESERVOIR, Alarm.REFILL_DUE,
                      Alarm.BATTERY_ERI):
            if alarm in new and alarm not in old:
                r = new[alarm]
                assert t0 < r <= t1 or (r == t0 and alarm is not Alarm.REFILL_DUE)
                if r > t0:
                    self._check_first_ms(snap, alarm, r)
        if after.state in (S.INFUSING, S.BOLUS) and after.reservoir_nl <= after.low_threshold_nl:
            assert Alarm.LOW_RESERVOIR in new
        if after.state is S.EMPTY:
            assert Alarm.EMPTY_RESERVOIR in new and after.reservoir_nl == 0
        if after.refill_due_ms is not None and after.refill_due_ms <= t1:
            assert Alarm.REFILL_DUE in new

    def _check_first_ms(self, snap: dict, alarm: Alarm, r: int) -> None:
        """Twins from the snapshot before the advance: the alarm is off at r-1 and on at r."""
        early = Pump.from_snapshot(snap)
        early.advance_to(r - 1)
        assert alarm not in {a.alarm for a in early.status().alarms}, (alarm, r)
        on_time = Pump.from_snapshot(snap)
        on_time.advance_to(r)
        assert alarm in {a.alarm for a in on_time.status().alarms}, (alarm, r)
        early.storage.close()
        on_time.storage.close()

    @rule(dt=st.one_of(st.integers(1, 1_000), st.integers(1, 2 * HOUR_MS)))
    def advance_small(self, dt: int) -> None:
        self._advance(dt)

    @rule(days=st.integers(1, 5), extra=st.integers(0, DAY_MS))
    def advance_days(self, days: int, extra: int) -> None:
        self._advance(days * DAY_MS + extra)

    @rule(wall=st.integers(0, 30 * DAY_MS))
    def set_time(self, wall: int) -> None:
        before = self.now()
        if self.rejected(self.pump.set_time, wall):  # a jump may repeat doses over the limit
            return
        after = self.now()
        assert after.wall_ms == wall
        assert (after.time_ms, after.delivered_nl, after.reservoir_nl) == \
            (before.time_ms, before.delivered_nl, before.reservoir_nl)

    @rule()
    def restart(self) -> None:
        before = self.now()
        self.pump.storage.close()
        self.pump = Pump(load_profile("ip40"), Storage(self.path))  # the saved profile wins
        assert self.now() == before

    # ------------------------------------------------------------------ invariants
    @invariant()
    def conservation(self) -> None:
        s = self.now()
        assert s.filled_nl == self.filled
        assert s.filled_nl == s.delivered_nl + s.reservoir_nl + s.withdrawn_nl

    @invariant()
    def reservoir_in_range(self) -> None:
        s = self.now()
        assert 0 <= s.reservoir_nl <= s.capacity_nl

    @invariant()
    def delivery_bounded(self) -> None:
        s = self.now()
        assert s.delivered_nl >= self.last_delivered
        self.last_delivered = s.delivered_nl
        assert s.delivered_nl <= self.allowed_nl, (s.delivered_nl, self.allowed_nl)
        dose = self.pump.snapshot()["dose_pg"]
        if self.dose_samples[-1][0] != s.time_ms:
            self.dose_samples.append((s.time_ms, dose))
        self.dose_samples = [x for x in self.dose_samples if x[0] >= s.time_ms - 3 * DAY_MS]
        for t, d in self.dose_samples:
            if s.time_ms - t <= DAY_MS:
                assert dose - d <= self.hard_pg, "hard daily limit exceeded"

    @invariant()
    def patient_grants_respect_lockout_and_maximum(self) -> None:
        g = self.grants
        if len(g) >= 2 and self.patient_cfg is not None:
            assert g[-1] - g[-2] >= self.profile.patient_min_lockout_ms
        for i, t in enumerate(g):
            in_window = [x for x in g[i:] if x < t + DAY_MS]
            assert len(in_window) <= self.profile.patient_max_per_24h

    @invariant()
    def nothing_runs_when_it_must_not(self) -> None:
        s = self.now()
        if s.state in NOT_DELIVERING:
            assert s.rate_nl_per_day == 0
            assert s.bolus is None
        if s.state is S.BOLUS:
            assert s.bolus is not None


if os.environ.get("HYPOTHESIS_PROFILE"):  # the profile loaded by tests/conftest.py decides
    PumpModel.TestCase.settings = settings(settings.default, deadline=None)
else:  # modest by default: the whole model suite stays a few seconds long
    PumpModel.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None,
                                           suppress_health_check=[HealthCheck.too_slow])
TestPumpModel = PumpModel.TestCase
