"""The suite proves it can fail: known bugs are planted with monkeypatch and the safety machine
must find each one within a bounded, deterministic budget (fixed seed, no shrinking).

Each test also runs the same focused machine on the unmodified code with the same budget, so a
failure is the bug's doing and not the machine's.
"""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis.stateful import get_state_machine_test

from firmware_sim.enums import Alarm
from firmware_sim.pump import Pump
from protocol.session import PumpSession, Verdict

from host_tools.safety.machine import make_machine
from host_tools.safety.oracle import Violation

pytestmark = pytest.mark.requirement("LIM-4", "SAF-5", "SAF-6", "SAF-7", "SAF-8", "SAF-14")

BUDGET = 60  # examples; the machine stops at the first violation


def hunt(machine: type, budget: int = BUDGET, steps: int = 25, shard: int = 0) -> BaseException | None:
    """Run ``machine`` for at most ``budget`` examples; the first failure found, or None."""
    test = get_state_machine_test(machine, settings=settings(
        max_examples=budget, stateful_step_count=steps, deadline=None, database=None,
        phases=[Phase.generate], suppress_health_check=list(HealthCheck), print_blob=False))
    try:
        seed(7_000 + shard)(test)()
    except BaseException as exc:  # noqa: BLE001 - the finding is the result
        return exc
    return None


def violations(exc: BaseException | None) -> list[Violation]:
    """The Violations in ``exc`` (it may be an exception group)."""
    if isinstance(exc, Violation):
        return [exc]
    if isinstance(exc, BaseExceptionGroup):
        return [v for e in exc.exceptions for v in violations(e)]
    return []


_CLEAN: set[tuple[type, int]] = set()  # (machine, budget) runs that passed on the unmodified code


def expect_found(machine: type, words: str, monkeypatch: pytest.MonkeyPatch, plant,
                 budget: int = BUDGET) -> None:
    if (machine, budget) not in _CLEAN:  # the same run for every bug planted in one machine
        assert hunt(machine, budget) is None, "the focused machine fails on the unmodified code"
        _CLEAN.add((machine, budget))
    plant(monkeypatch)
    found = violations(hunt(machine, budget))
    assert found, "the planted bug was not found"
    assert any(words in str(v) for v in found), [str(v) for v in found]


LOCKOUT = make_machine(False, "LockoutHunt", force={"patient", "start"},
                       only={"patient_bolus", "patient_bolus_at_edge", "advance"})


def test_lockout_off_by_one_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """A patient bolus granted 1 ms before the lockout ends."""
    def plant(mp: pytest.MonkeyPatch) -> None:
        original = Pump.request_patient_bolus

        def early(self: Pump):  # the lockout checked with one ms less
            cfg = self.patient_cfg
            if cfg is None:
                return original(self)
            cfg["lockout_ms"] -= 1
            try:
                return original(self)
            finally:
                cfg["lockout_ms"] += 1
        mp.setattr(Pump, "request_patient_bolus", early)
    expect_found(LOCKOUT, "LOCKOUT", monkeypatch, plant)


RETRANSMIT = make_machine(False, "RetransmitHunt", force={"patient", "start"},
                          only={"command_then_retransmit", "set_clock", "advance"})


def test_retransmit_executed_twice_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """A retransmitted request (same session, seq and tag) executed again."""
    def plant(mp: pytest.MonkeyPatch) -> None:
        original = PumpSession.check_request

        def forgetful(self: PumpSession, frame):
            verdict = original(self, frame)
            return Verdict.NEW if verdict is Verdict.RETRANSMIT else verdict
        mp.setattr(PumpSession, "check_request", forgetful)
    expect_found(RETRANSMIT, "changed the pump", monkeypatch, plant)


THRESHOLD = make_machine(False, "ThresholdHunt", force={"start", "low fill"},
                         only={"advance", "advance_to_edge", "advance_days"})


