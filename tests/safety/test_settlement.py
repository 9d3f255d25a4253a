"""How the safety machine settles a command whose request never reached the pump.

The deep run found "stop refused while INFUSING" and "motor stall injection refused in STOPPED"
on faulty links: every copy of the request was lost, the client reported a lost answer, nothing
was logged, and the machine handed the oracle "not executed", which the oracle checks as a
refusal by the pump. A request that never arrived was neither run nor refused.
"""
from __future__ import annotations

from typing import Callable

import pytest

from hal.faults import FaultPlan
from protocol import FaultKind, Role

from host_tools.safety.machine import SafetyMachine, make_machine

pytestmark = pytest.mark.requirement("SAF-6", "SAF-5")

Machine = make_machine(faults=True, name="SettlementMachine")


def _infusing() -> SafetyMachine:
    """A machine whose pump runs morphine from a filled reservoir (clean link)."""
    m = Machine()
    o = m.oracle
    out, _, evs = m.command("set_drug", lambda c: c.set_drug("morphine", 10_000))
    o.on_program("morphine", 10_000, None, m.executed(out, evs))
    out, _, evs = m.command("set_schedule", lambda c: c.set_schedule([(0, 48_000)]))
    o.on_program(None, None, [(0, 48_000)], m.executed(out, evs))
    m.refill_begin()
    out, _, evs = m.command("refill_withdrawn", lambda c: c.refill_withdrawn(0))
    o.on_refill_withdrawn(0, m.executed(out, evs))
    out, _, evs = m.command("refill_complete", lambda c: c.refill_complete(0, 10_000_000, 10_000))
    o.on_refill_complete(0, 10_000_000, 10_000, m.executed(out, evs))
    m.start()
    m.check()
    assert o.state == "INFUSING"
    return m


@pytest.mark.parametrize("rule", [
    lambda m: m.stop(),
    lambda m: m.start(),
    lambda m: m.cancel_bolus(),
    lambda m: m.inject_fault(FaultKind.MOTOR_STALL),
    lambda m: m.inject_fault(FaultKind.CLEAR_MOTOR_STALL),
    lambda m: m.ack_alarm("LOW_RESERVOIR"),
], ids=["stop", "start", "cancel", "stall", "clear-stall", "ack"])
def test_a_request_lost_for_good_is_neither_run_nor_refused(
        rule: Callable[[SafetyMachine], None]) -> None:
    m = _infusing()
    try:
        m._connect(Role.CLINICIAN, FaultPlan(drop=0.0001, seed=1))
        assert m.link is not None and m.link.faults is not None
        faults = m.link.faults
        quiet = faults.plan
        faults.plan = FaultPlan(drop=1.0, seed=1)  # every copy of the request is lost
        sync = m._sync

        def sync_after_the_loss() -> None:
            faults.plan = quiet  # the round trip that settles the command gets through
            sync()

        m._sync = sync_after_the_loss  # type: ignore[method-assign]
        before = m.vp.pump.storage.event_count()
        rule(m)
        assert m.vp.pump.storage.event_count() == before  # it did not run
        m.check()  # pump and oracle still agree
        assert m.oracle.state == "INFUSING"
    finally:
        m.teardown()


def test_a_patient_bolus_at_an_edge_is_judged_against_the_pump_after_a_bridge() -> None:
    """The deep run's patient-bolus reason mismatch ("denied LOCKOUT, expected BOLUS_ACTIVE";
    "granted although BOLUS_ACTIVE"): during a bridge bolus the oracle is inexact and takes the
    pump's state at each check, but ``patient_bolus_at_edge`` moved the clock and asked at once,
    so the request was judged against the state from before the move (the bridge long over)."""
    from host_tools.records import Limits as WireLimits

    from host_tools.safety.oracle import MINUTE_MS

    m = make_machine(faults=False, name="BridgeEdgeMachine")()
    try:
        o = m.oracle

        def do(name: str, call: Callable[..., object], settle: Callable[[bool], None]) -> None:
            out, _, evs = m.command(name, call)
            settle(m.executed(out, evs))
            m.check()

        steps = [(0, 20_000_000)]  # room under the 24 mL/day ceiling for a patient bolus
        lockout = 120 * MINUTE_MS
        do("set_drug", lambda c: c.set_drug("morphine", 1_000),
           lambda ok: o.on_program("morphine", 1_000, None, ok))
        do("set_schedule", lambda c: c.set_schedule(steps),
           lambda ok: o.on_program(None, None, steps, ok))
        lim = WireLimits(patient_bolus_dose_ug=1, patient_bolus_duration_ms=MINUTE_MS,
                         patient_lockout_ms=lockout, patient_max_per_day=2,
                         low_reservoir_threshold_nl=o.low)
        do("set_limits", lambda c: c.set_limits(lim),
           lambda ok: o.on_limits(1, MINUTE_MS, lockout, 2, o.low, ok))
        for conc, withdrawn in ((1_000, 0), (501, None)):  # the second fill starts a bridge
            m.refill_begin()
            m.check()
            v = o.reservoir if withdrawn is None else withdrawn
            do("refill_withdrawn", lambda c: c.refill_withdrawn(v),
               lambda ok: o.on_refill_withdrawn(v, ok))
            do("refill_complete", lambda c: c.refill_complete(0, 10_000_000, conc),
               lambda ok: o.on_refill_complete(0, 10_000_000, conc, ok))
            m.start()
            m.check()
            if conc == 1_000:
                m.patient_bolus()
                m.check()
                m.patient_bolus_at_edge("lockout", 0)
                m.check()
        assert o.state == "BOLUS" and not o.exact  # bridging
        m.patient_bolus_at_edge("lockout", -1)  # 2 h later: the bridge is over, still locked out
        m.check()
        assert o.state == "INFUSING"
    finally:
        m.teardown()
