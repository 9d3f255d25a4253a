"""The therapy state machine: the fast dispatch table agrees with the transitions library."""
from __future__ import annotations

import itertools

import pytest
from transitions import MachineError

from firmware_sim import TherapyState
from firmware_sim.statemachine import TRANSITIONS, TherapyMachine

pytestmark = pytest.mark.requirement("THR-9")

TRIGGERS = sorted({t["trigger"] for t in TRANSITIONS})


@pytest.mark.parametrize("state", list(TherapyState))
def test_fire_matches_the_library_for_every_state_trigger_and_condition(state) -> None:
    for trigger, resume, bridge in itertools.product(TRIGGERS, (False, True), (False, True)):
        fast, lib = TherapyMachine(state), TherapyMachine(state)
        for m in (fast, lib):
            m.resume_flag, m.bridge_flag = resume, bridge
        try:
            getattr(lib, trigger)()
            expected: str | None = lib.state
        except MachineError:
            expected = None
        if expected is None:
            assert not fast.can(trigger)
            with pytest.raises(MachineError):
                fast.fire(trigger)
            assert fast.state == state.name
        else:
            assert fast.can(trigger)
            assert fast.fire(trigger) == expected


def test_end_of_service_is_terminal() -> None:
    m = TherapyMachine(TherapyState.END_OF_SERVICE)
    assert not any(m.can(t) for t in TRIGGERS)
    assert m.therapy_state is TherapyState.END_OF_SERVICE