def test_threshold_crossed_without_alarm_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reservoir crosses the low threshold and no LOW_RESERVOIR alarm is raised there: the
    low-reservoir row of the threshold table measures against a threshold 0.1 mL too low, so the
    alarm comes late (a bug the model once had)."""
    def plant(mp: pytest.MonkeyPatch) -> None:
        from firmware_sim.pump import delivery, power, thresholds

        def late(p: Pump, t: int, res: int, deliv: int, path: int, counted: int = 0) -> int | None:
            if p.machine.state in ("INFUSING", "BOLUS") and Alarm.LOW_RESERVOIR not in p.alarms:
                return res - (p.low_threshold_nl - 100_000)
            return None
        rows = tuple(dataclasses.replace(row, distance=late) if row.name == "low_reservoir"
                     else row for row in thresholds.THRESHOLDS)
        for module in (delivery, power):
            mp.setattr(module, "THRESHOLDS", rows)
    expect_found(THRESHOLD, "LOW_RESERVOIR raised at", monkeypatch, plant)


REPLAY = make_machine(False, "ReplayHunt", force={"patient", "start"},
                      only={"patient_bolus", "replay", "set_clock", "advance"})


def test_replayed_frame_accepted_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """An old request of the session (a lower sequence number) executed again."""
    def plant(mp: pytest.MonkeyPatch) -> None:
        original = PumpSession.check_request

        def no_freshness(self: PumpSession, frame):
            last = self.last_seq
            if 0 < frame.seq < last:
                self.last_seq = frame.seq - 1  # the stale check passes
                try:
                    return original(self, frame)
                finally:
                    self.last_seq = last
            return original(self, frame)
        mp.setattr(PumpSession, "check_request", no_freshness)
    expect_found(REPLAY, "changed the pump", monkeypatch, plant)


# dose windows (SAF-14): the windowed profile variant, therapy running with patient boluses, the
# clock moved to a window's moments and patient boluses asked for just before its limit
WINDOW = make_machine(False, "DoseWindowHunt", force={"patient", "start"}, profile="ip20+windows",
                      only={"patient_bolus", "patient_bolus_near_window", "advance",
                            "advance_to_edge"})
WINDOW_BUDGET = 15  # each planted window bug is found within about a dozen examples


def test_window_limit_ignored_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pump never notices that a dose window's limit is reached (no keep-open fallback)."""
    def plant(mp: pytest.MonkeyPatch) -> None:
        from firmware_sim.pump import delivery, power, thresholds
        rows = tuple(dataclasses.replace(row, distance=lambda *args: None)
                     if row.name == "dose_window_limit" else row for row in thresholds.THRESHOLDS)
        for module in (delivery, power):
            mp.setattr(module, "THRESHOLDS", rows)
    expect_found(WINDOW, "SAF-14", monkeypatch, plant, WINDOW_BUDGET)


def test_patient_bolus_kept_past_the_window_limit_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """At a dose window's limit the pump falls back to the keep-open rate but lets the patient
    bolus in progress run on to its end."""
    def plant(mp: pytest.MonkeyPatch) -> None:
        original = Pump._on_window_limit

        def keeps_the_bolus(self: Pump) -> None:
            bolus, self.bolus = self.bolus, None  # the fallback does not see it
            try:
                original(self)
            finally:
                self.bolus = bolus
        mp.setattr(Pump, "_on_window_limit", keeps_the_bolus)
    expect_found(WINDOW, "SAF-14", monkeypatch, plant, WINDOW_BUDGET)


def test_keep_open_never_ended_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new dose window starts but the pump stays at the keep-open rate."""
    def plant(mp: pytest.MonkeyPatch) -> None:
        def new_window_only(self: Pump) -> None:
            self.dose_window = [self.t_ms, 0]
        mp.setattr(Pump, "_on_window_end", new_window_only)
    expect_found(WINDOW, "SAF-14", monkeypatch, plant, WINDOW_BUDGET)
