"""The therapy state machine (built with the ``transitions`` library).

Delivery states only; alarms are an orthogonal set kept by :mod:`firmware_sim.alarms`, so a bolus
runs during a low-reservoir alarm without a copied state per combination.

Transitions table (trigger: sources -> destination [condition]):

=================  ===========================================  =====================================
trigger            sources                                      destination
=================  ===========================================  =====================================
start              STOPPED                                      INFUSING
stop               INFUSING, BOLUS                              STOPPED
begin_bolus        STOPPED, INFUSING                            BOLUS
end_bolus          BOLUS                                        INFUSING [resume_infusing] else STOPPED
begin_refill       STOPPED, INFUSING, BOLUS, EMPTY              REFILL
finish_refill      REFILL                                       BOLUS [bridge_needed], INFUSING
                                                                [resume_infusing] else STOPPED
run_dry            INFUSING, BOLUS                              EMPTY
stall              STOPPED, INFUSING, BOLUS, REFILL, EMPTY      FAULT
clear_fault        FAULT                                        STOPPED
memory_fault       STOPPED, INFUSING, BOLUS, REFILL, EMPTY      STOPPED
end_service        every state but END_OF_SERVICE               END_OF_SERVICE
=================  ===========================================  =====================================

END_OF_SERVICE is terminal. An invalid trigger raises ``transitions.MachineError``, which the pump
turns into ``Rejected(INVALID_STATE)`` before anything changes.

:meth:`TherapyMachine.fire` runs a trigger through a dispatch table compiled once from the
``transitions`` machine's own events (same sources, destinations, conditions and order). The
machine declares no enter/exit callbacks, so this is the same transition as calling the trigger,
without the library's per-call event object and logging: the model fires thousands of
transitions per simulated year.
"""
from __future__ import annotations

from transitions import Machine, MachineError

from .enums import TherapyState

S = TherapyState
_ALL_BUT_EOS = [s.name for s in S if s is not S.END_OF_SERVICE]

TRANSITIONS = [
    {"trigger": "start", "source": "STOPPED", "dest": "INFUSING"},
    {"trigger": "stop", "source": ["INFUSING", "BOLUS"], "dest": "STOPPED"},
    {"trigger": "begin_bolus", "source": ["STOPPED", "INFUSING"], "dest": "BOLUS"},
    {"trigger": "end_bolus", "source": "BOLUS", "dest": "INFUSING", "conditions": "resume_infusing"},
    {"trigger": "end_bolus", "source": "BOLUS", "dest": "STOPPED"},
    {"trigger": "begin_refill", "source": ["STOPPED", "INFUSING", "BOLUS", "EMPTY"], "dest": "REFILL"},
    {"trigger": "finish_refill", "source": "REFILL", "dest": "BOLUS", "conditions": "bridge_needed"},
    {"trigger": "finish_refill", "source": "REFILL", "dest": "INFUSING",
     "conditions": "resume_infusing"},
    {"trigger": "finish_refill", "source": "REFILL", "dest": "STOPPED"},
    {"trigger": "run_dry", "source": ["INFUSING", "BOLUS"], "dest": "EMPTY"},
    {"trigger": "stall", "source": ["STOPPED", "INFUSING", "BOLUS", "REFILL", "EMPTY"], "dest": "FAULT"},
    {"trigger": "clear_fault", "source": "FAULT", "dest": "STOPPED"},
    {"trigger": "memory_fault", "source": ["STOPPED", "INFUSING", "BOLUS", "REFILL", "EMPTY"],
     "dest": "STOPPED"},
    {"trigger": "end_service", "source": _ALL_BUT_EOS, "dest": "END_OF_SERVICE"},
]


class TherapyMachine:
    """Holds the therapy state; the two condition flags are set by the pump before a trigger."""

    def __init__(self, initial: TherapyState = TherapyState.STOPPED) -> None:
        self.resume_flag = False
        self.bridge_flag = False
        self.machine = Machine(model=self, states=[s.name for s in S], transitions=TRANSITIONS,
                               initial=initial.name, auto_transitions=False)
        self._table = _compile(self.machine)

    def resume_infusing(self) -> bool:
        """Condition: therapy continues (infusing) after the bolus/refill."""
        return self.resume_flag

    def bridge_needed(self) -> bool:
        """Condition: a bridge bolus follows the refill."""
        return self.bridge_flag

    @property
    def therapy_state(self) -> TherapyState:
        """The current state as the shared enum."""
        return TherapyState[self.state]

    def can(self, trigger: str) -> bool:
        """True when ``trigger`` is valid from the current state."""
        return (trigger, self.state) in self._table

    def fire(self, trigger: str) -> str:
        """Run ``trigger`` from the current state and return the new state's name: the first
        transition whose conditions hold wins; none holding leaves the state unchanged.
        Raises ``MachineError`` when the trigger is not valid from the current state."""
        options = self._table.get((trigger, self.state))
        if options is None:
            raise MachineError(f"Can't trigger event {trigger} from state {self.state}!")
        for dest, conditions in options:
            if all(getattr(self, c)() for c in conditions):
                self.state = dest
                break
        return self.state


def _compile(machine: Machine) -> dict[tuple[str, str], list[tuple[str, tuple[str, ...]]]]:
    """(trigger, source) -> [(dest, condition method names)] from the machine's events."""
    table: dict[tuple[str, str], list[tuple[str, tuple[str, ...]]]] = {}
    for name, event in machine.events.items():
        for source, transitions in event.transitions.items():
            for t in transitions:
                if any(not c.target for c in t.conditions) or t.before or t.after \
                        or t.prepare:
                    raise ValueError(f"{name}: only plain 'conditions' are supported")
                table.setdefault((name, source), []).append(
                    (t.dest, tuple(c.func for c in t.conditions)))
    return table
