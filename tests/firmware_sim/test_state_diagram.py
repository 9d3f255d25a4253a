"""The machine as the design card draws it: therapy and alarms as parallel regions of one
``transitions`` machine, and the committed diagram generated from it."""
from __future__ import annotations

import pathlib

from firmware_sim import Alarm
from firmware_sim.alarms import CLEARED_BY_ACK
from firmware_sim.statemachine import SEP, pump_machine, state_diagram_document

from .helpers import MINUTE_MS, ML, ready_pump

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "state-machine.md"


def test_committed_diagram_matches_the_machine() -> None:
    """Regenerate with: python -m firmware_sim.statemachine > docs/state-machine.md"""
    assert DOC.read_text() == state_diagram_document()


def flat(state: object) -> set[str]:
    """The active leaf states of a parallel machine's (nested list) state."""
    if isinstance(state, str):
        return {state}
    return set().union(*(flat(s) for s in state))  # type: ignore[attr-defined]


def test_low_reservoir_alarm_is_a_state_orthogonal_to_a_bolus() -> None:
    class Model:
        def resume_infusing(self) -> bool:
            return True

        def bridge_needed(self) -> bool:
            return False

    m = Model()
    pump_machine(m)
    m.start()
    m.raise_LOW_RESERVOIR()
    m.begin_bolus()  # a bolus runs during a low-reservoir alarm
    low = SEP.join(("pump", "alarms", "LOW_RESERVOIR", "sounding"))
    assert {SEP.join(("pump", "therapy", "BOLUS")), low} <= flat(m.state)
    m.ack_LOW_RESERVOIR()
    assert SEP.join(("pump", "alarms", "LOW_RESERVOIR", "silenced")) in flat(m.state)


def test_the_pump_latches_alarms_as_the_machine_declares() -> None:
    assert CLEARED_BY_ACK == {Alarm.MOTOR_STALL, Alarm.MEMORY_ERROR, Alarm.REFILL_DISCREPANCY}
    pump = ready_pump(fill_nl=3 * ML)
    pump.advance_to(2 * 24 * 60 * MINUTE_MS)  # below the 2 mL threshold
    pump.acknowledge_alarm(Alarm.LOW_RESERVOIR)  # silenced, still active (condition alarm)
    assert Alarm.LOW_RESERVOIR in pump.active_alarms
    pump.inject_motor_stall()
    pump.acknowledge_alarm(Alarm.MOTOR_STALL)  # an acknowledgement clears it
    assert Alarm.MOTOR_STALL not in pump.active_alarms
